"""A user message's `content` as the API takes it, and its images filled in just before sending.

A message without files keeps its plain string, so the request JSON of an ordinary message is
what it always was. With files, it is a list of parts: the typed text, each text file and PDF
as a text part labelled with its name, then each image. An image part holds only a placeholder
URL naming the stored blob and its size (anychat-attachment:<sha256>/<w>x<h>/<type>), so the
page thread never carries image bytes and the context fitter can count an image from its size
alone; resolve_images swaps in the data URLs on the generation thread, right before sending.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from typing import Any

from storage import AttachmentKind, AttachmentRecord

PLACEHOLDER_SCHEME = "anychat-attachment:"
_PLACEHOLDER = re.compile(
    r"anychat-attachment:(?P<sha>[0-9a-f]{64})/(?P<width>\d{1,6})x(?P<height>\d{1,6})"
    r"/(?P<media_type>image/[a-z0-9.+-]+)"
)
# Read by the model in place of an image whose file has since been deleted; never shown.
IMAGE_GONE = "[An image attached here is no longer available.]"


def user_content(text: str, attachments: Sequence[AttachmentRecord]) -> str | list[dict[str, Any]]:
    """The `content` of a user message: `text` itself when nothing is attached."""
    if not attachments:
        return text
    parts: list[dict[str, Any]] = []
    if text.strip():
        parts.append({"type": "text", "text": text})
    for attachment in attachments:
        if attachment.kind is not AttachmentKind.IMAGE:
            parts.append({"type": "text", "text": file_text(attachment.name, attachment.text)})
    for attachment in attachments:
        if attachment.kind is AttachmentKind.IMAGE:
            url = placeholder_url(
                attachment.sha256,
                attachment.width or 0,
                attachment.height or 0,
                attachment.media_type,
            )
            parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def file_text(name: str, text: str | None) -> str:
    """A text file's or PDF's text under its name; the name is escaped, so no name can end
    the element early or add attributes to it."""
    return f'<file name="{html.escape(name, quote=True)}">\n{text or ""}\n</file>'


def placeholder_url(sha256: str, width: int, height: int, media_type: str) -> str:
    return f"{PLACEHOLDER_SCHEME}{sha256}/{width}x{height}/{media_type}"


def parse_placeholder(url: str) -> tuple[str, int, int, str] | None:
    """(sha256, width, height, media_type) of a placeholder URL; None for any other URL."""
    found = _PLACEHOLDER.fullmatch(url)
    if found is None:
        return None
    return (
        found["sha"],
        int(found["width"]),
        int(found["height"]),
        found["media_type"],
    )


def resolve_images(
    messages: list[dict[str, Any]], load: Callable[[set[str]], dict[str, bytes]]
) -> list[dict[str, Any]]:
    """`messages` with every placeholder replaced by a data URL, the bytes read with one call
    of `load` (sha256s to bytes). An image `load` no longer finds becomes a text part saying
    so, rather than failing the reply. The messages given are not changed."""
    wanted = {
        found[0]
        for message in messages
        for part in _parts(message)
        if (found := _placeholder_of(part)) is not None
    }
    if not wanted:
        return list(messages)
    blobs = load(wanted)
    return [_resolved(message, blobs) for message in messages]


def _parts(message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _placeholder_of(part: Any) -> tuple[str, int, int, str] | None:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return None
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    return parse_placeholder(url) if isinstance(url, str) else None


def _resolved(message: dict[str, Any], blobs: dict[str, bytes]) -> dict[str, Any]:
    parts = _parts(message)
    if not any(_placeholder_of(part) is not None for part in parts):
        return message
    return {**message, "content": [_resolved_part(part, blobs) for part in parts]}


def _resolved_part(part: Any, blobs: dict[str, bytes]) -> Any:
    found = _placeholder_of(part)
    if found is None:
        return part
    sha, _, _, media_type = found
    data = blobs.get(sha)
    if not data:
        return {"type": "text", "text": IMAGE_GONE}
    encoded = base64.b64encode(data).decode("ascii")
    image_url = {**part["image_url"], "url": f"data:{media_type};base64,{encoded}"}
    return {**part, "image_url": image_url}
