"""The generation worker's bookkeeping under concurrency: writing a reply's end holds up
nobody else's lookup, and a Stop racing the worker's own end writes the row once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

from chatcore.chat.generation import GenerationJob
from chatcore.chat.live import LiveReply
from chatcore.chat.worker import GenerationWorker
from storage import MessageStatus, ReplyOutcome

URL = "http://127.0.0.1:9/v1"


def _returns_within(seconds: float, action: Callable[[], object]) -> bool:
    """Whether `action` ends within `seconds` (run on a thread, so a test that fails does
    not hang on it)."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_writing_a_replys_end_holds_up_no_lookup_and_a_racing_stop_writes_nothing() -> None:
    """A page looks its live reply up on every run: when the worker held its one lock for
    the final write, every page of the process waited on every reply's transaction."""
    writing, release = threading.Event(), threading.Event()
    written: list[tuple[int, MessageStatus]] = []

    def finish_reply(message_id: int, outcome: ReplyOutcome) -> None:
        writing.set()
        release.wait(10)  # a slow transaction
        written.append((message_id, outcome.status))

    def no_client(_key: str | None) -> Any:
        raise RuntimeError("no client")  # the job ends at once, and its end is written

    repository = SimpleNamespace(save_progress=lambda *_: None, finish_reply=finish_reply)
    worker = GenerationWorker(
        cast(Any, repository), no_client, base_url=URL, timeout=1.0, max_workers=2
    )
    try:
        [live] = worker.submit(GenerationJob(message_ids=(1,), conversation_id="c", request={}))
        assert writing.wait(5)
        assert _returns_within(2, lambda: worker.live(1))
        assert _returns_within(2, worker.active_count)
        # Stop pressed while the end is being written: the worker's end stands, written once.
        assert _returns_within(2, lambda: worker.cancel(1))
        release.set()
        assert worker.wait_idle(5)
    finally:
        release.set()
        worker.shutdown()
    assert written == [(1, MessageStatus.ERROR)]
    snapshot = live.snapshot()
    assert snapshot.outcome is not None and snapshot.outcome.status == MessageStatus.ERROR


def test_only_the_first_to_end_a_reply_may_write_it() -> None:
    live = LiveReply(7)
    assert live.claim_end()
    assert not live.claim_end()  # the worker's end after a Stop's, or the other way round
    ended = LiveReply(8)
    assert ended.finish(ReplyOutcome(content="", status=MessageStatus.STOPPED))
    assert not ended.claim_end()  # already ended: nothing left to write
