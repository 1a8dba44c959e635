"""The openai SDK client, configured for AnyAPI (or any OpenAI-compatible server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatcore.config import Settings
from chatcore.errors import MissingApiKey
from chatcore.i18n import N_

if TYPE_CHECKING:
    from openai import OpenAI

MODEL_LIST_TIMEOUT = 5.0
NO_TEAM_KEY = N_("No API key is configured: set ANYAPI_API_KEY (or OPENAI_API_KEY) to chat.")


def make_client(settings: Settings) -> OpenAI:
    if not settings.api_key:
        raise MissingApiKey(NO_TEAM_KEY, code="api_key_not_configured")
    from openai import OpenAI  # deferred: pages draw before this ~0.5 s import

    return OpenAI(
        api_key=settings.api_key,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
    )


def list_model_ids(client: OpenAI) -> list[str]:
    # Short timeout and no retries: the page waits for this on a cold cache.
    quick = client.with_options(timeout=MODEL_LIST_TIMEOUT, max_retries=0)
    return [model.id for model in quick.models.list()]
