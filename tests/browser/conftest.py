"""Browser-test fixtures: Chromium via pytest-playwright and AnyChat as a `streamlit run` process.

The app runs in a subprocess (it cannot be patched), pointed at the session's FakeOpenAI server,
which runs in this pytest process, and at a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
STARTUP_TIMEOUT = 30.0
API_KEY = "sk-browser-test-0a1b2c3d4e5f"
STOP_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium instead of Playwright's download (which fails on this network)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--disable-gpu", "--disable-quic"],
    }


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str | None:
    """Same as pytest-playwright 0.10's fallback `base_url` (used when pytest-base-url is absent).

    That fallback is defined as an instance method of a plugin object, which pytest 9 deprecates
    with a PytestRemovedIn10Warning, an error under this project's `filterwarnings = ["error"]`.
    """
    return pytestconfig.getoption("--base-url") or pytestconfig.getini("base_url") or None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (OSError, urllib.error.URLError):
        return False


def _app_env(fake: FakeOpenAI, db_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing from the developer's shell may steer the app under test.
        if not key.startswith(("ANYAPI_", "ANYCHAT_", "OPENAI_", "STREAMLIT_"))
        and key != "DATABASE_URL"
    }
    env.update(
        {
            "ANYAPI_API_KEY": API_KEY,
            "ANYAPI_BASE_URL": fake.base_url,
            "ANYAPI_MAX_RETRIES": "0",
            "ANYAPI_TIMEOUT": "20",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "ANYCHAT_SECRET_KEY_FILE": str(db_path.parent / "secret.key"),
            "ANYCHAT_AUTH": "none",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass(frozen=True)
class AppServer:
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    """Extra environment for the module's app (a test module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def app_server(
    fake_server: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
    app_env_overrides: dict[str, str],
) -> Iterator[AppServer]:
    """Start `streamlit run server.py` on a free port; stop it when the module is done."""
    workdir = tmp_path_factory.mktemp("anychat-browser")
    log_path = workdir / "streamlit.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "server.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**_app_env(fake_server, workdir / "anychat.db"), **app_env_overrides},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _healthy(url):
                if process.poll() is not None:
                    pytest.fail(
                        f"streamlit exited with {process.returncode} before it was healthy:\n"
                        + log_path.read_text(errors="replace")
                    )
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"streamlit was not healthy within {STARTUP_TIMEOUT:g} s:\n"
                        + log_path.read_text(errors="replace")
                    )
                time.sleep(0.1)
            yield AppServer(url, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def app_api_key() -> str:
    """The key the app under test is given; tests check it never leaves the server."""
    return API_KEY


@pytest.fixture(scope="module")
def app_url(app_server: AppServer) -> str:
    """Base URL of the running app, e.g. http://127.0.0.1:PORT."""
    return app_server.url


@pytest.fixture
def server_log(app_server: AppServer) -> Callable[[], str]:
    """Returns a reader of what the app logged since the current test started."""
    start = app_server.log_path.stat().st_size

    def new_text() -> str:
        with app_server.log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode(errors="replace")

    return new_text


@pytest.fixture(autouse=True)
def fresh_fake(fake_api: FakeOpenAI) -> FakeOpenAI:
    """Every browser test starts with an empty queue and request log (see tests/conftest.py)."""
    return fake_api


@pytest.fixture
def new_browser_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Makes browser contexts (each its own cookie jar: another person); closes them after.

    Keyword arguments go to `browser.new_context`, e.g. `extra_http_headers`.
    """
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
