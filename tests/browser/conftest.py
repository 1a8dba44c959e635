"""Browser-test fixtures: Chromium via pytest-playwright and AnyChat as a `streamlit run` process.

The app runs in a subprocess (it cannot be patched), started by tests.support.app_process (the
benchmark starts it the same way), pointed at the session's FakeOpenAI server, which runs in this
pytest process, and at a fresh SQLite file in a temporary directory beside its log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.support.app_process import AppProcess, AppStartError, app_env, start_app
from tests.support.fake_openai import FakeOpenAI

CHROMIUM = "/usr/bin/chromium"
API_KEY = "sk-browser-test-0a1b2c3d4e5f"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium instead of Playwright's download (which fails on this network)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        # A fake microphone (a tone) that needs no permission prompt: voice input is tested.
        "args": [
            "--disable-gpu",
            "--disable-quic",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's own `page` is an English reader in UTC too (see new_browser_context)."""
    return {**browser_context_args, "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str | None:
    """Same as pytest-playwright 0.10's fallback `base_url` (used when pytest-base-url is absent).

    That fallback is defined as an instance method of a plugin object, which pytest 9 deprecates
    with a PytestRemovedIn10Warning, an error under this project's `filterwarnings = ["error"]`.
    """
    return pytestconfig.getoption("--base-url") or pytestconfig.getini("base_url") or None


@pytest.fixture(scope="module")
def app_env_overrides() -> dict[str, str]:
    """Extra environment for the module's app (a test module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def app_server(
    fake_server: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
    app_env_overrides: dict[str, str],
) -> Iterator[AppProcess]:
    """Start `streamlit run server.py` on a free port; stop it when the module is done.

    Its log is `log_path`, and its SQLite database `anychat.db` beside the log.
    """
    workdir = tmp_path_factory.mktemp("anychat-browser")
    env = app_env(
        api_base_url=fake_server.base_url,
        api_key=API_KEY,
        data_dir=workdir,
        overrides={"ANYAPI_TIMEOUT": "20", **app_env_overrides},
    )
    try:
        app = start_app(env, workdir / "streamlit.log")
    except AppStartError as exc:
        pytest.fail(str(exc))
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def app_api_key() -> str:
    """The key the app under test is given; tests check it never leaves the server."""
    return API_KEY


@pytest.fixture(scope="module")
def app_url(app_server: AppProcess) -> str:
    """Base URL of the running app, e.g. http://127.0.0.1:PORT."""
    return app_server.url


@pytest.fixture
def server_log(app_server: AppProcess) -> Callable[[], str]:
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

    Keyword arguments go to `browser.new_context`, e.g. `extra_http_headers`. Each context is
    an English reader in UTC unless `locale`/`timezone_id` say otherwise, whatever the machine's
    own language: the interface follows the browser's.
    """
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(**{"locale": "en-US", "timezone_id": "UTC", **options})
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
