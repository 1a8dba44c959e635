"""Reading a conversation's visible thread without reading the whole conversation.

The thread is the path from the first message down to the conversation's active leaf. The
page draws only its last messages, plus each drawn message's siblings (the ‹ 2 / 3 › navigator
and the n choices). So the path is found by walking up parent links from the leaf inside the
database (a recursive CTE: the same SQL on SQLite and PostgreSQL), and full rows are read only
for what is drawn: a page run costs the same in a 5,000-message conversation as in a 50-message
one.

How many earlier messages are hidden is the leaf's depth, and depth needs a walk to the first
message: 5,000 steps cost ~20 ms on PostgreSQL. But a message's depth never changes (parent
links are written once; messages go only with their whole conversation), so each depth learned
is kept in a bounded per-process cache, checked against the parent it was learned with. A walk
of the drawn tail then almost always meets a message whose depth is known: the previous leaf,
after a send; any drawn message, after a branch switch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    CTE,
    CompoundSelect,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from storage.attachments import Files, files_of_messages
from storage.convert import MESSAGE_COLUMNS, message_from_row, with_files
from storage.db import Database
from storage.models import Message
from storage.records import ConversationRecord, MessageRecord, Role, Thread

# Rows walked beyond the drawn tail: the tail is widened so it never starts with a tool result
# whose call is not drawn (the result names the function its call invoked).
SLACK = 8
# Landing on a message far up a conversation draws it, the message above it and this many
# below, not everything down to the newest (Thread.later counts the rest).
LANDING_SPAN = 30
DEPTHS_KEPT = 50_000
WINDOWS_KEPT = 1_000

# Core columns, not the ORM's: rows come back as plain tuples, with no per-row ORM work
# (five times faster for a 5,000-message path). A read's files come in one more query, made
# only when some message read has files (storage/convert.py MESSAGE_COLUMNS).
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class _Step:
    """A message on the path as the walk sees it, `distance` steps above where it began."""

    id: int
    parent_id: int | None
    role: str
    distance: int


@dataclass(frozen=True, slots=True)
class _Window:
    """Where the part drawn around a message landed on lies, as distances from the leaf: it
    starts at message `bottom` (`start` steps up) and the landed message is `position` up."""

    bottom: int
    start: int
    position: int


class _Depths:
    """Depths (0 for a first message) by conversation and message, each with the parent it
    was learned with: a message id SQLite hands out again after its conversation was deleted
    is never mistaken for the old one.

    Also, per (conversation, leaf, message landed on), where the part drawn around that
    message lies: the path between two messages never changes either, so a page that stays
    on a landed message walks only its neighbourhood on its next runs, not the whole way down
    to the newest message again."""

    def __init__(self, size: int = DEPTHS_KEPT) -> None:
        self._size = size
        self._known: OrderedDict[tuple[str, int], tuple[int | None, int]] = OrderedDict()
        self._windows: OrderedDict[tuple[str, int, int], _Window] = OrderedDict()
        self._lock = threading.Lock()

    def window(self, conversation_id: str, leaf: int, landed: int) -> _Window | None:
        with self._lock:
            return self._windows.get((conversation_id, leaf, landed))

    def keep_window(self, conversation_id: str, leaf: int, landed: int, window: _Window) -> None:
        with self._lock:
            self._windows[(conversation_id, leaf, landed)] = window
            while len(self._windows) > WINDOWS_KEPT:
                self._windows.popitem(last=False)

    def get(self, conversation_id: str, step: _Step) -> int | None:
        with self._lock:
            found = self._known.get((conversation_id, step.id))
            if found is None or found[0] != step.parent_id:
                return None
            self._known.move_to_end((conversation_id, step.id))
            return found[1]

    def put(self, conversation_id: str, steps: list[_Step], leaf_depth: int) -> None:
        with self._lock:
            for step in steps:
                key = (conversation_id, step.id)
                self._known[key] = (step.parent_id, leaf_depth - step.distance)
                self._known.move_to_end(key)
            while len(self._known) > self._size:
                self._known.popitem(last=False)


_DEPTHS: WeakKeyDictionary[Database, _Depths] = WeakKeyDictionary()
_DEPTHS_LOCK = threading.Lock()


def _depths(db: Database) -> _Depths:
    with _DEPTHS_LOCK:
        found = _DEPTHS.get(db)
        if found is None:
            found = _DEPTHS[db] = _Depths()
        return found


def _files(session: Session, *row_sets: Sequence[Row[Any]]) -> Files:
    """The files of the messages among `row_sets` that have any: no query when none has."""
    carrying = [message_id for rows in row_sets for message_id in with_files(rows)]
    return files_of_messages(session, carrying) if carrying else {}


def _walk_statement() -> Select[Any]:
    """The path upward from :start, as (id, parent_id, role, distance), nearest first: from
    distance :first, to before distance :end, ending early after message :stop.

    Built once: composing a recursive CTE costs more than running it on a page's tail."""
    up = _MESSAGES.alias()
    path = (
        select(
            _MESSAGES.c.id,
            _MESSAGES.c.parent_id,
            _MESSAGES.c.role,
            cast(bindparam("first", type_=Integer), Integer).label("distance"),
        )
        .where(
            _MESSAGES.c.id == bindparam("start"), _MESSAGES.c.conversation_id == bindparam("chat")
        )
        .cte("path", recursive=True)
    )
    path = path.union_all(
        select(up.c.id, up.c.parent_id, up.c.role, path.c.distance + 1).where(
            up.c.id == path.c.parent_id,
            path.c.distance + 1 < bindparam("end", type_=Integer),
            path.c.id != bindparam("stop", type_=Integer),
        )
    )
    return select(path).order_by(path.c.distance)


