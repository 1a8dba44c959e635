"""Apply Alembic migrations at start-up, so a new release never needs a manual step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions; tests/test_storage.py keeps the two in step.
HEAD_REVISION = "0005"


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # deferred: most starts find the schema current

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on a '%' in a URL-encoded password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision = connection.scalar(text("select version_num from alembic_version"))
        return None if revision is None else str(revision)


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision using the caller's engine (and its pragmas)."""
    if current_revision(engine) == HEAD_REVISION:
        return  # the common case; skips loading Alembic and its scripts on every start
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
