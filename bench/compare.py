"""AnyChat Compare benchmark: each column's first token, three models side by side in Chromium.

Usage (from the project folder, after ``scripts/install.sh dev``; run as a module so that the
fake server and the app launcher import from ``tests.support``)::

    .venv/bin/python -m bench.compare                  # table, about 2 minutes
    .venv/bin/python -m bench.compare --json           # the same figures as JSON
    .venv/bin/python -m bench.compare --sends 30 --first-token-delay 0.2

Issue 14's goal: with three models compared and a server that takes 200 ms to the first token,
each column's first token is visible within 100 ms of that model's own first token (median of
20 sends).  A comparison sends one request per model at once and follows the replies together
(ui/live_view.py ``_follow_many``), so a column can lag behind its model even when a single
reply would not; this measures that lag per column.

How: the fake server (in this process) answers every model after ``--first-token-delay`` and
signs each reply ``[MODEL] <send marker> ...``, so each column's first text is unique to its
model and to this send.  The sidebar's "Compare with" gets claude-3-5-sonnet and deepseek-chat
once, next to the picker's gpt-4o; the choice lives in the tab's session, so every send happens
in the same tab and each starts from the sidebar's "New chat" (every send is the first message
of a fresh conversation; navigating to the app root would start a new session and forget the
choice).  Before Enter a MutationObserver stamps ``performance.now()`` the first time each
model's marker is in the DOM.  Per column, "first token -> visible" = that stamp - (the
model's request arrival at the fake server + the first-token delay), with page and server
clocks aligned as bench/chat_latency.py does.  Also printed: Enter -> each request at the
upstream, and the spread between the three requests' arrival (near 0: they go in parallel).

The first ``--warmup`` sends are not counted.  CPU used by other processes is sampled and
printed: on a 2-core machine a busy neighbour inflates every figure.  Everything runs on
127.0.0.1 with a temporary SQLite database; the app is stopped at the end, also on failure or
timeout (``--timeout``, default 600 s).  Needs Chromium at /usr/bin/chromium (``--chromium``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bench.chat_latency import (
    CHROMIUM_ARGS,
    IDLE_APP,
    INPUT,
    SETTLE_SECONDS,
    STEP_TIMEOUT_MS,
    BackgroundLoad,
    BenchError,
    add_run_options,
    background_lines,
    clock_offset_ms,
    environment,
    launch_app,
    percentile,
    run_bounded,
    stop_everything,
    summary,
)
from tests.support.app_process import AppProcess, app_env
from tests.support.fake_openai import Behavior, FakeOpenAI, RecordedRequest
from tests.support.fake_openai.directives import last_user_text

PICKER_MODEL = "gpt-4o"  # the sidebar's Model by default
COMPARED_MODELS = ("claude-3-5-sonnet", "deepseek-chat")
MODELS = (PICKER_MODEL, *COMPARED_MODELS)  # column order
GOAL_MS = 100.0  # each column's median, model's first token -> visible in its column
REPLY_WORDS = 40
# Two words a chunk: the first content delta is "[MODEL] <marker> ", the whole marker at once.
CHUNK_WORDS = 2
OPTION_TIMEOUT_MS = 3_000
RUN_START_SECONDS = 0.15  # a click's run shows in the page only once the server started it
CURSOR = "\u258c"

SIDEBAR = '[data-testid="stSidebar"]'
ASSISTANT = '[data-testid="stChatMessage"]:has([data-testid="stChatMessageAvatarAssistant"])'
COLUMN = '[data-testid="stColumn"]'

# Installed just before Enter: stamps Enter and the first time each marker is in the DOM.  The
# changed node's whole element text is searched, so a marker split over text nodes still counts.
SEND_PROBE_JS = """
(markers) => {
  const b = (window.__compare = { enterAt: null, seen: {} });
  const onKey = (e) => {
    if (e.key === "Enter" && !e.shiftKey && b.enterAt === null) b.enterAt = performance.now();
  };
  document.addEventListener("keydown", onKey, true);
  const obs = new MutationObserver((records) => {
    const now = performance.now();
    const checked = new Set();
    for (const r of records) {
      const node = r.type === "characterData" ? r.target.parentNode : r.target;
      if (!node || checked.has(node)) continue;
      checked.add(node);
      const text = node.textContent || "";
      for (const m of markers) if (!(m in b.seen) && text.includes(m)) b.seen[m] = now;
    }
    if (markers.every((m) => m in b.seen)) {
      obs.disconnect();
      document.removeEventListener("keydown", onKey, true);
    }
  });
  obs.observe(document.body, { childList: true, subtree: true, characterData: true });
}
"""

# Every column of the newest reply holds its last word and no streaming cursor is left.
REPLY_DONE_JS = """
([selector, lastWord, columns]) => {
  const all = document.querySelectorAll(selector);
  const last = all[all.length - 1];
  if (!last) return false;
  const cols = last.querySelectorAll('[data-testid="stColumn"]');
  return cols.length === columns &&
    Array.prototype.every.call(cols, (c) => c.textContent.includes(lastWord)) &&
    !last.textContent.includes("\u258c");
}
"""

COLUMN_TEXTS_JS = """
(selector) => {
  const all = document.querySelectorAll(selector);
  const last = all[all.length - 1];
  return last ? Array.from(last.querySelectorAll('[data-testid="stColumn"]'),
                           (c) => c.textContent) : [];
}
"""


# -- figures (pure) ----------------------------------------------------------------------------


def stats(values: Sequence[float]) -> dict[str, float]:
    """chat_latency's summary plus the 95th percentile the goal's table shows."""
    figures = summary(list(values))
    if values:
        figures["p95"] = round(percentile(list(values), 95), 1)
    return figures


@dataclass
class Send:
    """One send's figures, in ms, each keyed by model."""

    after_first_token_ms: dict[str, float]  # model's first token -> its marker in the DOM
    enter_to_visible_ms: dict[str, float]  # Enter -> the model's marker in the DOM
    enter_to_upstream_ms: dict[str, float]  # Enter -> the model's request at the fake server
    request_spread_ms: float  # last request's arrival - first's

    def as_json(self) -> dict[str, Any]:
        def rounded(values: dict[str, float]) -> dict[str, float]:
            return {model: round(value, 1) for model, value in values.items()}

        return {
            "first_token_to_visible_ms": rounded(self.after_first_token_ms),
            "enter_to_visible_ms": rounded(self.enter_to_visible_ms),
            "enter_to_upstream_ms": rounded(self.enter_to_upstream_ms),
            "request_spread_ms": round(self.request_spread_ms, 1),
        }


