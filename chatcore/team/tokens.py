"""The one hash of a random token (a session's cookie, a share link) that the database keeps."""

from __future__ import annotations

import hashlib


def token_hash(token: str) -> str:
    """What the database keeps instead of the token, so a leaked copy opens nothing.

    A plain SHA-256 suffices (no salt, no argon2): the token is random, not guessable, and
    it must be found by this value on every page load.
    """
    return hashlib.sha256(token.encode()).hexdigest()
