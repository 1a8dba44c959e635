"""AnyChat latency benchmark: the real app in Chromium against the fake OpenAI server.

Usage (from the project folder, after ``scripts/install.sh dev``; run as a module so that the
fake server and the app launcher import from ``tests.support``)::

    .venv/bin/python -m bench.chat_latency                 # table, about 3 minutes
    .venv/bin/python -m bench.chat_latency --json          # the same figures as JSON
    .venv/bin/python -m bench.chat_latency --sends 30 --first-token-delay 0.2 --loads 10

What it measures (every figure is also checked against its goal):

1. Enter -> first reply token in the DOM, in a 20-message and in a 500-message conversation.
   Timed inside the page: a capturing keydown listener stamps ``performance.now()`` when Enter
   is pressed, and a MutationObserver installed before the press stamps the moment the reply's
   unique marker text is inserted.  "overhead" = median - the fake server's first-token delay.
   Each send goes to a fresh copy of the conversation, built directly in the database, so
   every send sees exactly 20 (or 500) earlier messages (``--grow`` instead sends repeatedly
   into one conversation per size, which then grows by 2 messages a send).  The first
   ``--warmup`` sends per size are not counted.  The breakdown splits each send at the moment
   the app's request reached the fake server (page and server clocks are aligned): "Enter ->
   request reaches upstream" is the app's work before the API call is on the wire, "upstream
   first token -> DOM" what follows the server's first token; "first_token_ms stored by the
   app" is the app's own figure (worker start -> first token), so minus the server delay it is
   the time the worker spent building and sending the request.
2. Page load -> chat input visible: navigation start to ``stChatInputTextArea`` visible for a
   20-message conversation, in a new browser context each time (cold HTTP cache) and as
   reloads of one tab (warm cache).
3. Cold start: spawning ``streamlit run server.py`` -> ``/_stcore/health`` says ok, and -> the first
   page's chat input is visible (the first script run builds the services, runs migrations...).
4. RSS of the Streamlit server (with any children) after 20 replies, and at the end.

Everything runs on 127.0.0.1 at free ports with a temporary SQLite database; the fake server
runs in this process.  CPU used by other processes during the run is sampled and printed: on a
2-core machine a busy neighbour inflates every figure, so read the figures with that line.
Child processes are stopped at the end, also on failure or timeout (``--timeout``, default
600 s).  Needs Chromium at /usr/bin/chromium (``--chromium``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path
from typing import Any

import psutil
import streamlit
from playwright.sync_api import Browser, Page, sync_playwright

from chatcore.config import load_settings
from chatcore.wiring import Services, build_services
from storage import MessageStatus, Role
from storage.models import Conversation, Message
from tests.support.app_process import AppProcess, AppStartError, app_env, start_app
from tests.support.fake_openai import Behavior, FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent

GOALS = {
    "overhead_20_ms": 40.0,
    "overhead_500_ms": 60.0,
    "leg_ms": 20.0,  # each of Enter -> request and first token -> DOM, at both sizes
    "page_load_ms": 1500.0,
    "warm_load_ms": 600.0,
    "cold_start_ms": 2500.0,
    "rss_mb": 250.0,
}
STEP_TIMEOUT_MS = 20_000  # any single browser wait
SETTLE_SECONDS = 0.3  # quiet time after a page finished its run, before pressing Enter
REPLY_WORDS = 40
REPLY_CHUNK_DELAY = 0.005
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic"]
BUSY_MACHINE_CORES = 0.25  # other processes' mean CPU above which the table carries a warning

INPUT = '[data-testid="stChatInputTextArea"]'
MESSAGE = '[data-testid="stChatMessage"]'
IDLE_APP = '[data-testid="stApp"][data-test-script-state="notRunning"]'

# Installed just before Enter: stamps Enter and the first DOM insertion of the reply marker.
SEND_PROBE_JS = """
(marker) => {
  const b = (window.__bench = { enterAt: null, firstAt: null, frameAt: null });
  const onKey = (e) => {
    if (e.key === "Enter" && !e.shiftKey && b.enterAt === null) b.enterAt = performance.now();
  };
  document.addEventListener("keydown", onKey, true);
  const hit = (n) =>
    n.nodeType === Node.TEXT_NODE ? n.data.includes(marker)
      : (n.textContent || "").includes(marker);
  const obs = new MutationObserver((records) => {
    for (const r of records) {
      const found = r.type === "characterData" ? hit(r.target)
        : Array.prototype.some.call(r.addedNodes, hit);
      if (found) {
        b.firstAt = performance.now();
        requestAnimationFrame(() => { b.frameAt = performance.now(); });
        obs.disconnect();
        document.removeEventListener("keydown", onKey, true);
        return;
      }
    }
  });
  obs.observe(document.body, { childList: true, subtree: true, characterData: true });
}
"""

# Installed before any page script: stamps the chat input becoming visible and the thread drawn.
LOAD_PROBE_JS = """
(() => {
  const b = (window.__load = { inputAt: null, messagesAt: null, messages: 0 });
  const check = () => {
    if (b.inputAt === null) {
      const el = document.querySelector('[data-testid="stChatInputTextArea"]');
      if (el) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden")
          b.inputAt = performance.now();
      }
    }
    const count = document.querySelectorAll('[data-testid="stChatMessage"]').length;
    if (count > b.messages) { b.messages = count; b.messagesAt = performance.now(); }
  };
  // DOM changes, plus every frame for changes that are only layout (no mutation to observe).
  new MutationObserver(check).observe(document, { childList: true, subtree: true });
  const frame = () => { check(); if (b.inputAt === null) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
})();
"""

# The last chat message holds the reply's last word and no streaming cursor any more.
REPLY_DONE_JS = """
(lastWord) => {
  const all = document.querySelectorAll('[data-testid="stChatMessage"]');
  const last = all[all.length - 1];
  return Boolean(last) && last.textContent.includes(lastWord) &&
    !last.textContent.includes("\u258c");
}
"""

LOAD_RESULT_JS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return { ...window.__load, timeOrigin: performance.timeOrigin,
           responseEnd: nav ? nav.responseEnd : null,
           domContentLoaded: nav ? nav.domContentLoadedEventEnd : null };
}
"""


