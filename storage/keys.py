"""Personal API keys, stored as the ciphertext chatcore/team/keys.py makes."""

from __future__ import annotations

from sqlalchemy import delete, select

from storage.db import Database, rows_changed
from storage.models import PersonalKey, utcnow


class KeyRepository:
    """One encrypted API key per user, at most."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set_personal_key(self, user_id: int, ciphertext: str) -> None:
        with self.db.session() as session:
            row = session.get(PersonalKey, user_id)
            if row is None:
                session.add(PersonalKey(user_id=user_id, ciphertext=ciphertext))
            else:
                row.ciphertext = ciphertext
                row.created_at = utcnow()

    def personal_key(self, user_id: int) -> str | None:
        with self.db.session() as session:
            return session.scalar(
                select(PersonalKey.ciphertext).where(PersonalKey.user_id == user_id)
            )

    def delete_personal_key(self, user_id: int) -> bool:
        with self.db.session() as session:
            result = session.execute(delete(PersonalKey).where(PersonalKey.user_id == user_id))
            return rows_changed(result) == 1

    def has_personal_key(self, user_id: int) -> bool:
        return self.personal_key(user_id) is not None
