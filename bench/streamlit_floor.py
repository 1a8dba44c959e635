"""What Streamlit itself costs: the same page as bench.chat_latency's, with no AnyChat in it.

Usage (from the project folder, after ``scripts/install.sh dev``)::

    .venv/bin/python -m bench.streamlit_floor            # table, about 2 minutes
    .venv/bin/python -m bench.streamlit_floor --json

A bare Streamlit script draws the 20 messages bench.chat_latency's page-load conversation holds
(the same generator and seed: four replies carry a code block) with ``st.chat_message`` and
``st.markdown``, then a chat input that takes files and audio as AnyChat's does, and nothing
else: no sidebar, no database, no sign-in, no services. It runs with Streamlit's defaults from
a scratch folder. The same figures as bench.chat_latency's are taken the same way:

1. spawn -> ``/_stcore/health`` ok;
2. navigation -> chat input visible, with a new browser context each time and as reloads of
   one tab;
3. Enter -> the input's ``on_submit`` callback running on the server (page and server clocks
   aligned), the part of "Enter -> request at the upstream" that no app code can shorten;

once for the page as it is and once with its code blocks written as lists ("no code"), because
the first code block on a page loads Streamlit's syntax highlighter (a 0.5 MB script that
registers every Prism language on the browser's main thread). Figures an app built on Streamlit
cannot beat on this machine: read AnyChat's against them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from bench.chat_latency import (
    CHROMIUM_ARGS,
    GOALS,
    IDLE_APP,
    INPUT,
    RUNNING,
    STEP_TIMEOUT_MS,
    add_run_options,
    clock_offset_ms,
    message_text,
    page_load,
    run_bounded,
    stop_app,
)
from storage import Role
from tests.support.app_process import AppProcess, AppStartError, start_app

PAGE_SEED = 7  # bench.chat_latency seeds its page-load conversation with this
PAGE_MESSAGES = 20

BARE_PAGE = """
import json
import time
from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent


def submitted() -> None:
    with (HERE / "submits.txt").open("a") as out:
        out.write(f"{time.time()}\\n")


for role, text in json.loads((HERE / "messages.json").read_text()):
    with st.chat_message(role):
        st.markdown(text)
st.chat_input("Message", key="message", accept_file="multiple", accept_audio=True,
              on_submit=submitted)
"""


def page_messages(*, code: bool) -> list[tuple[str, str]]:
    """bench.chat_latency's 20 page-load messages; without `code`, each code block a list."""
    rng = random.Random(PAGE_SEED)
    out = []
    for index in range(PAGE_MESSAGES):
        role = Role.USER if index % 2 == 0 else Role.ASSISTANT
        text = message_text(rng, role, index)
        if not code:
            text = _without_code(text)
        out.append(("user" if role == Role.USER else "assistant", text))
    return out


def _without_code(text: str) -> str:
    head, fence, rest = text.partition("```")
    if not fence:
        return text
    body = rest.split("\n", 1)[1].split("```", 1)[0]
    return head + "\n".join(f"- {line}" for line in body.splitlines() if line.strip())


def start_bare(folder: Path, *, code: bool, deadline: float) -> AppProcess:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bare_page.py").write_text(BARE_PAGE)
    (folder / "messages.json").write_text(json.dumps(page_messages(code=code)))
    (folder / "submits.txt").write_text("")
    timeout = max(1.0, min(60.0, deadline - time.monotonic()))
    try:
        app = start_app(
            _clean_env(),
            folder / "streamlit.log",
            timeout=timeout,
            poll_interval=0.01,
            script="bare_page.py",
            cwd=folder,
        )
    except AppStartError as exc:
        raise SystemExit(f"the bare page did not start: {exc}") from exc
    RUNNING.append(app)
    return app


def _clean_env() -> dict[str, str]:
    """This shell's environment without STREAMLIT_ settings: Streamlit's defaults."""
    return {key: value for key, value in os.environ.items() if not key.startswith("STREAMLIT_")}


