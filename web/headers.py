"""Security headers on every response, and a Content-Security-Policy on every HTML page.

The policy is the browser's half of keeping model output inert. chatcore/markdown_safety.py
turns an image in a reply into a link unless its source is allowed; should some Markdown still
draw an image, `img-src` names only our origin, inline data and blobs, and the administrator's
ANYCHAT_IMAGE_HOSTS, so the browser refuses to fetch it, and with it whatever a prompt
injection put into its address. The rest restricts what Streamlit's front end does not need:
scripts come only from our origin (plus the one inline line of Streamlit's page, by its hash),
connections go only to our origin (its websocket included; and the browser's own blobs, which
the voice recorder reads back), no plugins, no `<base>`
elsewhere, forms post only here, and only our own pages may frame us. Styles may be inline:
the front end's CSS-in-JS writes them at run time.

`X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin` go on every response: no
file is run as a type it was not sent as, and no address (a `?c=` conversation, a `?share=`
link) is sent along to another site when a reader follows a link in a reply.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from pathlib import Path
from typing import Any

import streamlit

from chatcore.errors import ConfigError
from web.context import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STREAMLIT_PAGE = Path(streamlit.__file__).parent / "static" / "index.html"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_HOST = re.compile(r"[a-z0-9.-]+")  # anything else could not be a host, or could break the header


def inline_script_hashes(page: str) -> tuple[str, ...]:
    """CSP sources for each inline <script> of `page`: Streamlit's page sets one flag inline."""
    digests = (hashlib.sha256(script.encode()).digest() for script in _INLINE_SCRIPT.findall(page))
    return tuple(f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests)


@cache
def _streamlit_script_hashes() -> tuple[str, ...]:
    return inline_script_hashes(STREAMLIT_PAGE.read_text(encoding="utf-8"))


@cache
def content_security_policy(image_hosts: tuple[str, ...], frame_ancestors: str = "'self'") -> str:
    """The policy for an HTML page when replies may show images from `image_hosts`."""
    image_sources = " ".join(
        f"https://{host} http://{host}" for host in image_hosts if _HOST.fullmatch(host)
    )
    directives = {
        "default-src": "'self'",
        # WebAssembly (not eval): protobuf's 64-bit integers try a tiny module, then fall back.
        "script-src": " ".join(("'self'", "'wasm-unsafe-eval'", *_streamlit_script_hashes())),
        "style-src": "'self' 'unsafe-inline'",
        "img-src": f"'self' data: blob: {image_sources}".strip(),
        "font-src": "'self' data:",
        # blob: is the browser's own memory, not a place: the chat input's voice recorder
        # reads its recording back from a blob URL before uploading it.
        "connect-src": "'self' blob:",
        "media-src": "'self' data: blob:",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": frame_ancestors,
    }
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


def _image_hosts() -> tuple[str, ...]:
    try:
        return settings().image_hosts
    except ConfigError:  # the page says what is misconfigured; it still gets the strictest policy
        return ()


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` plus the security headers it lacks; one a response set itself is kept."""
    present = {name.lower(): value for name, value in headers}
    added = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if present.get(b"content-type", b"").lower().startswith(b"text/html"):
        # A page that refuses every frame (the sign-in pages) keeps refusing them: where both
        # are sent, browsers follow frame-ancestors and ignore X-Frame-Options.
        frames = present.get(b"x-frame-options", b"").strip().lower()
        ancestors = "'none'" if frames == b"deny" else "'self'"
        policy = content_security_policy(_image_hosts(), ancestors)
        added.append((b"content-security-policy", policy.encode("latin-1")))
    return [*headers, *((name, value) for name, value in added if name not in present)]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response passing through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = with_security_headers(list(message.get("headers", [])))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