def _walk_up(start: str, name: str, *, limited: bool) -> CTE:
    """Ids from the message named by the parameter `start` up to the first message of
    conversation :chat, each with its distance up; with `limited`, fewer than :end of them."""
    up = _MESSAGES.alias()
    path = (
        select(_MESSAGES.c.id, _MESSAGES.c.parent_id, cast(literal(0), Integer).label("distance"))
        .where(_MESSAGES.c.id == bindparam(start), _MESSAGES.c.conversation_id == bindparam("chat"))
        .cte(name, recursive=True)
    )
    step = path.c.distance + 1
    limit = [step < bindparam("end", type_=Integer)] if limited else []
    return path.union_all(
        select(up.c.id, up.c.parent_id, step).where(up.c.id == path.c.parent_id, *limit)
    )


def _tail_statement() -> CompoundSelect[Any]:
    """The path upward from :start in conversation :chat, at most :end messages, and their
    siblings, in one round trip: every child of the path's parents (so the path's messages
    too), and the conversation's first messages when the path reaches one. Full columns, each
    row ending with its distance up the path (None for a sibling off it).

    A few rows more than the page draws (the SLACK above the tail) come whole, not as the
    walk's ids: cheaper than a second round trip for the drawn ones."""
    path = _walk_up("start", "tail_path", limited=True)
    on_path = path.alias("on_path")
    children = (
        select(*MESSAGE_COLUMNS, on_path.c.distance)
        .join(path, _MESSAGES.c.parent_id == path.c.parent_id)
        .outerjoin(on_path, on_path.c.id == _MESSAGES.c.id)
    )
    # Both say whether the walk reached a first message: the EXISTS lets PostgreSQL skip this
    # part outright (a one-time filter), the value gives SQLite's index lookup a key that
    # matches nothing. Without them, every first message of the library is looked at.
    reached = select(path.c.id).where(path.c.parent_id.is_(None))
    reached_chat = select(bindparam("chat")).where(reached.exists()).scalar_subquery()
    firsts = (
        select(*MESSAGE_COLUMNS, on_path.c.distance)
        .outerjoin(on_path, on_path.c.id == _MESSAGES.c.id)
        .where(
            reached.exists(),
            _MESSAGES.c.parent_id.is_(None),
            _MESSAGES.c.conversation_id == reached_chat,
        )
    )
    return union_all(children, firsts)


def _count_statement() -> Select[Any]:
    """How many messages from :start up to the first one, both counted."""
    up = _MESSAGES.alias()
    path = (
        select(_MESSAGES.c.id, _MESSAGES.c.parent_id)
        .where(_MESSAGES.c.id == bindparam("start"))
        .cte("path_up", recursive=True)
    )
    path = path.union_all(select(up.c.id, up.c.parent_id).where(up.c.id == path.c.parent_id))
    return select(func.count()).select_from(path)


