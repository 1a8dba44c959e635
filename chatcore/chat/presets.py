"""Named settings (system prompt plus parameters) a teammate reuses, or shares with the team."""

from __future__ import annotations

from chatcore.chat.params import GenerationParams
from chatcore.errors import InvalidParameter, PresetNotFound
from chatcore.i18n import N_
from storage import ChatRepository, PresetRecord

MAX_NAME_CHARS = 100


class PresetBook:
    def __init__(self, repository: ChatRepository, default_model: str) -> None:
        self._repository = repository
        self._default_model = default_model

    def available(self, user_id: int) -> list[PresetRecord]:
        """The user's own presets and the team's shared ones."""
        return self._repository.list_presets(user_id)

    def save(
        self, user_id: int, name: str, params: GenerationParams, *, shared: bool
    ) -> PresetRecord:
        """Save (or overwrite the same-named) preset; only valid settings are kept."""
        name = " ".join(name.split())
        if not name:
            raise InvalidParameter(
                "preset", N_("Give the preset a name."), code="preset_name_missing"
            )
        if len(name) > MAX_NAME_CHARS:
            raise InvalidParameter(
                "preset",
                N_("Preset names are at most {limit} characters."),
                code="preset_name_too_long",
                limit=MAX_NAME_CHARS,
            )
        params.validate(blanks_allowed=True)  # filled in each time it is used
        return self._repository.save_preset(user_id, name, params.to_settings(), shared=shared)

    def params(self, user_id: int, preset_id: int) -> GenerationParams:
        preset = self._repository.get_preset(user_id, preset_id)
        if preset is None:
            raise PresetNotFound(N_("That preset no longer exists."))
        return GenerationParams.from_settings(preset.settings, self._default_model)

    def delete(self, user_id: int, preset_id: int) -> bool:
        return self._repository.delete_preset(user_id, preset_id)
