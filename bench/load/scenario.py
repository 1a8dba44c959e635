"""The simulated team: U teammates, each sending T messages with a think time in between.

Each teammate is one light client (``protocol.StreamlitSession``) on one app process; with
several processes, teammate i uses process i mod P. A teammate starts its own conversation
with its first message and keeps sending into it, waiting for each reply to finish (the run
ends) and then thinking for ``think`` × a random factor in [0.5, 1.5], so teammates drift out
of step as people do. Starts are spread over one think time for the same reason.

With two or more processes, followers measure how a reply looks from another process: a
follower on process (i + 1) mod P opens teammate i's conversation as soon as that teammate's
request has reached the upstream (the reply is being generated) and records when each piece
of the reply's text shows up, to compare with when the teammate's own page showed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.load.protocol import Event, SessionClosed, StreamlitSession, markdown_body
from bench.load.servers import Upstream

CURSOR = "▌"  # the app's streaming cursor: a reply drawn with it is not finished
LAST_WORD = "omega"  # every message ends with it, so a complete echo does too
_PROSE = (
    "please check the deploy log for the database migration and tell me which step failed "
    "then suggest a safer order for the release with a short list of risks and a rollback "
    "plan we can test on staging before friday while the team reviews the schema change"
)
_WORDS = _PROSE.split()


def message_text(marker: str, words: int) -> str:
    """A message of about `words` words: the marker first, LAST_WORD last."""
    body = [_WORDS[i % len(_WORDS)] for i in range(max(1, words - 2))]
    return " ".join([marker, *body, LAST_WORD])


def reply_text(message: str) -> str:
    """What the fake upstream answers: an echo (see ``servers.Upstream``)."""
    return f"Echo: {message}"


@dataclass
class ReplyView:
    """How one reply appeared on one page: (time, characters shown) per redraw."""

    head: str  # "Echo: <marker>", in the reply's first chunk and never in the question
    updates: list[tuple[float, int]] = field(default_factory=list)
    first_at: float | None = None
    complete_at: float | None = None

    def watch(self, event: Event) -> None:
        body = markdown_body(event.msg)
        if body is None or self.head not in body:
            return
        shown = body.replace(CURSOR, "").rstrip()
        if self.first_at is None:
            self.first_at = event.at
        self.updates.append((event.at, len(shown)))
        if CURSOR not in body and shown.endswith(LAST_WORD) and self.complete_at is None:
            self.complete_at = event.at


@dataclass
class Turn:
    """One message sent by one teammate, and what became of it."""

    user: int
    number: int
    process: int
    marker: str
    text: str
    view: ReplyView
    sent_at: float | None = None
    finished_at: float | None = None
    status: str = "not sent"  # then: finished, timeout, closed, compile_error
    conversation_id: str | None = None
    followed: Follow | None = None

    @property
    def completed(self) -> bool:
        """The page showed the whole reply, without the cursor, and the run ended."""
        return self.status == "finished" and self.view.complete_at is not None


@dataclass
class Follow:
    """One turn's reply as a follower on another process saw it."""

    process: int
    view: ReplyView
    opened_at: float | None = None
    status: str = "waiting"


@dataclass(frozen=True)
class Plan:
    """What to run: sizes, pacing, limits."""

    tag: int  # distinguishes this configuration's markers from others in the same run
    users: int
    turns: int
    think: float
    words: int
    followers: int
    turn_timeout: float
    stop_sending_at: float  # monotonic: no turn starts after this
    hard_end: float  # monotonic: nothing waits past this
    seed: int = 1
    # Each teammate's own account, named by a trusted proxy's header (ANYCHAT_AUTH=proxy);
    # None: all share the one implicit account (ANYCHAT_AUTH=none).
    user_header: str | None = None

    def session(self, port: int, user: int) -> StreamlitSession:
        """A tab of teammate number `user` on the process at `port`."""
        if self.user_header is None:
            return StreamlitSession(port)
        return StreamlitSession(port, user_header=(self.user_header, teammate_name(user)))


def teammate_name(user: int) -> str:
    return f"teammate-{user:02d}"


@dataclass
class LoadOutcome:
    turns: list[Turn]
    load_started: float
    load_ended: float
    connect_failures: int
    errors: list[str]


def conversation_of(query_string: str) -> str | None:
    """The conversation id in a page's query string (``c=<id>``)."""
    for part in query_string.split("&"):
        key, _, value = part.partition("=")
        if key == "c" and value:
            return value
    return None


