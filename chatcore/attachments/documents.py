"""Text files and PDFs become text the model reads; their bytes are kept as uploaded.

A text file is known by its extension (or a text/* type from the browser) and read as UTF-8,
else as GB18030, which is what Excel and Notepad on a Chinese Windows write; a file with NUL
bytes is binary, whatever its name says. A PDF is known by its signature, and pypdf extracts
its text page by page. A PDF without a text layer (a scan) has nothing to extract: it is
refused rather than sent as an empty file the model would answer about as if it had read it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from chatcore.attachments.names import extension
from chatcore.errors import AttachmentRefused
from chatcore.i18n import N_
from storage import AttachmentKind, NewAttachment

if TYPE_CHECKING:  # pypdf takes ~0.15 s to import: loaded with the first PDF, not at start
    from pypdf import PdfReader

# Files read as text by their extension (any text/* type the browser names is read too).
TEXT_EXTENSIONS = frozenset(
    {
        *("txt", "md", "markdown", "rst", "tex", "log"),
        *("csv", "tsv", "json", "jsonl", "yaml", "yml", "xml", "toml", "ini", "cfg", "conf"),
        *("html", "htm", "css", "scss", "js", "ts", "tsx", "jsx"),
        *("py", "java", "c", "h", "cpp", "hpp", "cc", "cs", "go", "rs", "rb", "php", "swift"),
        *("kt", "scala", "sql", "sh", "bash", "zsh", "ps1", "r", "lua", "pl"),
    }
)
# The type a text file is stored and served with. Everything else is text/plain, so that an
# attached page of HTML or an SVG is never served as something a browser would run.
_TEXT_MEDIA_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "json": "application/json",
}
# Where a PDF may start: the signature need not be the file's first bytes.
_PDF_SIGNATURE_WINDOW = 1024


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:_PDF_SIGNATURE_WINDOW]


def is_text_like(name: str, media_type: str) -> bool:
    """Whether a file is offered as text: by its extension, or a text/* type."""
    return extension(name) in TEXT_EXTENSIONS or media_type.lower().startswith("text/")


def prepare_text(name: str, data: bytes) -> NewAttachment:
    """`data` decoded as UTF-8 (its BOM dropped) or GB18030; AttachmentRefused for binary
    data or text in neither."""
    decoded = None if b"\x00" in data else _decode(data)
    if decoded is None:
        raise AttachmentRefused(
            N_("“{name}” does not read as text: it holds binary data or an unknown encoding."),
            code="text_unreadable",
            name=name,
        )
    text, charset = decoded
    media_type = _TEXT_MEDIA_TYPES.get(extension(name), "text/plain")
    return NewAttachment(
        name=name,
        media_type=f"{media_type}; charset={charset}",
        kind=AttachmentKind.TEXT,
        data=data,
        text=text,
    )


def _decode(data: bytes) -> tuple[str, str] | None:
    for codec, charset in (("utf-8-sig", "utf-8"), ("gb18030", "gb18030")):
        try:
            return _storable(data.decode(codec)), charset
        except UnicodeDecodeError:
            continue
    return None


def prepare_pdf(name: str, data: bytes, *, max_pages: int) -> NewAttachment:
    """The PDF's text, page by page; AttachmentRefused for a PDF that is locked, broken,
    longer than `max_pages`, or has no text to extract."""
    opened = _open_pdf(data)
    if opened is None:
        raise AttachmentRefused(
            N_("“{name}” cannot be read as a PDF; it may be damaged."),
            code="pdf_unreadable",
            name=name,
        )
    reader, locked, pages = opened
    if locked:
        raise AttachmentRefused(
            N_("“{name}” is protected with a password. Remove the password and attach it again."),
            code="pdf_encrypted",
            name=name,
        )
    if pages > max_pages:
        raise AttachmentRefused(
            N_("“{name}” has {pages} pages; PDFs of up to {limit} pages can be attached."),
            code="pdf_too_many_pages",
            name=name,
            pages=pages,
            limit=max_pages,
        )
    try:
        texts = [_storable(page.extract_text()).strip() for page in reader.pages]
    except Exception:  # a content stream that cannot be read
        texts = None
    if texts is None:
        raise AttachmentRefused(
            N_("“{name}” cannot be read as a PDF; it may be damaged."),
            code="pdf_unreadable",
            name=name,
        )
    if not any(texts):
        raise AttachmentRefused(
            N_("“{name}” has no text to read: it seems to be a scan with no text layer."),
            code="pdf_no_text",
            name=name,
        )
    return NewAttachment(
        name=name,
        media_type="application/pdf",
        kind=AttachmentKind.PDF,
        data=data,
        pages=pages,
        text=pages_text(texts),
    )


def pages_text(texts: list[str]) -> str:
    """The pages' texts as one, each under a line the model can cite it by ("--- Page 2 ---");
    for the model only, so in no person's language."""
    return "\n\n".join(
        f"--- Page {number} ---\n{text}" for number, text in enumerate(texts, start=1)
    )


def _open_pdf(data: bytes) -> tuple[PdfReader, bool, int] | None:
    """The reader, whether it stays locked, and its pages (0 while locked); None when the
    file cannot be parsed at all."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        locked = reader.is_encrypted and not _opens_without_password(reader)
        return reader, locked, 0 if locked else len(reader.pages)
    except Exception:  # a parser reading someone's file: any failure means "broken"
        return None


def _opens_without_password(reader: PdfReader) -> bool:
    """A PDF encrypted only against changes opens with the empty password; pypdf needs the
    `cryptography` package for AES, and without it such a file counts as locked."""
    from pypdf import PasswordType

    try:
        return reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except Exception:
        return False


def _storable(text: str) -> str:
    """Text a database column takes: no NUL (PostgreSQL refuses it), no lone surrogate."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
