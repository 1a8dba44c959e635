"""The openai SDK client, configured for AnyAPI (or any OpenAI-compatible server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatcore.config import Settings

if TYPE_CHECKING:
    from openai import OpenAI

MODEL_LIST_TIMEOUT = 5.0


class MissingApiKey(RuntimeError):
    """No key is configured; the UI tells the administrator which variable to set."""


def make_client(settings: Settings) -> OpenAI:
    if not settings.api_key:
        raise MissingApiKey("Set ANYAPI_API_KEY (or OPENAI_API_KEY) to chat.")
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
