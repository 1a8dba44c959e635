"""Images as the model gets them: upright, no larger than needed, and with nothing but pixels.

The format comes from the file's first bytes, and the file is opened with that format's reader
alone, so a name or a browser's claim never picks the decoder. The header's dimensions are
checked before a single pixel is decoded (a 50,000 x 50,000 PNG of a few kilobytes would
otherwise take gigabytes). The image is turned upright from its EXIF orientation, scaled down
to the longest side allowed, and encoded afresh with no metadata carried over: a phone photo's
EXIF holds where it was taken. Its colour profile goes too (a wide-gamut photo looks slightly
paler for it; no model reads a profile, and one that no longer fits a converted image is worse).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

from PIL import (
    GifImagePlugin,
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from chatcore.errors import AttachmentRefused
from chatcore.i18n import N_
from storage import AttachmentKind, NewAttachment

JPEG_QUALITY = 85
# zlib level for PNGs: 3 writes a photo-like 2048 x 1536 PNG about four times faster than the
# default 6, for some 10% more bytes (0.4 s against 1.8 s, measured on 2 cores).
PNG_COMPRESS_LEVEL = 3
# The readers by format, called directly: Image.open would apply Pillow's own, larger,
# process-wide pixel limit first, as a warning or an error of its own.
_READERS: dict[str, Callable[[IO[bytes]], ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "GIF": GifImagePlugin.GifImageFile,
}
# What each is saved as: a GIF's first frame becomes a PNG, as models take still images.
_SAVED_AS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WEBP", "GIF": "PNG"}
_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# Modes every resampling filter handles; others are converted before an image is scaled.
_SCALABLE_MODES = ("L", "LA", "RGB", "RGBA")


def image_format(data: bytes) -> str | None:
    """The format of an image we take, from its signature; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def prepare_image(
    name: str, data: bytes, form: str, *, max_side: int, max_pixels: int
) -> NewAttachment:
    """`data` (of format `form`, from image_format) ready to send; AttachmentRefused when it
    has more pixels than `max_pixels` or cannot be read."""
    image = _open(data, form)
    if image is None:
        raise AttachmentRefused(
            N_("“{name}” cannot be read as an image; it may be damaged."),
            code="image_unreadable",
            name=name,
        )
    width, height = image.size
    if width * height > max_pixels:
        raise AttachmentRefused(
            N_(
                "“{name}” is {width} × {height} pixels; images of up to {megapixels:g}"
                " megapixels can be attached."
            ),
            code="image_too_many_pixels",
            name=name,
            width=width,
            height=height,
            megapixels=max_pixels / 1_000_000,
        )
    reencoded = _reencode(image, form, max_side)
    if reencoded is None:
        raise AttachmentRefused(
            N_("“{name}” cannot be read as an image; it may be damaged."),
            code="image_unreadable",
            name=name,
        )
    encoded, result = reencoded
    saved_as = _SAVED_AS[form]
    return NewAttachment(
        name=name,
        media_type=_MEDIA_TYPES[saved_as],
        kind=AttachmentKind.IMAGE,
        data=encoded,
        width=result.width,
        height=result.height,
    )


def _open(data: bytes, form: str) -> ImageFile.ImageFile | None:
    """The image with only its header read; None when even that fails."""
    try:
        return _READERS[form](io.BytesIO(data))
    except Exception:  # a decoder reading someone's file: any failure means "unreadable"
        return None


def _reencode(
    image: ImageFile.ImageFile, form: str, max_side: int
) -> tuple[bytes, Image.Image] | None:
    """The image upright, within `max_side`, encoded with nothing but its pixels, and the
    image that was encoded; None when its data turns out to be broken."""
    try:
        return _encoded(image, form, max_side)
    except Exception:  # truncated data, a bad chunk: found only while decoding
        return None


def _encoded(image: ImageFile.ImageFile, form: str, max_side: int) -> tuple[bytes, Image.Image]:
    box = (max_side, max_side)
    if form == "JPEG" and max(image.size) > max_side:
        image.draft(None, box)  # decode at 1/2, 1/4 or 1/8 scale when that is still enough
    upright = ImageOps.exif_transpose(image) or image
    if max(upright.size) > max_side:
        if upright.mode not in _SCALABLE_MODES:
            upright = upright.convert("RGBA" if upright.has_transparency_data else "RGB")
        upright.thumbnail(box, Image.Resampling.LANCZOS)
    saved_as = _SAVED_AS[form]
    if saved_as == "JPEG" and upright.mode not in ("L", "RGB"):
        upright = upright.convert("RGB")
    options: dict[str, Any] = {}
    if saved_as == "PNG" and (transparency := upright.info.get("transparency")) is not None:
        options["transparency"] = transparency
    if saved_as == "JPEG":
        options["quality"] = JPEG_QUALITY
    if saved_as == "PNG":
        options["compress_level"] = PNG_COMPRESS_LEVEL
    upright.info = {}  # EXIF, XMP, ICC, comments, text chunks: none of it is written again
    output = io.BytesIO()
    upright.save(output, saved_as, **options)
    return output.getvalue(), upright


def thumbnail(data: bytes, longest_side: int) -> bytes:
    """A stored image (already checked and re-encoded on the way in) shrunk for the thread, as
    a WebP: the page sends tens of kilobytes, not the megabytes the model gets."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGBA" if "A" in opened.getbands() else "RGB")
    picture.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "WEBP", quality=80)
    return buffer.getvalue()