def _siblings_statement() -> Select[Any]:
    """Every child of the messages :parents, and the first messages of conversation :roots
    ("" for none): the drawn messages and their siblings."""
    return (
        select(*MESSAGE_COLUMNS)
        .where(
            or_(
                _MESSAGES.c.parent_id.in_(bindparam("parents", expanding=True)),
                and_(
                    _MESSAGES.c.parent_id.is_(None),
                    _MESSAGES.c.conversation_id == bindparam("roots"),
                ),
            )
        )
        .order_by(_MESSAGES.c.id)
    )


def _path_statement() -> Select[Any]:
    """Every message from :leaf up to the first one, full columns, in no particular order
    (the caller sorts: a sort of thousands of full rows in the database costs more)."""
    path = _walk_up("leaf", "whole_path", limited=False)
    return select(*MESSAGE_COLUMNS, path.c.distance).join(path, path.c.id == _MESSAGES.c.id)


def _forks_statement() -> Select[Any]:
    """Parents with more than one child of a role (tool results aside) in conversation :chat."""
    return (
        select(_MESSAGES.c.parent_id)
        .where(_MESSAGES.c.conversation_id == bindparam("chat"), _MESSAGES.c.role != Role.TOOL)
        .group_by(_MESSAGES.c.parent_id, _MESSAGES.c.role)
        .having(func.count() > 1)
    )


def _newest_statement() -> Select[Any]:
    """The newest message in the subtree below :start (itself included)."""
    down = _MESSAGES.alias()
    subtree = (
        select(_MESSAGES.c.id)
        .where(_MESSAGES.c.id == bindparam("start"))
        .cte("subtree", recursive=True)
    )
    subtree = subtree.union_all(select(down.c.id).where(down.c.parent_id == subtree.c.id))
    return select(func.max(subtree.c.id))


WALK = _walk_statement()
TAIL = _tail_statement()
COUNT_UP = _count_statement()
SIBLINGS = _siblings_statement()
WHOLE_PATH = _path_statement()
FORKS = _forks_statement()
NEWEST_BELOW = _newest_statement()
NO_LIMIT = 2**31 - 1


def _walk(
    session: Session,
    conversation_id: str,
    start: int,
    *,
    limit: int | None = None,
    stop_at: int | None = None,
    first_distance: int = 0,
) -> list[_Step]:
    """The path upward from `start`: at most `limit` messages, ending early after `stop_at`."""
    rows = session.execute(
        WALK,
        {
            "start": start,
            "chat": conversation_id,
            "first": first_distance,
            "end": NO_LIMIT if limit is None else first_distance + limit,
            "stop": -1 if stop_at is None else stop_at,
        },
    ).all()
    return [_Step(row.id, row.parent_id, row.role, row.distance) for row in rows]


def _count_up(session: Session, start: int) -> int:
    """Messages from `start` up to the first one, both counted."""
    return int(session.scalar(COUNT_UP, {"start": start}) or 0)


def _leaf_depth(
    session: Session, depths: _Depths, conversation_id: str, walked: list[_Step]
) -> int:
    """The depth of walked[0] (where the walk began), from the cache when it can."""
    top = walked[-1]
    if top.parent_id is None:
        depth = top.distance
    else:
        known = next(
            (
                (found, step.distance)
                for step in walked
                if (found := depths.get(conversation_id, step)) is not None
            ),
            None,
        )
        if known is not None:
            depth = known[0] + known[1]
        else:
            depth = _count_up(session, top.parent_id) + top.distance
    depths.put(conversation_id, walked, depth)
    return depth


def _widened(walked: list[_Step], start: int, end: int) -> list[_Step]:
    """The steps `start` to `end` (exclusive) up from the leaf, first message first, grown
    upward past tool results."""
    by_distance = {step.distance: step for step in walked}
    while end in by_distance and by_distance[end - 1].role == Role.TOOL:
        end += 1
    return [by_distance[d] for d in range(end - 1, start - 1, -1) if d in by_distance]


