"""Showing user-chosen text (titles) where Streamlit would otherwise read it as Markdown."""

from __future__ import annotations

import re

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$<>:])")


def plain(text: str) -> str:
    """Escape Markdown so a title like '*x* $y$' shows exactly those characters."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)