def send_figures(
    enter_ms: float,
    visible_ms: dict[str, float],
    request_ms: dict[str, float],
    first_token_delay_ms: float,
) -> Send:
    """One send from epoch stamps on the page's clock: Enter, each marker seen, each request."""
    return Send(
        after_first_token_ms={
            model: visible_ms[model] - (request_ms[model] + first_token_delay_ms)
            for model in request_ms
        },
        enter_to_visible_ms={model: visible_ms[model] - enter_ms for model in request_ms},
        enter_to_upstream_ms={model: request_ms[model] - enter_ms for model in request_ms},
        request_spread_ms=max(request_ms.values()) - min(request_ms.values()),
    )


def report_data(
    args: argparse.Namespace, env_facts: dict[str, Any], sends: Sequence[Send]
) -> dict[str, Any]:
    """Per model and overall figures, and the goal per column (its median <= GOAL_MS)."""
    per_model = {
        model: {
            "first_token_to_visible_ms": stats([s.after_first_token_ms[model] for s in sends]),
            "enter_to_visible_ms": stats([s.enter_to_visible_ms[model] for s in sends]),
            "enter_to_upstream_ms": stats([s.enter_to_upstream_ms[model] for s in sends]),
        }
        for model in args.models
    }
    goals = {}
    for model, figures in per_model.items():
        median = figures["first_token_to_visible_ms"].get("median")
        goals[model] = {
            "value": median,
            "goal": GOAL_MS,
            "met": None if median is None else median <= GOAL_MS,
        }
    return {
        "environment": env_facts,
        "config": {
            "sends": args.sends,
            "warmup": args.warmup,
            "first_token_delay_s": args.first_token_delay,
            "chunk_delay_s": args.chunk_delay,
            "reply_words": REPLY_WORDS,
            "words_per_chunk": CHUNK_WORDS,
            "models": list(args.models),
            "mode": "same tab, sidebar New chat before each send",
        },
        "per_model": per_model,
        "overall": {
            "first_token_to_visible_ms": stats(
                [v for s in sends for v in s.after_first_token_ms.values()]
            ),
            "slowest_column_per_send_ms": stats(
                [max(s.after_first_token_ms.values()) for s in sends]
            ),
            "request_spread_ms": stats([s.request_spread_ms for s in sends]),
        },
        "goals": goals,
        "samples": [s.as_json() for s in sends],
    }


