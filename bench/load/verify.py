"""After the load: what the database kept, and what the app logs say.

A page can look right while the record is wrong (or the other way round), so every turn is
checked in both places: the client saw the whole reply, and the database holds the message and
a complete reply with exactly the text the upstream sent. Read with plain SQL so the check does
not depend on the app's own repository code, which is what is under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from bench.load.scenario import Turn, reply_text
from storage import MessageStatus, Role

LOCKED = re.compile(r"database is locked", re.IGNORECASE)


@dataclass(frozen=True)
class StoredTurn:
    """One turn as the database has it."""

    message_stored: bool  # the user's message, with the exact text sent
    reply_status: str | None  # the reply row's status; None: no reply row
    reply_exact: bool  # the reply row holds exactly the upstream's text


def stored_turns(database_url: str, tag: int) -> dict[str, StoredTurn]:
    """Every turn of configuration `tag` found in the database, by marker."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, parent_id, role, content, status FROM messages"
                    " WHERE content LIKE :question OR content LIKE :reply"
                ),
                {"question": f"zq{tag}u%", "reply": f"Echo: zq{tag}u%"},
            ).all()
    finally:
        engine.dispose()
    questions: dict[int, str] = {}  # message id -> its text
    replies: dict[int, list[tuple[str, str]]] = {}  # parent id -> [(content, status)]
    for row_id, parent_id, role, content, status in rows:
        if role == Role.USER.value:
            questions[row_id] = content
        elif role == Role.ASSISTANT.value and parent_id is not None:
            replies.setdefault(parent_id, []).append((content, status))
    found: dict[str, StoredTurn] = {}
    for row_id, content in questions.items():
        marker = content.split(" ", 1)[0]
        answers = replies.get(row_id, [])
        complete = [a for a in answers if a[1] == MessageStatus.COMPLETE.value]
        best = complete[0] if complete else (answers[0] if answers else None)
        found[marker] = StoredTurn(
            message_stored=True,
            reply_status=best[1] if best else None,
            reply_exact=best is not None and best[0] == reply_text(content),
        )
    return found


@dataclass
class Verdict:
    """Per configuration: turns lost, replies not completed, and why, by marker."""

    lost: list[str]
    not_completed: list[str]
    reasons: dict[str, str]


def judge(turns: list[Turn], stored: dict[str, StoredTurn], arrivals: dict[str, bool]) -> Verdict:
    """Sort every sent turn into fine, lost or not completed.

    Lost: the message was sent but never reached the upstream, or the database has no such
    message, or no reply to it. Not completed: not lost, but the page never showed the whole
    reply, or the reply row is not complete with the exact text.
    """
    lost: list[str] = []
    not_completed: list[str] = []
    reasons: dict[str, str] = {}
    for turn in turns:
        if turn.sent_at is None:
            continue
        record = stored.get(turn.marker)
        if not arrivals.get(turn.marker):
            lost.append(turn.marker)
            reasons[turn.marker] = f"never reached the upstream (page run: {turn.status})"
        elif record is None or not record.message_stored:
            lost.append(turn.marker)
            reasons[turn.marker] = "message not in the database"
        elif record.reply_status is None:
            lost.append(turn.marker)
            reasons[turn.marker] = "no reply in the database"
        elif not turn.completed:
            not_completed.append(turn.marker)
            reasons[turn.marker] = f"page did not show the whole reply (run: {turn.status})"
        elif record.reply_status != MessageStatus.COMPLETE.value or not record.reply_exact:
            not_completed.append(turn.marker)
            reasons[turn.marker] = (
                f"reply row {record.reply_status}, exact text: {record.reply_exact}"
            )
    return Verdict(lost, not_completed, reasons)


def log_counts(log_text: str) -> dict[str, int]:
    """What the app logs say: "database is locked", tracebacks, ERROR lines."""
    return {
        "database_is_locked": len(LOCKED.findall(log_text)),
        "tracebacks": log_text.count("Traceback (most recent call last)"),
        "error_lines": sum(1 for line in log_text.splitlines() if " ERROR " in line),
    }
