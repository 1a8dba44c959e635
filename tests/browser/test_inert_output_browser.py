"""Model output is inert in a real browser: an image in a reply fetches nothing from a host that
is not allowed (while streaming, once stored, in raw HTML), one from an allowed host or our own
origin is shown, a hostile tool name shows as text, and the Content-Security-Policy is on every
page and stops an image the Markdown let through.

A counting image server stands in for the outside host. Chromium resolves ALLOWED_HOST to it
(at the scheme's own port, as ANYCHAT_IMAGE_HOSTS requires), so one server plays both the host
a reply may show images from and, by its plain address, one it may not.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    open_app,
    send,
)
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ALLOWED_HOST = "img.allowed.test"
# A 1x1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63fcff1f00030301fff5d4c8e80000000049454e44ae426082"
)
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
    (event) => window.__violations.push(event.violatedDirective + " " + event.blockedURI));
"""


class ImageServer:
    """Serves a tiny PNG at every path and remembers each path asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        served = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "image/png")
                self.send_header("access-control-allow-origin", "*")
                self.send_header("content-length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """An address on this server that no setting allows: its plain IP and port."""
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(autouse=True)
def no_images_yet(image_server: ImageServer) -> None:
    """Each test counts only the requests it caused."""
    image_server.paths.clear()


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    return {"ANYCHAT_IMAGE_HOSTS": ALLOWED_HOST}


@pytest.fixture(scope="module")
def mapped_browser(
    launch_browser: Callable[..., Browser], image_server: ImageServer
) -> Iterator[Browser]:
    """Chromium that reaches ALLOWED_HOST, port 80, at the image server."""
    rule = f"--host-resolver-rules=MAP {ALLOWED_HOST} 127.0.0.1:{image_server.port}"
    browser = launch_browser(args=["--disable-gpu", "--disable-quic", rule])
    yield browser
    browser.close()


@pytest.fixture
def page(mapped_browser: Browser) -> Iterator[Page]:
    """A page of its own (a new Streamlit session) that records CSP violations."""
    context = mapped_browser.new_context()
    context.add_init_script(VIOLATIONS)
    yield context.new_page()
    context.close()


def reply_body(page: Page) -> Locator:
    return assistant_messages(page).last.get_by_test_id("stMarkdownContainer").first


def headers_of(url: str) -> Message:
    """The response headers of GET `url`, whatever its status."""
    try:
        with urllib.request.urlopen(url) as response:
            return response.headers
    except urllib.error.HTTPError as error:  # /signin answers 404 when sign-in is off
        return error.headers


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__violations")


def ask(page: Page, app_url: str, fake: FakeOpenAI, reply: str, **behavior: Any) -> Locator:
    """Open the app, have the fake upstream answer `reply`, and wait for it to be complete."""
    fake.enqueue(Behavior(text=reply, **behavior))
    open_app(page, app_url)
    send(page, f"inert-{uuid.uuid4().hex[:8]}")
    body = reply_body(page)
    expect(body).to_contain_text("The end.", timeout=REPLY_TIMEOUT)
    expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=REPLY_TIMEOUT)
    return body


def test_an_image_from_elsewhere_is_a_link_and_is_never_fetched(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, image_server: ImageServer
) -> None:
    leak = image_server.url("/leak.png?d=secret")
    raw = f'<img src="{image_server.url("/raw.png?d=secret")}">'
    reply = f"Your chart: ![chart]({leak}) and in HTML {raw} as well. The end."
    # Streamed a few words at a time, so redraws show the image half written, then whole.
    body = ask(page, app_url, fresh_fake, reply, chunk_delay=0.05)
    link = body.get_by_role("link")
    expect(link).to_have_attribute("href", leak)
    expect(link).to_contain_text("chart")
    expect(body).to_contain_text(raw)  # raw HTML is shown as text, never as an element
    expect(body.locator("img")).to_have_count(0)
    body.screenshot(path=str(ARTIFACTS / "browser-inert-image-link.png"))
    page.reload()  # drawn again from storage
    expect(reply_body(page)).to_contain_text("The end.", timeout=LOAD_TIMEOUT)
    expect(reply_body(page).get_by_role("link")).to_have_attribute("href", leak)
    page.wait_for_timeout(500)
    assert image_server.paths == []
    assert violations(page) == []


def test_an_image_from_an_allowed_host_or_our_origin_is_shown(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, image_server: ImageServer
) -> None:
    reply = f"Ours: ![icon](/favicon.png) and theirs: ![ok](http://{ALLOWED_HOST}/ok.png). The end."
    body = ask(page, app_url, fresh_fake, reply)
    images = body.locator("img")
    expect(images).to_have_count(2)
    for image in images.all():
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("image => image.naturalWidth") > 0
    assert image_server.paths == ["/ok.png"]
    assert violations(page) == []


def test_the_policy_stops_an_image_the_markdown_let_through(
    page: Page, app_url: str, image_server: ImageServer
) -> None:
    """The second line: whatever drew an image, the browser does not fetch a host img-src
    does not name."""
    open_app(page, app_url)
    page.evaluate(
        "url => { const image = new Image(); image.src = url; document.body.append(image); }",
        image_server.url("/injected.png"),
    )
    page.wait_for_function("window.__violations.length > 0")
    assert violations(page) == [f"img-src {image_server.url('/injected.png')}"]
    assert image_server.paths == []


def test_a_hostile_tool_name_and_call_id_show_as_text(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, image_server: ImageServer
) -> None:
    name = f"x`**![]({image_server.url('/name.png')})**"
    call_id = f"call`**![]({image_server.url('/id.png')})**"
    fresh_fake.enqueue(
        Behavior(tool_calls=[{"id": call_id, "name": name, "arguments": {"city": "Paris"}}]),
        Behavior(text="The end."),
    )
    open_app(page, app_url)
    send(page, f"tool-{uuid.uuid4().hex[:8]}")
    reply = assistant_messages(page).last
    calls = reply.get_by_test_id("stMarkdownContainer").filter(has_text="Calls")
    expect(calls.locator("code")).to_have_text(name, timeout=REPLY_TIMEOUT)
    # Its label shows the name as written (the field's aria-label is the escaped Markdown).
    form = page.get_by_test_id("stTextArea").filter(has_text=f"Result of {name}")
    form.locator("textarea").fill("sunny")
    page.get_by_role("button", name="Send result").click()
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="returned")
    expect(caption.locator("code")).to_have_text([name, call_id], timeout=REPLY_TIMEOUT)
    expect(reply_body(page)).to_contain_text("The end.", timeout=REPLY_TIMEOUT)
    expect(page.locator("[data-testid=stChatMessage] img")).to_have_count(0)
    assert image_server.paths == []
    assert violations(page) == []


def test_every_page_carries_the_policy_and_the_usage_charts_draw(
    page: Page, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    for path in ("/", "/signin", "/usage"):
        headers = headers_of(app_url + path)
        policy = headers["content-security-policy"]
        assert f"img-src 'self' data: blob: https://{ALLOWED_HOST} http://{ALLOWED_HOST}" in policy
        assert "object-src 'none'" in policy and "base-uri 'self'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'self'" in headers_of(app_url + "/")["content-security-policy"]
    signin = headers_of(app_url + "/signin")
    assert signin["x-frame-options"] == "DENY"  # its own header, kept, and the policy agrees
    assert "frame-ancestors 'none'" in signin["content-security-policy"]
    static = headers_of(app_url + "/favicon.png")
    assert static["x-content-type-options"] == "nosniff"
    assert static["content-security-policy"] is None
    ask(page, app_url, fresh_fake, "Math $x^2$ and a table:\n\n| a |\n|---|\n| 1 |\n\nThe end.")
    assert violations(page) == []
    page.goto(f"{app_url}/usage")
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=LOAD_TIMEOUT)
    page.wait_for_timeout(1000)
    assert violations(page) == []


def test_a_code_block_is_text_coloured_copyable_and_loads_no_highlighter(
    page: Page, app_url: str, fresh_fake: FakeOpenAI, image_server: ImageServer
) -> None:
    """A reply's code block is drawn by our own element (ui/code_block.py): what the model wrote
    is shown as text, coloured, and copied exactly; Streamlit's 1.5 MB highlighter is not
    fetched, on the reload that draws the reply from storage either."""
    hostile = f'<img src="{image_server.url("/code.png")}" onerror="window.__ran = 1">'
    code = f'def greet(name):\n    return "{hostile}"  # ![]({image_server.url("/c.png")})'
    fresh_fake.enqueue(Behavior(text=f"Here:\n\n```python\n{code}\n```\n\nThe end."))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_app(page, app_url)
    send(page, f"code-{uuid.uuid4().hex[:8]}")
    expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=REPLY_TIMEOUT)
    scripts: list[str] = []
    page.on("request", lambda request: scripts.append(request.url))
    page.reload()
    reply = assistant_messages(page).last
    block = reply.locator("pre code")  # Playwright's selectors reach into the element's shadow root
    expect(block).to_have_text(code, timeout=LOAD_TIMEOUT)
    expect(block.locator(".t-k").first).to_have_text("def")
    expect(block.locator(".t-s").first).to_have_text('"<img src="')
    expect(block.locator(".t-c")).to_have_text(f"# ![]({image_server.url('/c.png')})")
    expect(reply).to_contain_text("The end.")
    expect(reply.locator("img")).to_have_count(0)
    reply.locator("pre").hover()
    reply.get_by_role("button", name="Copy code").click()
    expect(reply.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == code
    reply.screenshot(path=str(ARTIFACTS / "browser-code-block.png"))
    assert not [url for url in scripts if "SyntaxHighlighter" in url]
    assert page.evaluate("window.__ran") is None
    assert image_server.paths == []
    assert violations(page) == []
