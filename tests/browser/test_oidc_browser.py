"""AnyChat with single sign-on (ANYCHAT_AUTH=oidc) in a real browser, end to end.

The app runs Streamlit's own `st.login` against tests/support/oidc_provider.py, a stand-in identity
provider in this pytest process: the browser really goes app -> provider -> /oauth2callback ->
app, Authlib really fetches the discovery document and keys and checks the signed ID token, and
AnyChat makes the account from its claims. Streamlit reads the `[auth]` section from a secrets
file written here and named by STREAMLIT_SECRETS_FILES; its redirect_uri uses Streamlit's
`{port}` placeholder, so the app's port need not be known before it starts.

Mei signs in before any test (a module fixture), so hers is the install's first account, which
AnyChat makes an administrator; everyone else gets fresh names and is a member. Accounts are
found by the ID token's (iss, sub), so each person here has a subject of their own.
"""

from __future__ import annotations

import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from storage import Database, UserRepository
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    history_entries,
    main_area,
    send,
    sidebar,
    unique,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.oidc_provider import OIDCProvider

pytestmark = pytest.mark.browser

MEI: dict[str, Any] = {
    "sub": "u-1",
    "preferred_username": "mei",
    "email": "mei@example.test",
    "email_verified": True,
    "name": "Mei Lin",
}
USER_COOKIE = "_streamlit_user"  # Streamlit's signed identity cookie
PROMPT = "Sign in with your organisation's account to continue."
CONVERSATION_URL = re.compile(r"\?c=[0-9a-f]{32}$")


class AppServer(Protocol):
    """What conftest's `app_server` fixture gives (a tests.support.app_process.AppProcess)."""

    url: str
    log_path: Path

    def log_text(self) -> str: ...


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OIDCProvider]:
    with OIDCProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def app_env_overrides(
    oidc_provider: OIDCProvider, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Sign-on mode, with Streamlit's `[auth]` pointed at the stand-in provider."""
    secrets_file = tmp_path_factory.mktemp("oidc-secrets") / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        f'client_id = "{oidc_provider.client_id}"\n'
        f'client_secret = "{oidc_provider.client_secret}"\n'
        f'server_metadata_url = "{oidc_provider.metadata_url}"\n'
    )
    return {"ANYCHAT_AUTH": "oidc", "STREAMLIT_SECRETS_FILES": str(secrets_file)}


@pytest.fixture(scope="module")
def accounts(app_server: AppServer) -> Iterator[UserRepository]:
    """The app's account tables, opened from the test process."""
    database = Database(f"sqlite:///{app_server.log_path.parent / 'anychat.db'}")
    yield UserRepository(database)
    database.dispose()


@pytest.fixture(scope="module", autouse=True)
def mei_page(browser: Browser, app_url: str, oidc_provider: OIDCProvider) -> Iterator[Page]:
    """Mei, signed in first of all (so the first account, an administrator), in her own
    browser context for the whole module."""
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, app_url, oidc_provider, MEI)
    yield page
    context.close()


# -- helpers --------------------------------------------------------------------------------


def new_user(prefix: str) -> dict[str, Any]:
    """Claims for a fresh person with a username of their own."""
    name = unique(prefix)
    return {
        "sub": unique("sub"),
        "preferred_username": name,
        "email": f"{name}@example.test",
        "email_verified": True,
        "name": f"{prefix.title()} {name[-6:]}",
    }


def chat_box(page: Page) -> Locator:
    return page.get_by_test_id("stChatInputTextArea")


def sign_in_button(page: Page) -> Locator:
    return main_area(page).get_by_role("button", name="Sign in")


def signed_in_as(page: Page, name: str) -> Locator:
    return sidebar(page).get_by_text(f"Signed in as {name}", exact=True)


def nav_link(page: Page, title: str) -> Locator:
    """A page's link in the top navigation."""
    pages = page.get_by_role("navigation", name="App pages")
    return pages.get_by_role("link", name=title, exact=True)


def expect_signed_out(page: Page) -> None:
    """The sign-in prompt, and nothing of the app behind it."""
    expect(sign_in_button(page)).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.get_by_text(PROMPT)).to_be_visible()
    expect(page.get_by_test_id("stChatInput")).to_have_count(0)
    expect(sidebar(page).get_by_text("Signed in as")).to_have_count(0)


