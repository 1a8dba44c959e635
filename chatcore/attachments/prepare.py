"""The files a person attached, checked and made ready to store with their message.

Everything is enforced here, on the server, whatever the browser allowed: how many files,
each one's size and all of them together (before any is decoded), and what each holds, told
from its content rather than its name. The first file that cannot go is refused with a
sentence naming it; nothing is stored or sent, and the page keeps the typed text.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from chatcore.attachments.documents import is_pdf, is_text_like, prepare_pdf, prepare_text
from chatcore.attachments.images import image_format, prepare_image
from chatcore.attachments.names import clean_name
from chatcore.config import Settings
from chatcore.errors import AttachmentRefused
from chatcore.i18n import N_
from storage import NewAttachment

MEGABYTE = 1024 * 1024  # as Streamlit counts server.maxUploadSize
# An image's pixels, counted from its header, above which it is not decoded at all: 50
# megapixels is more than any phone camera, and decoded as RGBA already 200 MB.
MAX_IMAGE_PIXELS = 50_000_000


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file as the page received it (st.chat_input's UploadedFile): the name and type are
    the browser's word, unchecked."""

    name: str
    data: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    max_file_bytes: int
    max_files: int  # 0: files cannot be attached
    max_message_bytes: int
    max_pdf_pages: int
    image_max_side: int
    max_image_pixels: int = MAX_IMAGE_PIXELS

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachmentLimits:
        return cls(
            max_file_bytes=int(settings.attach_max_file_mb * MEGABYTE),
            max_files=settings.attach_max_files,
            max_message_bytes=int(settings.attach_max_message_mb * MEGABYTE),
            max_pdf_pages=settings.attach_max_pdf_pages,
            image_max_side=settings.image_max_side,
        )


def prepare_attachments(
    files: Sequence[IncomingFile], limits: AttachmentLimits
) -> list[NewAttachment]:
    """`files` ready to store, in order; AttachmentRefused for the first that cannot go."""
    if not files:
        return []
    named = [(_name_of(file), file) for file in files]
    _check_sizes(named, limits)
    return [_prepare(name, file, limits) for name, file in named]


def _name_of(file: IncomingFile) -> str:
    """The cleaned name, or for a name with nothing usable left, a stable one from the
    content (so a sentence about the file still points at something)."""
    return clean_name(file.name) or hashlib.sha256(file.data).hexdigest()[:12]


def _check_sizes(named: list[tuple[str, IncomingFile]], limits: AttachmentLimits) -> None:
    if limits.max_files <= 0:
        raise AttachmentRefused(
            N_("Files cannot be attached on this server."), code="attachments_off"
        )
    if len(named) > limits.max_files:
        raise AttachmentRefused(
            N_("{count} files are attached; at most {limit} can go with one message."),
            code="too_many_attachments",
            count=len(named),
            limit=limits.max_files,
        )
    for name, file in named:
        if not file.data:
            raise AttachmentRefused(N_("“{name}” is empty."), code="attachment_empty", name=name)
        if len(file.data) > limits.max_file_bytes:
            raise AttachmentRefused(
                N_("“{name}” is {size:,.1f} MB; files of up to {limit:g} MB can be attached."),
                code="attachment_too_large",
                name=name,
                size=_megabytes(len(file.data)),
                limit=limits.max_file_bytes / MEGABYTE,
            )
    total = sum(len(file.data) for _, file in named)
    if total > limits.max_message_bytes:
        largest_name, largest_file = max(named, key=lambda pair: len(pair[1].data))
        raise AttachmentRefused(
            N_(
                "The attached files come to {size:,.1f} MB, more than the {limit:g} MB one"
                " message can carry; the largest is “{name}” ({largest:,.1f} MB)."
            ),
            code="attachments_too_large",
            name=largest_name,
            size=_megabytes(total),
            limit=limits.max_message_bytes / MEGABYTE,
            largest=_megabytes(len(largest_file.data)),
        )


def _megabytes(size: int) -> float:
    """Rounded up to a tenth, so a file just over a limit never shows as exactly the limit."""
    return math.ceil(size / MEGABYTE * 10) / 10


def _prepare(name: str, file: IncomingFile, limits: AttachmentLimits) -> NewAttachment:
    form = image_format(file.data)
    if form is not None:
        return prepare_image(
            name,
            file.data,
            form,
            max_side=limits.image_max_side,
            max_pixels=limits.max_image_pixels,
        )
    if is_pdf(file.data):
        return prepare_pdf(name, file.data, max_pages=limits.max_pdf_pages)
    if is_text_like(name, file.media_type):
        return prepare_text(name, file.data)
    raise AttachmentRefused(
        N_(
            "“{name}” is not a type of file that can be attached: images (PNG, JPEG, WebP,"
            " GIF), PDFs and text files can."
        ),
        code="attachment_unsupported",
        name=name,
    )
