"""The model picker's list, fetched from GET /models and cached, with a fallback when it fails."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chatcore.errors import ModelNotOffered, Sentence
from chatcore.i18n import N_

log = logging.getLogger(__name__)

# A failed listing is retried sooner than a good one expires, but not on every page run.
FAILURE_CACHE_SECONDS = 30.0
# Why the list is the default model alone: said in the reader's language with `explain()`.
LOADING_NOTE = Sentence("model_list_loading", N_("Loading the model list…"))
UNAVAILABLE_NOTE = Sentence(
    "model_list_unavailable", N_("Could not load the model list; type a model name instead.")
)


@dataclass(frozen=True, slots=True)
class ModelList:
    """The models to offer; `error` says why the list is only a fallback (str() is English)."""

    ids: tuple[str, ...]
    error: Sentence | None = None

    def check(self, model: str) -> None:
        """Refuse a model AnyAPI does not list, but only when the list is real, not a fallback."""
        if self.error is None and model not in self.ids:
            raise ModelNotOffered(model)


class ModelCatalog:
    def __init__(self, fetch: Callable[[], list[str]], *, ttl: float, default_model: str) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._default_model = default_model
        self._lock = threading.Lock()
        self._cached: ModelList | None = None
        self._expires = 0.0

    def models(self, *, wait: bool = True) -> ModelList:
        """Cached list; the default model is always first so the picker is never empty.

        With wait=False a page never queues behind a fetch already in flight (the start-up
        prefetch): it gets the last list, or the default model, and the next run gets the rest.
        """
        if not self._lock.acquire(blocking=wait):
            return self._cached or ModelList((self._default_model,), LOADING_NOTE)
        try:
            if self._cached is None or time.monotonic() >= self._expires:
                self._cached, lifetime = self._load()
                self._expires = time.monotonic() + lifetime
            return self._cached
        finally:
            self._lock.release()

    def refresh(self) -> ModelList:
        with self._lock:
            self._expires = 0.0
        return self.models()

    def _load(self) -> tuple[ModelList, float]:
        try:
            ids = sorted(set(self._fetch()))
        except Exception as exc:  # any failure means "type a model name"
            log.warning("listing models failed: %s", type(exc).__name__)
            return ModelList((self._default_model,), UNAVAILABLE_NOTE), FAILURE_CACHE_SECONDS
        ordered = [self._default_model, *(i for i in ids if i != self._default_model)]
        return ModelList(tuple(ordered)), self._ttl
