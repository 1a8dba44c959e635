"""A code block's Copy button works where the Clipboard API does not: a plain-http intranet
address, which browsers do not count as a secure context (127.0.0.1 and localhost they do,
so the other browser tests exercise the Clipboard API path)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.browser_helpers import REPLY_TIMEOUT, assistant_messages, open_app, send
from tests.support.fake_openai import Behavior, FakeOpenAI

pytestmark = pytest.mark.browser

INTRANET_HOST = "anychat.intranet.test"
COPY_EVENTS = """
window.__copied = [];
document.addEventListener("copy", (event) => window.__copied.push(event.target.value ?? null));
"""


@pytest.fixture(scope="module")
def intranet_browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    """Chromium that reaches the app at INTRANET_HOST, as a teammate's browser would."""
    rule = f"--host-resolver-rules=MAP {INTRANET_HOST} 127.0.0.1"
    browser = launch_browser(args=["--disable-gpu", "--disable-quic", rule])
    yield browser
    browser.close()


def test_copy_works_on_a_plain_http_address(
    intranet_browser: Browser, app_url: str, fresh_fake: FakeOpenAI
) -> None:
    code = "print('复制 me')\n\tx = 1  # <b>"
    fresh_fake.enqueue(Behavior(text=f"```python\n{code}\n```\n\nThe end."))
    context = intranet_browser.new_context()
    context.add_init_script(COPY_EVENTS)
    page = context.new_page()
    open_app(page, f"http://{INTRANET_HOST}:{urlsplit(app_url).port}/")
    assert page.evaluate("window.isSecureContext") is False
    assert page.evaluate("navigator.clipboard") is None
    send(page, f"copy-{uuid.uuid4().hex[:8]}")
    expect(page.get_by_role("button", name="Regenerate")).to_be_visible(timeout=REPLY_TIMEOUT)
    reply = assistant_messages(page).last
    expect(reply.locator("pre code")).to_have_text(code)
    reply.locator("pre").hover()
    reply.get_by_role("button", name="Copy code").click()
    expect(reply.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("window.__copied") == [code]  # the fallback's copy, of this text
    # And it reached the clipboard: read back from a page the browser does trust.
    context.grant_permissions(["clipboard-read"], origin=app_url)
    reader = context.new_page()
    reader.goto(f"{app_url}/robots.txt")
    reader.bring_to_front()
    assert reader.evaluate("navigator.clipboard.readText()") == code
    context.close()
