"""Attached files on the server: every limit, every kind of bad file, and what a good one becomes.

The fixtures are built here: images with Pillow, PDFs written by hand (one Helvetica text
line per page, so pypdf has real text to extract) or with pypdf's writer, text in the
encodings teams actually send. Each refusal is checked for its code and the values its
sentence shows, since a person reads that sentence beside the chat input.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import replace
from typing import Any

import pytest
from PIL import ExifTags, Image
from pypdf import PdfWriter

from chatcore.attachments import AttachmentLimits, IncomingFile, prepare_attachments
from chatcore.attachments.names import clean_name
from chatcore.config import load_settings
from chatcore.errors import AttachmentRefused, ChatInputError
from chatcore.i18n import translator
from storage import AttachmentKind, NewAttachment
from tests.support.documents import minimal_pdf

MB = 1024 * 1024
LIMITS = AttachmentLimits(
    max_file_bytes=2 * MB,
    max_files=3,
    max_message_bytes=3 * MB,
    max_pdf_pages=5,
    image_max_side=256,
)


# --- fixtures ----------------------------------------------------------------------------


def _written(writer: PdfWriter) -> bytes:
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(minimal_pdf("Secret plans")))
    writer.encrypt(user_password, owner_password="owner-password")
    return _written(writer)


def blank_pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    return _written(writer)


def gps_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: where the photo was taken, and which way up."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 14.0, 0.0)
    return exif


def image_bytes(form: str, size: tuple[int, int] = (40, 20), **options: Any) -> bytes:
    mode = "P" if form == "GIF" else "RGB"
    image = Image.new(mode, size, 3 if mode == "P" else (200, 30, 30))
    output = io.BytesIO()
    image.save(output, form, **options)
    return output.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` and holds almost nothing: a bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def one(name: str, data: bytes, media_type: str = "application/octet-stream") -> NewAttachment:
    [attachment] = prepare_attachments([IncomingFile(name, data, media_type)], LIMITS)
    return attachment


def refused(files: list[IncomingFile], limits: AttachmentLimits = LIMITS) -> AttachmentRefused:
    with pytest.raises(AttachmentRefused) as caught:
        prepare_attachments(files, limits)
    error = caught.value
    assert isinstance(error, ChatInputError)  # the page's one catch for "cannot be sent"
    assert translator("en").explain(error) == str(error)
    return error


def refused_one(name: str, data: bytes, media_type: str = "application/octet-stream") -> Any:
    return refused([IncomingFile(name, data, media_type)])


def opened(attachment: NewAttachment) -> Image.Image:
    image = Image.open(io.BytesIO(attachment.data))
    image.load()
    return image


# --- limits ------------------------------------------------------------------------------


def test_limits_come_from_the_settings() -> None:
    settings = load_settings(
        env={
            "ANYCHAT_ATTACH_MAX_FILE_MB": "2.5",
            "ANYCHAT_ATTACH_MAX_FILES": "4",
            "ANYCHAT_ATTACH_MAX_MESSAGE_MB": "12",
            "ANYCHAT_ATTACH_MAX_PDF_PAGES": "30",
            "ANYCHAT_IMAGE_MAX_SIDE": "1024",
        },
        secrets={},
    )
    assert AttachmentLimits.from_settings(settings) == AttachmentLimits(
        max_file_bytes=int(2.5 * MB),
        max_files=4,
        max_message_bytes=12 * MB,
        max_pdf_pages=30,
        image_max_side=1024,
        max_image_pixels=50_000_000,
    )


def test_no_files_is_no_attachments() -> None:
    assert prepare_attachments([], LIMITS) == []
    assert prepare_attachments([], replace(LIMITS, max_files=0)) == []


def test_attaching_can_be_turned_off() -> None:
    error = refused([IncomingFile("a.txt", b"hi", "text/plain")], replace(LIMITS, max_files=0))
    assert error.code == "attachments_off"
    assert str(error) == "Files cannot be attached on this server."


def test_too_many_files() -> None:
    files = [IncomingFile(f"{index}.txt", b"hi", "text/plain") for index in range(4)]
    error = refused(files)
    assert (error.code, error.params) == ("too_many_attachments", {"count": 4, "limit": 3})
    assert str(error) == "4 files are attached; at most 3 can go with one message."
    assert len(prepare_attachments(files[:3], LIMITS)) == 3


def test_a_file_over_the_size_limit_is_named_with_its_size() -> None:
    just_over = b"a" * (2 * MB + 1)
    error = refused_one("notes.txt", just_over, "text/plain")
    assert error.code == "attachment_too_large"
    assert error.params == {"name": "notes.txt", "size": 2.1, "limit": 2.0}
    # Rounded up: a file just over the limit never reads as exactly the limit.
    assert str(error) == "“notes.txt” is 2.1 MB; files of up to 2 MB can be attached."
    assert one("notes.txt", b"a" * (2 * MB), "text/plain").text == "a" * (2 * MB)


def test_files_over_the_message_limit_together_name_the_largest() -> None:
    files = [
        IncomingFile("a.txt", b"a" * (MB + MB // 2), "text/plain"),
        IncomingFile("big.txt", b"b" * (2 * MB), "text/plain"),
    ]
    error = refused(files)
    assert error.code == "attachments_too_large"
    assert error.params == {"name": "big.txt", "size": 3.5, "limit": 3.0, "largest": 2.0}
    assert str(error) == (
        "The attached files come to 3.5 MB, more than the 3 MB one message can carry;"
        " the largest is “big.txt” (2.0 MB)."
    )
    assert len(prepare_attachments(files[:1] + files[:1], LIMITS)) == 2  # exactly 3 MB


def test_sizes_are_checked_before_any_file_is_read() -> None:
    broken_pdf = IncomingFile("broken.pdf", b"%PDF-1.4 nonsense", "application/pdf")
    too_big = IncomingFile("big.txt", b"b" * (3 * MB), "text/plain")
    assert refused([broken_pdf, too_big]).code == "attachment_too_large"


def test_an_empty_file_is_refused() -> None:
    error = refused_one("empty.txt", b"", "text/plain")
    assert (error.code, str(error)) == ("attachment_empty", "“empty.txt” is empty.")


def test_a_type_we_do_not_read_is_named() -> None:
    error = refused_one("setup.exe", b"MZ\x90\x00" + bytes(200))
    assert error.code == "attachment_unsupported"
    assert str(error) == (
        "“setup.exe” is not a type of file that can be attached: images (PNG, JPEG, WebP,"
        " GIF), PDFs and text files can."
    )
    # The name does not make a file an image or a PDF: its content does.
    assert refused_one("photo.png", b"not an image at all").code == "attachment_unsupported"
    assert refused_one("report.pdf", b"not a pdf").code == "attachment_unsupported"


def test_the_first_file_that_cannot_go_stops_them_all() -> None:
    files = [
        IncomingFile("fine.txt", b"fine", "text/plain"),
        IncomingFile("scan.pdf", blank_pdf(1), "application/pdf"),
    ]
    assert refused(files).params == {"name": "scan.pdf"}


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\wang\\Desktop\\报告.pdf", "报告.pdf"),
        ("../../etc/passwd", "passwd"),
        ("tab\there\n.txt", "tabhere.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("  spaced.txt  ", "spaced.txt"),
        ("dir/", ""),
        ("..", ""),
    ],
)
def test_a_name_keeps_its_base_without_control_characters(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


def test_a_long_name_is_cut_keeping_its_extension() -> None:
    name = clean_name("x" * 300 + ".csv")
    assert len(name) == 255
    assert name.endswith("x.csv")
    assert len(clean_name("y" * 300)) == 255


def test_a_file_is_stored_under_its_clean_name() -> None:
    attachment = one("/home/wang/notes.txt", b"hello", "text/plain")
    assert attachment.name == "notes.txt"
    nameless = one("/", b"hello", "text/plain")
    assert re.fullmatch(r"[0-9a-f]{12}", nameless.name)  # from the content: stable


# --- text files --------------------------------------------------------------------------


def test_a_utf8_text_file() -> None:
    attachment = one("main.py", b"print('hi')\n", "text/x-python")
    assert attachment == NewAttachment(
        name="main.py",
        media_type="text/plain; charset=utf-8",
        kind=AttachmentKind.TEXT,
        data=b"print('hi')\n",
        text="print('hi')\n",
    )


def test_a_bom_is_dropped_from_the_text_and_kept_in_the_file() -> None:
    data = "\ufeffname,城市\nwang,上海\n".encode()
    attachment = one("people.csv", data, "text/csv")
    assert attachment.text == "name,城市\nwang,上海\n"
    assert attachment.data == data  # downloaded as uploaded
    assert attachment.media_type == "text/csv; charset=utf-8"


def test_a_gb18030_csv_reads_as_chinese() -> None:
    data = "姓名,城市\n王伟,北京\n".encode("gb18030")
    attachment = one("名单.csv", data, "application/vnd.ms-excel")
    assert attachment.text == "姓名,城市\n王伟,北京\n"
    assert attachment.media_type == "text/csv; charset=gb18030"
    assert attachment.data == data


def test_any_text_type_is_read_whatever_its_extension() -> None:
    assert one("Makefile", b"all:\n\ttrue\n", "text/x-makefile").text == "all:\n\ttrue\n"


def test_markup_is_stored_as_plain_text() -> None:
    attachment = one("page.html", b"<script>alert(1)</script>", "text/html")
    assert attachment.media_type == "text/plain; charset=utf-8"


def test_binary_data_named_txt_is_refused() -> None:
    error = refused_one("notes.txt", b"\x00\x01\x02binary\xff\xfe", "text/plain")
    assert error.code == "text_unreadable"
    assert str(error) == (
        "“notes.txt” does not read as text: it holds binary data or an unknown encoding."
    )
    # Neither UTF-8 nor GB18030 (0xFF never starts a GB18030 character).
    assert refused_one("notes.txt", b"abc\xff\xff", "text/plain").code == "text_unreadable"


# --- PDFs --------------------------------------------------------------------------------


def test_a_pdfs_text_is_extracted_page_by_page() -> None:
    data = minimal_pdf("Quarterly report", "Revenue grew")
    attachment = one("report.pdf", data, "application/pdf")
    assert attachment == NewAttachment(
        name="report.pdf",
        media_type="application/pdf",
        kind=AttachmentKind.PDF,
        data=data,
        pages=2,
        text="--- Page 1 ---\nQuarterly report\n\n--- Page 2 ---\nRevenue grew",
    )


def test_a_pdf_with_a_password_is_refused() -> None:
    error = refused_one("secret.pdf", encrypted_pdf("hunter2"), "application/pdf")
    assert (error.code, error.params) == ("pdf_encrypted", {"name": "secret.pdf"})
    assert str(error) == (
        "“secret.pdf” is protected with a password. Remove the password and attach it again."
    )


def test_a_pdf_encrypted_only_against_changes_opens() -> None:
    attachment = one("locked.pdf", encrypted_pdf(""), "application/pdf")
    assert attachment.text == "--- Page 1 ---\nSecret plans"


def test_a_broken_pdf_is_refused() -> None:
    error = refused_one("broken.pdf", b"%PDF-1.4\nthis is not really a PDF", "application/pdf")
    assert (error.code, str(error)) == (
        "pdf_unreadable",
        "“broken.pdf” cannot be read as a PDF; it may be damaged.",
    )
    truncated = minimal_pdf("Hello")[:60]
    assert refused_one("cut.pdf", truncated).code == "pdf_unreadable"


def test_a_pdf_over_the_page_limit_is_refused() -> None:
    error = refused_one("book.pdf", minimal_pdf(*(f"Page {n}" for n in range(6))))
    assert (error.code, error.params) == (
        "pdf_too_many_pages",
        {"name": "book.pdf", "pages": 6, "limit": 5},
    )
    assert str(error) == "“book.pdf” has 6 pages; PDFs of up to 5 pages can be attached."
    assert one("five.pdf", minimal_pdf(*(f"Page {n}" for n in range(5)))).pages == 5


def test_a_scan_without_text_is_refused() -> None:
    error = refused_one("scan.pdf", blank_pdf(2), "application/pdf")
    assert (error.code, str(error)) == (
        "pdf_no_text",
        "“scan.pdf” has no text to read: it seems to be a scan with no text layer.",
    )


def test_a_pdf_with_some_blank_pages_keeps_their_numbers() -> None:
    attachment = one("mixed.pdf", minimal_pdf("Cover", "", "Last words"))
    assert attachment.text == (
        "--- Page 1 ---\nCover\n\n--- Page 2 ---\n\n\n--- Page 3 ---\nLast words"
    )


# --- images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "media_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/png")],
)
def test_each_image_format_is_reencoded(form: str, media_type: str) -> None:
    attachment = one(f"picture.{form.lower()}", image_bytes(form))
    assert (attachment.kind, attachment.media_type) == (AttachmentKind.IMAGE, media_type)
    assert (attachment.width, attachment.height) == (40, 20)
    assert (attachment.pages, attachment.text) == (None, None)
    image = opened(attachment)
    assert image.size == (40, 20)
    assert Image.MIME[image.format or ""] == media_type


def test_a_gif_becomes_its_first_frame() -> None:
    frames = [Image.new("P", (30, 30), index) for index in range(3)]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:])
    image = opened(one("moving.gif", output.getvalue()))
    assert image.format == "PNG"
    assert not getattr(image, "is_animated", False)


def test_the_type_comes_from_the_content_not_the_name() -> None:
    attachment = one("really-a-jpeg.txt", image_bytes("JPEG"), "text/plain")
    assert (attachment.kind, attachment.media_type) == (AttachmentKind.IMAGE, "image/jpeg")


@pytest.mark.parametrize("form", ["JPEG", "PNG", "WEBP"])
def test_exif_is_applied_then_dropped_gps_and_all(form: str) -> None:
    data = image_bytes(form, (40, 20), exif=gps_exif(orientation=6))
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # it was there
    attachment = one(f"photo.{form.lower()}", data)
    # Orientation 6 (rotate 90°): the stored image is upright, so taller than wide.
    assert (attachment.width, attachment.height) == (20, 40)
    image = opened(attachment)
    assert image.size == (20, 40)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    assert b"PhoneMaker" not in attachment.data


def test_a_large_image_is_scaled_to_the_longest_side() -> None:
    attachment = one("wide.jpg", image_bytes("JPEG", (1200, 300)))
    assert (attachment.width, attachment.height) == (256, 64)
    assert opened(attachment).size == (256, 64)
    tall = one("tall.png", image_bytes("PNG", (100, 1000)))
    assert (tall.width, tall.height) == (26, 256)


def test_a_small_image_keeps_its_size() -> None:
    attachment = one("icon.png", image_bytes("PNG", (256, 100)))
    assert (attachment.width, attachment.height) == (256, 100)


def test_an_image_with_too_many_pixels_is_refused_from_its_header() -> None:
    # A few hundred bytes that would decode to 60,000 x 60,000: never decoded.
    data = png_header(60_000, 60_000)
    assert len(data) < 500
    error = refused_one("bomb.png", data)
    assert error.code == "image_too_many_pixels"
    assert error.params == {"name": "bomb.png", "width": 60_000, "height": 60_000, "megapixels": 50}
    assert str(error) == (
        "“bomb.png” is 60000 × 60000 pixels; images of up to 50 megapixels can be attached."
    )
    just_under = replace(LIMITS, max_image_pixels=40 * 20)
    [fits] = prepare_attachments([IncomingFile("ok.png", image_bytes("PNG"), "")], just_under)
    assert fits.width == 40
    over = replace(LIMITS, max_image_pixels=40 * 20 - 1)
    assert refused([IncomingFile("no.png", image_bytes("PNG"), "")], over).code == (
        "image_too_many_pixels"
    )


def test_a_broken_image_is_refused() -> None:
    error = refused_one("broken.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert (error.code, str(error)) == (
        "image_unreadable",
        "“broken.png” cannot be read as an image; it may be damaged.",
    )
    whole = image_bytes("JPEG", (200, 200))
    assert refused_one("cut.jpg", whole[: len(whole) // 2]).code == "image_unreadable"
    assert refused_one("bad.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 junk").code == ("image_unreadable")


def test_mixed_files_keep_their_order() -> None:
    files = [
        IncomingFile("a.png", image_bytes("PNG"), "image/png"),
        IncomingFile("b.pdf", minimal_pdf("B"), "application/pdf"),
        IncomingFile("c.md", b"# C", "text/markdown"),
    ]
    prepared = prepare_attachments(files, LIMITS)
    assert [(a.name, a.kind) for a in prepared] == [
        ("a.png", AttachmentKind.IMAGE),
        ("b.pdf", AttachmentKind.PDF),
        ("c.md", AttachmentKind.TEXT),
    ]
    assert prepared[2].media_type == "text/markdown; charset=utf-8"


def _palette_png(size: tuple[int, int]) -> bytes:
    """Palette colour 0 transparent, the image painted in colour 1 (red)."""
    image = Image.new("P", size, 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    output = io.BytesIO()
    image.save(output, "PNG", transparency=0)
    return output.getvalue()


def test_colour_modes_survive_scaling_and_reencoding() -> None:
    cmyk = io.BytesIO()
    Image.new("CMYK", (300, 100), (0, 255, 255, 0)).save(cmyk, "JPEG")
    assert opened(one("print.jpg", cmyk.getvalue())).mode == "RGB"
    # A palette image is scaled in RGBA (a palette cannot be resampled), transparency kept.
    scaled = opened(one("logo.png", _palette_png((600, 60))))
    assert (scaled.mode, scaled.size) == ("RGBA", (256, 26))
    assert scaled.getpixel((128, 13)) == (255, 0, 0, 255)
    # One that needs no scaling stays a palette image, with its transparent colour.
    kept = opened(one("icon.png", _palette_png((20, 20))))
    assert (kept.mode, kept.info.get("transparency")) == ("P", 0)