def _alternatives(
    shown: list[MessageRecord], children: dict[int | None, list[MessageRecord]]
) -> dict[int, list[MessageRecord]]:
    """Same-role siblings of each shown message; tool results under one call are a sequence."""
    alternatives: dict[int, list[MessageRecord]] = {}
    for message in shown:
        if message.role == Role.TOOL:
            continue
        same = [row for row in children.get(message.parent_id, []) if row.role == message.role]
        if len(same) > 1:
            alternatives[message.id] = same
    return alternatives


def _drawn(session: Session, conversation_id: str, shown: list[_Step]) -> Thread:
    """Full rows for `shown` (path order) and their siblings, with their files."""
    rows = _sibling_rows(session, conversation_id, shown)
    return _thread_of(rows, shown, _files(session, rows))


def _sibling_rows(session: Session, conversation_id: str, shown: list[_Step]) -> list[Row[Any]]:
    parents = sorted({step.parent_id for step in shown if step.parent_id is not None})
    roots = conversation_id if any(step.parent_id is None for step in shown) else ""
    return list(session.execute(SIBLINGS, {"parents": parents, "roots": roots}).all())


def _thread_of(rows: list[Row[Any]], shown: list[_Step], files: Files) -> Thread:
    children: dict[int | None, list[MessageRecord]] = {}
    by_id: dict[int, MessageRecord] = {}
    for row in rows:
        record = message_from_row(row, files)
        children.setdefault(record.parent_id, []).append(record)
        by_id[record.id] = record
    messages = [by_id[step.id] for step in shown if step.id in by_id]
    return Thread(messages, _alternatives(messages, children))


def _walk_for_view(
    session: Session,
    depths: _Depths,
    conversation_id: str,
    leaf: int,
    tail: int,
    through: int | None,
    above: int,
) -> tuple[list[_Step], int | None]:
    """The steps a view needs, and how far up `through` is (None: not on the thread)."""
    if through is not None:
        window = depths.window(conversation_id, leaf, through)
        if window is not None:
            walked = _walk(
                session,
                conversation_id,
                window.bottom,
                limit=window.position - window.start + above + SLACK + 1,
                first_distance=window.start,
            )
            if walked:
                return walked, window.position
    walked = _walk(session, conversation_id, leaf, limit=tail + SLACK)
    position = _position(walked, through)
    if not walked or through is None:
        return walked, position
    if position is None and walked[-1].parent_id is not None:
        walked += _walk(
            session,
            conversation_id,
            walked[-1].parent_id,
            stop_at=through,
            first_distance=walked[-1].distance + 1,
        )
        position = _position(walked, through)
    if position is not None and walked[-1].parent_id is not None and above > 0:
        wanted = position + above + SLACK + 1  # `above` beyond it, and the slack for tools
        if len(walked) < wanted:
            walked += _walk(
                session,
                conversation_id,
                walked[-1].parent_id,
                limit=wanted - len(walked),
                first_distance=walked[-1].distance + 1,
            )
    return walked, position


def read_tail(
    db: Database,
    conversation: ConversationRecord,
    tail: int,
    *,
    through: int | None = None,
    above: int = 1,
) -> Thread:
    """The last `tail` messages of the thread and their alternatives; `hidden` counts the
    earlier ones.

    With `through` (a message on the thread), that message is drawn too, with `above` messages
    before it: all the way down when it is near the end, else with LANDING_SPAN messages
    after it and `later` counting the rest. A message not on the thread is ignored.
    """
    if conversation.active_leaf_id is None:
        return Thread([], {})
    with db.session() as session:
        return read_tail_in(session, db, conversation, tail, through=through, above=above)


def read_tail_in(
    session: Session,
    db: Database,
    conversation: ConversationRecord,
    tail: int,
    *,
    through: int | None = None,
    above: int = 1,
) -> Thread:
    """`read_tail` in a transaction already open: the one that starts a reply reads the view
    it returns without another round trip."""
    leaf = conversation.active_leaf_id
    if leaf is None:
        return Thread([], {})
    tail = max(tail, 1)
    depths = _depths(db)
    if through is None:
        return _tail_at_once(session, depths, conversation.id, leaf, tail)
    walked, position = _walk_for_view(session, depths, conversation.id, leaf, tail, through, above)
    if not walked:
        return Thread([], {})
    depth = _leaf_depth(session, depths, conversation.id, walked)
    start, end = 0, tail
    if position is not None and position + above >= end:
        end = position + above + 1
        if end > tail + LANDING_SPAN:
            start = max(0, position - LANDING_SPAN + 1)
            bottom = next(step.id for step in walked if step.distance == start)
            assert through is not None  # a position is only found for it
            depths.keep_window(conversation.id, leaf, through, _Window(bottom, start, position))
    shown = _widened(walked, start, min(end, depth + 1))
    drawn = _drawn(session, conversation.id, shown)
    return Thread(
        drawn.messages,
        drawn.alternatives,
        hidden=depth - shown[0].distance if shown else 0,
        later=start,
    )


def _tail_at_once(
    session: Session, depths: _Depths, conversation_id: str, leaf: int, tail: int
) -> Thread:
    """`read_tail_in` without a message landed on: the walk and the drawn rows in one
    statement (TAIL), then the rows of the messages drawn and their siblings kept."""
    rows = session.execute(
        TAIL, {"start": leaf, "chat": conversation_id, "end": tail + SLACK}
    ).all()
    walked = sorted(
        (_Step(row.id, row.parent_id, row.role, row[-1]) for row in rows if row[-1] is not None),
        key=lambda step: step.distance,
    )
    if not walked:
        return Thread([], {})
    depth = _leaf_depth(session, depths, conversation_id, walked)
    shown = _widened(walked, 0, min(tail, depth + 1))
    parents = {step.parent_id for step in shown}
    drawn = sorted((row for row in rows if row.parent_id in parents), key=lambda row: row.id)
    thread = _thread_of(drawn, shown, _files(session, drawn))
    return Thread(thread.messages, thread.alternatives, hidden=depth - shown[0].distance)


def _position(walked: list[_Step], message_id: int | None) -> int | None:
    if message_id is None:
        return None
    return next((index for index, step in enumerate(walked) if step.id == message_id), None)


def read_path(db: Database, conversation: ConversationRecord) -> list[MessageRecord]:
    """The whole visible thread, first message first: what a request to the model is built
    from. Only the path's rows are read, not the other branches."""
    leaf = conversation.active_leaf_id
    if leaf is None:
        return []
    with db.session() as session:
        rows = _path_rows(session, conversation.id, leaf)
        files = _files(session, rows)
    return [message_from_row(row, files) for row in rows]


def _path_rows(session: Session, conversation_id: str, leaf: int) -> list[Row[Any]]:
    """The path, first message first (the rows end with their distance from the leaf)."""
    rows = session.execute(WHOLE_PATH, {"leaf": leaf, "chat": conversation_id}).all()
    return sorted(rows, key=lambda row: -row[-1])


def read_thread(db: Database, conversation: ConversationRecord) -> Thread:
    """The whole visible thread and the alternatives of every message on it.

    Branch points are found by one aggregate over the conversation (parents with more than
    one child of a role), so only the path's rows and the siblings at those points are read.
    """
    leaf = conversation.active_leaf_id
    if leaf is None:
        return Thread([], {})
    with db.session() as session:
        rows = _path_rows(session, conversation.id, leaf)
        forks = session.execute(FORKS, {"chat": conversation.id}).all()
        on_path = {row.id for row in rows}
        parents = {
            row.parent_id for row in forks if row.parent_id is None or row.parent_id in on_path
        }
        forking = [
            _Step(row.id, row.parent_id, row.role, 0) for row in rows if row.parent_id in parents
        ]
        sibling_rows = _sibling_rows(session, conversation.id, forking) if forking else []
        # One query for the files of the path and of its branches alike.
        files = _files(session, rows, sibling_rows)
        messages = [message_from_row(row, files) for row in rows]
        if not forking:
            return Thread(messages, {})
        siblings = _thread_of(sibling_rows, forking, files)
        alternatives = {
            message_id: group
            for message_id, group in siblings.alternatives.items()
            if message_id in on_path
        }
    return Thread(messages, alternatives)


def newest_leaf_below(session: Session, message_id: int) -> int:
    """Where the branch through `message_id` was last extended: its newest descendant.

    A child is always written after its parent, so following, at each step, the child whose
    subtree holds the newest message ends at that newest message itself.
    """
    return int(session.scalar(NEWEST_BELOW, {"start": message_id}) or message_id)
