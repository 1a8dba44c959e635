"""The sign-in and sign-out pages: plain HTTP routes beside the Streamlit app.

A session cookie can only be set by an HTTP response, never from a Streamlit script, so signing
in happens here: the form posts to /signin, which checks the password, stores a session (its
token only hashed) and answers with an HttpOnly cookie. The Streamlit app then reads the cookie.

Nothing a request sends is trusted: a CSRF cookie is echoed only when it has the exact shape
of one minted here, everything written into a page is escaped, secrets are compared as bytes
in constant time, and signing out is a POST carrying a code bound to the session.
"""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from typing import cast
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from chatcore.errors import AccountError
from chatcore.i18n import Explainable, Translator, for_accept_language
from chatcore.team.tokens import same_secret
from web.client import client_address
from web.context import SESSION_COOKIE, accounts, base_path, settings
from web.guard import same_origin

CSRF_COOKIE = "anychat_csrf"
CSRF_TOKEN_BYTES = 24
# What secrets.token_urlsafe(CSRF_TOKEN_BYTES) always gives: 32 characters of the URL-safe
# base64 alphabet. A cookie of any other shape was not made here and is replaced, not echoed.
CSRF_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
# Every form here has a handful of text fields and no file.
MAX_FORM_FIELDS = 20

# Fonts every reader has: the system's own, then the usual Chinese ones (a Latin system font
# has no Chinese glyphs, and the browser takes each missing glyph from the next font listed).
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · AnyChat</title>
<style>
 body {{ font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB",
        "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif;
        background: #f6f6f9; margin: 0; }}
 main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem;
        border-radius: .75rem; box-shadow: 0 1px 4px rgba(0,0,0,.08); }}
 h1 {{ font-size: 1.4rem; margin: 0 0 1.2rem; }}
 label {{ display: block; margin: .8rem 0 .3rem; font-weight: 600; }}
 input {{ width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem;
         border: 1px solid #ccc; border-radius: .4rem; }}
 button {{ margin-top: 1.3rem; width: 100%; padding: .6rem; font-size: 1rem; border: 0;
          border-radius: .4rem; background: #1c64f2; color: #fff; cursor: pointer; }}
 .error {{ background: #fdecea; color: #8a1c12; padding: .6rem; border-radius: .4rem; }}
 p.note {{ color: #555; font-size: .9rem; }}
</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>"""


def reader(request: Request) -> Translator:
    """The language these pages speak to `request`: the browser's (Accept-Language), else the
    server's default (ANYCHAT_LANGUAGE). Nobody is signed in here, so no account chooses."""
    return for_accept_language(
        ",".join(request.headers.getlist("accept-language")), settings().language
    )


def _say(t: Translator, error: str | Explainable | Exception) -> str:
    """An error of ours in the reader's language: explained from its template and values,
    or (a sentence handed over as text) looked up in the catalogue as it is."""
    if hasattr(error, "template") and hasattr(error, "params"):
        return t.explain(cast(Explainable, error))
    return t.gettext(str(error))


def _page(t: Translator, title: str, body: str, status: int = 200) -> HTMLResponse:
    page = PAGE.format(lang=t.tag, title=html.escape(title), body=body)
    response = HTMLResponse(page, status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-language"] = t.tag
    response.headers["vary"] = "Accept-Language"
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a sign-in link must not bounce the user to another host."""
    root = base_path() + "/"
    if not target:
        return root
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return root
    return target


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _alert(error: str | None) -> str:
    return f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""


def _field(form: FormData, name: str) -> str:
    """A text field's value; "" when it is missing or (in a multipart post) a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _csrf_token(request: Request) -> str | None:
    """The CSRF cookie, if it has the shape of one minted here."""
    token = request.cookies.get(CSRF_COOKIE, "")
    return token if CSRF_TOKEN_SHAPE.fullmatch(token) else None


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _form(request: Request, *, setup: bool, error: str | None, username: str = "") -> Response:
    """The sign-in form (or, before any account exists, the first administrator's), with
    `error` (already in the reader's language) above it."""
    t = reader(request)
    # Reused while it lasts: a second page load (another tab, a favicon's redirect) must not
    # invalidate a form already on screen.
    token = _csrf_token(request) or secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    next_path = _safe_next(request.query_params.get("next"))
    # Every sentence is looked up outside the f-strings, where Babel's extraction finds it.
    repeat_label = html.escape(t.gettext("Repeat password"))
    code_label = html.escape(t.gettext("Setup code"))
    username_label = html.escape(t.gettext("Username"))
    password_label = html.escape(t.gettext("Password"))
    setup_fields = (
        f'<label for="confirm">{repeat_label}</label>'
        '<input id="confirm" name="confirm" type="password" autocomplete="new-password" required>'
        f'<label for="setup_code">{code_label}</label>'
        '<input id="setup_code" name="setup_code" autocomplete="off" spellcheck="false" required>'
        if setup
        else ""
    )
    if setup:
        intro = _note(
            t.gettext(
                "No account exists yet. Create the administrator account; it can then add "
                "teammates. The setup code is in the server's log."
            )
        )
    elif request.query_params.get("ended") == "1" and not error:
        # Where the guard sends a tab whose session ended while it was open (web/guard.py).
        intro = _note(t.gettext("Your session has ended. Sign in again to continue."))
    else:
        intro = ""
    submit_label = t.gettext("Create administrator") if setup else t.gettext("Sign in")
    body = f"""{intro}{_alert(error)}
<form method="post" action="{_attr(base_path())}/signin">
<input type="hidden" name="csrf" value="{_attr(token)}">
<input type="hidden" name="next" value="{_attr(next_path)}">
<label for="username">{username_label}</label>
<input id="username" name="username" autocomplete="username" required autofocus
       value="{_attr(username)}">
<label for="password">{password_label}</label>
<input id="password" name="password" type="password"
       autocomplete="{"new-password" if setup else "current-password"}" required>
{setup_fields}
<button type="submit">{html.escape(submit_label)}</button>
</form>"""
    title = t.gettext("Create the administrator") if setup else t.gettext("Sign in to AnyChat")
    response = _page(t, title, body, status=401 if error else 200)
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", path=base_path() + "/signin"
    )
    return response


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def _signed_in(request: Request, token: str, next_path: str) -> Response:
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings().session_days * 86400),
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path=base_path() + "/",
    )
    response.delete_cookie(CSRF_COOKIE, path=base_path() + "/signin")
    return response


def _not_local(request: Request) -> Response | None:
    """Passwords exist only in local mode: elsewhere these pages must not create an admin."""
    if settings().auth_mode == "local":
        return None
    t = reader(request)
    elsewhere = t.gettext("Sign-in is handled elsewhere on this server.")
    body = f"<p>{html.escape(elsewhere)}</p>"
    return _page(t, t.gettext("Not available"), body, 404)


async def show_form(request: Request) -> Response:
    if refused := _not_local(request):
        return refused
    service = accounts()
    if await run_in_threadpool(service.user_for_token, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    setup = await run_in_threadpool(service.needs_first_admin)
    return _form(request, setup=setup, error=None)


async def submit(request: Request) -> Response:
    if refused := _not_local(request):
        return refused
    t = reader(request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    username = _field(form, "username").strip()
    password = _field(form, "password")
    service = accounts()
    setup = await run_in_threadpool(service.needs_first_admin)
    expected = _csrf_token(request)
    if expected is None or not same_secret(_field(form, "csrf"), expected):
        expired = t.gettext("The form expired; please try again.")
        return _form(request, setup=setup, error=expired)
    if setup:
        if password != _field(form, "confirm"):
            differ = t.gettext("The passwords differ.")
            return _form(request, setup=True, error=differ, username=username)
        try:
            await run_in_threadpool(
                service.create_first_admin, username, password, _field(form, "setup_code")
            )
        except AccountError as exc:
            return _form(request, setup=True, error=_say(t, exc), username=username)
    address = client_address(request.scope, settings().trusted_proxies)
    result = await run_in_threadpool(service.sign_in, username, password, address=address)
    # Awaited, not slept in a worker thread: a held-back answer must not occupy one of the
    # threads that also serve the guard and every other route.
    await asyncio.sleep(result.delay)
    if result.token is None:
        why = _say(t, result.error) if result.error else None
        return _form(request, setup=False, error=why, username=username)
    return _signed_in(request, result.token, _field(form, "next"))


def _to_sign_in() -> Response:
    return RedirectResponse(base_path() + "/signin", status_code=303)


def _sign_out_page(t: Translator, code: str, error: str | None = None) -> Response:
    question = _note(t.gettext("Sign out of AnyChat in this browser?"))
    title = t.gettext("Sign out")
    body = f"""{_alert(error)}{question}
<form method="post" action="{_attr(base_path())}/signout">
<input type="hidden" name="code" value="{_attr(code)}">
<button type="submit">{html.escape(title)}</button>
</form>"""
    return _page(t, title, body, status=403 if error else 200)


async def confirm_sign_out(request: Request) -> Response:
    """GET never signs out: any site could link or embed /signout. It offers the button that
    posts this session's sign-out code instead."""
    token = request.cookies.get(SESSION_COOKIE)
    service = accounts()
    if not token or await run_in_threadpool(service.user_for_token, token) is None:
        return _to_sign_in()
    return _sign_out_page(reader(request), service.sign_out_code(token))


async def sign_out(request: Request) -> Response:
    """End the session, if the form carries its sign-out code (which only a page of this
    site can show) and the browser, when it names the form's origin, names this site."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        service = accounts()
        genuine = same_origin(request.scope, settings()) and service.check_sign_out_code(
            token, _field(form, "code")
        )
        if not genuine:
            t = reader(request)
            error = t.gettext(
                "That sign-out request did not come from AnyChat; sign out here instead."
            )
            return _sign_out_page(t, service.sign_out_code(token), error)
        await run_in_threadpool(service.sign_out, token)
    response = _to_sign_in()
    response.delete_cookie(SESSION_COOKIE, path=base_path() + "/")
    return response


def routes() -> list[Route]:
    """Mounted under server.baseUrlPath, like Streamlit's own routes (user routes are not)."""
    prefix = base_path()
    return [
        Route(f"{prefix}/signin", show_form, methods=["GET"]),
        Route(f"{prefix}/signin", submit, methods=["POST"]),
        Route(f"{prefix}/signout", confirm_sign_out, methods=["GET"]),
        Route(f"{prefix}/signout", sign_out, methods=["POST"]),
    ]
