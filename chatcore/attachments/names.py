"""A file's name as the browser gave it, made safe to store, show and download under.

The browser's name may carry a path (old browsers sent "C:\\Users\\...\\a.png"), control
characters, or bidirectional overrides that make "invoice‮fdp.exe" read as "invoice.pdf":
only the base name is kept, without those, and short enough for the database column.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_CHARS = 255
# An extension longer than this is no extension worth keeping when a name is shortened.
_MAX_EXTENSION_CHARS = 16
# Invisible characters that reorder what follows them on screen.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_name(raw: str) -> str:
    """The base name, without control characters, at most MAX_NAME_CHARS; "" when nothing
    usable is left (the caller names the file some other way)."""
    base = re.split(r"[\\/]", raw)[-1]
    kept = "".join(
        character
        for character in base
        if unicodedata.category(character) != "Cc" and character not in _BIDI_CONTROLS
    ).strip()
    if kept in ("", ".", ".."):
        return ""
    if len(kept) <= MAX_NAME_CHARS:
        return kept
    stem, dot, extension = kept.rpartition(".")
    if dot and stem and len(extension) <= _MAX_EXTENSION_CHARS:
        return stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip() + "." + extension
    return kept[:MAX_NAME_CHARS].rstrip()


def extension(name: str) -> str:
    """The lower-case extension without its dot ("" when there is none)."""
    stem, dot, suffix = name.rpartition(".")
    return suffix.lower() if dot and stem else ""