def sign_in(page: Page, app_url: str, provider: OIDCProvider, user: dict[str, Any]) -> None:
    """Open the app signed out, click "Sign in", come back from the provider as `user`."""
    provider.next_user = user
    issued = len(provider.sign_ins)
    page.goto(app_url)
    expect_signed_out(page)
    sign_in_button(page).click()
    expect(chat_box(page)).to_be_editable(timeout=LOAD_TIMEOUT)
    expect(signed_in_as(page, user["name"])).to_be_visible()
    assert [claims["sub"] for claims in provider.sign_ins[issued:]] == [user["sub"]]


def chat(page: Page, text: str) -> None:
    """Send `text`, see the fake model's echo, and wait for the conversation to be saved."""
    send(page, text)
    reply = assistant_messages(page).last.get_by_test_id("stMarkdownContainer").first
    expect(reply).to_have_text(f"Echo: {text}", timeout=REPLY_TIMEOUT)
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    expect(main_area(page).get_by_role("button", name="Stop", exact=True)).to_have_count(0)


def reopen(page: Page, app_url: str) -> None:
    """A fresh session of the same browser (its cookies kept)."""
    page.goto(app_url)
    expect(chat_box(page)).to_be_editable(timeout=LOAD_TIMEOUT)


def assert_no_app_errors(page: Page, log_text: str) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert "Traceback" not in log_text, log_text


# -- scenarios ------------------------------------------------------------------------------


def test_sign_in_goes_through_the_provider_and_back(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    oidc_provider: OIDCProvider,
    server_log: Callable[[], str],
) -> None:
    """Anonymous: a Sign in button and no chat. Clicking it signs in through the provider (a
    signed ID token bound to the request's nonce), and the chat works."""
    user = new_user("ravi")
    context = new_browser_context()
    page = context.new_page()

    sign_in(page, app_url, oidc_provider, user)

    asked = oidc_provider.authorize_requests[-1]
    assert asked["redirect_uri"] == f"{app_url}/oauth2callback", asked
    assert set(asked["scope"].split()) == {"openid", "email", "profile"}, asked
    assert asked["code_challenge_method"] == "S256", asked  # PKCE, checked at /token
    claims = oidc_provider.sign_ins[-1]
    assert claims["aud"] == oidc_provider.client_id, claims
    assert claims["iss"] == oidc_provider.issuer, claims
    assert claims.get("nonce"), claims  # Authlib asked for one and checked it came back
    assert page.url.rstrip("/") == app_url, page.url  # back on the app, not the callback
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert cookies[USER_COOKIE]["httpOnly"] is True, cookies
    tag = unique("hello")
    chat(page, tag)
    reopen(page, app_url)  # still signed in in a new session
    expect(signed_in_as(page, user["name"])).to_be_visible()
    expect(history_entries(page).filter(has_text=tag)).to_have_count(1)
    assert_no_app_errors(page, server_log())


def test_accounts_come_from_the_claims_first_one_administers(
    mei_page: Page,
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    oidc_provider: OIDCProvider,
    accounts: UserRepository,
    server_log: Callable[[], str],
) -> None:
    """Mei (first) is an administrator made from her claims; a later teammate is a member
    (here without preferred_username, so named by email); each sees only their own history."""
    mei = accounts.find_user("mei")
    assert mei is not None
    assert (mei.auth_source, mei.email, mei.display_name) == ("oidc", MEI["email"], MEI["name"])
    assert mei.is_admin, mei

    member_claims = new_user("jo")
    del member_claims["preferred_username"]
    page = new_browser_context().new_page()
    sign_in(page, app_url, oidc_provider, member_claims)
    member = accounts.find_user(member_claims["email"])
    assert member is not None
    assert (member.auth_source, member.email, member.role) == (
        "oidc",
        member_claims["email"],
        "member",
    ), member
    assert member.display_name == member_claims["name"], member

    tag_mei, tag_member = unique("mei-only"), unique("member-only")
    reopen(mei_page, app_url)
    chat(mei_page, tag_mei)
    chat(page, tag_member)

    reopen(mei_page, app_url)
    expect(nav_link(mei_page, "Chat")).to_be_visible()
    expect(nav_link(mei_page, "Admin")).to_be_visible()
    expect(history_entries(mei_page).filter(has_text=tag_mei)).to_have_count(1)
    expect(mei_page.get_by_text(tag_member)).to_have_count(0)

    reopen(page, app_url)
    expect(nav_link(page, "Chat")).to_be_visible()
    expect(nav_link(page, "Admin")).to_have_count(0)
    entries = history_entries(page)
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text(tag_member)
    expect(page.get_by_text(tag_mei)).to_have_count(0)

    nav_link(mei_page, "Admin").click()
    admin_area = main_area(mei_page)
    expect(admin_area.get_by_role("heading", name="Admin", exact=True)).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    assert_no_app_errors(mei_page, server_log())


