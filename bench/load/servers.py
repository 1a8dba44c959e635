"""Everything the load runs against: the fake upstream, PostgreSQL, the app processes.

All of it listens on 127.0.0.1 only and is stopped by the id of what was started here
(``AppProcess.stop`` ends the app's own process group; ``PostgresServer.stop`` its cluster).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.app_process import AppProcess, AppStartError, app_env, start_app
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.fake_openai.directives import last_user_text
from tests.support.postgres_server import PostgresServer

# Every message a simulated teammate sends starts with a marker like zq3u07t02x (run 3,
# teammate 7, turn 2): the upstream request, the reply on the page and the database rows are
# all matched to their turn by it.
MARKER = re.compile(r"\bzq\d+u\d+t\d+x\b")


class BenchError(RuntimeError):
    """Something the benchmark needs did not happen (the message says what)."""


class Upstream:
    """The fake OpenAI server (in this process), and when each turn's request reached it.

    It answers every chat request with an echo of the message ("Echo: <message>") after
    `first_token_delay`, `chunk_size` words a chunk, `chunk_delay` apart: a reply's first
    chunk then holds "Echo: <marker>", which tells it apart from the user's own message on the
    page. Arrival times are ``time.monotonic()`` of this process, the clock the clients use.
    """

    def __init__(self, first_token_delay: float, chunk_delay: float, chunk_size: int) -> None:
        self.first_token_delay = first_token_delay
        self.fake = FakeOpenAI()
        self.fake.default = Behavior(
            first_token_delay=first_token_delay, chunk_delay=chunk_delay, chunk_size=chunk_size
        )
        self._seen = 0
        self._arrivals: dict[str, float] = {}
        self._repeats: dict[str, int] = {}
        self._lock = threading.Lock()

    def start(self) -> Upstream:
        self.fake.start()
        return self

    def stop(self) -> None:
        self.fake.stop()

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def _index(self) -> None:
        # The list only grows (append is atomic), so new entries are read past a cursor.
        with self._lock:
            requests = self.fake.requests
            new, self._seen = requests[self._seen :], len(requests)
            for record in new:
                path = record.path.split("?", 1)[0].rstrip("/")
                if record.method != "POST" or not path.endswith("/chat/completions"):
                    continue
                body = record.body if isinstance(record.body, dict) else {}
                found = MARKER.search(last_user_text(body))
                if found is None:
                    continue
                marker = found.group(0)
                if marker in self._arrivals:
                    self._repeats[marker] = self._repeats.get(marker, 0) + 1
                else:
                    self._arrivals[marker] = record.received_at

    def arrival(self, marker: str) -> float | None:
        """When the request for this turn reached the server, or None if it has not."""
        self._index()
        with self._lock:
            return self._arrivals.get(marker)

    def repeats(self) -> int:
        """Requests beyond the first for the same turn (a retry, or a message sent twice)."""
        self._index()
        with self._lock:
            return sum(self._repeats.values())


class Postgres:
    """One throwaway cluster for the whole run, and a new database for each configuration."""

    def __init__(self) -> None:
        self.server = PostgresServer()
        self._count = 0

    def start(self) -> Postgres:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def new_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import psycopg  # the app's own driver (requirements.txt)

        self._count += 1
        name = f"bench_load_{self._count}"
        admin = self.server.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.server.url.rsplit("/", 1)[0] + f"/{name}"

    def postmaster_pid(self) -> int | None:
        """The cluster's main process (its first line of postmaster.pid)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.server.data / "postmaster.pid").read_text().split()[0])
        return None


@dataclass
class Apps:
    """The app processes of one configuration, started one after another."""

    processes: list[AppProcess] = field(default_factory=list)

    def stop(self) -> None:
        for app in self.processes:
            with contextlib.suppress(Exception):
                app.stop(timeout=8)

    def kill(self) -> None:
        for app in self.processes:
            with contextlib.suppress(Exception):
                app.kill()

    def log_text(self) -> str:
        texts = []
        for app in self.processes:
            with contextlib.suppress(OSError):
                texts.append(app.log_text())
        return "\n".join(texts)


def start_apps(
    count: int,
    *,
    upstream: Upstream,
    database_url: str | None,
    workdir: Path,
    generation_workers: int | None,
    warm: Callable[[AppProcess], None],
    apps: Apps,
    auth: str = "none",
) -> None:
    """Start `count` app processes on one database, each warmed before the next starts.

    The first page run of a process builds its services and runs the migrations, and a
    missing server secret is generated into the shared data folder; doing that one process
    at a time keeps two processes from racing to migrate one database or write one file.
    Started processes are added to `apps` as they start, so the caller can stop them all.
    """
    overrides = {"ANYCHAT_AUTH": auth}
    if database_url is not None:
        overrides["DATABASE_URL"] = database_url
    if generation_workers is not None:
        overrides["ANYCHAT_GENERATION_WORKERS"] = str(generation_workers)
    env = app_env(
        api_base_url=upstream.base_url, api_key="sk-bench", data_dir=workdir, overrides=overrides
    )
    for number in range(count):
        try:
            app = start_app(env, workdir / f"streamlit-{number}.log", timeout=60)
        except AppStartError as exc:
            raise BenchError(str(exc)) from exc
        apps.processes.append(app)
        warm(app)


def database_url_of(workdir: Path, database_url: str | None) -> str:
    """The URL the apps use: the given one, else app_env's SQLite file in `workdir`."""
    if database_url is not None:
        return database_url
    env = app_env(api_base_url="http://127.0.0.1:1/v1", api_key="x", data_dir=workdir)
    return env["DATABASE_URL"]
