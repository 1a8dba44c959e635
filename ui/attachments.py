"""A question's files in the thread: images as thumbnails, documents as chips that download.

Bytes are read only to be shown: an image's when its message is first drawn, shrunk to a
thumbnail kept by content hash (so a rerun reads nothing and the page sends kilobytes, not
the megabytes the model got), a document's only when its chip is clicked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from chatcore.attachments import thumbnail
from storage import AttachmentKind, AttachmentRecord
from ui.i18n import _, ngettext
from ui.text import plain

THUMBNAIL_WIDTH = 220
# Twice the width drawn: sharp on a high-density screen, and in the image's full-screen view.
THUMBNAIL_SIDE = 2 * THUMBNAIL_WIDTH
# Thumbnails kept by this process: bounded (about 30 kB each), and by content, which is the
# same for everyone who may see it (each reader's right to it is checked before it is read).
THUMBNAILS_KEPT = 512

# Reads a file's bytes for the person drawing the page; None when it is not theirs to read.
FileReader = Callable[[AttachmentRecord], bytes | None]


class _Unreadable(Exception):
    """Raised, not returned, so that a file this reader may not read is never kept."""


@st.cache_data(max_entries=THUMBNAILS_KEPT, show_spinner=False)
def _thumbnail(sha256: str, _read: FileReader, _attachment: AttachmentRecord) -> bytes:
    data = _read(_attachment)
    if data is None:
        raise _Unreadable(sha256)
    return thumbnail(data, THUMBNAIL_SIDE)


def _thumbnail_for(image: AttachmentRecord, read: FileReader) -> bytes | None:
    try:
        return _thumbnail(image.sha256, read, image)
    except _Unreadable:
        return None


def draw_attachments(attachments: Sequence[AttachmentRecord], read: FileReader) -> None:
    images = [item for item in attachments if item.kind == AttachmentKind.IMAGE]
    documents = [item for item in attachments if item.kind != AttachmentKind.IMAGE]
    if images:
        with st.container(horizontal=True, gap="small"):
            for image in images:
                data = _thumbnail_for(image, read)
                if data is None:
                    st.caption(_("Image no longer available: {name}", name=plain(image.name)))
                    continue
                # In a box of the thumbnail's width, so a small picture is not blown up and
                # its name does not wrap letter by letter under it.
                with st.container(width=THUMBNAIL_WIDTH, gap="xsmall"):
                    st.image(data, width=min(THUMBNAIL_WIDTH, image.width or THUMBNAIL_WIDTH))
                    st.caption(plain(image.name))
    if documents:
        with st.container(horizontal=True, gap="small"):
            for document in documents:
                _draw_chip(document, read)


def _draw_chip(document: AttachmentRecord, read: FileReader) -> None:
    def data() -> bytes:
        return read(document) or b""

    st.download_button(
        plain(document.name),  # a label reads Markdown: the name is the sender's words
        data=data,
        file_name=document.name,
        mime=document.media_type,
        icon=":material/picture_as_pdf:"
        if document.kind == AttachmentKind.PDF
        else ":material/description:",
        help=_describe(document),
        key=f"attachment-{document.message_id}-{document.id}",
        on_click="ignore",
        type="secondary",
    )


def _describe(document: AttachmentRecord) -> str:
    size = _("{size:.1f} MB", size=document.size / 1024 / 1024)
    if document.kind == AttachmentKind.PDF and document.pages:
        pages = ngettext("{count} page", "{count} pages", document.pages)
        return _("PDF, {pages}, {size}. Its text was sent to the model.", pages=pages, size=size)
    return _("Text file, {size}. Its text was sent to the model.", size=size)
