"""Driving an ASGI app from a synchronous test.

Playwright's sync API leaves an event loop running in the main thread once a browser test has
run, and `asyncio.run` refuses to start inside a running loop; a thread of its own has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on a fresh event loop in a worker thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
