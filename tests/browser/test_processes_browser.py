"""Several AnyChat processes on one PostgreSQL, in a real browser.

Two `streamlit run server.py` processes (A and B, each on its own port) share a database of
their own in the session's PostgreSQL cluster (other tests empty the cluster's default one), a
server secret, and the session's fake upstream. Both beat every second (a stale window of 3 s).

- A reply written by A is followed token by token from a page served by B, and B's Stop ends
  A's upstream stream within about a second, the partial kept as stopped.
- B restarting (its start-up recovery included) while A streams leaves A's reply whole.
- A killed with SIGKILL mid-stream: within the stale window and a beat B closes the reply as
  interrupted, shows the part that arrived, and Retry on B answers it.
- B stopped cleanly (SIGTERM) mid-stream leaves the registry at once and ends its own reply as
  stopped, its text kept.
- With local accounts, an administrator disabling a teammate on A ends the teammate's session
  open on B at their next action.
- Two processes starting together on an empty database migrate it once, without an error.

See tests/test_processes.py for the same behaviours with two sets of services in one process.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from sqlalchemy import create_engine, make_url, text

from chatcore.chat.upstream_errors import REPLY_ERRORS, SERVER_RESTARTED
from chatcore.team.accounts import hash_password
from storage import (
    LOCAL_USERNAME,
    ChatRepository,
    Database,
    MessageRecord,
    MessageStatus,
    UserRepository,
)
from storage.migrate import HEAD_REVISION
from tests.browser.browser_helpers import (
    LOAD_TIMEOUT,
    REPLY_TIMEOUT,
    assistant_messages,
    chat_messages,
    main_area,
    open_app,
    send,
    sidebar,
    unique,
    user_messages,
)
from tests.support.app_process import (
    HOST,
    AppProcess,
    AppStartError,
    app_env,
    health_ok,
    start_app,
)
from tests.support.fake_openai import Behavior, FakeOpenAI
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.browser

STALE_SECONDS = 3.0
BEAT_SECONDS = STALE_SECONDS / 3  # each process beats (and reaps) this often
# The reaper announces the rows it closes, so a follower on B learns at once that the reply of a
# dead process was closed; this is its fallback, how often it re-reads a quiet row anyway.
REREAD_SECONDS = 2.0
# How long to wait for B's Stop to close A's upstream stream. It takes 0.2-0.3 s on an idle
# machine; this is a bound for a busy one, not a speed goal (those are measured in bench/).
STOP_TIMEOUT = 10.0
RESTARTED = REPLY_ERRORS[SERVER_RESTARTED]
CURSOR = "▌"
CONVERSATION_URL = re.compile(r"\?c=([0-9a-f]{32})$")
# A reply still being written: starts with w1 w2 w3 and ends with the typing cursor.
PARTIAL = re.compile(r"^w1 w2 w3\b.*" + CURSOR + "$", re.DOTALL)
LOG_ERROR = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b")

ADMIN_USER = "root"
ADMIN_PASSWORD = "root-processes-pass-4m7v"
PASSWORD = "teammate-pass-5x9w"
ENDED_URL = re.compile(r"/signin\?ended=1$")
ENDED_NOTE = "Your session has ended. Sign in again to continue."
SIGNIN_URL = re.compile(r"/signin(\?(next|ended)=[^#]*)?$")
LONG = 2000  # words in a slow reply


# -- the database and the processes ---------------------------------------------------------


@contextlib.contextmanager
def dedicated_database(server: PostgresServer) -> Iterator[str]:
    """A new database in the session's cluster (dropped after), as a SQLAlchemy URL."""
    name = f"anychat_processes_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server.url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # FORCE: a killed app's connections may linger until the server notices.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class Team:
    """App processes sharing one database, one server secret and one upstream."""

    database_url: str
    env: dict[str, str]
    workdir: Path
    apps: dict[str, AppProcess] = field(default_factory=dict)  # the current one of each name
    started: list[AppProcess] = field(default_factory=list)  # every one, to stop them all
    tables_at_start: list[str] = field(default_factory=list)
    first_request_errors: list[BaseException] = field(default_factory=list)

    def start(self, *names: str) -> None:
        """Start the named processes at the same moment; return once all are healthy."""
        started: dict[str, AppProcess] = {}
        errors: list[BaseException] = []

        def run(name: str, log_path: Path) -> None:
            try:
                started[name] = start_app(self.env, log_path)
            except BaseException as exc:  # reported below, from the test's own thread
                errors.append(exc)

        threads = [
            threading.Thread(
                target=run, args=(name, self.workdir / f"{name}-{uuid.uuid4().hex[:6]}.log")
            )
            for name in names
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)  # start_app gives up after 30 s
        self.apps.update(started)
        self.started.extend(started.values())
        if errors or len(started) < len(names):
            raise AppStartError(f"could not start {names}: {errors!r}")

    def stop_all(self) -> None:
        for app in self.started:
            app.stop()  # by its PID; nothing to do for one already stopped or killed

    def running(self, name: str) -> bool:
        return name in self.apps and self.apps[name].process.poll() is None

    def ensure_running(self, *names: str) -> None:
        """(Re)start whichever of the named processes an earlier test stopped or killed."""
        missing = [name for name in names if not self.running(name)]
        if missing:
            self.start(*missing)
        for name in names:
            serve_first_request(self.apps[name])