def render_table(data: dict[str, Any]) -> str:
    env = data["environment"]
    cfg = data["config"]
    lines = [
        "AnyChat Compare benchmark (issue 14)",
        f"  {env['cores']} cores ({env['cpu']}), {env['memory_gb']} GB, {env['os']}",
        f"  Python {env['python']}, Streamlit {env['streamlit']}, Chromium {env['chromium']};"
        f" app sources sha256 {env['app_sources_sha256']}",
        f"  models {', '.join(cfg['models'])}; fake server first token after"
        f" {cfg['first_token_delay_s'] * 1000:.0f} ms, then {cfg['reply_words']} words,"
        f" {cfg['words_per_chunk']} a chunk every {cfg['chunk_delay_s'] * 1000:.0f} ms",
        f"  {cfg['warmup']} warm-up + {cfg['sends']} counted sends ({cfg['mode']})",
    ]
    lines += background_lines(env)
    lines.append("")

    def row(label: str, s: dict[str, float], extra: str = "") -> str:
        if not s.get("n"):
            return f"  {label:<40} (no samples)"
        return (
            f"  {label:<40} {s['median']:8.1f} {s['p95']:8.1f} {s['min']:8.1f} {s['max']:8.1f}"
            f" {s['n']:4d}  {extra}"
        ).rstrip()

    def mark(model: str) -> str:
        item = data["goals"][model]
        verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[item["met"]]
        return f"{verdict} (goal median <= {item['goal']:g})"

    columns = "".join(f" {name:>8}" for name in ("median", "p95", "min", "max"))
    head = f"  {'figure (ms)':<40}{columns} {'n':>4}"
    lines += [head, "  " + "-" * (len(head) - 2)]
    lines.append("  model's first token -> visible in its column")
    for model, figures in data["per_model"].items():
        lines.append(row(f"   {model}", figures["first_token_to_visible_ms"], mark(model)))
    overall = data["overall"]
    lines.append(row("   all columns together", overall["first_token_to_visible_ms"]))
    lines.append(row("   slowest column of each send", overall["slowest_column_per_send_ms"]))
    lines.append("  Enter -> request reaches upstream")
    for model, figures in data["per_model"].items():
        lines.append(row(f"   {model}", figures["enter_to_upstream_ms"]))
    lines.append(row("   spread of the three arrivals", overall["request_spread_ms"]))
    lines.append("  Enter -> first token visible in its column")
    for model, figures in data["per_model"].items():
        lines.append(row(f"   {model}", figures["enter_to_visible_ms"]))
    goals = data["goals"].values()
    met = sum(1 for item in goals if item["met"])
    lines += ["", f"  goal met for {met}/{len(goals)} columns"]
    return "\n".join(lines)


# -- the browser -------------------------------------------------------------------------------