def test_sign_out_ends_the_session(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    oidc_provider: OIDCProvider,
    accounts: UserRepository,
    server_log: Callable[[], str],
) -> None:
    """Sign out clears Streamlit's identity cookie, visits the provider's end-session endpoint
    and lands on the sign-in prompt; signing in again, under a new preferred_username, finds
    the same account."""
    user = new_user("sam")
    context = new_browser_context()
    page = context.new_page()
    sign_in(page, app_url, oidc_provider, user)
    account = accounts.find_user(user["preferred_username"])
    assert account is not None
    sign_outs = oidc_provider.sign_outs

    sidebar(page).get_by_role("button", name="Sign out").click()

    expect_signed_out(page)
    assert oidc_provider.sign_outs == sign_outs + 1
    assert USER_COOKIE not in {cookie["name"] for cookie in context.cookies()}
    page.reload()
    expect_signed_out(page)

    renamed = {**user, "preferred_username": unique("sam-renamed")}
    sign_in(page, app_url, oidc_provider, renamed)
    again = accounts.find_user(user["preferred_username"])
    assert again is not None and again.id == account.id, (account, again)
    assert accounts.find_user(renamed["preferred_username"]) is None
    assert_no_app_errors(page, server_log())


def test_signing_out_ends_the_other_open_tabs(
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    oidc_provider: OIDCProvider,
    fresh_fake: FakeOpenAI,
) -> None:
    """A second tab of the same browser, opened before the sign-out, cannot send anything
    afterwards: its next message is refused and it shows the sign-in prompt."""
    user = new_user("tabs")
    context = new_browser_context()
    page = context.new_page()
    sign_in(page, app_url, oidc_provider, user)
    other = context.new_page()
    other.goto(app_url)
    expect(chat_box(other)).to_be_editable(timeout=LOAD_TIMEOUT)

    sidebar(page).get_by_role("button", name="Sign out").click()
    expect_signed_out(page)
    send(other, "after sign-out [[reply:never asked]]")

    expect_signed_out(other)
    assert fresh_fake.chat_requests() == []


def test_a_namesake_of_the_administrator_gets_an_account_of_their_own(
    mei_page: Page,
    new_browser_context: Callable[..., BrowserContext],
    app_url: str,
    oidc_provider: OIDCProvider,
    accounts: UserRepository,
    server_log: Callable[[], str],
) -> None:
    """Another person whose provider calls them "mei" (and claims Mei's e-mail, unverified)
    gets a member account "mei-2": none of Mei's rights, history or address."""
    tag = unique("mei-private")
    reopen(mei_page, app_url)
    chat(mei_page, tag)
    namesake = {
        **MEI,
        "sub": unique("sub"),
        "email_verified": False,
        "name": "Not Mei",
    }
    page = new_browser_context().new_page()
    sign_in(page, app_url, oidc_provider, namesake)
    account = accounts.find_user("mei-2")
    assert account is not None
    assert (account.auth_source, account.role, account.email) == ("oidc", "member", None)
    mei = accounts.find_user("mei")
    assert mei is not None and mei.is_admin and mei.email == MEI["email"], mei
    expect(nav_link(page, "Admin")).to_have_count(0)
    expect(history_entries(page)).to_have_count(0)
    expect(page.get_by_text(tag)).to_have_count(0)
    assert_no_app_errors(page, server_log())


def test_the_stand_in_refuses_bad_token_requests(oidc_provider: OIDCProvider) -> None:
    """Wrong client credentials and unknown codes are refused, as a real provider would."""
    for secret, code, status in (("wrong", "any", 401), (oidc_provider.client_secret, "nope", 400)):
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://x/",
                "client_id": oidc_provider.client_id,
                "client_secret": secret,
            }
        ).encode()
        request = urllib.request.Request(f"{oidc_provider.issuer}/token", data=body)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == status
        refused.value.close()