@contextlib.contextmanager
def team(
    server: PostgresServer,
    fake: FakeOpenAI,
    api_key: str,
    tmp_path_factory: pytest.TempPathFactory,
    overrides: dict[str, str] | None = None,
) -> Iterator[Team]:
    """Processes on a new database of their own, all stopped at the end (then it is dropped)."""
    with dedicated_database(server) as url:
        workdir = tmp_path_factory.mktemp("anychat-processes")
        env = app_env(
            api_base_url=fake.base_url,
            api_key=api_key,
            data_dir=workdir,  # the secret file they share; the database is PostgreSQL's
            overrides={
                "DATABASE_URL": url,
                "ANYCHAT_PROCESS_STALE_SECONDS": f"{STALE_SECONDS:g}",
                "ANYAPI_TIMEOUT": "20",
                **(overrides or {}),
            },
        )
        made = Team(url, env, workdir)
        try:
            yield made
        finally:
            made.stop_all()


def public_tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = text("select tablename from pg_tables where schemaname = 'public'")
            return sorted(connection.scalars(query))
    finally:
        engine.dispose()


def serve_first_request(app: AppProcess) -> None:
    """Have the app build its services: migrate, register, recover, start beating.

    A healthy Streamlit has not done any of it yet: the sign-in guard does on the first
    request that is not public (so does the sign-in form).
    """
    try:
        with urllib.request.urlopen(f"{app.url}/", timeout=LOAD_TIMEOUT / 1000) as reply:
            status = reply.status
    except urllib.error.HTTPError as refused:  # local accounts: "sign in first"
        status = refused.code
    assert status in (200, 401), status  # either way the guard asked the services


