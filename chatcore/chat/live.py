"""A reply being generated, shared between its worker thread and any page showing it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from storage import ReplyOutcome


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    text: str
    version: int
    outcome: ReplyOutcome | None

    @property
    def done(self) -> bool:
        return self.outcome is not None


class LiveReply:
    """Text so far plus a condition variable, so viewers wake on each token instead of polling.

    Viewers come and go (tab switches, reloads); the reply's life does not depend on them.
    """

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self._condition = threading.Condition()
        self._parts: list[str] = []
        self._version = 0
        self._outcome: ReplyOutcome | None = None
        self._cancel_requested = False
        self._closer: Callable[[], None] | None = None
        self._left = threading.Event()  # its request is on its way, or it has ended

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def append(self, text: str) -> None:
        with self._condition:
            self._parts.append(text)
            self._version += 1
            self._condition.notify_all()

    def text(self) -> str:
        with self._condition:
            return self._joined()

    def _joined(self) -> str:
        # Compact on read: appends stay O(1) and each viewer refresh joins only what is new.
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def snapshot(self) -> LiveSnapshot:
        with self._condition:
            return LiveSnapshot(self._joined(), self._version, self._outcome)

    def wait(self, after_version: int, timeout: float) -> LiveSnapshot:
        """Block until something newer than `after_version` exists, the reply ends, or timeout."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._version > after_version or self._outcome is not None, timeout
            )
            return LiveSnapshot(self._joined(), self._version, self._outcome)

    def mark_left(self) -> None:
        self._left.set()

    def wait_left(self, timeout: float) -> bool:
        """Block until its request is on its way to the API (or the reply has ended)."""
        return self._left.wait(timeout)

    def finish(self, outcome: ReplyOutcome) -> bool:
        """Record the end once; False if someone (a Stop before the answer came) was first."""
        self._left.set()
        with self._condition:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            self._version += 1
            # The stream's closer holds the response, and through it the request's body (a
            # long thread, a PDF's text, images): kept for the grace period, that would pin
            # megabytes per finished reply.
            self._closer = None
            self._condition.notify_all()
            return True

    def set_closer(self, closer: Callable[[], None]) -> None:
        with self._condition:
            self._closer = closer
            cancel_now = self._cancel_requested
        if cancel_now:
            closer()

    def request_cancel(self) -> None:
        """Ask the worker to stop; closing the HTTP stream wakes it even between tokens."""
        with self._condition:
            self._cancel_requested = True
            closer = self._closer
            self._condition.notify_all()
        if closer is not None:
            with contextlib.suppress(Exception):  # a stream that already ended is fine
                closer()
