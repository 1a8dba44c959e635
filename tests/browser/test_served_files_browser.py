"""The running server's own front-end files and its network stack (no browser needed, but the
app process these tests share)."""

from __future__ import annotations

import gzip
import http.client
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.app_process import AppProcess
from web.static_files import STATIC_ROOT

BUNDLE = next((STATIC_ROOT / "static" / "js").glob("index.*.js"))


def test_bundles_arrive_compressed_and_cached_on_one_kept_alive_connection(
    app_server: AppProcess,
) -> None:
    address = urlsplit(app_server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=20)
    try:
        connection.request("GET", f"/static/js/{BUNDLE.name}", headers={"Accept-Encoding": "gzip"})
        first = connection.getresponse()
        body = first.read()
        assert first.status == 200
        assert first.getheader("content-encoding") == "gzip"
        assert gzip.decompress(body) == BUNDLE.read_bytes()
        assert first.getheader("cache-control") == "public, immutable, max-age=31536000"
        assert first.getheader("x-content-type-options") == "nosniff"  # security headers too

        etag = first.getheader("etag") or ""
        connection.request("GET", f"/static/js/{BUNDLE.name}", headers={"If-None-Match": etag})
        again = connection.getresponse()
        assert again.read() == b""
        assert again.status == 304
    finally:
        connection.close()


def test_the_server_runs_on_uvloop_and_httptools(app_server: AppProcess) -> None:
    """uvicorn picks them when installed. On plain asyncio the server's sockets lacked
    TCP_NODELAY (Streamlit binds the socket itself), so each response or websocket message
    right after another waited for the browser's delayed ACK, up to 40 ms."""
    libraries = Path(f"/proc/{app_server.pid}/maps").read_text()
    assert "/uvloop/loop." in libraries
    assert "/httptools/parser/" in libraries
