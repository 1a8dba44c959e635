"""Comparing models: one question to two to four of them at once.

A comparison is stored as one turn whose replies are the columns of a choice group, the
machinery n > 1 choices use: "Continue with this" is a branch switch, the others stay
reachable as alternatives of the same turn, and a reload finds the columns again. What tells
a comparison apart is that each reply names the model it was asked of in its request fields
(storage's _insert_turn): the reply's own `model` becomes whichever snapshot the upstream
answered with, and asking that column again needs the id that was asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatcore.errors import ChatInputError
from chatcore.i18n import N_
from storage import MessageRecord

MAX_COMPARED = 4  # wider than this, columns are too narrow to read side by side


def compared_models(model: str, others: Sequence[str]) -> tuple[str, ...]:
    """The models a turn goes to: the picker's first, then the others, each once. One model
    is a plain send."""
    models = tuple(dict.fromkeys(name.strip() for name in (model, *others) if name.strip()))
    if len(models) > MAX_COMPARED:
        raise ChatInputError(
            N_("Compare at most {limit} models at once; {count} are chosen."),
            code="too_many_compared",
            limit=MAX_COMPARED,
            count=len(models),
        )
    return models or (model,)


def compared_model(message: MessageRecord) -> str | None:
    """The model a compared reply was asked of; None for any other reply."""
    value = (message.request_params or {}).get("model")
    return value if isinstance(value, str) and message.choice_group is not None else None


def is_comparison(group: Sequence[MessageRecord]) -> bool:
    return any(compared_model(message) is not None for message in group)


def columns(group: Sequence[MessageRecord], shown: MessageRecord) -> list[MessageRecord]:
    """One reply per column, in column order. A column asked again holds several replies: it
    shows the one the thread continues with if that is one of them, else its newest; the
    older ones stay reachable with ‹ ›."""
    by_column: dict[int, MessageRecord] = {}
    for message in sorted(group, key=lambda reply: reply.id):
        by_column[message.choice_index or 0] = message
    if any(message.id == shown.id for message in group):
        by_column[shown.choice_index or 0] = shown
    return [by_column[index] for index in sorted(by_column)]


def models_of(group: Sequence[MessageRecord]) -> tuple[str, ...]:
    """A comparison's models in column order, to ask them all again."""
    ordered = sorted(group, key=lambda reply: (reply.choice_index or 0, reply.id))
    return tuple(dict.fromkeys(m for m in map(compared_model, ordered) if m is not None))
