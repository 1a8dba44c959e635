"""Alembic environment: reuses a connection handed in by the app, or builds one from the URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from storage.models import Base
from storage.search import alembic_include_object

config = context.config
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search index (migration 0008) is not in the metadata: never drop it.
        include_object=alembic_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    section = config.get_section(config.config_ini_section, {})
    # Run by hand (alembic -c storage/alembic.ini ...), DATABASE_URL names the database.
    section["sqlalchemy.url"] = os.environ.get("DATABASE_URL", section["sqlalchemy.url"])
    engine = engine_from_config(
        section,
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as fresh:
        run_with(fresh)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
