"""The searches timed: the query shapes that cost differently (a word through the index, short
Chinese terms an index of trigrams holds no entry for, terms that are each found but never
together, a word found only far back), as one person types them.

The library's text is too uniform for a word that is common yet absent from the newest
messages, so one is written in for its figure (`far_back`): `FAR_BACK_WORD` appended to one
older message in `FAR_BACK_EVERY`, and taken out again afterwards (neither timed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select, text, update

from bench.storage.text import NEEDLE_EN, NEEDLE_ZH
from chatcore.wiring import Services
from storage import Database
from storage.models import Message

RECENT = 3000  # everyone's newest messages, where the far-back word is not
FAR_BACK_WORD = "鲸鱼"  # in none of the library's text
FAR_BACK_EVERY = 100


@dataclass(frozen=True, slots=True)
class SearchCase:
    key: str
    label: str
    query: str


@contextmanager
def far_back(services: Services) -> Iterator[None]:
    """`FAR_BACK_WORD` in one message of `FAR_BACK_EVERY`, none of everyone's newest `RECENT`."""
    database = services.infra.database
    with database.session() as session:
        top = session.scalar(select(func.max(Message.id))) or 0
    older = (Message.id % FAR_BACK_EVERY == 0) & (Message.id <= top - RECENT)
    with database.session() as session:
        session.execute(
            update(Message).where(older).values(content=Message.content + FAR_BACK_WORD)
        )
    _analyze(database)
    try:
        yield
    finally:
        with database.session() as session:
            session.execute(
                update(Message)
                .where(older)
                .values(content=func.substr(Message.content, 1, func.length(Message.content) - 2))
            )
        _analyze(database)


def _analyze(database: Database) -> None:
    """What autovacuum would soon do on PostgreSQL after that many changes."""
    if database.engine.dialect.name != "postgresql":
        return
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE messages"))


def search_cases() -> list[SearchCase]:
    cases = [
        SearchCase("search_en", f"search “{NEEDLE_EN}” (English)", NEEDLE_EN),
        SearchCase("search_zh", f"search “{NEEDLE_ZH}” (Chinese)", NEEDLE_ZH),
        SearchCase("search_zh2", "search “模型” (2 Chinese characters, common)", "模型"),
        SearchCase(
            "search_zh2_rare", f"search “{NEEDLE_ZH[2:]}” (2 characters, rare)", NEEDLE_ZH[2:]
        ),
        SearchCase("search_zh1", f"search “{NEEDLE_ZH[3]}” (1 character, rare)", NEEDLE_ZH[3]),
        SearchCase(
            "search_apart",
            f"search “{NEEDLE_ZH[:2]} {NEEDLE_EN}” (never in one message)",
            f"{NEEDLE_ZH[:2]} {NEEDLE_EN}",
        ),
    ]
    far = SearchCase(
        "search_far_back",
        f"search “{FAR_BACK_WORD}” (2 characters, in 1 of {FAR_BACK_EVERY} older messages, "
        f"none of the newest {RECENT:,})",
        FAR_BACK_WORD,
    )
    return [*cases, far]
