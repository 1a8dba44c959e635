"""A minimal OpenID Connect provider on 127.0.0.1, for tests only.

AnyChat's `ANYCHAT_AUTH=oidc` mode hands sign-in to Streamlit's `st.login`, which speaks the
authorization-code flow (with PKCE when offered) to a real identity provider through Authlib.
Tests have no network and no real provider, so this stands in for one: it serves discovery,
signs ID tokens with an RSA key made at start, and signs in whoever `next_user` names at once,
without a login page. It trusts anyone who asks; never run it outside a test. Claims go into
the ID token as given, so a user whose e-mail AnyChat should keep needs `"email_verified": True`.

    with OIDCProvider() as provider:
        provider.next_user = {"sub": "u-1", "preferred_username": "mei", "name": "Mei Lin"}
        ...  # point [auth] server_metadata_url at provider.metadata_url
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.serving import serve_in_thread

TOKEN_LIFETIME = 3600  # seconds, for ID and access tokens
CODE_LIFETIME = 60.0  # seconds an authorization code can be exchanged in


@dataclass
class _Grant:
    """What an authorization code stands for until it is exchanged."""

    user: dict[str, Any]
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    issued: float = field(default_factory=time.monotonic)


class OIDCProvider:
    """The stand-in provider: start it, configure a client with `metadata_url`, steer who signs
    in with `next_user`, and inspect `authorize_requests`, `sign_ins` and `sign_outs`."""

    def __init__(self, client_id: str = "anychat-test", client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.next_user: dict[str, Any] = {"sub": "user-1", "preferred_username": "user"}
        self.authorize_requests: list[dict[str, str]] = []  # query of every /authorize visit
        self.sign_ins: list[dict[str, Any]] = []  # claims of every ID token issued
        self.sign_outs = 0  # visits to the end-session endpoint
        self._kid = secrets.token_hex(8)
        self._key = RSAKey.import_key(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            parameters={"kid": self._kid, "use": "sig", "alg": "RS256"},
        )
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, dict[str, Any]] = {}  # access token -> claims, for userinfo
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        """`http://127.0.0.1:PORT`, also the base of every endpoint."""
        if self._server is None:
            raise RuntimeError("OIDCProvider is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        """The discovery document, for `server_metadata_url`."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> Self:
        """Bind a free port and serve from a daemon thread."""
        handler = type("_BoundHandler", (_Handler,), {"provider": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = serve_in_thread(self._server, "oidc-provider")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the protocol --------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo",
            "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}

    def authorize(self, params: dict[str, str]) -> str:
        """Sign `next_user` in at once; returns the redirect back to the client."""
        with self._lock:
            self.authorize_requests.append(dict(params))
        if params.get("client_id") != self.client_id:
            raise _OAuthError(400, "invalid_client", "unknown client_id")
        if params.get("response_type") != "code" or not params.get("redirect_uri"):
            raise _OAuthError(400, "invalid_request", "expected response_type=code, redirect_uri")
        challenge = params.get("code_challenge")
        if challenge and params.get("code_challenge_method", "plain") != "S256":
            raise _OAuthError(400, "invalid_request", "only S256 PKCE is supported")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                dict(self.next_user), params["redirect_uri"], params.get("nonce"), challenge
            )
        back = {"code": code, **({"state": params["state"]} if "state" in params else {})}
        return _with_query(params["redirect_uri"], back)

    def token(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        """Exchange an authorization code (once) for an access token and a signed ID token."""
        client_id, client_secret = _client_credentials(form, authorization)
        if client_id != self.client_id or not secrets.compare_digest(
            client_secret or "", self.client_secret
        ):
            raise _OAuthError(401, "invalid_client", "wrong client credentials")
        if form.get("grant_type") != "authorization_code":
            raise _OAuthError(400, "unsupported_grant_type", "only authorization_code")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or time.monotonic() - grant.issued > CODE_LIFETIME:
            raise _OAuthError(400, "invalid_grant", "unknown, used or expired code")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise _OAuthError(400, "invalid_grant", "redirect_uri differs from /authorize")
        if grant.code_challenge and _s256(form.get("code_verifier", "")) != grant.code_challenge:
            raise _OAuthError(400, "invalid_grant", "PKCE verification failed")
        now = int(time.time())
        claims = {
            **grant.user,
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            **({"nonce": grant.nonce} if grant.nonce else {}),
        }
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access_token] = dict(grant.user)
            self.sign_ins.append(claims)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": "openid email profile",
            "id_token": jwt.encode({"alg": "RS256", "kid": self._kid}, claims, self._key),
        }

    def userinfo(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, access_token = (authorization or "").partition(" ")
        with self._lock:
            user = self._access.get(access_token) if scheme.lower() == "bearer" else None
        if user is None:
            raise _OAuthError(401, "invalid_token", "unknown access token")
        return user

    def logout(self, params: dict[str, str]) -> str | None:
        """End-session: count it and send the browser to `post_logout_redirect_uri`, if any."""
        with self._lock:
            self.sign_outs += 1
        return params.get("post_logout_redirect_uri")


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _client_credentials(
    form: dict[str, str], authorization: str | None
) -> tuple[str | None, str | None]:
    """client_secret_basic (the Authorization header) or client_secret_post (the form)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return None, None
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _single(query: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(query, keep_blank_values=True).items()}


class _Handler(BaseHTTPRequestHandler):
    provider: OIDCProvider  # set on the subclass start() makes
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures; the provider's traffic is not worth printing."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = _single(url.query)
        routes = {
            "/.well-known/openid-configuration": lambda: self._json(self.provider.metadata()),
            "/jwks": lambda: self._json(self.provider.jwks()),
            "/authorize": lambda: self._redirect(self.provider.authorize(params)),
            "/userinfo": lambda: self._json(
                self.provider.userinfo(self.headers.get("Authorization"))
            ),
            "/logout": lambda: self._after_logout(self.provider.logout(params)),
        }
        self._dispatch(routes, url.path)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = _single(self.rfile.read(length).decode("utf-8"))
        routes = {
            "/token": lambda: self._json(
                self.provider.token(form, self.headers.get("Authorization"))
            ),
            "/userinfo": lambda: self._json(
                self.provider.userinfo(self.headers.get("Authorization"))
            ),
        }
        self._dispatch(routes, url.path)

    def _dispatch(self, routes: dict[str, Any], path: str) -> None:
        route = routes.get(path)
        if route is None:
            self._json({"error": "not_found"}, 404)
            return
        try:
            route()
        except _OAuthError as error:
            self._json(error.body, error.status)

    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _after_logout(self, location: str | None) -> None:
        if location:
            self._redirect(location)
            return
        data = b"Signed out."
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
