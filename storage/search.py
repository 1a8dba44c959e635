"""Search over one person's conversations, their messages and titles, Chinese as well as
English.

A term matches as the literal text it is, never as query syntax. Every term must match, in
any order, and Latin letters match in either case. A conversation is found once: by its newest
matching message, or by its title alone. Temporary conversations are never found; archived
ones are, and are marked. "Newest" is the order messages were written in (their ids).

SQLite uses the FTS5 trigram index of migration 0008. A term of three or more characters is
a phrase of its trigrams, read newest first, so a page of hits ends the reading early. A
shorter term (Chinese words are often two characters) is in no trigram of its own. Beside a
longer term it filters what that term found. Alone, it is looked for in the person's newest
messages directly, which finds a word they use often at once; failing that, through the
index's vocabulary: in the messages holding a trigram that starts with it (every character
starts one, see the migration), at the cost of one read of its occurrences. For a person
with a small share of everyone's messages, the index's matches are checked against the ids
of theirs before any message is read, so others' messages cost little.

PostgreSQL uses ILIKE (LIKE for a term without cased letters, such as Chinese), which
pg_trgm's GIN indexes serve for terms of three or more characters, in messages and in titles
(migrations 0012 and 0013). A GIN index returns its matches in no order, so every match would
be read and sorted before the newest twenty were known: 2,500 for a word in one message of
400 at a million messages. Migration 0012 keys each message by its block of ids as well, so
with a term of three or more characters the newest block's matches are read first, then the
next one's, until a page is full; once the blocks read promise few matches in all the older
messages, those are read at once. Shorter terms alone are in no trigram: the messages are
read newest first through a cursor, which the reading closes once a page is full, so a word
used often is found at once and a rare one costs a read back to its twentieth conversation
(of every message when it is nowhere). Such a term without cased letters is looked for with
strpos, which reads a message's text nearly twice as fast as LIKE.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from storage.convert import as_utc
from storage.db import Database
from storage.models import Conversation, Message
from storage.records import MessageStatus, Role, SearchHit, SearchPage, SnippetPart

# What migrations 0008, 0012 and 0013 add outside the ORM's metadata, for Alembic's comparisons
# to skip.
INDEX_TABLES_PREFIX = "messages_fts"
POSTGRES_INDEXES = frozenset(
    {"ix_messages_content_trgm", "ix_messages_search", "ix_conversations_title_trgm"}
)

TRIGRAM = 3
# SQLite: how many of the newest messages are read directly for terms shorter than a
# trigram: of everyone's, or of a person's own when they have a small share (theirs lie
# scattered among everyone's, so each costs more to read).
RECENT_WINDOW = 3000
OWN_RECENT_WINDOW = 1000
# A person with fewer messages than this (estimated) has their ids listed to filter matches.
OWN_MESSAGES_LISTED = 50_000
# A term shorter than a trigram, beside longer ones, is looked up in the index's vocabulary
# when it occurs fewer times than this; more often, it filters what the longer ones found.
VOCABULARY_READ = 20_000
# PostgreSQL: ids per block in migration 0012's index, whose first column is id / this (the
# same number: only that very expression is served by the index).
SEARCH_BUCKET = 4096
# Past a block, the older matches are read all at once when the blocks read so far promise
# fewer than this many; more, and the next block is read on its own.
OLDER_MATCHES_READ = 1000
# PostgreSQL: the most rows fetched at a time from the cursor over the newest messages (terms
# shorter than a trigram alone). Fetches start at one row and grow five-fold to this: a fetch
# reads the table until it has its rows, so a rare term's first fetch of hundreds would read
# far past the twenty conversations wanted, and a common term's last one too (at a million
# messages, a common word took 24 ms with 250, 34 with 625).
SHORT_TERMS_FETCHED = 250
SNIPPET_CHARS = 80
ELLIPSIS = "…"
_HIGHEST_CHARACTER = "\U0010ffff"
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")  # zero-width joiner, variation selectors


def alembic_include_object(
    _object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
) -> bool:
    """Alembic's `include_object` hook: everything but the search index, which migrations
    0008 and 0012 write by hand (FTS5 tables and their shadow tables, a GIN index)."""
    if type_ == "table" and (name or "").startswith(INDEX_TABLES_PREFIX):
        return False
    return not (type_ == "index" and name in POSTGRES_INDEXES)


# Matching and snippets ---------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, one character for one, so a position in the result is one in `text`."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


def _spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Where the terms occur in `text`, as sorted, merged (start, end) ranges."""
    folded = fold(text)
    found: list[tuple[int, int]] = []
    for term in {fold(term) for term in terms if term}:
        start = folded.find(term)
        while start != -1:
            found.append((start, start + len(term)))
            start = folded.find(term, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _parts(text: str, spans: list[tuple[int, int]], start: int, end: int) -> list[SnippetPart]:
    parts: list[SnippetPart] = []
    at = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > at:
            parts.append(SnippetPart(text[at:span_start], False))
        parts.append(SnippetPart(text[span_start:span_end], True))
        at = span_end
    if at < end:
        parts.append(SnippetPart(text[at:end], False))
    return parts


def highlight(text: str, terms: Sequence[str]) -> list[SnippetPart]:
    """All of `text` (a title), with every occurrence of every term marked."""
    return _parts(text, _spans(text, terms), 0, len(text))


def _joined_to_previous(char: str) -> bool:
    """A character drawn together with the one before it: a combining mark, a joiner, a
    variation selector or an emoji skin tone."""
    return (
        char in _JOINERS
        or unicodedata.category(char) in ("Mn", "Mc", "Me")
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def _whole_characters(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) so that it splits no character from its marks or joined emoji."""
    while start > 0 and (_joined_to_previous(text[start]) or text[start - 1] == "\u200d"):
        start -= 1
    while end < len(text) and (_joined_to_previous(text[end]) or text[end - 1] == "\u200d"):
        end += 1
    return start, end


def snippet(text: str, terms: Sequence[str], width: int = SNIPPET_CHARS) -> list[SnippetPart]:
    """About `width` characters of `text` around its first match, on one line, with every
    match in it marked and "…" where the text goes on."""
    flat = " ".join(text.split())
    spans = _spans(flat, terms)
    first_start, first_end = spans[0] if spans else (0, 0)
    before = max(0, width - (first_end - first_start)) // 2
    start = max(0, first_start - before)
    end = min(len(flat), max(first_end, start + width))
    start = max(0, min(start, end - width))  # near the end: the room goes before the match
    start, end = _whole_characters(flat, start, end)
    parts = _parts(flat, spans, start, end)
    if start > 0:
        parts.insert(0, SnippetPart(ELLIPSIS, False))
    if end < len(flat):
        parts.append(SnippetPart(ELLIPSIS, False))
    return parts


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _phrase(term: str) -> str:
    """An FTS5 string: its text is matched as it is, syntax characters included."""
    return '"' + term.replace('"', '""') + '"'


# Queries -------------------------------------------------------------------------------------


class SearchRepository:
    """Reads only; the index is written by the database itself (migration 0008)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def search(self, user_id: int, terms: Sequence[str], limit: int = 20) -> SearchPage:
        """The conversations where every term is in one message or in the title, newest
        first: by their newest matching message, else by their last activity."""
        terms = [term for term in terms if term]
        if not terms:
            return SearchPage(hits=[], has_more=False)
        wanted = limit + 1
        with self.db.session() as session:
            sqlite = session.get_bind().dialect.name == "sqlite"
            reading = Reading()
            statements: Iterable[Statement] = (
                _sqlite_statements(session, user_id, terms)
                if sqlite
                else _postgres_statements(session, user_id, terms, reading)
            )
            # PostgreSQL's statements through the index each read a bounded set of rows: read
            # at once, not through a cursor, whose plan favours a quick first row (the index of
            # ids, the table read backwards) over a quick last one. Its statement for short
            # terms asks for a cursor itself.
            newest = _newest_matches(session, statements, wanted, reading, stream=sqlite)
            titled = list(
                session.scalars(
                    select(Conversation)
                    .where(
                        Conversation.user_id == user_id,
                        Conversation.temporary.is_(False),
                        # SQLite's LIKE ignores the case of ASCII letters, and is quicker
                        # than its ILIKE (lower() of every title).
                        *(
                            Conversation.title.like(_like_pattern(term), escape="\\")
                            if sqlite
                            else _contains(Conversation.title, term)
                            for term in terms
                        ),
                    )
                    .order_by(Conversation.updated_at.desc(), Conversation.id)
                    .limit(wanted)
                )
            )
            messages = (
                {
                    row.id: row
                    for row in session.execute(
                        select(Message.id, Message.role, Message.content, Message.created_at).where(
                            Message.id.in_(newest.values())
                        )
                    )
                }
                if newest
                else {}
            )
            conversations = {row.id: row for row in titled}
            missing = set(newest) - set(conversations)
            if missing:
                conversations.update(
                    (row.id, row)
                    for row in session.scalars(
                        select(Conversation).where(Conversation.id.in_(missing))
                    )
                )
        hits = [
            _hit(conversations[conversation_id], terms, messages[message_id])
            for conversation_id, message_id in newest.items()
        ]
        hits += [_hit(row, terms) for row in titled if row.id not in newest]
        hits.sort(key=lambda hit: (hit.date, hit.message_id or 0), reverse=True)
        return SearchPage(hits=hits[:limit], has_more=len(hits) > limit)


def _hit(conversation: Conversation, terms: Sequence[str], message: Any = None) -> SearchHit:
    return SearchHit(
        conversation_id=conversation.id,
        title=conversation.title,
        folder_id=conversation.folder_id,
        archived=conversation.archived,
        message_id=None if message is None else message.id,
        role=None if message is None else message.role,
        snippet=[] if message is None else snippet(message.content, terms),
        title_parts=highlight(conversation.title, terms),
        date=as_utc(conversation.updated_at if message is None else message.created_at),
    )


Statement = tuple[Executable, dict[str, Any]]


@dataclass(slots=True)
class Reading:
    """How many matching messages the statements have yielded so far: how the next
    statement is chosen (PostgreSQL)."""

    matches: int = 0


def _newest_matches(
    session: Session,
    statements: Iterable[Statement],
    wanted: int,
    reading: Reading,
    *,
    stream: bool,
) -> dict[str, int]:
    """Up to `wanted` conversations, each with its newest matching message's id, newest
    first. Each statement yields (message id, conversation id) newest first, and only
    messages older than the statement before it; rows are read only until there are enough
    (streamed: fetched only until then)."""
    newest: dict[str, int] = {}
    options = {"yield_per": 256} if stream else {}
    for statement, params in statements:
        # Core, not the ORM: an ORM result without yield_per reads every row first.
        result = session.connection().execute(statement, params, execution_options=options)
        try:
            for message_id, conversation_id in result:
                reading.matches += 1
                newest.setdefault(conversation_id, message_id)
                if len(newest) == wanted:
                    return newest
        finally:
            result.close()
    return newest


def _postgres_statements(
    session: Session, user_id: int, terms: Sequence[str], reading: Reading
) -> Iterator[Statement]:
    """With a term of three or more characters, through the index one block of ids at a
    time, newest first, until the blocks read promise few older matches (fewer than
    OLDER_MATCHES_READ, from how many they held): those are then read at once. Without
    one, the messages themselves, newest first, through a cursor the reading closes once a
    page is full: the primary key read backwards, which is also what a cursor's plan,
    made for a quick first row, chooses."""
    # A statement run often is prepared, and after five runs may keep a plan made for any
    # pattern and range: reading a whole table for a range of a few thousand ids. A plan
    # costed past jit_above_cost, as the cursor over every message is, would be compiled
    # first: 11 ms, a quarter of what reading a rare word's page takes at a million messages.
    session.execute(
        text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('jit', 'off', true)"
        )
    )
    if all(len(term) < TRIGRAM for term in terms):
        newest = _postgres_select(user_id, terms)
        cursor = {"stream_results": True, "max_row_buffer": SHORT_TERMS_FETCHED}
        yield newest.execution_options(**cursor), {}
        return
    top = session.scalar(select(func.max(Message.id))) or 0
    block = top // SEARCH_BUCKET
    read = 0  # ids in the blocks read
    while block >= 0:
        read += min(top + 1, (block + 1) * SEARCH_BUCKET) - block * SEARCH_BUCKET
        yield _postgres_select(user_id, terms, _block(Message.id) == _integer(block)), {}
        older = block * SEARCH_BUCKET  # ids below this block
        if older and reading.matches * older < OLDER_MATCHES_READ * read:
            yield _postgres_select(user_id, terms, Message.id < older), {}
            return
        block -= 1


def _block(column: Any) -> ColumnElement[int]:
    """Migration 0012's first index column, written as it is there (integer division)."""
    return column.op("/")(_integer(SEARCH_BUCKET))  # type: ignore[no-any-return]


def _integer(value: int) -> ColumnElement[int]:
    """A literal integer, never a parameter: a bound Python int may reach PostgreSQL as
    bigint, and `int / bigint` is not the expression the index holds."""
    return literal_column(str(int(value)))


def _postgres_select(user_id: int, terms: Sequence[str], *within: Any) -> Executable:
    return (
        select(Message.id, Message.conversation_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.user_id == user_id,
            Conversation.temporary.is_(False),
            Message.content != "",
            Message.status != MessageStatus.STREAMING,
            Message.role != Role.TOOL,
            *within,
            *(_contains(Message.content, term) for term in terms),
        )
        .order_by(Message.id.desc())
    )


def _contains(column: Any, term: str) -> Any:
    """PostgreSQL: ILIKE for a term with letters that have a case, else the quicker LIKE
    (Chinese has no case); both are what a trigram index serves. A term shorter than a
    trigram, which no index serves, without cased letters: strpos, which reads a text
    nearly twice as fast as LIKE."""
    caseless = term.lower() == term.upper()
    if caseless and len(term) < TRIGRAM:
        return func.strpos(column, term) > 0
    pattern = _like_pattern(term)
    return column.like(pattern, escape="\\") if caseless else column.ilike(pattern, escape="\\")


# SQLite's statements: CROSS JOIN fixes the join order, the index (or the newest messages)
# first and read newest first, the person's conversations after it as a filter.
_SCOPE = (
    "CROSS JOIN conversations c ON c.id = m.conversation_id "
    "WHERE c.user_id = :user_id AND NOT c.temporary "
    "AND m.content != '' AND m.status != 'streaming' AND m.role != 'tool'"
)
# The ids of the person's messages, for someone with a small share of everyone's: a match
# is checked against them before its message is read. The unary + keeps SQLite from reading
# the index once for each id instead.
_OWN_IDS = (
    "SELECT own.id FROM conversations mine CROSS JOIN messages own "
    "ON own.conversation_id = mine.id WHERE mine.user_id = :user_id AND NOT mine.temporary"
)
_INDEXED = (
    "SELECT m.id, m.conversation_id FROM messages_fts f CROSS JOIN messages m ON m.id = f.rowid "
    "{scope} AND f.messages_fts MATCH :match {own} {filters} ORDER BY f.rowid DESC"
)
_NEWEST = (
    "SELECT m.id, m.conversation_id FROM messages m {scope} AND {newest} {filters} "
    "ORDER BY m.id DESC"
)
# The messages holding a term shorter than a trigram: those with a trigram it starts.
_VOCABULARY = "SELECT doc FROM messages_fts_instances WHERE term >= :low AND term < :high"
_OLDER = (
    "SELECT m.id, m.conversation_id FROM messages m {scope} AND m.id < :floor "
    f"AND m.id IN ({_VOCABULARY}) "
    "{own} {filters} ORDER BY m.id DESC"
)


def _sqlite_statements(session: Session, user_id: int, terms: Sequence[str]) -> Iterator[Statement]:
    """Terms of three or more characters through the index, shorter ones as filters beside
    them. Shorter ones alone: in the person's newest messages, then through the index's
    vocabulary for the longest one (two characters select far fewer messages than one).

    For a person with a small share of everyone's messages, matches are checked against the
    ids of theirs, and their newest messages are their own newest, not everyone's.
    """
    long = [term for term in terms if len(term) >= TRIGRAM]
    short = sorted((term for term in terms if len(term) < TRIGRAM), key=len, reverse=True)
    top = session.scalar(select(func.max(Message.id))) or 0
    params: dict[str, Any] = {"user_id": user_id}
    small = _small_share(session, user_id, top)
    if long:
        params["match"] = " AND ".join(_phrase(term) for term in long)
        own = f"AND +f.rowid IN ({_OWN_IDS})" if small else ""
        if short and _occurs_fewer_than(session, _bounds(short[0]), VOCABULARY_READ):
            # Found but perhaps never beside the longer terms: the index's few messages with
            # it, rather than each message the longer terms found.
            params.update(_bounds(short[0]))
            own += f" AND +f.rowid IN ({_VOCABULARY})"
        statement = _INDEXED.format(scope=_SCOPE, own=own, filters=_like_filters(short, params))
        yield text(statement), params
        return
    if small:  # the id of their OWN_RECENT_WINDOW-th newest message, if they have that many
        floor = session.scalar(
            text(f"{_OWN_IDS} ORDER BY own.id DESC LIMIT 1 OFFSET :skip"),
            {"user_id": user_id, "skip": OWN_RECENT_WINDOW - 1},
        )
        params["floor"] = floor or 0
        newest = f"m.id IN ({_OWN_IDS} AND own.id >= :floor)"
    else:
        params["floor"] = top - RECENT_WINDOW + 1
        newest = "m.id >= :floor"
    statement = _NEWEST.format(scope=_SCOPE, newest=newest, filters=_like_filters(short, params))
    yield text(statement), params
    if params["floor"] <= 1:
        return  # there was nothing older
    older = {**params, **_bounds(short[0])}
    if small and _occurs_more_than_they_wrote(session, older):
        # A word others use far more than they do: reading their own messages costs less.
        statement = _NEWEST.format(
            scope=_SCOPE,
            newest=f"m.id IN ({_OWN_IDS} AND own.id < :floor)",
            filters=_like_filters(short, params),
        )
        yield text(statement), params
        return
    own = f"AND +m.id IN ({_OWN_IDS})" if small else ""
    statement = _OLDER.format(scope=_SCOPE, own=own, filters=_like_filters(short[1:], older))
    yield text(statement), older


def _bounds(term: str) -> dict[str, str]:
    """The index's vocabulary range of the trigrams a short term starts."""
    key = fold(term)
    return {"low": key, "high": key + _HIGHEST_CHARACTER}


def _occurs_fewer_than(session: Session, bounds: dict[str, str], cap: int) -> bool:
    """Whether a short term occurs (in anyone's messages) fewer than `cap` times; the count
    stops there."""
    occurrences = session.scalar(
        text(f"SELECT count(*) FROM ({_VOCABULARY} LIMIT :cap)"), {**bounds, "cap": cap}
    )
    return (occurrences or 0) < cap


def _occurs_more_than_they_wrote(session: Session, params: dict[str, Any]) -> bool:
    """Whether the term occurs (in anyone's messages) at least as often as the person wrote
    messages; the count of occurrences stops there."""
    theirs = session.scalar(text(f"SELECT count(*) FROM ({_OWN_IDS})"), params) or 0
    occurrences = session.scalar(
        text(
            "SELECT count(*) FROM (SELECT 1 FROM messages_fts_instances "
            "WHERE term >= :low AND term < :high LIMIT :cap)"
        ),
        {**params, "cap": theirs},
    )
    return (occurrences or 0) >= theirs


def _small_share(session: Session, user_id: int, messages: int) -> bool:
    """Whether the person's messages are few enough to list: estimated from their share of
    the conversations, which SQLite counts from indexes."""
    theirs = session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.user_id == user_id)
    )
    everyone = session.scalar(select(func.count()).select_from(Conversation))
    return (theirs or 0) * messages <= OWN_MESSAGES_LISTED * max(everyone or 0, 1)


def _like_filters(terms: Sequence[str], params: dict[str, Any]) -> str:
    """Conditions that every term is in the message (SQLite's LIKE: ASCII letters in either
    case); their patterns are added to `params`."""
    conditions = []
    for number, term in enumerate(terms):
        params[f"pattern{number}"] = _like_pattern(term)
        conditions.append(f"AND m.content LIKE :pattern{number} ESCAPE '\\'")
    return " ".join(conditions)
