"""Team settings administrators change in the app (context windows), one JSON value per key,
shared by every process through the database."""

from __future__ import annotations

from typing import Any

from storage.db import Database
from storage.models import TeamSetting, utcnow


class TeamSettingsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def value(self, key: str) -> dict[str, Any]:
        with self.db.session() as session:
            row = session.get(TeamSetting, key)
            return dict(row.value) if row else {}

    def set_value(self, key: str, value: dict[str, Any]) -> None:
        with self.db.session() as session:
            row = session.get(TeamSetting, key)
            if row is None:
                row = TeamSetting(key=key)
                session.add(row)
            row.value = value
            row.updated_at = utcnow()
