"""web.static_files.StaticFiles around a stand-in app: which requests it answers, and how."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from tests.support.asgi import run_coroutine
from web import static_files
from web.static_files import STATIC_ROOT, StaticFiles

PASSED_ON = b"passed on"
BUNDLE = next((STATIC_ROOT / "static" / "js").glob("index.*.js"))
BUNDLE_URL = f"/static/js/{BUNDLE.name}"
FONT = next((STATIC_ROOT / "static" / "media").glob("*.woff2"))


async def streamlit_stand_in(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": PASSED_ON})


class Answer:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        assert [message["type"] for message in messages] == [
            "http.response.start",
            "http.response.body",
        ]
        self.status: int = messages[0]["status"]
        self.headers = {name.decode(): value.decode() for name, value in messages[0]["headers"]}
        self.body: bytes = messages[1]["body"]


def request(middleware: StaticFiles, path: str, *, method: str = "GET", **headers: str) -> Answer:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [
            (name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()
        ],
    }
    run_coroutine(middleware(scope, receive, send))
    return Answer(sent)


@pytest.fixture
def middleware(monkeypatch: pytest.MonkeyPatch) -> StaticFiles:
    monkeypatch.setattr(static_files, "base_path", lambda: "")
    return StaticFiles(streamlit_stand_in)


def test_a_bundle_comes_from_memory_as_the_package_has_it_with_year_long_caching(
    middleware: StaticFiles,
) -> None:
    answer = request(middleware, BUNDLE_URL)
    assert answer.status == 200
    assert answer.body == BUNDLE.read_bytes()
    assert answer.headers["content-type"] == "application/javascript"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["cache-control"] == "public, immutable, max-age=31536000"
    assert answer.headers["vary"] == "accept-encoding"
    assert "content-encoding" not in answer.headers


def test_gzip_is_sent_when_asked_for_and_unpacks_to_the_same_bytes(
    middleware: StaticFiles,
) -> None:
    answer = request(middleware, BUNDLE_URL, accept_encoding="gzip, deflate, br")
    assert answer.headers["content-encoding"] == "gzip"
    assert len(answer.body) < BUNDLE.stat().st_size / 2
    assert gzip.decompress(answer.body) == BUNDLE.read_bytes()
    assert answer.headers["content-length"] == str(len(answer.body))
    # The same bytes again: compressed once, kept.
    assert request(middleware, BUNDLE_URL, accept_encoding="gzip").body is answer.body


@pytest.mark.parametrize(
    ("accept_encoding", "compressed"),
    [
        ("gzip;q=0, br", False),
        ("identity", False),
        ("*", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0.0", False),
        ("*;q=0, gzip", True),
    ],
)
def test_the_accept_encoding_header_is_read_with_its_weights(
    middleware: StaticFiles, accept_encoding: str, compressed: bool
) -> None:
    answer = request(middleware, BUNDLE_URL, accept_encoding=accept_encoding)
    assert ("content-encoding" in answer.headers) is compressed


def test_a_font_already_compressed_is_sent_as_it_is(middleware: StaticFiles) -> None:
    answer = request(middleware, f"/static/media/{FONT.name}", accept_encoding="gzip")
    assert "content-encoding" not in answer.headers
    assert answer.body == FONT.read_bytes()
    assert answer.headers["content-type"] == "font/woff2"


def test_a_copy_the_browser_holds_is_confirmed_without_a_body(middleware: StaticFiles) -> None:
    etag = request(middleware, BUNDLE_URL).headers["etag"]
    answer = request(middleware, BUNDLE_URL, if_none_match=f'W/"other", {etag}')
    assert answer.status == 304
    assert answer.body == b""
    assert answer.headers["etag"] == etag
    assert request(middleware, BUNDLE_URL, if_none_match='"other"').status == 200


def test_head_gets_the_headers_and_no_body(middleware: StaticFiles) -> None:
    answer = request(middleware, BUNDLE_URL, method="HEAD")
    assert answer.status == 200
    assert answer.body == b""
    assert answer.headers["content-length"] == str(BUNDLE.stat().st_size)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/static/js/not-in-the-package.js"),
        ("GET", "/static/../index.html"),
        ("GET", "/static/js/../../index.html"),
        ("GET", "/static/js"),
        ("GET", "/"),
        ("GET", "/_stcore/health"),
        ("POST", BUNDLE_URL),
    ],
)
def test_anything_else_is_left_to_streamlit(
    middleware: StaticFiles, method: str, path: str
) -> None:
    assert request(middleware, path, method=method).body == PASSED_ON


def test_under_a_base_path_only_its_own_urls_are_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(static_files, "base_path", lambda: "/anychat")
    middleware = StaticFiles(streamlit_stand_in)
    assert request(middleware, "/anychat" + BUNDLE_URL).body == BUNDLE.read_bytes()
    assert request(middleware, BUNDLE_URL).body == PASSED_ON
    assert request(middleware, "/anychatter" + BUNDLE_URL).body == PASSED_ON


def test_every_served_name_is_a_file_inside_the_package() -> None:
    folder = (STATIC_ROOT / "static").resolve()
    for path in static_files._package_files().values():
        assert Path(path).resolve().is_relative_to(folder)
