"""A question's files in the thread: images as thumbnails, documents as chips that download.

Bytes are read only to be shown: an image's when its message is drawn (kept by content hash,
so a rerun does not read it again), a document's only when its chip is clicked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from storage import AttachmentKind, AttachmentRecord
from ui.i18n import _, ngettext
from ui.text import plain

THUMBNAIL_WIDTH = 220
# Images kept by this process for drawing: bounded, and by content, which is the same for
# everyone who may see it (each reader's right to it is checked before it is asked for).
IMAGES_KEPT = 256

# Reads a file's bytes for the person drawing the page; None when it is not theirs to read.
FileReader = Callable[[AttachmentRecord], bytes | None]


@st.cache_data(max_entries=IMAGES_KEPT, show_spinner=False)
def _image_bytes(sha256: str, _read: FileReader, _attachment: AttachmentRecord) -> bytes | None:
    return _read(_attachment)


def draw_attachments(attachments: Sequence[AttachmentRecord], read: FileReader) -> None:
    images = [item for item in attachments if item.kind == AttachmentKind.IMAGE]
    documents = [item for item in attachments if item.kind != AttachmentKind.IMAGE]
    if images:
        with st.container(horizontal=True, gap="small"):
            for image in images:
                data = _image_bytes(image.sha256, read, image)
                if data is None:
                    st.caption(_("Image no longer available: {name}", name=plain(image.name)))
                    continue
                # Never blown up: a small picture stays its own size.
                width = min(THUMBNAIL_WIDTH, image.width or THUMBNAIL_WIDTH)
                st.image(data, width=width, caption=image.name)
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
