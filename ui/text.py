"""Showing text others chose (titles, names a model or proxy gave) where Streamlit would otherwise
read it as Markdown."""

from __future__ import annotations

import re

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