class BenchTimeout(Exception):
    """The overall --timeout ran out."""


class BenchError(RuntimeError):
    """Something the benchmark needs did not happen (the message says what)."""


# -- statistics --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "p90": round(percentile(values, 90), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


# -- conversation content ----------------------------------------------------------------------

_WORD_TEXT = (
    "the request stream token latency database message thread model reply server client "
    "cache index query session page browser render update value option config deploy test "
    "error retry timeout worker queue result schema column table python function return "
    "because however therefore usually sometimes which could should would might each every"
)
_WORDS = tuple(_WORD_TEXT.split())
_CODE = [
    "```python\ndef handler(request):\n    data = request.json()\n"
    "    return {{'ok': True, 'count': len(data)}}\n```",
    "```sql\nSELECT id, title FROM conversations\nWHERE user_id = :uid\n"
    "ORDER BY updated_at DESC LIMIT 20;\n```",
    "```bash\npip install -r requirements.txt\nstreamlit run app.py --server.port 8501\n```",
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _prose(rng: random.Random, chars: int) -> str:
    text = ""
    while len(text) < chars:
        text += (" " if text else "") + _sentence(rng)
    return text


def message_text(rng: random.Random, role: Role, index: int) -> str:
    """200-600 characters of Markdown; every third reply has a code block or a list."""
    target = rng.randint(200, 600)
    if role == Role.USER:
        return _prose(rng, target)
    kind = index % 6
    if kind == 1:
        code = rng.choice(_CODE)
        return f"{_prose(rng, max(80, target - len(code) - 2))}\n\n{code}"
    if kind == 3:
        items = "\n".join(f"- **{rng.choice(_WORDS)}**: {_sentence(rng)}" for _ in range(3))
        return f"{_prose(rng, max(80, target - len(items) - 2))}\n\n{items}"
    return _prose(rng, target)


def seed_conversation(services: Services, user_id: int, size: int, title: str, seed: int) -> str:
    """One conversation of `size` alternating user/assistant messages, written in one go."""
    rng = random.Random(seed)
    with services.infra.database.session() as session:
        conversation = Conversation(
            id=secrets.token_hex(16),
            user_id=user_id,
            title=title,
            model=services.settings.default_model,
            settings={},
        )
        session.add(conversation)
        session.flush()
        parent: int | None = None
        for index in range(size):
            role = Role.USER if index % 2 == 0 else Role.ASSISTANT
            content = message_text(rng, role, index)
            extra: dict[str, Any] = {}
            if role == Role.ASSISTANT:
                words = len(content.split())
                extra = {
                    "model": services.settings.default_model,
                    "finish_reason": "stop",
                    "prompt_tokens": 40 * index,
                    "completion_tokens": words,
                    "total_tokens": 40 * index + words,
                    "first_token_ms": rng.randint(200, 900),
                    "total_ms": rng.randint(1000, 6000),
                }
            row = Message(
                conversation_id=conversation.id,
                parent_id=parent,
                role=role.value,
                content=content,
                status=MessageStatus.COMPLETE.value,
                **extra,
            )
            session.add(row)
            session.flush()
            parent = row.id
        conversation.active_leaf_id = parent
        return conversation.id


# -- processes ---------------------------------------------------------------------------------


RUNNING: list[AppProcess] = []  # every app this run started and has not stopped yet
_LAUNCHES = count(1)


def launch_app(env: dict[str, str], log_dir: Path, deadline: float) -> AppProcess:
    """Start the app as the browser tests do (tests.support.app_process), polling every 10 ms."""
    log_path = log_dir / f"streamlit-{next(_LAUNCHES)}.log"
    timeout = max(0.0, min(60.0, deadline - time.monotonic()))
    try:
        app = start_app(env, log_path, timeout=timeout, poll_interval=0.01)
    except AppStartError as exc:
        raise BenchError(str(exc)) from exc
    RUNNING.append(app)
    return app


def stop_everything(fake: FakeOpenAI, workdir: Path, services: Services | None = None) -> None:
    """A bench's end, however it ends: every app it started, its services, the test server
    and the scratch folder."""
    for running in list(RUNNING):
        stop_app(running)
    if services is not None:
        services.close()
    fake.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def stop_app(app: AppProcess) -> None:
    app.stop(timeout=8)
    if app in RUNNING:
        RUNNING.remove(app)


def server_rss_mb(app: AppProcess) -> float:
    """Resident memory of the app's process and any children, in MB."""
    try:
        root = psutil.Process(app.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / 2**20


class BackgroundLoad:
    """CPU used by processes outside this benchmark's own process tree, sampled once a second.

    Another busy process on a 2-core machine inflates every figure here; the table says so.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.phase = "setup"
        self.samples: list[tuple[str, float]] = []  # (phase, cores busy outside our tree)
        self.top: dict[int, list[Any]] = {}  # pid -> [command, cpu seconds]
        self._seen: dict[int, tuple[psutil.Process, float]] = {}
        self._last = time.monotonic()
        self._elapsed = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-load", daemon=True)

    def __enter__(self) -> BackgroundLoad:
        self._tick(record=False)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # sampling must never break the benchmark
                self._tick(record=True)

    def _tick(self, *, record: bool) -> None:
        me = psutil.Process()
        ours = {me.pid, *(child.pid for child in me.children(recursive=True))}
        busy = 0.0
        alive: dict[int, tuple[psutil.Process, float]] = {}
        for proc in psutil.process_iter():
            if proc.pid in ours:
                continue
            try:
                times = proc.cpu_times()
                used = times.user + times.system
                previous = self._seen.get(proc.pid)
                if previous is not None and previous[0] == proc:  # same pid, same process
                    delta = max(0.0, used - previous[1])
                    busy += delta
                    if record and delta > 0:
                        entry = self.top.setdefault(proc.pid, [_command(proc), 0.0])
                        entry[1] += delta
                alive[proc.pid] = (proc, used)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self._seen = alive
        now = time.monotonic()
        if record and now > self._last:
            self.samples.append((self.phase, busy / (now - self._last)))
            self._elapsed += now - self._last
        self._last = now

    def summary(self) -> dict[str, Any]:
        by_phase: dict[str, list[float]] = {}
        for phase, cores in self.samples:
            by_phase.setdefault(phase, []).append(cores)
        seconds = self._elapsed or 1.0
        top = sorted(self.top.items(), key=lambda item: -item[1][1])[:3]
        mean = statistics.fmean(c for _, c in self.samples) if self.samples else 0.0
        return {
            "mean_cores": round(mean, 2),
            "max_cores": round(max((c for _, c in self.samples), default=0.0), 2),
            "by_phase": {phase: round(statistics.fmean(v), 2) for phase, v in by_phase.items()},
            "top": [
                {"pid": pid, "command": cmd, "mean_cores": round(used / seconds, 2)}
                for pid, (cmd, used) in top
            ],
        }


def _command(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())[:90] or proc.name()
    return "?"


def app_fingerprint() -> str:
    """Short hash of the app's Python sources, so a figure can be tied to the code it measured."""
    digest = hashlib.sha256()
    files = [ROOT / "app.py"]
    for folder in ("pages", "ui", "chatcore", "storage"):
        files += sorted((ROOT / folder).rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# -- browser measurements ----------------------------------------------------------------------


def clock_offset_ms(page: Page) -> float:
    """Page epoch clock (timeOrigin + now) minus this process's time.time(), in ms."""
    best: tuple[float, float] | None = None
    for _ in range(5):
        before = time.time()
        page_ms = page.evaluate("() => performance.timeOrigin + performance.now()")
        after = time.time()
        rtt = after - before
        offset = page_ms - (before + after) / 2 * 1000
        if best is None or rtt < best[0]:
            best = (rtt, offset)
    assert best is not None
    return best[1]


def wait_app_idle(page: Page) -> int:
    """Chat input visible, messages drawn, script run finished; returns the messages drawn."""
    page.wait_for_selector(INPUT, state="visible", timeout=STEP_TIMEOUT_MS)
    page.wait_for_selector(MESSAGE, state="attached", timeout=STEP_TIMEOUT_MS)
    page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)
    return page.locator(MESSAGE).count()


@dataclass
class Send:
    e2e_ms: float  # Enter -> marker in DOM
    frame_ms: float | None  # Enter -> first animation frame after that (about when painted)
    to_upstream_ms: float  # Enter -> the app's request arrived at the fake server
    after_upstream_ms: float  # request arrived + first-token delay -> marker in DOM
    app_first_token_ms: int | None  # what the app itself stored as first_token_ms
    messages_before: int
    messages_drawn: int  # chat messages in the DOM when Enter was pressed


@dataclass
class Bench:
    args: argparse.Namespace
    fake: FakeOpenAI
    services: Services
    user_id: int
    mono_to_epoch: float
    counter: int = 0
    replies: int = 0
    rss_after_20: float | None = None

    def marker(self) -> str:
        self.counter += 1
        return f"zqbench{self.counter:04d}mark"

    def send_once(self, page: Page, conversation_id: str, size: int, drawn: int) -> Send:
        marker = self.marker()
        reply = f"{marker} " + " ".join(f"word{i}" for i in range(REPLY_WORDS))
        self.fake.enqueue(
            Behavior(
                text=reply,
                first_token_delay=self.args.first_token_delay,
                chunk_delay=REPLY_CHUNK_DELAY,
            )
        )
        before_requests = len(self.fake.chat_requests())
        offset = clock_offset_ms(page)
        textarea = page.locator(INPUT)
        textarea.fill(f"Benchmark question {self.counter}: how long until the first token shows?")
        page.evaluate(SEND_PROBE_JS, marker)
        textarea.press("Enter")
        page.wait_for_function(
            "() => window.__bench.firstAt !== null && window.__bench.frameAt !== null",
            timeout=STEP_TIMEOUT_MS,
        )
        probe = page.evaluate("() => ({...window.__bench, origin: performance.timeOrigin})")
        # Let the reply finish and the script run end before anything else happens.
        page.wait_for_function(REPLY_DONE_JS, arg=f"word{REPLY_WORDS - 1}", timeout=STEP_TIMEOUT_MS)
        page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)
        requests = self.fake.chat_requests()
        if len(requests) != before_requests + 1:
            raise BenchError(f"expected one chat request per send, saw {len(requests)}")
        if probe["enterAt"] is None:
            raise BenchError("the Enter keydown was not seen by the page")
        request_epoch_ms = (requests[-1].received_at + self.mono_to_epoch) * 1000 + offset
        enter_epoch_ms = probe["origin"] + probe["enterAt"]
        first_epoch_ms = probe["origin"] + probe["firstAt"]
        delay_ms = self.args.first_token_delay * 1000
        self.replies += 1
        return Send(
            e2e_ms=probe["firstAt"] - probe["enterAt"],
            frame_ms=probe["frameAt"] - probe["enterAt"],
            to_upstream_ms=request_epoch_ms - enter_epoch_ms,
            after_upstream_ms=first_epoch_ms - request_epoch_ms - delay_ms,
            app_first_token_ms=self.app_first_token_ms(conversation_id),
            messages_before=size,
            messages_drawn=drawn,
        )

    def app_first_token_ms(self, conversation_id: str) -> int | None:
        repo = self.services.infra.chats
        conversation = repo.get_conversation(self.user_id, conversation_id)
        if conversation is None or conversation.active_leaf_id is None:
            return None
        message = repo.get_message(conversation.active_leaf_id)
        return message.first_token_ms if message else None

    def run_sends(self, browser: Browser, app: AppProcess, size: int) -> list[Send]:
        """Warm-up plus counted sends into `size`-message conversations."""
        total = self.args.warmup + self.args.sends
        seed = 1000 * size
        if self.args.grow:
            copies = [seed_conversation(self.services, self.user_id, size, f"Bench {size}", seed)]
        else:
            copies = [
                seed_conversation(self.services, self.user_id, size, f"Bench {size} #{i}", seed)
                for i in range(total)
            ]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        results: list[Send] = []
        try:
            page = context.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            for number in range(total):
                conversation_id = copies[0 if self.args.grow else number]
                current = size + (2 * number if self.args.grow else 0)
                if number == 0 or not self.args.grow:
                    page.goto(f"{app.url}/?c={conversation_id}", wait_until="commit")
                drawn = wait_app_idle(page)
                time.sleep(SETTLE_SECONDS)
                result = self.send_once(page, conversation_id, current, drawn)
                if self.replies == 20:
                    self.rss_after_20 = server_rss_mb(app)
                if number >= self.args.warmup:
                    results.append(result)
        finally:
            context.close()
        return results


def page_load(browser: Browser, url: str, count: int, *, fresh: bool) -> list[dict[str, float]]:
    """Navigation start -> chat input visible (and -> last message drawn), `count` times."""
    samples: list[dict[str, float]] = []
    context = None
    try:
        for _ in range(count):
            if fresh or context is None:
                if context is not None:
                    context.close()
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_init_script(LOAD_PROBE_JS)
                page = context.new_page()
            page.goto(url, wait_until="commit", timeout=STEP_TIMEOUT_MS)
            page.wait_for_function(
                "() => window.__load && window.__load.inputAt !== null", timeout=STEP_TIMEOUT_MS
            )
            page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)
            samples.append(page.evaluate(LOAD_RESULT_JS))
            if not fresh:
                time.sleep(SETTLE_SECONDS)
    finally:
        if context is not None:
            context.close()
    return samples


