"""Personal API keys, encrypted before they reach the database.

The encryption key is derived from the server secret, which is kept outside the database:
a stolen database copy alone yields only ciphertext.
"""

from __future__ import annotations

import base64
import re

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatcore.errors import AccountError, KeyUnreadable
from chatcore.i18n import N_
from storage.keys import KeyRepository

# Binds the derived key to this one use, so the same server secret can key other things
# (the pseudonymous `user` ids) without any relation between them.
HKDF_INFO = b"anychat personal api keys"
KEY_MAX_CHARS = 500
_WHITESPACE = re.compile(r"\s")


class KeyVault:
    """Fernet (AES-128-CBC + HMAC-SHA256, timestamped) under a key derived by HKDF-SHA256."""

    def __init__(self, secret: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
            secret
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "KeyVault(<secret>)"

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError):
            raise KeyUnreadable(
                N_(
                    "This saved API key cannot be decrypted: the server secret "
                    "(ANYCHAT_SECRET_KEY or its file) has changed since it was saved. "
                    "Save the key again."
                )
            ) from None


class PersonalKeys:
    """A user's own API key: saved encrypted, read back only to make that user's requests."""

    def __init__(self, repository: KeyRepository, vault: KeyVault) -> None:
        self._repo = repository
        self._vault = vault

    def save(self, user_id: int, key: str) -> None:
        """Encrypt and store a key, replacing any earlier one."""
        key = key.strip()
        if not key:
            raise AccountError(N_("Enter an API key."), code="api_key_empty")
        if len(key) > KEY_MAX_CHARS:
            raise AccountError(
                N_("An API key has at most {limit} characters."),
                code="api_key_too_long",
                limit=KEY_MAX_CHARS,
            )
        if _WHITESPACE.search(key) or not key.isprintable():
            # It travels in an HTTP header, where a line break would be refused or worse.
            raise AccountError(
                N_("An API key has no spaces, line breaks or control characters."),
                code="api_key_malformed",
            )
        self._repo.set_personal_key(user_id, self._vault.encrypt(key))

    def get(self, user_id: int) -> str | None:
        """The key in clear, or None when there is none or it can no longer be decrypted
        (then `has` is still True, which lets a page ask the user to save it again)."""
        ciphertext = self._repo.personal_key(user_id)
        return None if ciphertext is None else self.readable(ciphertext)

    def readable(self, ciphertext: str) -> str | None:
        """A stored key in clear, for a caller that read the ciphertext with other facts (the
        send path's one admission query); None when it can no longer be decrypted."""
        try:
            return self._vault.decrypt(ciphertext)
        except KeyUnreadable:
            return None

    def remove(self, user_id: int) -> bool:
        return self._repo.delete_personal_key(user_id)

    def has(self, user_id: int) -> bool:
        return self._repo.has_personal_key(user_id)
