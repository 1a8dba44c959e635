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
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from chatcore.errors import AccountError
from chatcore.team.accounts import same_secret
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

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · AnyChat</title>
<style>
 body {{ font-family: system-ui, sans-serif; background: #f6f6f9; margin: 0; }}
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


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
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


# Where the guard sends a tab whose session ended while it was open (web/guard.py).
ENDED_NOTE = '<p class="note">Your session has ended. Sign in again to continue.</p>'


def _form(request: Request, *, setup: bool, error: str | None, username: str = "") -> Response:
    # Reused while it lasts: a second page load (another tab, a favicon's redirect) must not
    # invalidate a form already on screen.
    token = _csrf_token(request) or secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    next_path = _safe_next(request.query_params.get("next"))
    setup_fields = (
        '<label for="confirm">Repeat password</label>'
        '<input id="confirm" name="confirm" type="password" autocomplete="new-password" required>'
        '<label for="setup_code">Setup code</label>'
        '<input id="setup_code" name="setup_code" autocomplete="off" spellcheck="false" required>'
        if setup
        else ""
    )
    intro = (
        '<p class="note">No account exists yet. Create the administrator account; it can '
        "then add teammates. The setup code is in the server's log.</p>"
        if setup
        else ENDED_NOTE
        if request.query_params.get("ended") == "1" and not error
        else ""
    )
    body = f"""{intro}{_alert(error)}
<form method="post" action="{_attr(base_path())}/signin">
<input type="hidden" name="csrf" value="{_attr(token)}">
<input type="hidden" name="next" value="{_attr(next_path)}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus
       value="{_attr(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password"
       autocomplete="{"new-password" if setup else "current-password"}" required>
{setup_fields}
<button type="submit">{"Create administrator" if setup else "Sign in"}</button>
</form>"""
    title = "Create the administrator" if setup else "Sign in to AnyChat"
    response = _page(title, body, status=401 if error else 200)
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


def _not_local() -> Response | None:
    """Passwords exist only in local mode: elsewhere these pages must not create an admin."""
    if settings().auth_mode == "local":
        return None
    return _page("Not available", "<p>Sign-in is handled elsewhere on this server.</p>", 404)


async def show_form(request: Request) -> Response:
    if refused := _not_local():
        return refused
    service = accounts()
    if await run_in_threadpool(service.user_for_token, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    setup = await run_in_threadpool(service.needs_first_admin)
    return _form(request, setup=setup, error=None)


async def submit(request: Request) -> Response:
    if refused := _not_local():
        return refused
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    username = _field(form, "username").strip()
    password = _field(form, "password")
    service = accounts()
    setup = await run_in_threadpool(service.needs_first_admin)
    expected = _csrf_token(request)
    if expected is None or not same_secret(_field(form, "csrf"), expected):
        return _form(request, setup=setup, error="The form expired; please try again.")
    if setup:
        if password != _field(form, "confirm"):
            return _form(request, setup=True, error="The passwords differ.", username=username)
        try:
            await run_in_threadpool(
                service.create_first_admin, username, password, _field(form, "setup_code")
            )
        except AccountError as exc:
            return _form(request, setup=True, error=str(exc), username=username)
    address = client_address(request.scope, settings().trusted_proxies)
    result = await run_in_threadpool(service.sign_in, username, password, address=address)
    # Awaited, not slept in a worker thread: a held-back answer must not occupy one of the
    # threads that also serve the guard and every other route.
    await asyncio.sleep(result.delay)
    if result.token is None:
        return _form(request, setup=False, error=result.error, username=username)
    return _signed_in(request, result.token, _field(form, "next"))


def _to_sign_in() -> Response:
    return RedirectResponse(base_path() + "/signin", status_code=303)


def _sign_out_page(code: str, error: str | None = None) -> Response:
    body = f"""{_alert(error)}<p class="note">Sign out of AnyChat in this browser?</p>
<form method="post" action="{_attr(base_path())}/signout">
<input type="hidden" name="code" value="{_attr(code)}">
<button type="submit">Sign out</button>
</form>"""
    return _page("Sign out", body, status=403 if error else 200)


async def confirm_sign_out(request: Request) -> Response:
    """GET never signs out: any site could link or embed /signout. It offers the button that
    posts this session's sign-out code instead."""
    token = request.cookies.get(SESSION_COOKIE)
    service = accounts()
    if not token or await run_in_threadpool(service.user_for_token, token) is None:
        return _to_sign_in()
    return _sign_out_page(service.sign_out_code(token))


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
            error = "That sign-out request did not come from AnyChat; sign out here instead."
            return _sign_out_page(service.sign_out_code(token), error)
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
