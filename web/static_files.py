"""Streamlit's front-end files (`/static/…`), served from memory and gzip-compressed once.

Streamlit serves them through Starlette's `StaticFiles`, which reads each file in 64 KB
pieces on worker threads: about 8 ms a file here, and a first visit loads some 110 of them,
on the same interpreter that is running that visitor's page. Streamlit also leaves them
uncompressed, because compressing on every request would cost more CPU than it saves. Both
costs go away when each file is read and compressed once per process and kept: the bundles
are content-hashed and never change while the process lives. Only files that are asked for
are kept, so memory stays within the package's own 25 MB (about a third of that compressed).

A name that is not one of the package's files passes through to Streamlit untouched, as does
anything under a base path this process does not serve (`server.baseUrlPath` is read per
request, as Streamlit reads it).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import streamlit

from web.client import header_values
from web.context import base_path

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATIC_ROOT = Path(streamlit.__file__).parent / "static"
PREFIX = "/static/"
CACHE_CONTROL = b"public, immutable, max-age=31536000"  # what Streamlit sends for them
# Already compressed formats (fonts, images) are sent as they are.
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt", ".html"})
SMALLEST_COMPRESSED = 1024  # below this, gzip's header costs more than it saves
_CONTENT_TYPES = {".js": "application/javascript", ".mjs": "application/javascript"}


@dataclass(frozen=True, slots=True)
class Asset:
    content_type: bytes
    etag: bytes
    raw: bytes
    compressed: bytes | None  # None when compressing would not make it smaller

    @classmethod
    def read(cls, path: Path) -> Asset:
        raw = path.read_bytes()
        compressed = None
        if path.suffix in COMPRESSIBLE and len(raw) >= SMALLEST_COMPRESSED:
            packed = gzip.compress(raw, compresslevel=6, mtime=0)
            compressed = packed if len(packed) < len(raw) else None
        content_type = _CONTENT_TYPES.get(path.suffix) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
        return cls(
            content_type=content_type.encode("latin-1"),
            etag=f'"{digest}"'.encode("latin-1"),
            raw=raw,
            compressed=compressed,
        )


@cache
def _package_files() -> dict[str, Path]:
    """Every file Streamlit ships under static/, by its URL path: the only names served here,
    so no request can name a path outside them."""
    folder = STATIC_ROOT / "static"
    return {
        PREFIX + path.relative_to(folder).as_posix(): path
        for path in folder.rglob("*")
        if path.is_file()
    }


def accepts_gzip(scope: Scope) -> bool:
    """Whether the request's Accept-Encoding allows gzip: named (or `*`) without `q=0`."""
    qualities: dict[str, float] = {}
    for header in header_values(scope, "accept-encoding"):
        for part in header.split(","):
            coding, *params = part.split(";")
            quality = 1.0
            for param in params:
                key, _, value = param.strip().partition("=")
                if key.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            qualities[coding.strip().lower()] = quality
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


class StaticFiles:
    """ASGI middleware: the package's static files from memory, everything else passed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._assets: dict[str, Asset] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self._package_path(scope)
        if path is None:
            await self.app(scope, receive, send)
            return
        asset = self._assets.get(path)
        if asset is None:
            # Read and compressed off the event loop: the largest bundle takes ~50 ms.
            asset = await asyncio.to_thread(Asset.read, _package_files()[path])
            self._assets[path] = asset
        await _respond(scope, send, asset)

    @staticmethod
    def _package_path(scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        base = base_path()
        if base:
            if not path.startswith(base + "/"):
                return None
            path = path[len(base) :]
        return path if path.startswith(PREFIX) and path in _package_files() else None


async def _respond(scope: Scope, send: Send, asset: Asset) -> None:
    headers = [
        (b"cache-control", CACHE_CONTROL),
        (b"etag", asset.etag),
        (b"vary", b"accept-encoding"),
    ]
    held = header_values(scope, "if-none-match")
    if any(asset.etag in value.encode("latin-1") for value in held):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = asset.raw
    if asset.compressed is not None and accepts_gzip(scope):
        body = asset.compressed
        headers.append((b"content-encoding", b"gzip"))
    headers += [
        (b"content-type", asset.content_type),
        (b"content-length", str(len(body)).encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
