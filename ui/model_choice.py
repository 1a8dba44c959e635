"""The picker's models for the signed-in teammate: those the team allows them, and never a
forbidden one, not even the one a conversation was last sent with."""

from __future__ import annotations

from chatcore.chat.catalog import ModelList
from chatcore.wiring import Services
from storage import UserRecord
from ui import controls
from ui.actions import CHAT_NOTICE, notify
from ui.i18n import _
from ui.text import plain


def allowed_model_list(services: Services, user: UserRecord) -> ModelList:
    """The list to draw. The picker always offers the current choice too (a model typed by
    hand, an old conversation's); when that one is forbidden, the choice moves to the first
    allowed model before the picker is drawn, so it is never offered. Sending it anyway is
    refused by the server in any case."""
    models = services.model_list_for(user)
    allowed = services.model_access.allowed(user)
    chosen = controls.store()["model"]
    if allowed is not None and chosen not in allowed and models.ids:
        controls.store()["model"] = models.ids[0]
        controls.refresh("model")
        notify(
            CHAT_NOTICE,
            "warning",
            _(
                "Your team does not allow you to use “{model}”: the picker moved to “{allowed}”.",
                model=plain(chosen),
                allowed=plain(models.ids[0]),
            ),
        )
    return models
