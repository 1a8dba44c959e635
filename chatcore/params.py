"""Sampling parameters: validated once, and only the ones a user actually set are sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MAX_TOKENS_RANGE = (1, 1_000_000)


class InvalidParameter(ValueError):
    """A parameter outside what the API accepts; `field` names the control to point at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What a conversation asks the model for. None means "not sent": the server default applies."""

    model: str
    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stream: bool = True

    def validate(self) -> None:
        if not self.model.strip():
            raise InvalidParameter("model", "Choose a model.")
        _check_range("temperature", self.temperature, TEMPERATURE_RANGE)
        _check_range("top_p", self.top_p, TOP_P_RANGE)
        _check_range("max_tokens", self.max_tokens, MAX_TOKENS_RANGE)
        if self.max_tokens is not None and not isinstance(self.max_tokens, int):
            raise InvalidParameter("max_tokens", "max_tokens must be a whole number.")

    def sampling(self) -> dict[str, Any]:
        """The optional request fields the user set, exactly as set."""
        values = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        return {name: value for name, value in values.items() if value is not None}

    def to_settings(self) -> dict[str, Any]:
        """The JSON stored on a conversation so it reopens with its own settings."""
        return asdict(self)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], default_model: str) -> GenerationParams:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in settings.items() if key in known}
        values.setdefault("model", default_model)
        params = cls(**values)
        try:
            params.validate()
        except InvalidParameter:
            # Stored settings from an older release must never stop a conversation opening.
            return cls(model=params.model or default_model, system_prompt=params.system_prompt)
        return params


def _check_range(name: str, value: float | None, bounds: tuple[float, float]) -> None:
    if value is None:
        return
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidParameter(name, f"{name} must be between {low:g} and {high:g}; got {value!r}.")
