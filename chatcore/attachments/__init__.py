"""Files attached to a message (issue 13): checked and prepared on the way in (prepare), and
turned into the content parts of the request on the way out (parts)."""

from chatcore.attachments.images import thumbnail
from chatcore.attachments.parts import (
    parse_placeholder,
    placeholder_url,
    resolve_images,
    user_content,
)
from chatcore.attachments.prepare import (
    AttachmentLimits,
    IncomingFile,
    prepare_attachments,
)

__all__ = [
    "AttachmentLimits",
    "IncomingFile",
    "parse_placeholder",
    "placeholder_url",
    "prepare_attachments",
    "resolve_images",
    "thumbnail",
    "user_content",
]
