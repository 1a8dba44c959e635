"""The server's own secret: keys the pseudonymous ids sent upstream as `user`.

Kept out of the database on purpose, so a copy of the database alone cannot reverse them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from chatcore.config import Settings
from chatcore.errors import ConfigError
from chatcore.i18n import N_


def load_or_create(path: Path) -> bytes:
    """Read the secret file, creating it (mode 600) on first start; safe if two start at once.

    A folder made for it is owner-only (700), like the database's (the same data/ by
    default); an existing one keeps the permissions its administrator chose.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: a reader never sees a half-written file,
        # and of two processes starting together exactly one secret wins.
        draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    value = path.read_text().strip()
    if not value:
        raise ConfigError(
            N_("{path} is empty; delete it to have a new secret generated."),
            code="secret_file_empty",
            path=str(path),
        )
    return value.encode()


def server_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    return load_or_create(Path(settings.secret_key_file))


def pseudonym(secret: bytes, user_id: int) -> str:
    """A stable id for a teammate that names nobody: the provider sees the same string for the
    same person, and nothing else."""
    digest = hmac.new(secret, f"anychat-user:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"anychat-{digest[:32]}"
