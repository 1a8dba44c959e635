"""The one hash of a random token (a session's cookie, a share link) that the database keeps,
and the one comparison of a submitted secret. Light on purpose: the HTTP layer imports it
before the server listens."""

from __future__ import annotations

import hashlib
import secrets


def token_hash(token: str) -> str:
    """What the database keeps instead of the token, so a leaked copy opens nothing.

    A plain SHA-256 suffices (no salt, no argon2): the token is random, not guessable, and
    it must be found by this value on every page load.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of a submitted secret and the expected one, compared as UTF-8
    bytes: compare_digest refuses non-ASCII str, and odd input must be a mismatch, not a
    crash."""
    return secrets.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8", "replace")
    )