def enter_to_callback(browser: Browser, app: AppProcess, folder: Path, sends: int) -> list[float]:
    """Enter in the page -> the on_submit callback's time.time() on the server, in ms."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(app.url, timeout=STEP_TIMEOUT_MS)
        page.wait_for_selector(INPUT, state="visible", timeout=STEP_TIMEOUT_MS)
        page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)
        offset = clock_offset_ms(page)
        page.evaluate(
            """() => { window.__enters = [];
              document.addEventListener('keydown', (e) => { if (e.key === 'Enter')
                window.__enters.push(performance.timeOrigin + performance.now()); }, true); }"""
        )
        for number in range(sends + 2):
            page.fill(INPUT, f"question {number}")
            page.keyboard.press("Enter")
            time.sleep(0.3)
            page.wait_for_selector(IDLE_APP, state="attached", timeout=STEP_TIMEOUT_MS)
        enters = page.evaluate("window.__enters")
    finally:
        context.close()
    served = [float(line) * 1000 for line in (folder / "submits.txt").read_text().split()]
    pairs = list(zip(enters, served, strict=False))[2:]  # the first two warm the page up
    return [server_ms + offset - enter_ms for enter_ms, server_ms in pairs]


def spawn_to_health(folder: Path, count: int, deadline: float) -> list[float]:
    out = []
    for _ in range(count):
        app = start_bare(folder, code=True, deadline=deadline)
        out.append(app.startup_s * 1000)
        stop_app(app)
    return out


def run(args: argparse.Namespace, deadline: float, log: Any) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="anychat-floor-"))
    data: dict[str, Any] = {"pages": {}}
    try:
        log(f"spawn -> health x{args.cold_starts}")
        data["health_ms"] = spawn_to_health(workdir / "spawn", args.cold_starts, deadline)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            data["chromium"] = browser.version
            for name, code in (("with code", True), ("no code", False)):
                folder = workdir / name.replace(" ", "-")
                app = start_bare(folder, code=code, deadline=deadline)
                try:
                    log(f"{name}: page loads x{args.loads}, new context and warm")
                    fresh = page_load(browser, app.url, args.loads, fresh=True)
                    warm = page_load(browser, app.url, args.loads, fresh=False)
                    log(f"{name}: Enter -> callback x{args.sends}")
                    enters = enter_to_callback(browser, app, folder, args.sends)
                finally:
                    stop_app(app)
                data["pages"][name] = {
                    "new_context_ms": [sample["inputAt"] for sample in fresh],
                    "warm_reload_ms": [sample["inputAt"] for sample in warm],
                    "enter_to_callback_ms": enters,
                }
            browser.close()
    finally:
        for app in list(RUNNING):
            stop_app(app)
        shutil.rmtree(workdir, ignore_errors=True)
    return data


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):7.0f}" if values else "      –"


def render_table(data: dict[str, Any]) -> str:
    pages = data["pages"]
    lines = [
        f"Bare Streamlit, same 20 messages as bench.chat_latency (Chromium {data['chromium']});"
        " medians, ms",
        f"  {'':44} {'with code':>10} {'no code':>10}   AnyChat's goal",
        f"  {'spawn -> /_stcore/health ok':44} {_median(data['health_ms']):>10} {'':>10}",
    ]
    rows = (
        ("navigation -> chat input (new context)", "new_context_ms", GOALS["page_load_ms"]),
        ("navigation -> chat input (warm reload)", "warm_reload_ms", GOALS["warm_load_ms"]),
        ("Enter -> on_submit callback on the server", "enter_to_callback_ms", None),
    )
    for label, key, goal in rows:
        goal_text = f"{goal:,.0f}" if goal is not None else "(20 for all of Enter -> request)"
        lines.append(
            f"  {label:44} {_median(pages['with code'][key]):>10}"
            f" {_median(pages['no code'][key]):>10}   {goal_text}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=10, help="page loads per variant")
    parser.add_argument("--sends", type=int, default=20, help="Enter presses timed per variant")
    parser.add_argument("--cold-starts", type=int, default=5, help="spawns to time")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if min(args.loads, args.sends, args.cold_starts) < 1:
        parser.error("--loads, --sends and --cold-starts must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_bounded(parse_args(argv), run, render_table)


if __name__ == "__main__":
    sys.exit(main())