class Follower:
    """A teammate on another process who opens a busy conversation to watch a reply."""

    def __init__(self, session: StreamlitSession, process: int, plan: Plan, upstream: Upstream):
        self.session = session
        self.process = process
        self.plan = plan
        self.upstream = upstream
        self.busy = False
        self._tasks: set[asyncio.Task[None]] = set()

    def offer(self, turn: Turn, conversation: Callable[[], str | None]) -> None:
        """Follow this turn unless still following the previous one."""
        if self.busy or self.session.closed:
            return
        self.busy = True
        turn.followed = Follow(self.process, ReplyView(turn.view.head))
        task = asyncio.create_task(self._follow(turn, turn.followed, conversation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(
        self, turn: Turn, follow: Follow, conversation: Callable[[], str | None]
    ) -> None:
        try:
            # Open the chat once the reply is being generated: its request reached upstream.
            limit = min(time.monotonic() + 10, self.plan.hard_end)
            while self.upstream.arrival(turn.marker) is None or conversation() is None:
                if time.monotonic() > limit:
                    follow.status = "never generated"
                    return
                await asyncio.sleep(0.01)
            follow.opened_at = time.monotonic()
            result = await self.session.run(
                query_string=f"c={conversation()}",
                watch=follow.view.watch,
                timeout=max(
                    1.0, min(self.plan.turn_timeout, self.plan.hard_end - time.monotonic())
                ),
            )
            follow.status = result.status
        except SessionClosed:
            follow.status = "closed"
        finally:
            self.busy = False

    async def wait(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task


async def _teammate(
    user: int,
    process: int,
    session: StreamlitSession,
    plan: Plan,
    follower: Follower | None,
    turns: list[Turn],
    rng: random.Random,
) -> None:
    await asyncio.sleep(rng.uniform(0, plan.think))
    for number in range(plan.turns):
        if time.monotonic() >= plan.stop_sending_at or session.closed:
            return
        marker = f"zq{plan.tag}u{user:02d}t{number:02d}x"
        text = message_text(marker, plan.words)
        turn = Turn(user, number, process, marker, text, ReplyView(f"Echo: {marker}"))
        turns.append(turn)

        def sent(at: float, turn: Turn = turn) -> None:
            turn.sent_at = at
            turn.status = "sent"
            if follower is not None:
                follower.offer(turn, lambda: conversation_of(session.query_string))

        timeout = max(1.0, min(plan.turn_timeout, plan.hard_end - time.monotonic()))
        try:
            result = await session.run(
                chat_text=text, watch=turn.view.watch, timeout=timeout, on_sent=sent
            )
        except SessionClosed:
            turn.status = "closed"
            return
        turn.status = result.status
        turn.finished_at = result.finished_at
        turn.conversation_id = conversation_of(session.query_string)
        if result.status == "closed":
            return
        await asyncio.sleep(plan.think * rng.uniform(0.5, 1.5))


async def _open_page(session: StreamlitSession, gate: asyncio.Semaphore) -> None:
    """Connect and load the chat page, as opening the app in a tab does."""
    async with gate:
        await session.connect()
        result = await session.run(timeout=60)
        if result.status != "finished" or session.chat_input_id is None:
            raise SessionClosed(f"first page load: {result.status}")


async def run_load(
    ports: list[int], plan: Plan, upstream: Upstream, on_start: Callable[[], None]
) -> LoadOutcome:
    """Open every teammate's page, then let them all talk; return every turn.

    `on_start` is called between the two: page loads are warm-up, not load.
    """
    processes = len(ports)
    sessions = [plan.session(ports[user % processes], user) for user in range(plan.users)]
    followers: list[Follower] = []
    if processes > 1:
        for index in range(min(plan.followers, plan.users)):
            process = (index + 1) % processes  # teammate `index` is on process index % P
            session = plan.session(ports[process], index)  # the teammate, in another tab
            followers.append(Follower(session, process, plan, upstream))
    errors: list[str] = []
    gate = asyncio.Semaphore(4)  # page loads are warm-up: do not pile them all on at once
    everyone = [*sessions, *(f.session for f in followers)]
    opened = await asyncio.gather(*(_open_page(s, gate) for s in everyone), return_exceptions=True)
    failures = 0
    for session, outcome in zip(everyone, opened, strict=True):
        if isinstance(outcome, BaseException):
            failures += 1
            errors.append(f"page load on port {session.port}: {outcome!r}")
            session.closed = True
    turns: list[Turn] = []
    rng = random.Random(plan.seed)
    on_start()
    started = time.monotonic()
    try:
        tasks = [
            asyncio.create_task(
                _teammate(
                    user,
                    user % processes,
                    sessions[user],
                    plan,
                    followers[user] if user < len(followers) else None,
                    turns,
                    random.Random(rng.random()),
                )
            )
            for user in range(plan.users)
            if not sessions[user].closed
        ]
        if not tasks:
            errors.append("no teammate could open the page")
            return LoadOutcome(turns, started, time.monotonic(), failures, errors)
        remaining = max(1.0, plan.hard_end - time.monotonic())
        done, pending = await asyncio.wait(tasks, timeout=remaining)
        for task in pending:
            task.cancel()
            errors.append("a teammate was still busy at the hard time limit")
        for task in done:
            if task.exception() is not None:
                errors.append(f"teammate failed: {task.exception()!r}")
        for follower in followers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(follower.wait(), max(1.0, plan.hard_end - time.monotonic()))
    finally:
        ended = time.monotonic()
        await asyncio.gather(*(s.close() for s in everyone), return_exceptions=True)
    return LoadOutcome(turns, started, ended, failures, errors)
