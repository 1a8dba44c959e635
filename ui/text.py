"""Showing text others chose (titles, names a model or proxy gave) where Streamlit would otherwise
read it as Markdown; and errors and numbers as the reader reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from babel import numbers

from chatcore.i18n import Explainable
from ui.i18n import current, explain

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$<>:])")


def plain(text: str) -> str:
    """Escape Markdown so a title like '*x* $y$' shows exactly those characters."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def code(text: str) -> str:
    """`text` as an inline code span that shows exactly those characters.

    For names a model, tool or proxy chose (a function, a call id, a model): inside a code span
    nothing is Markdown, but a backtick in the name would end a one-backtick span early and let
    the rest be read as Markdown. So the fence is one backtick longer than any run in the text.
    Line breaks become spaces, as a code span shows them anyway, so none can start a block.
    """
    flat = " ".join(text.splitlines()) or " "
    fence = "`" * (max(map(len, re.findall("`+", flat)), default=0) + 1)
    # A space inside each fence keeps an edge backtick off it, and is not shown.
    edged = flat[0] == "`" or flat[-1] == "`" or (flat[0] == flat[-1] == " " and flat.strip())
    pad = " " if edged else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def number(value: float) -> str:
    """A count as the reader writes numbers (1,234 / 1 234 / 1.234)."""
    return current().format_number(value)


def decimal(value: float, places: int = 2) -> str:
    """A measurement with `places` decimals, as the reader writes numbers."""
    pattern = "#,##0." + "0" * places if places else "#,##0"
    return numbers.format_decimal(value, format=pattern, locale=current().locale)


class _Escaped(str):
    """A value of someone else's, escaped for Markdown however the sentence shows it: as it
    is (`{name}`) or quoted (`{name!r}`)."""

    __slots__ = ("original",)
    original: str

    def __new__(cls, original: str) -> _Escaped:
        escaped = super().__new__(cls, plain(original))
        escaped.original = original
        return escaped

    def __repr__(self) -> str:
        return plain(repr(self.original))


@dataclass(frozen=True, slots=True)
class _Inert:
    template: str
    params: Mapping[str, Any]


def inert(error: Explainable) -> Explainable:
    """`error` with its text values escaped: a name or a detail that a person, a model or a
    proxy chose is shown as the text it is, while the sentence around it is ours."""
    params = {
        name: _Escaped(value) if isinstance(value, str) else value
        for name, value in error.params.items()
    }
    return _Inert(error.template, params)


def say(error: Explainable) -> str:
    """An error of ours (an AnyChatError, a stored reply's ReplyError, the model list's
    Sentence) in the reader's language: `explain`, with the values it quotes escaped."""
    return explain(inert(error))
