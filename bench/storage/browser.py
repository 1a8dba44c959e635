"""The chat page in Chromium on a big library: the real app (`streamlit run server.py`, as the
browser tests start it) on the benchmark's database, the 5,000-message conversation opened by
its link, in a new browser context each time (a cold HTTP cache, as a teammate's first visit),
then reloaded as often in one tab (a warm cache, as every later visit: Streamlit's front-end
files are cached for a year), after one warm-up load that builds the app's services. Timed
inside the page from navigation start, with the probe of bench/chat_latency.py."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.chat_latency import CHROMIUM_ARGS, page_load
from bench.storage.dataset import Library
from bench.storage.measure import Figure
from tests.support.app_process import app_env, start_app

CHROMIUM = "/usr/bin/chromium"


def page_figures(
    database_url: str,
    library: Library,
    *,
    runs: int,
    upstream_url: str,
    workdir: Path,
    deadline: float,
) -> dict[str, Figure]:
    listed = f"{library.conversations + 1:,} conversations"
    visible = Figure(f"page ({listed}): chat input visible", goal_ms=1500.0)
    drawn = Figure("… its 20 messages drawn")
    warm = Figure("… chat input visible, reloaded with a warm browser cache", goal_ms=1500.0)
    workdir.mkdir(parents=True, exist_ok=True)
    env = app_env(
        api_base_url=upstream_url,
        api_key="sk-bench-storage",
        data_dir=workdir,
        overrides={"DATABASE_URL": database_url},
    )
    timeout = max(5.0, min(60.0, deadline - time.monotonic()))
    app = start_app(env, workdir / "streamlit.log", timeout=timeout, poll_interval=0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                url = f"{app.url}/?c={library.long_id}"
                page_load(browser, url, 1, fresh=True)  # builds the services: not counted
                for _ in range(runs):
                    if time.monotonic() > deadline:
                        visible.absent = drawn.absent = "skipped (time)"
                        break
                    sample = page_load(browser, url, 1, fresh=True)[0]
                    visible.values.append(float(sample["inputAt"]))
                    if sample.get("messagesAt") is not None:
                        drawn.values.append(float(sample["messagesAt"]))
                if time.monotonic() < deadline and visible.values:
                    reloads = page_load(browser, url, len(visible.values) + 1, fresh=False)
                    # The first load of the tab fills its cache: not a reload.
                    warm.values = [float(sample["inputAt"]) for sample in reloads[1:]]
                else:
                    warm.absent = "skipped (time)"
            finally:
                browser.close()
    finally:
        app.stop()
    return {"page_input": visible, "page_drawn": drawn, "page_warm": warm}
