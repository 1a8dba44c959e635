"""The sign-in and sign-out pages: plain HTTP routes beside the Streamlit app.

A session cookie can only be set by an HTTP response, never from a Streamlit script, so signing
in happens here: the form posts to /signin, which checks the password, stores a session (its
token only hashed) and answers with an HttpOnly cookie. The Streamlit app then reads the cookie.
"""

from __future__ import annotations

import html
import secrets
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from web.context import SESSION_COOKIE, accounts, base_path, settings

CSRF_COOKIE = "anychat_csrf"

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


def _form(request: Request, *, setup: bool, error: str | None, username: str = "") -> Response:
    # Reused while it lasts: a second page load (another tab, a favicon's redirect) must not
    # invalidate a form already on screen.
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    next_path = html.escape(_safe_next(request.query_params.get("next")), quote=True)
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    confirm = (
        '<label for="confirm">Repeat password</label>'
        '<input id="confirm" name="confirm" type="password" autocomplete="new-password" required>'
        if setup
        else ""
    )
    intro = (
        '<p class="note">No account exists yet. Create the administrator account; it can '
        "then add teammates.</p>"
        if setup
        else ""
    )
    body = f"""{intro}{alert}
<form method="post" action="{base_path()}/signin">
<input type="hidden" name="csrf" value="{token}">
<input type="hidden" name="next" value="{next_path}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus
       value="{html.escape(username, quote=True)}">
<label for="password">Password</label>
<input id="password" name="password" type="password"
       autocomplete="{"new-password" if setup else "current-password"}" required>
{confirm}
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
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_path = str(form.get("next", ""))
    sent_token = str(form.get("csrf", ""))
    expected = request.cookies.get(CSRF_COOKIE, "")
    service = accounts()
    setup = await run_in_threadpool(service.needs_first_admin)
    if not expected or not secrets.compare_digest(sent_token, expected):
        return _form(request, setup=setup, error="The form expired; please try again.")
    if setup:
        if password != str(form.get("confirm", "")):
            return _form(request, setup=True, error="The passwords differ.", username=username)
        try:
            await run_in_threadpool(service.create_first_admin, username, password)
        except ValueError as exc:
            return _form(request, setup=True, error=str(exc), username=username)
    # sign_in sleeps after failures (slowing guessing down): keep it off the event loop.
    result = await run_in_threadpool(service.sign_in, username, password)
    if result.token is None:
        return _form(request, setup=False, error=result.error, username=username)
    return _signed_in(request, result.token, next_path)


async def sign_out(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(accounts().sign_out, token)
    response = RedirectResponse(base_path() + "/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=base_path() + "/")
    return response


def routes() -> list[Route]:
    """Mounted under server.baseUrlPath, like Streamlit's own routes (user routes are not)."""
    prefix = base_path()
    return [
        Route(f"{prefix}/signin", show_form, methods=["GET"]),
        Route(f"{prefix}/signin", submit, methods=["POST"]),
        Route(f"{prefix}/signout", sign_out, methods=["GET", "POST"]),
    ]
