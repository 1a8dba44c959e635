"""The openai SDK client, configured for AnyAPI (or any OpenAI-compatible server)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chatcore.config import Settings
from chatcore.errors import MissingApiKey
from chatcore.i18n import N_

if TYPE_CHECKING:
    from openai import OpenAI

MODEL_LIST_TIMEOUT = 5.0
NO_TEAM_KEY = N_("No API key is configured: set ANYAPI_API_KEY (or OPENAI_API_KEY) to chat.")

_leaving = threading.local()  # per thread: what to call as its next request leaves


@contextmanager
def on_request_leaving(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` once, when the next request this thread sends through a client of
    `make_client` has been written to its connection (or could not be)."""
    _leaving.callback = callback
    try:
        yield
    finally:
        _leaving.callback = None


def _request_leaving(request: Any) -> None:
    """The HTTP client's request hook: asks its connection to report the request's body
    written, through httpcore's trace extension."""
    callback: Callable[[], None] | None = getattr(_leaving, "callback", None)
    if callback is None:
        return
    _leaving.callback = None

    def trace(event: str, _info: Any) -> None:
        if event.endswith("send_request_body.complete") or event.endswith(".failed"):
            callback()

    request.extensions = {**request.extensions, "trace": trace}


def make_client(settings: Settings) -> OpenAI:
    if not settings.api_key:
        raise MissingApiKey(NO_TEAM_KEY, code="api_key_not_configured")
    from openai import DefaultHttpx2Client, OpenAI  # deferred: pages draw before this ~0.5 s import

    return OpenAI(
        api_key=settings.api_key,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        http_client=DefaultHttpx2Client(event_hooks={"request": [_request_leaving]}),
    )


def list_model_ids(client: OpenAI) -> list[str]:
    # Short timeout and no retries: the page waits for this on a cold cache.
    quick = client.with_options(timeout=MODEL_LIST_TIMEOUT, max_retries=0)
    return [model.id for model in quick.models.list()]
