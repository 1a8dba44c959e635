"""The figures: each use case the pages call, timed through `Services` as the pages call it,
repeated (bounded in count and time), on a library built by `dataset`.

Replies are never generated: the worker is replaced by `HandOff`, which keeps each job, so
"start a reply" is timed up to the request being handed to the worker thread, and the
worker's own part before the network (reading a long conversation's earlier messages for the
request, `GenerationJob.with_history`) is timed apart.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, text, update

from bench.storage.chatgpt import chatgpt_export
from bench.storage.dataset import Library
from bench.storage.search_cases import far_back, search_cases
from chatcore.chat.generation import GenerationJob
from chatcore.chat.params import GenerationParams
from chatcore.wiring import Services
from storage import MessageStatus, ReplyOutcome, UserRepository
from storage.library import LibraryRepository
from storage.models import Conversation, Message, User

PAGE_TAIL = 20  # what the chat page draws of a conversation (ui/thread_view.RECENT_MESSAGES)
IMPORTER = "bench-import-"
TRANSFER_MESSAGES = 20  # per imported (and exported) conversation
SEARCH_GOAL_MS = 50.0


class HandOff:
    """Stands in for the generation worker: keeps the jobs, runs none."""

    def __init__(self) -> None:
        self.jobs: list[GenerationJob] = []

    def submit(self, job: GenerationJob) -> list[Any]:
        self.jobs.append(job)
        return []


@dataclass
class Figure:
    label: str
    values: list[float] = field(default_factory=list)  # milliseconds
    absent: str = ""  # why there is no figure: "n/a" (no such use case yet), "skipped"
    goal_ms: float | None = None

    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def p95(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]

    def cell(self) -> str:
        if not self.values:
            return self.absent or "–"
        return f"{self.median():.1f} / {self.p95():.1f} ({len(self.values)})"

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "n": len(self.values),
            "median_ms": self.median(),
            "p95_ms": self.p95(),
            "goal_ms": self.goal_ms,
            "absent": self.absent or None,
        }


@dataclass
class Limits:
    reps: int
    budget: float  # seconds per figure; at least 3 repetitions run whatever it says
    deadline: float  # time.monotonic() when the whole run must stop
    transfer_conversations: int


def _repeat(
    figure: Figure,
    limits: Limits,
    run: Callable[[], Any],
    *,
    after: Callable[[Any], None] | None = None,
    reps: int | None = None,
    warm_up: bool = True,
) -> Figure:
    """Time `run` until enough repetitions or the figure's time is up; `after` (not timed)
    undoes what a repetition changed. One run first is not counted: it pays for first-use
    costs (imports, caches, the database's pages coming into memory)."""
    if warm_up and time.monotonic() < limits.deadline:
        result = run()
        if after is not None:
            after(result)
    started = time.monotonic()
    for index in range(reps or limits.reps):
        now = time.monotonic()
        if now > limits.deadline:
            figure.absent = figure.absent or "skipped (time)"
            break
        if index >= 3 and now - started > limits.budget:
            break
        began = time.perf_counter()
        result = run()
        figure.values.append((time.perf_counter() - began) * 1000)
        if after is not None:
            after(result)
    return figure


@dataclass
class Snapshot:
    """What the measurements change, to put back: sends add messages to the long one."""

    max_message_id: int
    leaf: int | None
    model: str
    settings: dict[str, Any]
    updated_at: Any


def snapshot(services: Services, library: Library) -> Snapshot:
    with services.infra.database.session() as session:
        top = session.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0
        row = session.get(Conversation, library.long_id)
        assert row is not None
        return Snapshot(top, row.active_leaf_id, row.model, dict(row.settings), row.updated_at)


def restore(services: Services, library: Library, before: Snapshot) -> None:
    database = services.infra.database
    # Importers first: the messages deleted next are then only the sends'.
    with database.session() as session:
        importers = session.scalars(
            select(User.id).where(User.username.startswith(IMPORTER, autoescape=True))
        ).all()
    for importer in importers:
        _remove_importer(services, importer)
    with database.session() as session:
        session.execute(delete(Message).where(Message.id > before.max_message_id))
        session.execute(
            update(Conversation)
            .where(Conversation.id == library.long_id)
            .values(
                active_leaf_id=before.leaf,
                model=before.model,
                settings=before.settings,
                updated_at=before.updated_at,
            )
        )


def _remove_importer(services: Services, user_id: int) -> None:
    """An importer's account and what it imported: its conversations a batch at a time, as
    the app deletes many; one transaction for them all would hold SQLite's write lock past
    the heartbeat's busy timeout."""
    LibraryRepository(services.infra.database).delete_matching(user_id)
    with services.infra.database.engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})


def _path_messages(services: Services, library: Library) -> list[int]:
    conversation = services.infra.chats.get_conversation(library.user_id, library.long_id)
    assert conversation is not None
    return [message.id for message in services.infra.chats.thread(conversation)]