def cold_start(
    browser: Browser, env: dict[str, str], log_dir: Path, deadline: float, url_path: str
) -> tuple[AppProcess, dict[str, float]]:
    """Spawn the app, poll its health, and open the first page at once (tab made beforehand)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.add_init_script(LOAD_PROBE_JS)
        page = context.new_page()
        page.goto("about:blank")
        app = launch_app(env, log_dir, deadline)
        page.goto(app.url + url_path, wait_until="commit", timeout=STEP_TIMEOUT_MS)
        page.wait_for_function(
            "() => window.__load && window.__load.inputAt !== null", timeout=STEP_TIMEOUT_MS
        )
        sample = page.evaluate(LOAD_RESULT_JS)
        page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)
    finally:
        context.close()
    visible_epoch = (sample["timeOrigin"] + sample["inputAt"]) / 1000
    return app, {
        "health_ms": app.startup_s * 1000,
        "input_visible_ms": (visible_epoch - app.spawned_at) * 1000,
        "first_page_ms": sample["inputAt"],
    }


# -- the run -----------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(browser_version: str) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "streamlit": streamlit.__version__,
        "chromium": browser_version,
        "app_sources_sha256": app_fingerprint(),
    }


def run(args: argparse.Namespace, deadline: float, log: Any) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="anychat-bench-"))
    fake = FakeOpenAI().start()
    fake.default = Behavior(first_token_delay=args.first_token_delay)
    # The app's environment (sign-in off, SQLite in workdir); this process opens the same database.
    env = app_env(api_base_url=fake.base_url, api_key="sk-bench", data_dir=workdir)
    settings = replace(
        load_settings(env=env, secrets={}), api_key="sk-bench", base_url=fake.base_url
    )
    services = build_services(settings, prefetch_models=False)
    apps: list[AppProcess] = []
    try:
        user = services.local_user
        # time.time() - time.monotonic(): turns the fake server's monotonic stamps into epoch.
        mono_to_epoch = statistics.median(time.time() - time.monotonic() for _ in range(5))
        bench = Bench(args, fake, services, user.id, mono_to_epoch)
        log("seeding the page-load conversation")
        load_conversation = seed_conversation(services, user.id, 20, "Bench page load", 7)
        load_url_path = f"/?c={load_conversation}"

        with sync_playwright() as playwright, BackgroundLoad() as load:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            env_facts = environment(browser.version)
            try:
                load.phase = "cold start"
                cold: list[dict[str, float]] = []
                for attempt in range(args.cold_starts):
                    log(f"cold start {attempt + 1}/{args.cold_starts}")
                    app, figures = cold_start(browser, env, workdir, deadline, load_url_path)
                    apps.append(app)
                    cold.append(figures)
                    if attempt < args.cold_starts - 1:
                        stop_app(app)
                app = apps[-1]
                rss_start = server_rss_mb(app)

                load.phase = "page loads"
                log(f"page loads x{args.loads} (new context each)")
                fresh_loads = page_load(browser, app.url + load_url_path, args.loads, fresh=True)
                log(f"page loads x{args.loads} (same tab, warm cache)")
                warm_loads = page_load(browser, app.url + load_url_path, args.loads, fresh=False)
                sends: dict[int, list[Send]] = {}
                for size in (20, 500):
                    load.phase = f"sends {size}"
                    log(f"sends into {size}-message conversations: {args.warmup} + {args.sends}")
                    sends[size] = bench.run_sends(browser, app, size)
                rss_end = server_rss_mb(app)
            finally:
                browser.close()
        env_facts["background"] = load.summary()
        return report_data(
            args,
            env_facts,
            cold,
            fresh_loads,
            warm_loads,
            sends,
            {"start": rss_start, "after_20": bench.rss_after_20, "end": rss_end},
            bench.replies,
        )
    except BaseException:
        if apps:  # the server in use when it failed: its log usually says why
            print(f"--- streamlit log (tail) ---\n{apps[-1].log_tail()}", file=sys.stderr)
        raise
    finally:
        stop_everything(fake, workdir, services)


def report_data(
    args: argparse.Namespace,
    env_facts: dict[str, Any],
    cold: list[dict[str, float]],
    fresh_loads: list[dict[str, float]],
    warm_loads: list[dict[str, float]],
    sends: dict[int, list[Send]],
    rss: dict[str, float | None],
    replies: int,
) -> dict[str, Any]:
    delay_ms = args.first_token_delay * 1000
    data: dict[str, Any] = {
        "environment": env_facts,
        "config": {
            "sends": args.sends,
            "warmup": args.warmup,
            "first_token_delay_s": args.first_token_delay,
            "mode": "grow" if args.grow else "fresh copy per send",
            "page_loads": args.loads,
            "cold_starts": args.cold_starts,
        },
        "send": {},
        "page_load": {},
        "cold_start": {},
        "rss_mb": {
            **{k: None if v is None else round(v, 1) for k, v in rss.items()},
            "replies_total": replies,
        },
        "goals": {},
    }
    for size, results in sends.items():
        e2e = summary([s.e2e_ms for s in results])
        data["send"][str(size)] = {
            "enter_to_first_token_ms": e2e,
            "overhead_ms": round(e2e["median"] - delay_ms, 1),
            "enter_to_next_frame_ms": summary([s.frame_ms for s in results if s.frame_ms]),
            "enter_to_upstream_request_ms": summary([s.to_upstream_ms for s in results]),
            "upstream_first_token_to_dom_ms": summary([s.after_upstream_ms for s in results]),
            "app_stored_first_token_ms": summary(
                [float(s.app_first_token_ms) for s in results if s.app_first_token_ms is not None]
            ),
            "messages_before_send": summary([float(s.messages_before) for s in results]),
            "messages_drawn": summary([float(s.messages_drawn) for s in results]),
            "samples_ms": [round(s.e2e_ms, 1) for s in results],
        }
    for name, loads in (("new_context", fresh_loads), ("warm_reload", warm_loads)):
        data["page_load"][name] = {
            "input_visible_ms": summary([s["inputAt"] for s in loads]),
            "last_message_drawn_ms": summary([s["messagesAt"] for s in loads if s["messagesAt"]]),
            "messages_drawn": summary([float(s["messages"]) for s in loads]),
            "dom_content_loaded_ms": summary(
                [s["domContentLoaded"] for s in loads if s["domContentLoaded"]]
            ),
        }
    data["cold_start"] = {
        "health_ms": summary([c["health_ms"] for c in cold]),
        "input_visible_ms": summary([c["input_visible_ms"] for c in cold]),
        "first_page_ms": summary([c["first_page_ms"] for c in cold]),
        "samples": cold,
    }
    goals = data["goals"]

    def goal(name: str, value: float | None, limit: float) -> None:
        measured = value is not None and not math.isnan(value)
        met = (value <= limit) if measured else None  # None: not measured in this run
        goals[name] = {"value": round(value, 1) if measured else None, "goal": limit, "met": met}

    goal("overhead_20_ms", data["send"]["20"]["overhead_ms"], GOALS["overhead_20_ms"])
    goal("overhead_500_ms", data["send"]["500"]["overhead_ms"], GOALS["overhead_500_ms"])
    goal(
        "page_load_ms",
        data["page_load"]["new_context"]["input_visible_ms"]["median"],
        GOALS["page_load_ms"],
    )
    goal(
        "warm_load_ms",
        data["page_load"]["warm_reload"]["input_visible_ms"]["median"],
        GOALS["warm_load_ms"],
    )
    for size in ("20", "500"):
        send = data["send"][size]
        goal(
            f"to_upstream_{size}_ms",
            send["enter_to_upstream_request_ms"]["median"],
            GOALS["leg_ms"],
        )
        goal(
            f"token_to_dom_{size}_ms",
            send["upstream_first_token_to_dom_ms"]["median"],
            GOALS["leg_ms"],
        )
    goal("cold_start_ms", data["cold_start"]["input_visible_ms"]["median"], GOALS["cold_start_ms"])
    goal("rss_mb", rss["after_20"], GOALS["rss_mb"])
    return data


def background_lines(env: dict[str, Any]) -> list[str]:
    """The table's lines on what else used the CPU during the run (bench/compare.py too):
    on two cores a busy neighbour inflates every figure."""
    background = env.get("background")
    if not background:
        return []
    phases = ", ".join(f"{k} {v:.2f}" for k, v in background["by_phase"].items())
    lines = [
        f"  other processes' CPU during the run: mean {background['mean_cores']:.2f} cores,"
        f" max {background['max_cores']:.2f} ({phases})"
    ]
    if background["mean_cores"] > BUSY_MACHINE_CORES:
        lines.append("  WARNING: the machine was busy with other work; figures are inflated. Top:")
        lines += [
            f"    pid {t['pid']}: {t['mean_cores']:.2f} cores  {t['command']}"
            for t in background["top"]
        ]
    return lines


def render_table(data: dict[str, Any]) -> str:
    env = data["environment"]
    cfg = data["config"]
    goals = data["goals"]
    lines = [
        "AnyChat latency benchmark",
        f"  {env['cores']} cores ({env['cpu']}), {env['memory_gb']} GB, {env['os']}",
        f"  Python {env['python']}, Streamlit {env['streamlit']}, Chromium {env['chromium']};"
        f" app sources sha256 {env['app_sources_sha256']}",
        f"  fake server first-token delay {cfg['first_token_delay_s'] * 1000:.0f} ms;"
        f" {cfg['warmup']} warm-up + {cfg['sends']} counted sends per size ({cfg['mode']})",
    ]
    lines += background_lines(env)
    lines.append("")

    def mark(name: str) -> str:
        item = goals[name]
        verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[item["met"]]
        return f"{verdict} (goal <= {item['goal']:g})"

    def row(label: str, s: dict[str, float], extra: str = "") -> str:
        if not s.get("n"):
            return f"  {label:<44} (no samples)"
        return (
            f"  {label:<44} {s['median']:8.1f} {s['p90']:8.1f} {s['min']:8.1f} {s['max']:8.1f}"
            f" {s['n']:4d}  {extra}"
        ).rstrip()

    columns = "".join(f" {name:>8}" for name in ("median", "p90", "min", "max"))
    head = f"  {'figure (ms unless noted)':<44}{columns} {'n':>4}"
    lines += [head, "  " + "-" * (len(head) - 2)]
    for size in ("20", "500"):
        send = data["send"][size]
        lines.append(f"  1. Enter -> first reply token in DOM, {size}-message conversation")
        lines.append(row("   Enter -> first token in DOM", send["enter_to_first_token_ms"]))
        lines.append(
            f"  {'   overhead (median - server delay)':<44} {send['overhead_ms']:8.1f}"
            f"{'':33}  {mark(f'overhead_{size}_ms')}"
        )
        lines.append(row("   Enter -> next animation frame", send["enter_to_next_frame_ms"]))
        lines.append(
            row(
                "   Enter -> request reaches upstream",
                send["enter_to_upstream_request_ms"],
                mark(f"to_upstream_{size}_ms"),
            )
        )
        lines.append(
            row(
                "   upstream first token -> DOM",
                send["upstream_first_token_to_dom_ms"],
                mark(f"token_to_dom_{size}_ms"),
            )
        )
        lines.append(row("   first_token_ms stored by the app", send["app_stored_first_token_ms"]))
        before = send["messages_before_send"]
        drawn = send["messages_drawn"]
        lines.append(
            f"  {'   messages in the chat / drawn on the page':<44}"
            f" {before['min']:.0f}..{before['max']:.0f} / {drawn['min']:.0f}..{drawn['max']:.0f}"
        )
    lines.append("  2. Page load (20 messages): navigation start ->")
    fresh = data["page_load"]["new_context"]
    warm = data["page_load"]["warm_reload"]
    lines.append(row("   chat input visible (new context)", fresh["input_visible_ms"]))
    lines.append(f"  {'':44} {'':43}  {mark('page_load_ms')}")
    drawn = fresh["messages_drawn"]
    lines.append(
        row(
            f"   last of {drawn['max']:.0f} messages drawn (new context)",
            fresh["last_message_drawn_ms"],
        )
    )
    lines.append(row("   DOMContentLoaded (new context)", fresh["dom_content_loaded_ms"]))
    lines.append(
        row(
            "   chat input visible (reload, warm cache)",
            warm["input_visible_ms"],
            mark("warm_load_ms"),
        )
    )
    lines.append("  3. Cold start: spawn `streamlit run server.py` ->")
    cold = data["cold_start"]
    lines.append(row("   /_stcore/health ok", cold["health_ms"]))
    lines.append(row("   first page's chat input visible", cold["input_visible_ms"]))
    lines.append(f"  {'':44} {'':43}  {mark('cold_start_ms')}")
    lines.append(row("   (that first page: navigation -> input)", cold["first_page_ms"]))
    rss = data["rss_mb"]
    lines.append("  4. Streamlit server RSS (MB, incl. children)")
    lines.append(f"  {'   after start + first page':<44} {rss['start']:8.1f}")
    after_20 = rss["after_20"]
    shown = f"{after_20:8.1f}" if after_20 is not None else "     n/a"
    lines.append(f"  {'   after 20 replies (incl. warm-up)':<44} {shown}{'':35}  {mark('rss_mb')}")
    end_label = f"   at the end ({rss['replies_total']} replies, all page loads)"
    lines.append(f"  {end_label:<44} {rss['end']:8.1f}")
    missed = [name for name, item in goals.items() if item["met"] is False]
    met = sum(1 for item in goals.values() if item["met"])
    lines += ["", f"  goals met: {met}/{len(goals)}"]
    if missed:
        lines.append(f"  missed: {', '.join(missed)}")
    return "\n".join(lines)


def add_run_options(parser: argparse.ArgumentParser, *, timeout: float = 600.0) -> None:
    """The options every Chromium bench run through `run_bounded` takes."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=timeout, help="hard limit, seconds")
    parser.add_argument("--chromium", default="/usr/bin/chromium")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20, help="counted sends per size (>= 1)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted sends per size")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds")
    parser.add_argument("--loads", type=int, default=10, help="page loads per variant")
    parser.add_argument("--cold-starts", type=int, default=5, help="server spawns to time")
    parser.add_argument("--grow", action="store_true", help="send into one growing chat")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.sends < 1 or args.warmup < 0 or args.loads < 1 or args.cold_starts < 1:
        parser.error("--sends, --loads and --cold-starts must be >= 1, --warmup >= 0")
    if args.sends + args.warmup > 200:
        parser.error("at most 200 sends per size")
    return args


