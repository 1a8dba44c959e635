"""A reply's fenced code blocks, cut out of its Markdown and coloured, for the page to draw.

Streamlit draws a code block inside Markdown with a highlighter that is a 1.5 MB script of its
own, and parsing it took 0.4 s of every page load that showed any code (bench/storage's browser
figure). The page draws each block with an element of its own instead (ui/code_block.py) and
gives Streamlit only the text between them.

Only blocks outside lists, quotes and footnotes are cut out, and only when nothing refers across
a cut (a link reference definition, a footnote): the text between two blocks then reads alone
just as it read within the whole. Anything else stays Markdown, drawn as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from chatcore.markdown_safety import FencedBlock, fenced_blocks, inert_markdown

if TYPE_CHECKING:
    from pygments.lexer import Lexer

# `[label]:` or `[^note]:` at a line's start: a definition that text across a cut may use.
_DEFINITION_LINE = re.compile(r"^ {0,3}\[(?:[^\\\]\n]|\\.)+\]:", re.M)
PIECES_KEPT = 512  # replies cut recently (each page run draws the same ones again)
COLOURED_KEPT = 256  # code blocks coloured recently
COLOUR_LIMIT = 100_000  # characters; a longer block is shown uncoloured
PLAIN = ""


@dataclass(frozen=True, slots=True)
class CodePiece:
    code: str  # its lines, without the fences or the fence's indentation
    language: str  # the info string's first word, as written ("" when none)


Piece = str | CodePiece  # Markdown, or a code block


@lru_cache(maxsize=PIECES_KEPT)
def split_code(text: str) -> tuple[Piece, ...]:
    """`text` as Markdown pieces and the code blocks between them, in order; the Markdown
    pieces joined with the blocks' source would give `text` back."""
    fences = fenced_blocks(text)
    if not fences or _DEFINITION_LINE.search(text):
        return (text,)
    pieces: list[Piece] = []
    at = 0
    for fence in fences:
        if text[at : fence.start].strip():
            pieces.append(text[at : fence.start])
        pieces.append(CodePiece(_body(text, fence), _language(fence.info)))
        at = fence.end
    if text[at:].strip():
        pieces.append(text[at:])
    return tuple(pieces)


def inert_pieces(text: str, image_hosts: tuple[str, ...]) -> tuple[Piece, ...]:
    """`split_code`'s pieces, each Markdown piece made inert on its own (`inert_markdown`):
    the page draws each as a Markdown element of its own, so each is read on its own."""
    return tuple(
        piece if isinstance(piece, CodePiece) else inert_markdown(piece, image_hosts)
        for piece in split_code(text)
    )


def _language(info: str) -> str:
    words = info.split()
    return words[0] if words else ""


def _body(text: str, fence: FencedBlock) -> str:
    """The block's lines, each with up to the opening fence's indentation taken off
    (CommonMark), joined by `\\n`."""
    lines = text[fence.body_start : fence.body_end].splitlines()
    return "\n".join(_dedent(line, fence.indent) for line in lines)


def _dedent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


# Pygments' token types, from the most specific, to the few classes the element colours (the
# scheme of Streamlit's own code blocks, so a reply looks the same while and after it streams).
_CLASSES = (
    ("Comment", "c"),
    ("Keyword.Constant", "b"),
    ("Keyword", "k"),
    ("Name.Function", "f"),
    ("Name.Class", "f"),
    ("Name.Decorator", "d"),
    ("Name.Tag", "k"),
    ("Name.Attribute", "a"),
    ("Name.Variable", "a"),
    ("Name.Property", "a"),
    ("Name.Constant", "b"),
    ("Name.Entity", "o"),
    ("Literal.String.Regex", "n"),
    ("Literal.String", "s"),
    ("Literal.Number", "n"),
    ("Operator.Word", "k"),
    ("Operator", "o"),
    ("Punctuation", "p"),
    ("Generic.Deleted", "r"),
    ("Generic.Inserted", "i"),
)


@lru_cache(maxsize=COLOURED_KEPT)
def coloured(code: str, language: str) -> tuple[tuple[str, str], ...]:
    """`code` as runs of (class, text) that join to it exactly; one plain run for a language
    Pygments does not know, or a block too long to colour on every page run's first sight."""
    lexer = _lexer(language.lower()) if language and len(code) <= COLOUR_LIMIT else None
    if lexer is None:
        return ((PLAIN, code),)
    runs: list[tuple[str, str]] = []
    for token, value in lexer.get_tokens(code):
        name = _class_of(token)
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + value)
        elif value:
            runs.append((name, value))
    if "".join(value for _name, value in runs) != code:  # never show other text than was written
        return ((PLAIN, code),)
    return tuple(runs)


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    from pygments.lexers import get_lexer_by_name  # loaded with the first code block shown
    from pygments.util import ClassNotFound

    try:  # as written, newlines and all: nothing stripped or added
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1024)
def _class_of(token: object) -> str:
    name = str(token).removeprefix("Token.")
    for prefix, css in _CLASSES:
        if name == prefix or name.startswith(prefix + "."):
            return css
    return PLAIN