def measure(
    services: Services,
    library: Library,
    limits: Limits,
    log: Callable[[str], None],
    search_only: bool = False,
) -> dict[str, Figure]:
    """Every figure for one database at one size (or only the searches). The library is as
    found afterwards."""
    user = library.user_id
    chat = services.chat
    figures: dict[str, Figure] = {}
    if search_only:
        _measure_search(services, library, limits, figures, log)
        return figures

    def run(key: str, label: str, body: Callable[[], Any], goal: float | None = None) -> None:
        log(f"    {label}")
        figures[key] = _repeat(Figure(label, goal_ms=goal), limits, body)

    # Code from before the page read only its tail opens whole (the page then drew the last
    # 20): the same bench measures an earlier commit (git archive) for comparison.
    tails = "recent" in inspect.signature(chat.open).parameters
    tail: dict[str, Any] = {"recent": PAGE_TAIL} if tails else {}
    run("sidebar", "sidebar list (newest 20)", lambda: chat.list_conversations(user))
    run(
        "open_long",
        f"open the {library.long_messages:,}-message conversation",
        lambda: chat.open(user, library.long_id, **tail),
        goal=10.0,
    )
    run(
        "open_short",
        "open a 100-message conversation",
        lambda: chat.open(user, library.short_id, **tail),
        goal=10.0,
    )
    run("token_total", "its token total", lambda: chat.token_total(user, library.long_id))
    if tails:
        path = _path_messages(services, library)
        targets = itertools.cycle(path[100:])  # a message not landed on yet, each time

        def land_anew() -> Any:
            return chat.open(user, library.long_id, through=next(targets), **tail)

        run("land_long", "land on its 100th message or so (first time)", land_anew)
        run(
            "land_again",
            "… the page's next runs there",
            lambda: chat.open(user, library.long_id, through=path[100], **tail),
        )
    else:
        figures["land_long"] = Figure("land on its 100th message or so (first time)", absent="n/a")
        figures["land_again"] = Figure("… the page's next runs there", absent="n/a")
    run(
        "whole_long",
        "read its whole thread (all alternatives)",
        lambda: chat.open(user, library.long_id),
    )
    before = snapshot(services, library)
    try:
        _measure_send(services, library, limits, figures, log)
        _measure_search(services, library, limits, figures, log)
        _measure_transfer(services, limits, figures, log)
    finally:
        restore(services, library, before)
    return figures


def _measure_send(
    services: Services,
    library: Library,
    limits: Limits,
    figures: dict[str, Figure],
    log: Callable[[str], None],
) -> None:
    log("    start a reply")
    worker = HandOff()
    real_worker = services.chat.worker
    services.chat.worker = worker  # type: ignore[assignment]
    params = GenerationParams(model=services.settings.default_model)
    ready = Figure("… then the worker reads its history")
    try:

        def finish(_view: Any) -> None:
            job = worker.jobs.pop()
            complete = getattr(job, "with_history", None)  # None: code from before it
            if complete is not None:
                began = time.perf_counter()
                complete()
                ready.values.append((time.perf_counter() - began) * 1000)
            for message_id in job.message_ids:
                services.infra.chats.finish_reply(
                    message_id, ReplyOutcome(content="ok", status=MessageStatus.COMPLETE)
                )

        figures["send"] = _repeat(
            Figure(
                f"start a reply in the {library.long_messages:,}-message one (to the worker)",
                goal_ms=5.0,
            ),
            limits,
            lambda: services.chat.send(
                library.user_id, library.long_id, "一个新问题: what next?", params
            ),
            after=finish,
        )
        ready.values = ready.values[len(ready.values) - len(figures["send"].values) :]
        ready.absent = "" if ready.values else "n/a"
        figures["send_history"] = ready  # the warm-up's read left out, as its send was
    finally:
        services.chat.worker = real_worker


def _measure_search(
    services: Services,
    library: Library,
    limits: Limits,
    figures: dict[str, Figure],
    log: Callable[[str], None],
) -> None:
    search = getattr(services, "search", None)
    if search is None:
        for key, label in (("search_en", "search (English)"), ("search_zh", "search (Chinese)")):
            figures[key] = Figure(label, absent="n/a")
        return
    for case in search_cases():
        log(f"    {case.label}")
        with far_back(services) if case.key == "search_far_back" else contextlib.nullcontext():
            figures[case.key] = _repeat(
                Figure(case.label, goal_ms=SEARCH_GOAL_MS),
                limits,
                _searcher(search, library.user_id, case.query),
            )


def _searcher(search: Any, user_id: int, query: str) -> Callable[[], Any]:
    return lambda: search.search(user_id, query, limit=20)


def _measure_transfer(
    services: Services, limits: Limits, figures: dict[str, Figure], log: Callable[[str], None]
) -> None:
    count = limits.transfer_conversations
    transfer = getattr(services, "transfer", None)
    import_label = f"import a {count:,}-conversation ChatGPT export"
    export_label = f"export {count:,} conversations"
    if transfer is None:
        figures["import"] = Figure(import_label, absent="n/a")
        figures["export"] = Figure(export_label, absent="n/a")
        return
    log(f"    {import_label}")
    data = chatgpt_export(count, TRANSFER_MESSAGES, seed=1)
    users = UserRepository(services.infra.database)
    made = iter(range(1, 10_000))

    def import_once() -> int:
        user = users.ensure_user(f"{IMPORTER}{next(made)}")
        transfer.import_file(user.id, "conversations.json", data)
        return user.id

    imported: list[int] = []

    def keep_the_first(user_id: int) -> None:
        """The first importer's conversations are exported next; later ones go at once, so
        every import meets the same database."""
        if not imported:
            imported.append(user_id)
            return
        _remove_importer(services, user_id)

    figures["import"] = _repeat(
        Figure(import_label), limits, import_once, after=keep_the_first, warm_up=False
    )
    if not imported:
        figures["export"] = Figure(export_label, absent="skipped (time)")
        return
    log(f"    {export_label}")
    figures["export"] = _repeat(
        Figure(export_label), limits, lambda: transfer.export_all(imported[0])
    )
