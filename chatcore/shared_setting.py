"""A setting administrators change in the app, as every process reads it.

It lives in the database (storage/team_settings.py), so every process sees a change; it is read
on hot paths (every send, every page run), so each process keeps what it read for a while. A
failed read keeps the last good value: a database hiccup must not stop sends or blank costs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# How soon a change made on another process is seen.
REFRESH_SECONDS = 30.0


class SharedSetting(Generic[T]):
    def __init__(self, load: Callable[[], T], empty: T, *, name: str) -> None:
        """`load` reads the setting; `empty` stands for it until a first read succeeds; `name`
        says which setting failed, in the log."""
        self._load = load
        self._value = empty
        self._name = name
        self._lock = threading.Lock()
        self._expires = 0.0

    def get(self) -> T:
        with self._lock:
            if time.monotonic() >= self._expires:
                try:
                    self._value = self._load()
                except Exception:
                    log.exception("could not read the %s setting", self._name)
                self._expires = time.monotonic() + REFRESH_SECONDS
            return self._value

    def forget(self) -> None:
        """Read it again at the next use: this process just changed it."""
        with self._lock:
            self._expires = 0.0
