"""This process among the others sharing the database: its id, its heartbeat, and the reaper
that closes replies whose process has died.

At start-up a process registers, then closes only the replies whose owner is gone (a previous
run of itself, a killed peer): a peer that is alive keeps beating and keeps its replies. While
running it beats every third of the stale window and reaps what has gone stale since, so a
killed peer's replies are closed within the window and a beat, with their partial text kept and
marked. A clean stop unregisters at once, so nobody waits out the window for it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from chatcore.chat.upstream_errors import SERVER_RESTARTED, reply_error
from storage import ProcessRepository

log = logging.getLogger(__name__)


class ProcessPresence:
    def __init__(self, processes: ProcessRepository, stale_seconds: float) -> None:
        self.id = uuid.uuid4().hex
        self.stale_seconds = stale_seconds
        self._processes = processes
        self._host = socket.gethostname()[:255]
        self._pid = os.getpid()
        self._closing = threading.Event()
        self._announce: Callable[[int], None] | None = None
        self._chores: list[_Chore] = []
        processes.register(self.id, self._host, self._pid)
        closed = self.reap()
        if closed:
            log.info("closed %d reply(s) whose process had stopped", closed)
        self._thread = threading.Thread(target=self._beat, name="anychat-heartbeat", daemon=True)
        self._thread.start()

    def announce_to(self, announce: Callable[[int], None]) -> None:
        """Tell followers on every process at once when a reply is closed here (the relay's
        end notice), rather than at their next re-read of the row."""
        self._announce = announce

    def add_chore(self, chore: Callable[[], object], *, every_seconds: float) -> None:
        """Run `chore` now and then on the heartbeat's thread (deleting abandoned temporary
        chats, applying retention): once at the next beat, then every `every_seconds`. Each
        process runs its own; the chores are safe to run twice at once."""
        self._chores.append(_Chore(chore, every_seconds))

    def reap(self) -> int:
        """Close the replies of processes that stopped beating; how many there were."""
        stopped = reply_error(SERVER_RESTARTED)
        closed = self._processes.close_orphaned_replies(
            self.stale_seconds, stopped.message, code=stopped.code, params=dict(stopped.params)
        )
        if self._announce is not None:
            for message_id in closed:
                self._announce(message_id)
        return len(closed)

    def owner_alive(self, owner: str | None) -> bool:
        """Whether the process that owns a reply still beats (this one always does)."""
        return owner == self.id or self._processes.alive(owner, self.stale_seconds)

    def _beat(self) -> None:
        interval = self.stale_seconds / 3
        while not self._closing.wait(interval):
            try:
                self._processes.beat(self.id, self._host, self._pid)
                closed = self.reap()
                if closed:
                    log.warning("closed %d reply(s) of a process that stopped beating", closed)
            except Exception:  # the database may be briefly away; the next beat tries again
                log.warning("heartbeat failed", exc_info=True)
            for chore in self._chores:
                chore.run_if_due()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        try:
            self._processes.unregister(self.id)
        except Exception:
            log.warning("could not unregister process %s", self.id, exc_info=True)


class _Chore:
    def __init__(self, work: Callable[[], object], every_seconds: float) -> None:
        self._work = work
        self._every = every_seconds
        self._due = 0.0  # at the first beat

    def run_if_due(self) -> None:
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + self._every
        try:
            self._work()
        except Exception:  # a failed sweep is tried again at its next turn
            log.warning("housekeeping failed", exc_info=True)
