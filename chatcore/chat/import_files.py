"""What an uploaded file holds, before anything in it is checked: our JSON or zip, or
ChatGPT's conversations.json or zip; refused whole (ImportRefused) when it is too large,
unpacks beyond the limit, is no JSON or zip, or is JSON of no format we read.

A zip is never unpacked beyond the limit: the sizes it declares for the members to be read
are checked first, and every member is read through one counter too, for a zip whose headers
lie. Only the members that hold conversations are read (ChatGPT's zip also holds images).
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from chatcore.chat import chatgpt_format
from chatcore.chat.transfer_format import ARCHIVE_FORMAT, FORMAT, MANIFEST
from chatcore.chat.transfer_report import Unreadable
from chatcore.errors import ImportRefused, Sentence
from chatcore.i18n import N_

MEGABYTE = 1024 * 1024  # as Streamlit counts server.maxUploadSize
READ_CHUNK = 1024 * 1024
CHATGPT_FILE = "conversations.json"
MEMBER_NOT_JSON = N_("Its file “{file}” is not valid JSON.")
Reader = Callable[[zipfile.ZipFile, zipfile.ZipInfo], bytes]


@dataclass
class Source:
    """What a file holds: each entry a conversation's raw JSON, or the reason it could not
    even be read as JSON (a bad file inside our zip)."""

    kind: str  # "anychat" or "chatgpt"
    entries: list[Any] = field(default_factory=list)


def read_upload(filename: str, data: bytes, limit_mb: float) -> Source:
    """The conversations `data` holds, unchecked; ImportRefused for a file unreadable whole."""
    name = filename.strip()[-100:] or "?"
    if len(data) > limit_mb * MEGABYTE:
        raise ImportRefused(
            N_("“{name}” is {size:,.1f} MB; files up to {limit:g} MB can be imported."),
            code="import_too_large",
            name=name,
            size=len(data) / MEGABYTE,
            limit=limit_mb,
        )
    if data.startswith(b"PK\x03\x04") or zipfile.is_zipfile(io.BytesIO(data)):
        source = _read_zip(name, data, limit_mb)
    else:
        source = _json_source(name, _parse_json(name, data))
    if not source.entries:
        raise ImportRefused(N_("“{name}” holds no conversations."), code="import_empty", name=name)
    return source


def _read_zip(name: str, data: bytes, limit_mb: float) -> Source:
    """The conversations in our zip or ChatGPT's, reading no more than the limit
    uncompressed: the sizes the zip declares are checked first, and every member is read
    through a counter too, for a zip whose headers lie."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            chatgpt = [i for i in members if i.filename.rsplit("/", 1)[-1] == CHATGPT_FILE]
            if chatgpt:
                chosen = [min(chatgpt, key=lambda info: info.filename.count("/"))]
            else:
                chosen = _our_members(archive, members, bounded_reader(name, limit_mb))
            if not chosen:
                raise ImportRefused(
                    N_(
                        "“{name}” holds neither an AnyChat export nor ChatGPT's conversations.json."
                    ),
                    code="import_zip_unknown",
                    name=name,
                )
            if sum(info.file_size for info in chosen) > limit_mb * MEGABYTE:
                _refuse_unpacked_size(name, limit_mb)
            read = bounded_reader(name, limit_mb)
            if chatgpt:
                document = _parse_json(chosen[0].filename, read(archive, chosen[0]))
                return _json_source(name, document)
            source = Source("anychat")
            for info in chosen:
                content = read(archive, info)  # beyond the limit: the whole file is refused
                try:
                    source.entries.append(_parse_json(info.filename, content))
                except ImportRefused:
                    not_json = Sentence(
                        "import_member_not_json", MEMBER_NOT_JSON, {"file": info.filename}
                    )
                    source.entries.append(Unreadable(not_json))
            return source
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError):
        # Corrupt, truncated, encrypted, or compressed in a way Python cannot unpack.
        raise ImportRefused(
            N_("“{name}” looks like a zip file but cannot be read."),
            code="import_bad_zip",
            name=name,
        ) from None


def _refuse_unpacked_size(name: str, limit_mb: float) -> NoReturn:
    raise ImportRefused(
        N_("“{name}” unpacks to more than {limit:g} MB, the most that can be imported."),
        code="import_unpacked_too_large",
        name=name,
        limit=limit_mb,
    )


def bounded_reader(name: str, limit_mb: float) -> Reader:
    """Reads members against one budget, the limit, shared by every member it reads, and
    stops as soon as it is spent, whatever the members' headers say."""
    left = int(limit_mb * MEGABYTE)

    def read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        nonlocal left
        chunks = []
        with archive.open(info) as stream:
            while chunk := stream.read(min(READ_CHUNK, left + 1)):
                left -= len(chunk)
                if left < 0:
                    _refuse_unpacked_size(name, limit_mb)
                chunks.append(chunk)
        return b"".join(chunks)

    return read


def _our_members(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    read: Reader,
) -> list[zipfile.ZipInfo]:
    """Our zip's conversation files: in the manifest's order when it has one, else every
    JSON file but the manifest, by name."""
    by_name = {info.filename: info for info in members}
    manifest = by_name.get(MANIFEST)
    if manifest is not None and manifest.file_size <= READ_CHUNK * 16:
        try:
            listed = json.loads(read(archive, manifest).decode("utf-8-sig"))
        except (ValueError, RecursionError):
            listed = None
        if isinstance(listed, dict) and listed.get("format") == ARCHIVE_FORMAT:
            entries = listed.get("conversations")
            entries = entries if isinstance(entries, list) else []
            names = [entry.get("json") for entry in entries if isinstance(entry, dict)]
            chosen = [by_name[n] for n in names if isinstance(n, str) and n in by_name]
            if chosen:
                return chosen
    return sorted(
        (i for i in members if i.filename.endswith(".json") and i.filename != MANIFEST),
        key=lambda info: info.filename,
    )


def _parse_json(name: str, data: bytes) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(
            N_("“{name}” is neither a JSON file nor a zip file."),
            code="import_not_json_or_zip",
            name=name,
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportRefused(
            N_("“{name}” is not valid JSON: the first error is at line {line}, column {column}."),
            code="import_invalid_json",
            name=name,
            line=error.lineno,
            column=error.colno,
        ) from None
    except RecursionError:
        raise ImportRefused(
            N_("“{name}” nests its JSON too deeply to be read."),
            code="import_json_too_deep",
            name=name,
        ) from None


def _json_source(name: str, document: Any) -> Source:
    """Which format a JSON document is in: one of ours, a list of ours, or ChatGPT's."""
    if isinstance(document, dict) and document.get("format") == FORMAT:
        return Source("anychat", [document])
    if (
        isinstance(document, list)
        and document
        and all(isinstance(item, dict) and item.get("format") == FORMAT for item in document[:100])
    ):
        return Source("anychat", list(document))
    if chatgpt_format.looks_like_chatgpt(document):
        return Source("chatgpt", document if isinstance(document, list) else [document])
    if isinstance(document, list) and not document:
        return Source("chatgpt", [])
    raise ImportRefused(
        N_("“{name}” is JSON, but neither an AnyChat export nor ChatGPT's conversations.json."),
        code="import_unknown_format",
        name=name,
    )
