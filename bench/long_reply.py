"""Redraw cost while a long reply streams: does each redraw cost more as the reply grows?

Run: `.venv/bin/python -m bench.long_reply` (about a minute; `--json` for JSON).

The real app in Chromium asks one question in an open conversation; the test server answers
with about 4,000 tokens of Markdown (paragraphs, lists and code blocks, as replies have), a
word every 2 ms. In the page, every websocket message is stamped as it arrives, and every
change of the reply's text in the DOM is stamped too; a redraw's cost is the time from the
newest message to the text it carried being in the DOM (decoding, React, Markdown, code
highlighting). The figure compares the last redraws with the first: the goal is at most
twice, i.e. a redraw's cost does not grow with what was already drawn.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from bench.chat_latency import (
    CHROMIUM_ARGS,
    IDLE_APP,
    INPUT,
    BackgroundLoad,
    add_run_options,
    background_lines,
    environment,
    launch_app,
    message_text,
    run_bounded,
    seed_conversation,
    stop_everything,
    summary,
)
from chatcore.config import load_settings
from chatcore.wiring import build_services
from storage import Role
from tests.support.app_process import app_env
from tests.support.fake_openai import Behavior, FakeOpenAI

REPLY_TOKENS = 4000
WORDS_PER_TOKEN = 0.75  # English prose; code and Markdown marks count more per word
WORD_DELAY = 0.002
COMPARED = 20  # redraws at each end
GOAL_RATIO = 2.0
END_MARK = "zqlongreplyend"

# Before the page's own scripts: every websocket message's arrival.
WEBSOCKET_PROBE_JS = """
(() => {
  const Native = window.WebSocket;
  window.__wsAt = 0;
  class Stamped extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => { window.__wsAt = performance.now(); });
    }
  }
  window.WebSocket = Stamped;
})();
"""

# Just before Enter: each change of the last chat message's text, with the newest message's
# arrival before it.
REDRAW_PROBE_JS = """
() => {
  const b = (window.__redraws = []);
  let length = -1;
  const observer = new MutationObserver(() => {
    const all = document.querySelectorAll('[data-testid="stChatMessage"]');
    const last = all[all.length - 1];
    const text = last ? last.textContent || "" : "";
    if (text.length !== length) {
      length = text.length;
      b.push({ at: performance.now(), ws: window.__wsAt, chars: length });
    }
  });
  observer.observe(document.body, { childList: true, subtree: true, characterData: true });
}
"""


def long_reply_text(seed: int = 4) -> str:
    """About REPLY_TOKENS tokens of reply-shaped Markdown, ending with END_MARK."""
    rng = random.Random(seed)
    parts: list[str] = []
    words = 0
    while words < REPLY_TOKENS * WORDS_PER_TOKEN:
        part = message_text(rng, Role.ASSISTANT, len(parts))
        parts.append(part)
        words += len(part.split())
    return "\n\n".join(parts) + f"\n\n{END_MARK}"


def redraw_costs(samples: list[dict[str, float]]) -> list[float]:
    """Each redraw's cost: from the newest websocket message to its text in the DOM."""
    return [s["at"] - s["ws"] for s in samples if s["ws"] and s["chars"] > 0]


def run(args: argparse.Namespace, deadline: float, log: Any) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="anychat-bench-"))
    fake = FakeOpenAI().start()
    env = app_env(api_base_url=fake.base_url, api_key="sk-bench", data_dir=workdir)
    settings = replace(
        load_settings(env=env, secrets={}), api_key="sk-bench", base_url=fake.base_url
    )
    services = build_services(settings, prefetch_models=False)
    reply = long_reply_text()
    rounds: list[dict[str, Any]] = []
    try:
        user_id = services.local_user.id
        app = launch_app(env, workdir, deadline)
        with sync_playwright() as playwright, BackgroundLoad() as load:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            env_facts = environment(browser.version)
            try:
                for number in range(args.replies):
                    log(f"long reply {number + 1}/{args.replies}")
                    conversation_id = seed_conversation(services, user_id, 2, "Long reply", number)
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    context.add_init_script(WEBSOCKET_PROBE_JS)
                    page = context.new_page()
                    page.goto(f"{app.url}/?c={conversation_id}")
                    page.wait_for_selector(IDLE_APP, state="attached", timeout=30_000)
                    fake.enqueue(Behavior(text=reply, chunk_delay=WORD_DELAY))
                    page.locator(INPUT).fill("Write the whole guide, please.")
                    page.evaluate(REDRAW_PROBE_JS)
                    page.locator(INPUT).press("Enter")
                    page.wait_for_function(
                        f"() => document.body.textContent.includes('{END_MARK}')",
                        timeout=120_000,
                    )
                    page.wait_for_selector(IDLE_APP, state="attached", timeout=30_000)
                    samples = page.evaluate("() => window.__redraws")
                    rounds.append({"costs": redraw_costs(samples), "redraws": len(samples)})
                    context.close()
            finally:
                browser.close()
        env_facts["background"] = load.summary()
    finally:
        stop_everything(fake, workdir, services)
    return report(env_facts, reply, rounds)


def report(env_facts: dict[str, Any], reply: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    first = [cost for r in rounds for cost in r["costs"][:COMPARED]]
    last = [cost for r in rounds for cost in r["costs"][-COMPARED:]]
    ratio = statistics.median(last) / max(statistics.median(first), 0.1)
    return {
        "environment": env_facts,
        "reply_chars": len(reply),
        "redraws_per_reply": [r["redraws"] for r in rounds],
        "first_redraws_ms": summary(first),
        "last_redraws_ms": summary(last),
        "all_redraws_ms": summary([cost for r in rounds for cost in r["costs"]]),
        "last_over_first": round(ratio, 2),
        "goal": {"last_over_first": GOAL_RATIO, "met": ratio <= GOAL_RATIO},
    }


def render_table(data: dict[str, Any]) -> str:
    lines = [
        "AnyChat long-reply redraws (bench/long_reply.py)",
        f"  reply of {data['reply_chars']:,} characters (~{REPLY_TOKENS:,} tokens), a word "
        f"every {WORD_DELAY * 1000:g} ms; redraws per reply: {data['redraws_per_reply']}",
        *background_lines(data["environment"]),
        "",
        f"  {'redraw cost (ms): last message -> its text in the DOM':<56} median      p90",
    ]
    for label, key in (
        (f"first {COMPARED} redraws", "first_redraws_ms"),
        (f"last {COMPARED} redraws", "last_redraws_ms"),
        ("every redraw", "all_redraws_ms"),
    ):
        s = data[key]
        lines.append(f"  {label:<56} {s['median']:6.1f}   {s['p90']:6.1f}")
    met = "met" if data["goal"]["met"] else "MISSED"
    lines.append(
        f"  {'last / first':<56} {data['last_over_first']:6.2f}   {met} (goal <= {GOAL_RATIO:g})"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.long_reply", description=__doc__)
    parser.add_argument("--replies", type=int, default=3, help="long replies to stream")
    add_run_options(parser, timeout=300.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_bounded(parse_args(argv), run, render_table, (PlaywrightError,))


if __name__ == "__main__":
    sys.exit(main())