def wait_app_run(page: Page) -> None:
    """The run a click or Enter started has finished (tests/browser's wait_for_app_run)."""
    time.sleep(RUN_START_SECONDS)
    page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)


def wait_page_ready(page: Page) -> None:
    page.wait_for_selector(INPUT, state="visible", timeout=STEP_TIMEOUT_MS)
    page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)


def choose_to_compare(page: Page, models: Sequence[str]) -> None:
    """One model per opening of the list, through its text input (a click on the box's middle
    can land on a chosen model's remove cross).  Retried, because a fresh server's first page
    may offer nothing yet (see the reload below)."""
    picker = page.locator(f'{SIDEBAR} [data-testid="stMultiSelect"]').filter(
        has_text="Compare with"
    )
    seen: list[str] = []  # what each attempt found, for the error
    for _attempt in range(4 * len(models)):
        missing = [model for model in models if model not in picker.inner_text()]
        if not missing:
            return
        picker.locator("input").click()
        option = page.get_by_role("option", name=missing[0], exact=True)
        try:
            option.click(timeout=OPTION_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            offered = page.get_by_role("option").all_inner_texts()
            seen.append(f"{missing[0]} not offered among {offered}")
            # A fresh server's first page may only have had the default model ("Loading the
            # model list…"); the list reaches the picker on a later run, which a reload makes.
            page.reload(wait_until="commit")
            wait_page_ready(page)
            continue
        page.keyboard.press("Escape")
        wait_app_run(page)
        seen.append(f"chosen: {picker.inner_text().splitlines()[1:]}")
    missing = [model for model in models if model not in picker.inner_text()]
    if missing:
        raise BenchError(f"'Compare with' did not take {', '.join(missing)}: {'; '.join(seen)}")


def start_new_chat(page: Page) -> None:
    page.locator(SIDEBAR).get_by_role("button", name="New chat", exact=True).click()
    wait_app_run(page)
    page.wait_for_selector(INPUT, state="visible", timeout=STEP_TIMEOUT_MS)
    if page.locator(ASSISTANT).count():
        raise BenchError("'New chat' still shows the previous reply")


@dataclass
class CompareBench:
    args: argparse.Namespace
    fake: FakeOpenAI
    mono_to_epoch: float  # time.time() - time.monotonic(), for the fake server's stamps
    counter: int = 0

    def behavior(self, marker: str) -> Behavior:
        words = " ".join(f"word{i}" for i in range(REPLY_WORDS - 2))
        return Behavior(
            text=f"{marker} {words} {marker}end",
            first_token_delay=self.args.first_token_delay,
            chunk_delay=self.args.chunk_delay,
            chunk_size=CHUNK_WORDS,
            sign_model=True,
        )

    def send_once(self, page: Page) -> Send:
        self.counter += 1
        marker = f"zqcmp{self.counter:04d}mark"
        question = f"zqask{self.counter:04d}"
        markers = {model: f"[{model}] {marker}" for model in self.args.models}
        self.fake.default = self.behavior(marker)
        offset = clock_offset_ms(page)
        textarea = page.locator(INPUT)
        textarea.fill(f"Compare question {question}: which model shows its first token first?")
        page.evaluate(SEND_PROBE_JS, list(markers.values()))
        textarea.press("Enter")
        page.wait_for_function(
            "(n) => Object.keys(window.__compare.seen).length === n",
            arg=len(markers),
            timeout=STEP_TIMEOUT_MS,
        )
        probe = page.evaluate("() => ({...window.__compare, origin: performance.timeOrigin})")
        page.wait_for_function(
            REPLY_DONE_JS, arg=[ASSISTANT, f"{marker}end", len(markers)], timeout=STEP_TIMEOUT_MS
        )
        wait_app_run(page)
        self.check_columns(page, list(markers.values()))
        if probe["enterAt"] is None:
            raise BenchError("the Enter keydown was not seen by the page")
        arrivals = self.arrivals(question)
        request_ms = {
            model: (arrivals[model] + self.mono_to_epoch) * 1000 + offset for model in markers
        }
        visible_ms = {model: probe["origin"] + probe["seen"][m] for model, m in markers.items()}
        return send_figures(
            probe["origin"] + probe["enterAt"],
            visible_ms,
            request_ms,
            self.args.first_token_delay * 1000,
        )

    def check_columns(self, page: Page, markers: list[str]) -> None:
        """Each marker in its own column, in the picker-first order."""
        texts: list[str] = page.evaluate(COLUMN_TEXTS_JS, ASSISTANT)
        placed = len(texts) == len(markers) and all(
            marker in text for marker, text in zip(markers, texts, strict=True)
        )
        if not placed:
            raise BenchError(f"columns not in model order: {[t[:60] for t in texts]}")

    def arrivals(self, question: str) -> dict[str, float]:
        """Each model's request for this send, as the fake server's monotonic stamp."""
        requests: list[RecordedRequest] = [
            r for r in self.fake.chat_requests() if question in last_user_text(r.body)
        ]
        models = sorted(str(r.body.get("model")) for r in requests)
        if models != sorted(self.args.models):
            raise BenchError(f"expected one request per model, saw {models}")
        return {str(r.body["model"]): r.received_at for r in requests}


def run(args: argparse.Namespace, deadline: float, log: Callable[[str], None]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="anychat-bench-compare-"))
    fake = FakeOpenAI().start()
    fake.default = Behavior(first_token_delay=args.first_token_delay)
    env = app_env(api_base_url=fake.base_url, api_key="sk-bench", data_dir=workdir)
    app: AppProcess | None = None
    try:
        mono_to_epoch = statistics.median(time.time() - time.monotonic() for _ in range(5))
        bench = CompareBench(args, fake, mono_to_epoch)
        with sync_playwright() as playwright, BackgroundLoad() as load:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            env_facts = environment(browser.version)
            try:
                log("starting the app")
                app = launch_app(env, workdir, deadline)
                context = browser.new_context(
                    viewport={"width": 1400, "height": 900}, locale="en-US", timezone_id="UTC"
                )
                page = context.new_page()
                page.set_default_timeout(STEP_TIMEOUT_MS)
                page.goto(app.url, wait_until="commit")
                wait_page_ready(page)
                log(f"comparing {PICKER_MODEL} with {', '.join(args.models[1:])}")
                choose_to_compare(page, args.models[1:])
                sends: list[Send] = []
                for number in range(args.warmup + args.sends):
                    counted = number >= args.warmup
                    load.phase = "sends" if counted else "warm-up"
                    if number:
                        start_new_chat(page)
                    time.sleep(SETTLE_SECONDS)
                    result = bench.send_once(page)
                    if counted:
                        sends.append(result)
                    worst = max(result.after_first_token_ms.values())
                    total = args.warmup + args.sends
                    log(f"send {number + 1}/{total}: slowest column {worst:.0f} ms")
            finally:
                browser.close()
        env_facts["background"] = load.summary()
        return report_data(args, env_facts, sends)
    except BaseException:
        if app is not None:  # its log usually says why
            print(f"--- streamlit log (tail) ---\n{app.log_tail()}", file=sys.stderr)
        raise
    finally:
        stop_everything(fake, workdir)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20, help="counted sends (>= 1)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted sends first")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds")
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between chunks")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.sends < 1 or args.warmup < 0 or args.sends + args.warmup > 200:
        parser.error("--sends must be >= 1, --warmup >= 0, and at most 200 sends in all")
    if args.first_token_delay < 0 or args.chunk_delay < 0:
        parser.error("delays must be >= 0")
    args.models = MODELS
    return args


def main(argv: list[str] | None = None) -> int:
    return run_bounded(parse_args(argv), run, render_table, (PlaywrightError,))


if __name__ == "__main__":
    sys.exit(main())
