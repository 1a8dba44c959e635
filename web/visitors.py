"""Who a connection belongs to, decided once by the guard and handed to the pages.

The guard (web/guard.py) reads the session cookie or the proxy's user header, and nothing else
does: a page finds the guard's answer through an opaque handle the guard puts in the request
headers of the websocket it let in. Two readers of one header can disagree (Streamlit keeps the
first of a repeated header, a dict the last); with one reader they cannot. The handle is random
and lives only in this process's memory, so a browser cannot forge one, and an app started
without the guard (plain `streamlit run app.py`) finds no visitor at all.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage import UserRecord

# The header the guard sets on the websocket it admits; any copy a client sent is removed first.
VISITOR_HEADER = "x-anychat-visitor"


@dataclass
class Visitor:
    """One admitted connection: the account as last checked, and what it was checked by.

    `user` is refreshed by the guard at every message the browser sends, so a page run reads
    the account as it was at the moment of the action that started it.
    """

    mode: str
    user: UserRecord | None
    # Local mode: the session cookie's token, needed to re-check the session and to sign out.
    session_token: str | None = None
    # Proxy mode: the name the proxy gave when the connection opened.
    proxy_name: str | None = None
    # The browser's address, read through trusted proxies only (web/client.py).
    address: str | None = None
    # Single sign-on: when the connection opened, to refuse it once its person signs out.
    opened_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    handle: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class VisitorRegistry:
    """The process's admitted connections, by handle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._visitors: dict[str, Visitor] = {}

    def add(self, visitor: Visitor) -> str:
        with self._lock:
            self._visitors[visitor.handle] = visitor
        return visitor.handle

    def get(self, handle: str | None) -> Visitor | None:
        if not handle:
            return None
        with self._lock:
            return self._visitors.get(handle)

    def remove(self, handle: str) -> None:
        with self._lock:
            self._visitors.pop(handle, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._visitors)


visitors = VisitorRegistry()
