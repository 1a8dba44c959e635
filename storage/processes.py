"""The app processes sharing this database, and the replies whose process is gone.

Each process registers under a random id and beats every few seconds; a reply records the
process generating it (`messages.owner_process`). A process that stops beating (killed, its
machine gone) is presumed dead after the stale window, and only then are its replies closed,
their partial text kept: a process that starts never touches a live one's replies. Times are
the processes' own clocks (UTC), so machines sharing a database keep them in step (NTP).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.convert import as_utc
from storage.db import Database
from storage.models import AppProcess, Message, utcnow
from storage.records import MessageStatus


class ProcessRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, process_id: str, host: str, pid: int) -> None:
        with self.db.session() as session:
            now = utcnow()
            session.add(AppProcess(id=process_id, host=host, pid=pid, started_at=now, beat_at=now))

    def beat(self, process_id: str, host: str, pid: int) -> None:
        """Say this process is alive; registered again if a peer had given it up for dead
        (after a pause longer than the window) and removed it."""
        now = utcnow()
        with self.db.session() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            statement = dialect.insert(AppProcess).values(
                id=process_id, host=host, pid=pid, started_at=now, beat_at=now
            )
            session.execute(
                statement.on_conflict_do_update(index_elements=["id"], set_={"beat_at": now})
            )

    def unregister(self, process_id: str) -> None:
        """A process that stops cleanly leaves at once: its peers need not wait the window."""
        with self.db.session() as session:
            session.execute(delete(AppProcess).where(AppProcess.id == process_id))

    def alive(self, process_id: str | None, stale_seconds: float) -> bool:
        if process_id is None:
            return False
        cutoff = utcnow() - timedelta(seconds=stale_seconds)
        with self.db.session() as session:
            beat = session.scalar(select(AppProcess.beat_at).where(AppProcess.id == process_id))
        return beat is not None and as_utc(beat) >= cutoff

    def close_orphaned_replies(
        self,
        stale_seconds: float,
        reason: str,
        *,
        code: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[int]:
        """Close the replies still marked streaming whose process is gone (no row, or no beat
        within `stale_seconds`), keeping their text; forget such processes. Returns the ids of
        the replies closed.

        One statement: a reply is closed only if, at that moment, its owner is not alive.
        `reason` is the error's English text; `code` and `params` say it in any language.
        """
        cutoff = utcnow() - timedelta(seconds=stale_seconds)
        living = select(AppProcess.id).where(AppProcess.beat_at >= cutoff)
        with self.db.session() as session:
            closed = session.execute(
                update(Message)
                .where(
                    Message.status == MessageStatus.STREAMING,
                    or_(Message.owner_process.is_(None), Message.owner_process.not_in(living)),
                )
                .values(
                    status=MessageStatus.ERROR,
                    error=reason,
                    error_code=code,
                    error_params=params,
                    updated_at=utcnow(),
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
            closed_ids = list(closed.scalars())
            session.execute(delete(AppProcess).where(AppProcess.beat_at < cutoff))
            return closed_ids
