"""Finding English of ours on a page meant for a Chinese reader (and the reverse).

Every msgid of the catalogue is English we wrote. A page drawn in Chinese shows none of them,
except where the translation is the same text (a brand, a unit). What a page draws is read from
Streamlit's element protos (every string field: labels, help, placeholders, bodies, options),
so nothing drawn is missed; in a browser, from the page's text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from babel.messages.pofile import read_po
from google.protobuf.message import Message as Proto
from streamlit.testing.v1 import AppTest

from chatcore.i18n import DOMAIN, LOCALES_DIR

# What separates the literal parts of a msgid: its fields, its Markdown, its icons.
_SPLIT = re.compile(r"\{[^{}]*\}|:material/\w+:|\*\*|`|\\|\n|<[^>]+>")
_WORDS = re.compile(r"[A-Za-z]{3,}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One msgid, with what a page would show of it whatever its fields hold."""

    msgid: str
    translation: str
    pieces: tuple[str, ...]  # literal stretches long enough to recognise in running text
    whole: str  # the msgid as a label shows it when it has no fields or marks


@functools.cache
def sentences(language: str = "zh_CN") -> tuple[Sentence, ...]:
    """The catalogue's English sentences whose `language` translation differs from them."""
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    found = []
    for message in catalogue:
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        strings = (message.string,) if isinstance(message.string, str) else message.string
        translation = strings[0] if strings else ""
        for msgid in ids:
            if not translation or translation == msgid:
                continue
            pieces = tuple(
                piece.strip(" .,:;!?()“”\"'-–—…")
                for piece in _SPLIT.split(msgid)
                if len(piece.strip()) >= 12 and " " in piece.strip() and _WORDS.search(piece)
            )
            found.append(Sentence(msgid, translation, pieces, msgid.strip()))
    return tuple(found)


def _strings(proto: Proto) -> Iterator[str]:
    for descriptor, value in proto.ListFields():
        values = value if descriptor.is_repeated else [value]
        for item in values:
            if isinstance(item, str):
                yield item
            elif isinstance(item, Proto):
                yield from _strings(item)


def shown_strings(at: AppTest) -> list[str]:
    """Every string of every element the run drew, main area and sidebar."""
    found: list[str] = []
    stack = [at._tree]
    while stack:
        node = stack.pop()
        proto = getattr(node, "proto", None)
        if isinstance(proto, Proto):
            found.extend(_strings(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())
    return found


def english_of_ours(shown: Iterable[str], language: str = "zh_CN") -> list[str]:
    """The msgids of ours that appear in `shown` untranslated: as a whole label, or by a long
    literal piece inside running text."""
    texts = list(shown)
    labels = {text.strip() for text in texts}
    joined = "\n".join(texts)
    leaks = []
    for sentence in sentences(language):
        as_label = sentence.whole in labels and _WORDS.search(sentence.whole)
        if as_label or any(piece in joined for piece in sentence.pieces):
            leaks.append(sentence.msgid)
    return sorted(set(leaks))


def chinese_in(shown: Iterable[str]) -> list[str]:
    """Strings with Chinese characters in them (for the English reader's pages)."""
    return [text for text in shown if _CJK.search(text)]
