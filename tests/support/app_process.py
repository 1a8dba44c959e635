"""AnyChat as a process of its own: `streamlit run server.py` on 127.0.0.1 at a free port.

The browser tests (tests/browser/conftest.py) and the benchmark (bench/chat_latency.py) start
the real app this way, so both run what `scripts/start.sh` runs, from the project folder
(AnyChat's packages are installed editable, so it imports them from there). The app gets an
environment of its own (`app_env`), its output goes to a log file, `start_app` returns once
`/_stcore/health` says ok, and `AppProcess.stop` ends it by its process id.

    env = app_env(api_base_url=fake.base_url, api_key="sk-test", data_dir=workdir)
    app = start_app(env, workdir / "streamlit.log")
    try:
        ...  # app.url, app.log_text()
    finally:
        app.stop()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0  # seconds from spawn to a healthy server
STOP_TIMEOUT = 10.0  # seconds to wait after SIGTERM, then after SIGKILL
DATABASE_FILE = "anychat.db"  # in app_env's data_dir
# Variables from the caller's shell that would steer the app under test; none is passed on.
_STEERING_PREFIXES = ("ANYAPI_", "ANYCHAT_", "OPENAI_", "STREAMLIT_")
_STEERING_NAMES = ("DATABASE_URL",)


class AppStartError(RuntimeError):
    """The app exited, or was not healthy in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def app_env(
    *,
    api_base_url: str,
    api_key: str,
    data_dir: Path,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for an app under test.

    This process's environment without anything that steers AnyChat, the SDK or Streamlit;
    then the given upstream (no retries), a new SQLite database (`data_dir/anychat.db`) and
    server secret in `data_dir`, sign-in off (`ANYCHAT_AUTH=none`); `overrides` last.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_STEERING_PREFIXES) and key not in _STEERING_NAMES
    }
    env.update(
        {
            "ANYAPI_API_KEY": api_key,
            "ANYAPI_BASE_URL": api_base_url,
            "ANYAPI_MAX_RETRIES": "0",
            "DATABASE_URL": f"sqlite:///{data_dir / DATABASE_FILE}",
            "ANYCHAT_SECRET_KEY_FILE": str(data_dir / "secret.key"),
            "ANYCHAT_AUTH": "none",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides or {})
    return env


def health_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether Streamlit at `url` answers its health check with "ok"."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:  # refused, reset, timed out, or an HTTP error status
        return False


def streamlit_command(
    port: int, extra_args: Sequence[str] = (), script: str = "server.py"
) -> list[str]:
    """`streamlit run server.py` (or `script`) with this interpreter, on 127.0.0.1:`port`,
    headless."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        f"--server.address={HOST}",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        *extra_args,
    ]


@dataclass
class AppProcess:
    """A running app: its process, address and log."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    spawned_at: float  # time.time() just before the spawn
    startup_s: float = 0.0  # spawn -> healthy, in seconds

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        """Everything the app wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_text().splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds.

        The app leads its own process group (its id is the app's PID), so anything it
        started ends with it.
        """
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL at once, without waiting (for a caller that is itself out of time)."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def start_app(
    env: Mapping[str, str],
    log_path: Path,
    *,
    timeout: float = STARTUP_TIMEOUT,
    poll_interval: float = 0.1,
    extra_args: Sequence[str] = (),
    script: str = "server.py",
    cwd: Path = PROJECT_ROOT,
) -> AppProcess:
    """Spawn the app (or another Streamlit `script`, run from `cwd`) on a free port and
    return once it is healthy.

    Raises AppStartError if it exits first or is not healthy within `timeout` seconds; then,
    as on any other error while waiting, the process is stopped before the error propagates.
    """
    port = free_port()
    with log_path.open("wb") as log:
        started = time.monotonic()
        spawned_at = time.time()
        process = subprocess.Popen(
            streamlit_command(port, extra_args, script),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children
        )
    app = AppProcess(process, port, log_path, spawned_at)
    try:
        deadline = started + timeout
        while not health_ok(app.url):
            if process.poll() is not None:
                raise AppStartError(
                    f"streamlit exited with {process.returncode} before it was healthy:\n"
                    + app.log_text()
                )
            if time.monotonic() > deadline:
                raise AppStartError(
                    f"streamlit was not healthy within {timeout:g} s:\n" + app.log_text()
                )
            time.sleep(poll_interval)
    except BaseException:
        app.stop()
        raise
    app.startup_s = time.monotonic() - started
    return app
