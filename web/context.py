"""What the HTTP layer shares with the Streamlit pages: the same settings and services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatcore.config import Settings, current_settings

if TYPE_CHECKING:
    from chatcore.team.accounts import AccountService

SESSION_COOKIE = "anychat_session"


def settings() -> Settings:
    return current_settings()


def accounts() -> AccountService:
    """The process's account service: the one the pages use, so one engine serves both.
    Imported here, not at the top: the server then listens before the storage and SDK
    packages (about a second) are loaded, and the warm-up loads them meanwhile."""
    from chatcore.wiring import shared_services

    return shared_services(settings()).accounts


def base_path() -> str:
    """Streamlit's server.baseUrlPath as a prefix ("" or "/anychat")."""
    from streamlit import config

    path = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{path}" if path else ""