def group_members(group: int) -> list[int]:
    """Processes of a process group that still run (zombies, already dead, left out)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":
                members.append(int(entry.name))
    return members


def port_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) != 0


def kill_hard(app: AppProcess) -> None:
    """SIGKILL, as a crash or the OOM killer would: no handler, no clean-up of its own.

    Then whatever it had started is ended too (its process group), and its port is free.
    """
    os.kill(app.pid, signal.SIGKILL)
    app.process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(app.pid, signal.SIGKILL)
    assert until(lambda: not group_members(app.pid), 10), group_members(app.pid)
    assert until(lambda: port_closed(app.port), 10), f"port {app.port} still answers"


def until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


# -- reading the shared database from the test ----------------------------------------------


class Stores:
    def __init__(self, url: str) -> None:
        self.database = Database(url)
        self.chats = ChatRepository(self.database)
        self.users = UserRepository(self.database)

    def thread(self, username: str, conversation_id: str) -> list[MessageRecord]:
        user = self.users.find_user(username)
        assert user is not None, username
        conversation = self.chats.get_conversation(user.id, conversation_id)
        assert conversation is not None, conversation_id
        return self.chats.thread(conversation)

    def message(self, message_id: int) -> MessageRecord:
        row = self.chats.get_message(message_id)
        assert row is not None, message_id
        return row

    def process_id(self, app: AppProcess) -> str | None:
        """The id under which `app` registered, from its PID (None: not registered)."""
        with self.database.engine.connect() as connection:
            return connection.scalar(
                text("select id from processes where pid = :pid"), {"pid": app.pid}
            )

    def close(self) -> None:
        self.database.dispose()


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair_team(
    postgres_server: PostgresServer,
    fake_server: FakeOpenAI,
    app_api_key: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Team]:
    """A and B, sign-in off: both serve the same implicit local user."""
    with team(postgres_server, fake_server, app_api_key, tmp_path_factory) as made:
        made.start("a", "b")
        yield made


@pytest.fixture
def pair(pair_team: Team) -> Team:
    """The pair, with whichever of A and B an earlier test stopped or killed started again."""
    pair_team.ensure_running("a", "b")
    return pair_team


@pytest.fixture(scope="module")
def pair_stores(pair_team: Team) -> Iterator[Stores]:
    stores = Stores(pair_team.database_url)
    yield stores
    stores.close()


@pytest.fixture(scope="module")
def accounts_team(
    postgres_server: PostgresServer,
    fake_server: FakeOpenAI,
    app_api_key: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Team]:
    """A and B with local accounts and an administrator named by the environment, spawned
    together on a new database and sent their first requests together."""
    overrides = {
        "ANYCHAT_AUTH": "local",
        "ANYCHAT_ADMIN_USER": ADMIN_USER,
        "ANYCHAT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    with team(postgres_server, fake_server, app_api_key, tmp_path_factory, overrides) as made:
        made.start("a", "b")  # spawned together; neither has touched the database yet
        made.tables_at_start = public_tables(made.database_url)
        # Their first requests at the same moment: both migrate, register, create the
        # administrator (or find it), at once.
        gate = threading.Barrier(2)
        errors: list[BaseException] = []

        def first_request(app: AppProcess) -> None:
            try:
                gate.wait(10)
                serve_first_request(app)
            except BaseException as exc:  # reported below, from the fixture's own thread
                errors.append(exc)

        threads = [
            threading.Thread(target=first_request, args=(app,)) for app in made.apps.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LOAD_TIMEOUT / 1000 + 10)
        made.first_request_errors = errors
        yield made


# -- page helpers ---------------------------------------------------------------------------


def words(count: int) -> str:
    """w1 w2 … wN: a reply whose every prefix is recognisable."""
    return " ".join(f"w{i}" for i in range(1, count + 1))


def reply_body(page: Page) -> Locator:
    """The text of the newest reply (its first Markdown block; captions are separate)."""
    return assistant_messages(page).last.get_by_test_id("stMarkdownContainer").first


def button(page: Page, name: str) -> Locator:
    """A button of the chat area by its exact label (Streamlit has a "Stop" of its own)."""
    return main_area(page).get_by_role("button", name=name, exact=True)


def conversation_id(page: Page) -> str:
    expect(page).to_have_url(CONVERSATION_URL, timeout=REPLY_TIMEOUT)
    match = CONVERSATION_URL.search(page.url)
    assert match is not None, page.url
    return match.group(1)


def partial_text(page: Page, longer_than: str = "", timeout: float = LOAD_TIMEOUT / 1000) -> str:
    """The newest reply caught mid-stream (with the cursor), past `longer_than`; one read per
    sample, so the text returned is the text that matched."""
    body = reply_body(page)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        if body.count():
            shown = body.inner_text()
            if PARTIAL.match(shown) and len(shown) > len(longer_than):
                return shown
            seen.append(shown)
        page.wait_for_timeout(50)
    raise AssertionError(f"never saw a partial reply past {longer_than!r}; saw {seen[-3:]!r}")


def shown_words(shown: str) -> list[str]:
    return shown.removesuffix(CURSOR).split()


def wait_until_finished(page: Page, expected: str, timeout: float = REPLY_TIMEOUT) -> None:
    """The reply shows exactly `expected` (no cursor), its usage caption, and no Stop button."""
    expect(reply_body(page)).to_have_text(expected, timeout=timeout)
    caption = assistant_messages(page).last.get_by_test_id("stCaptionContainer")
    expect(caption.filter(has_text=" tokens")).to_contain_text(re.compile(r"completion = \d+"))
    expect(button(page, "Stop")).to_have_count(0)


def slow_reply(chunk_delay: float = 0.05) -> Behavior:
    """LONG words, one every `chunk_delay` s: far longer than any test waits (each stops it,
    kills its writer, or speeds it up: the fake reads `chunk_delay` before every chunk)."""
    return Behavior(text=words(LONG), chunk_delay=chunk_delay)


def start_long_reply(page: Page, app: AppProcess, fake: FakeOpenAI, behavior: Behavior) -> str:
    """Open the app, ask a question answered by `behavior`, wait for the first words of the
    reply; the conversation's id."""
    open_app(page, app.url)
    fake.enqueue(behavior)
    send(page, unique("long"))
    expect(reply_body(page)).to_have_text(PARTIAL, timeout=REPLY_TIMEOUT)
    return conversation_id(page)