def run_bounded(
    args: argparse.Namespace,
    run_bench: Callable[[argparse.Namespace, float, Callable[[str], None]], dict[str, Any]],
    table: Callable[[dict[str, Any]], str],
    failures: tuple[type[BaseException], ...] = (),
) -> int:
    """Run a benchmark within `args.timeout` and print its table (or JSON): on timeout, and
    if cleanup itself hangs, every app process it started is stopped (bench/compare.py too)."""
    started = time.monotonic()
    deadline = started + args.timeout

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def on_alarm(_signum: int, _frame: object) -> None:
        raise BenchTimeout(f"the benchmark exceeded --timeout {args.timeout:g} s")

    def last_resort() -> None:
        # If cleanup itself hangs: stop what we started and leave.
        time.sleep(args.timeout + 60)
        for app in list(RUNNING):
            app.kill()
        print("benchmark hung past its timeout; killed its processes", file=sys.stderr)
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    signal.signal(signal.SIGTERM, lambda *_: on_alarm(0, None))
    threading.Thread(target=last_resort, daemon=True).start()
    expected: tuple[type[BaseException], ...] = (BenchTimeout, BenchError, *failures)
    try:
        data = run_bench(args, deadline, log)
    except expected as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    data["duration_s"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(data, indent=2, default=float))
    else:
        print(table(data))
        print(f"  ({data['duration_s']} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_bounded(parse_args(argv), run, render_table)


if __name__ == "__main__":
    sys.exit(main())
