"""Per-process generation threads: a reply keeps going when the tab that asked for it goes away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from chatcore.chat.client import on_request_leaving
from chatcore.chat.generation import GenerationJob, generate
from chatcore.chat.live import LiveReply
from chatcore.chat.relay import RelayPump
from chatcore.chat.upstream_errors import INTERNAL_ERROR, reply_error
from storage import ChatRepository, MessageStatus, ReplyOutcome

if TYPE_CHECKING:  # openai takes ~0.5 s to import; only the generation thread needs it
    from openai import OpenAI

log = logging.getLogger(__name__)

# A finished reply stays attachable this long, so a page that was watching it sees the end.
FINISHED_GRACE_SECONDS = 60.0
# How long a submit waits for its requests to leave (see submit_together), at most.
LEAVING_WAIT_SECONDS = 0.05


class GenerationWorker:
    """Runs jobs on a thread pool, checkpoints them to the database, and lets pages attach.

    The database row is the system of record; the LiveReply is only a fast path for pages in
    this process, and the relay pump (PostgreSQL) the fast path for pages of other processes.
    A Stop is a request to the worker, not an interruption of a page script.
    """

    def __init__(
        self,
        repository: ChatRepository,
        client: Callable[[str | None], OpenAI],
        *,
        base_url: str,
        timeout: float,
        max_workers: int,
        prepare: Callable[[GenerationJob], GenerationJob] | None = None,
    ) -> None:
        """`prepare` readies each request for the wire on the generation thread
        (chatcore/chat/outgoing.py); without it requests go out as built."""
        self._repository = repository
        self._prepare = prepare
        self._client = client
        self._base_url = base_url
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="anychat-gen")
        self._lock = threading.Lock()
        self._live: dict[int, LiveReply] = {}
        # Every choice of one request, by each of its message ids: Stop ends them together.
        self._batches: dict[int, tuple[int, ...]] = {}
        self._finished_at: dict[int, float] = {}
        self._pump: RelayPump | None = None

    def relay_to(self, pump: RelayPump) -> None:
        """Send every reply's text to other processes too, as it grows (PostgreSQL)."""
        self._pump = pump

    def submit(self, job: GenerationJob) -> list[LiveReply]:
        return self.submit_together([job])

    def submit_together(self, jobs: Sequence[GenerationJob]) -> list[LiveReply]:
        """Run the jobs at once, as one batch: a Stop of any of their replies stops them all
        (a comparison: one request per model)."""
        batch = tuple(message_id for job in jobs for message_id in job.message_ids)
        per_job = [[LiveReply(message_id) for message_id in job.message_ids] for job in jobs]
        lives = [live for job_lives in per_job for live in job_lives]
        with self._lock:
            self._forget_old_replies()
            for live in lives:
                self._live[live.message_id] = live
                self._batches[live.message_id] = batch
        if self._pump is not None:
            self._pump.add(lives)
        for job, job_lives in zip(jobs, per_job, strict=True):
            self._pool.submit(self._run, job, job_lives)
        # The caller (a page's script thread) waits while the generation threads prepare and
        # send their requests: otherwise the two share the interpreter, and the page's drawing
        # held the request back by ~25 ms. Bounded, for a pool whose threads are all busy.
        deadline = time.monotonic() + LEAVING_WAIT_SECONDS
        for job_lives in per_job:
            job_lives[0].wait_left(max(0.0, deadline - time.monotonic()))
        return lives

    def live(self, message_id: int) -> LiveReply | None:
        with self._lock:
            return self._live.get(message_id)

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for message_id in self._live if message_id not in self._finished_at)

    def cancel(self, message_id: int) -> bool:
        """Stop a request's replies. Streamed text is kept; a reply with none ends at once."""
        with self._lock:
            batch = self._batches.get(message_id, ())
            lives = [self._live[other] for other in batch if other in self._live]
        if not lives:
            return False
        for live in lives:
            live.request_cancel()
        for live in lives:
            snapshot = live.snapshot()
            if not snapshot.text and not snapshot.done:
                # Nothing arrived yet (or a non-streamed call is pending): close it now rather
                # than whenever the upstream answers; the worker's late result is discarded.
                self._finish(live, ReplyOutcome(content="", status=MessageStatus.STOPPED))
        return True

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: wait until no reply is being generated."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.active_count() == 0:
                return True
            time.sleep(0.02)
        return False

    def shutdown(self) -> None:
        with self._lock:
            replies = list(self._live.values())
        for live in replies:
            live.request_cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._pump is not None:
            self._pump.close()

    def _run(self, job: GenerationJob, lives: list[LiveReply]) -> None:
        def left() -> None:
            for live in lives:
                live.mark_left()

        try:
            with on_request_leaving(left):
                outcomes = generate(
                    self._client(job.api_key),
                    job,
                    lives,
                    checkpoint=self._repository.save_progress,
                    base_url=self._base_url,
                    timeout=self._timeout,
                    prepare=self._prepare,
                )
        except Exception as exc:  # a worker thread must always close its rows
            log.exception("replies %s crashed", job.message_ids)
            crash = reply_error(INTERNAL_ERROR, kind=type(exc).__name__)
            outcomes = [
                ReplyOutcome(
                    content=live.text(),
                    status=MessageStatus.ERROR,
                    error=crash.message,
                    error_code=crash.code,
                    error_params=dict(crash.params),
                )
                for live in lives
            ]
        for live, outcome in zip(lives, outcomes, strict=True):
            self._finish(live, outcome)

    def _finish(self, live: LiveReply, outcome: ReplyOutcome) -> None:
        # Write before announcing, so a page that wakes on the finish reads the final row.
        with self._lock:
            if live.snapshot().done:
                return
            try:
                self._repository.finish_reply(live.message_id, outcome)
            except Exception:  # the viewer must be released even if the write failed
                log.exception("could not save reply %s", live.message_id)
            live.finish(outcome)
            self._finished_at[live.message_id] = time.monotonic()

    def _forget_old_replies(self) -> None:
        cutoff = time.monotonic() - FINISHED_GRACE_SECONDS
        for message_id, finished in list(self._finished_at.items()):
            if finished < cutoff:
                del self._finished_at[message_id]
                self._live.pop(message_id, None)
                self._batches.pop(message_id, None)