def open_following(page: Page, app: AppProcess, conversation: str) -> str:
    """Open the conversation on `app` while a reply is being written; the first partial seen.

    Not `open_app`: a page following a reply draws the reply seconds before its chat box
    becomes editable.
    """
    page.goto(f"{app.url}/?c={conversation}")
    return partial_text(page)


def log_errors(app: AppProcess) -> list[str]:
    return [line for line in app.log_text().splitlines() if LOG_ERROR.search(line)]


def assert_no_page_errors(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def submit_sign_in(page: Page, app: AppProcess, path: str, username: str) -> None:
    """Open `path` on `app`, get sent to the sign-in form, and sign in (back to `path`)."""
    page.goto(f"{app.url}{path}")
    expect(page).to_have_url(SIGNIN_URL, timeout=LOAD_TIMEOUT)
    fill_sign_in(page, username)


def fill_sign_in(page: Page, username: str) -> None:
    page.get_by_label("Username").fill(username)
    password = ADMIN_PASSWORD if username == ADMIN_USER else PASSWORD
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


# -- scenarios ------------------------------------------------------------------------------


def test_a_reply_written_on_a_is_followed_and_stopped_from_b(
    pair: Team,
    pair_stores: Stores,
    new_browser_context: Callable[..., BrowserContext],
    fresh_fake: FakeOpenAI,
) -> None:
    a, b = pair.apps["a"], pair.apps["b"]
    writer = new_browser_context().new_page()
    opened = start_long_reply(writer, a, fresh_fake, slow_reply())
    reply = pair_stores.thread(LOCAL_USERNAME, opened)[-1]
    # A writes it; B only follows.
    assert reply.owner_process is not None
    assert reply.owner_process == pair_stores.process_id(a) != pair_stores.process_id(b)

    reader = new_browser_context().new_page()
    # Seen on B at two moments, both before the end: different, the later one longer and
    # beginning with the earlier.
    earlier = open_following(reader, b, opened)
    expect(user_messages(reader)).to_have_count(1)
    later = partial_text(reader, longer_than=earlier)
    first, then = shown_words(earlier), shown_words(later)
    assert 3 <= len(first) < len(then) < LONG, (earlier, later)
    assert then[: len(first)] == first == words(len(first)).split(), (earlier, later)
    assert not fresh_fake.chat_requests()[0].client_disconnected

    button(reader, "Stop").click()
    assert until(lambda: fresh_fake.chat_requests()[0].client_disconnected, STOP_TIMEOUT, 0.02), (
        "B's Stop never closed A's upstream stream"
    )

    # Kept and marked as stopped, on B, on A and in the database.
    for page in (reader, writer):
        expect(assistant_messages(page).last.get_by_text("Stopped")).to_be_visible(
            timeout=REPLY_TIMEOUT
        )
        expect(button(page, "Stop")).to_have_count(0)
        expect(reply_body(page)).not_to_contain_text(CURSOR)
    assert until(lambda: pair_stores.message(reply.id).status != MessageStatus.STREAMING, 5)
    stored = pair_stores.message(reply.id)
    assert stored.status == MessageStatus.STOPPED, stored
    kept = stored.content.split()
    assert len(then) <= len(kept) < LONG and kept == words(len(kept)).split(), stored.content
    expect(reply_body(reader)).to_have_text(stored.content)
    expect(reply_body(writer)).to_have_text(stored.content)

    # A fresh page on B shows the same.
    open_app(reader, f"{b.url}/?c={opened}")
    expect(reply_body(reader)).to_have_text(stored.content)
    expect(assistant_messages(reader).last.get_by_text("Stopped")).to_be_visible()
    expect(chat_messages(reader)).to_have_count(2)
    assert len(fresh_fake.chat_requests()) == 1
    assert_no_page_errors(reader)
    assert log_errors(a) == [] and log_errors(b) == []


def test_b_restarting_while_a_streams_leaves_the_reply_whole(
    pair: Team,
    pair_stores: Stores,
    new_browser_context: Callable[..., BrowserContext],
    fresh_fake: FakeOpenAI,
) -> None:
    a, old_b = pair.apps["a"], pair.apps["b"]
    writer = new_browser_context().new_page()
    # Slow (up to 40 s) until B is back and follows it; then at full speed.
    paced = Behavior(text=words(400), chunk_delay=0.1)
    opened = start_long_reply(writer, a, fresh_fake, paced)
    reply = pair_stores.thread(LOCAL_USERNAME, opened)[-1]

    old_b.stop()
    assert old_b.process.returncode is not None
    pair.start("b")
    b = pair.apps["b"]
    assert b.pid != old_b.pid
    serve_first_request(b)  # B's start-up recovery has run...
    assert pair_stores.process_id(b) is not None
    # ...while A was still writing, and left its reply alone.
    during = pair_stores.message(reply.id)
    assert during.status == MessageStatus.STREAMING, "A finished before B was back"
    assert during.owner_process == pair_stores.process_id(a)

    # The restarted B follows it, to the end, like A's own page.
    reader = new_browser_context().new_page()
    open_following(reader, b, opened)
    paced.chunk_delay = 0.0
    wait_until_finished(reader, words(400))
    wait_until_finished(writer, words(400))
    stored = pair_stores.message(reply.id)
    assert (stored.status, stored.content) == (MessageStatus.COMPLETE, words(400))
    expect(assistant_messages(reader).last.get_by_test_id("stAlertContentError")).to_have_count(0)
    requests = fresh_fake.chat_requests()
    assert len(requests) == 1 and not requests[0].client_disconnected
    assert log_errors(a) == [] and log_errors(b) == []


def test_a_killed_mid_stream_has_its_reply_closed_by_b_and_retried_there(
    pair: Team,
    pair_stores: Stores,
    new_browser_context: Callable[..., BrowserContext],
    fresh_fake: FakeOpenAI,
) -> None:
    a, b = pair.apps["a"], pair.apps["b"]
    writer = new_browser_context().new_page()
    opened = start_long_reply(writer, a, fresh_fake, slow_reply())
    reply = pair_stores.thread(LOCAL_USERNAME, opened)[-1]
    reader = new_browser_context().new_page()
    open_following(reader, b, opened)

    kill_hard(a)
    a.stop()  # nothing left to stop: must not fail

    # B's reaper closes it once A has missed its beats for the stale window (a bound with room
    # for a busy machine: 2.6-3.2 s on an idle one).
    assert until(
        lambda: pair_stores.message(reply.id).status != MessageStatus.STREAMING,
        STALE_SECONDS + 3 * BEAT_SECONDS + 5,
    ), "nobody closed the reply of the killed process"
    stored = pair_stores.message(reply.id)
    assert (stored.status, stored.error_code) == (MessageStatus.ERROR, SERVER_RESTARTED), stored
    assert stored.error == RESTARTED
    kept = stored.content.split()
    assert 3 <= len(kept) < LONG and kept == words(len(kept)).split(), stored.content
    assert fresh_fake.chat_requests()[0].client_disconnected

    # ...and B's page, which was following it, shows the part that arrived, marked.
    error = assistant_messages(reader).last.get_by_test_id("stAlertContentError")
    # Announced when closed, so shown at the page's next redraw (a re-read is the fallback).
    expect(error).to_contain_text(RESTARTED, timeout=(REREAD_SECONDS + 8) * 1000)
    expect(reply_body(reader)).to_have_text(stored.content)
    expect(button(reader, "Stop")).to_have_count(0)
    assert "closed 1 reply(s) of a process that stopped beating" in b.log_text()

    # Retry on B answers it.
    answer = unique("answer")
    fresh_fake.enqueue(Behavior(text=answer))
    button(reader, "Retry").click()
    wait_until_finished(reader, answer)
    expect(user_messages(reader)).to_have_count(1)
    expect(error).to_have_count(0)
    retried = pair_stores.thread(LOCAL_USERNAME, opened)[-1]
    assert retried.id != reply.id
    assert (retried.status, retried.content) == (MessageStatus.COMPLETE, answer)
    assert retried.owner_process == pair_stores.process_id(b)
    assert len(fresh_fake.chat_requests()) == 2
    assert_no_page_errors(reader)
    assert log_errors(b) == []


def test_a_clean_stop_unregisters_at_once_and_stops_its_own_replies(
    pair_team: Team,
    pair_stores: Stores,
    new_browser_context: Callable[..., BrowserContext],
    fresh_fake: FakeOpenAI,
) -> None:
    """Last of the A/B tests: it leaves B stopped."""
    pair_team.ensure_running("b")
    b = pair_team.apps["b"]
    writer = new_browser_context().new_page()
    opened = start_long_reply(writer, b, fresh_fake, slow_reply())
    reply = pair_stores.thread(LOCAL_USERNAME, opened)[-1]
    assert reply.owner_process == pair_stores.process_id(b) is not None

    b.stop()  # SIGTERM

    assert b.process.returncode != -signal.SIGKILL, "B had to be killed"
    assert until(lambda: fresh_fake.chat_requests()[0].client_disconnected, 2)
    stored = pair_stores.message(reply.id)
    assert pair_stores.process_id(b) is None, "still registered after a clean stop"
    assert stored.status == MessageStatus.STOPPED, f"left {stored.status} by a clean stop"
    kept = stored.content.split()
    assert 3 <= len(kept) < LONG and kept == words(len(kept)).split(), stored.content


def test_two_processes_starting_together_on_an_empty_database_migrate_once(
    accounts_team: Team,
) -> None:
    """The accounts pair was spawned at the same moment on a new database, and sent its first
    requests at the same moment (see `accounts_team`)."""
    a, b = accounts_team.apps["a"], accounts_team.apps["b"]
    assert accounts_team.tables_at_start == [], "the database was not empty"
    assert accounts_team.first_request_errors == []
    assert all(app.process.poll() is None and health_ok(app.url) for app in (a, b))
    engine = create_engine(accounts_team.database_url)
    try:
        with engine.connect() as connection:
            versions = connection.scalars(text("select version_num from alembic_version"))
            assert versions.all() == [HEAD_REVISION]
            pids = connection.scalars(text("select pid from processes order by pid")).all()
            admins = connection.scalars(
                text("select role from users where username = :name"), {"name": ADMIN_USER}
            ).all()
    finally:
        engine.dispose()
    assert pids == sorted([a.pid, b.pid])
    assert admins == ["admin"]
    for app in (a, b):  # both keep serving
        serve_first_request(app)
    assert log_errors(a) == [] and log_errors(b) == []


def test_an_account_disabled_on_a_is_refused_on_b(
    accounts_team: Team,
    new_browser_context: Callable[..., BrowserContext],
    fresh_fake: FakeOpenAI,
) -> None:
    a, b = accounts_team.apps["a"], accounts_team.apps["b"]
    stores = Stores(accounts_team.database_url)
    try:
        name = unique("mate")
        stores.users.create_user(name, password_hash=hash_password(PASSWORD))
        # The teammate signs in on B, the administrator on A (straight to the Admin page).
        mate, admin = new_browser_context().new_page(), new_browser_context().new_page()
        submit_sign_in(mate, b, "/", name)
        submit_sign_in(admin, a, "/admin", ADMIN_USER)
        expect(mate.get_by_test_id("stChatInputTextArea")).to_be_editable(timeout=LOAD_TIMEOUT)
        expect(sidebar(mate).get_by_text(f"Signed in as {name}", exact=True)).to_be_visible()
        expect(main_area(admin).get_by_role("heading", name="Admin", exact=True)).to_be_visible(
            timeout=LOAD_TIMEOUT
        )
        main_area(admin).get_by_test_id("stSelectbox").filter(has_text="Manage").click()
        admin.get_by_role("option", name=name, exact=True).click()
        button(admin, "Disable (ends their sessions)").click()
        expect(admin.get_by_text(f"{name} disabled.")).to_be_visible(timeout=LOAD_TIMEOUT)
        user = stores.users.find_user(name)
        assert user is not None and user.disabled

        # The teammate's next action on B: nothing is sent, the tab is signed out.
        send(mate, "after being disabled [[reply:should never be asked]]")
        expect(mate).to_have_url(ENDED_URL, timeout=LOAD_TIMEOUT)
        expect(mate.get_by_text(ENDED_NOTE)).to_be_visible()
        expect(mate.get_by_test_id("stApp")).to_have_count(0)
        assert fresh_fake.chat_requests() == []
        assert stores.chats.list_conversations(user.id, limit=10).items == []
        # Nor can they sign in again there.
        fill_sign_in(mate, name)
        expect(mate.get_by_text("This account is disabled.")).to_be_visible(timeout=LOAD_TIMEOUT)
        expect(mate).to_have_url(SIGNIN_URL)
        assert log_errors(a) == [] and log_errors(b) == []
    finally:
        stores.close()
