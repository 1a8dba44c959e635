"""Serving a test HTTP server from a daemon thread, as the fake upstream and provider do."""

from __future__ import annotations

import threading
from socketserver import BaseServer


def serve_in_thread(server: BaseServer, name: str) -> threading.Thread:
    """Start `server.serve_forever` in a daemon thread that notices shutdown within 50 ms."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread
