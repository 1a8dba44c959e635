"""Take the README's screenshots of the chat page, one per language: docs/chat-<language>.png.

    .venv/bin/python -m scripts.screenshots     (from the project folder)

Each language gets its own app process (a fresh database, so the sidebar shows only its own
conversation) pointed at the test suite's fake OpenAI-compatible server on 127.0.0.1, and a
Chromium whose browser language is that language: nothing is forced but the browser's locale,
which is how a teammate's own browser picks the language. Both processes are stopped by PID.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.support.app_process import app_env, start_app
from tests.support.fake_openai import Behavior, FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

CONVERSATIONS = {
    "en": (
        "en-US",
        "America/New_York",
        "How do I read a CSV file with pandas and keep only two columns?",
        "Use `pandas.read_csv` with `usecols`, so the other columns are never loaded:\n\n"
        "```python\nimport pandas as pd\n\n"
        'df = pd.read_csv("orders.csv", usecols=["date", "total"])\n'
        "print(df.head())\n```\n\n"
        "- `usecols` also accepts column positions, e.g. `[0, 3]`.\n"
        "- For a large file, add `chunksize=100_000` and process it piece by piece.",
    ),
    "zh-CN": (
        "zh-CN",
        "Asia/Shanghai",
        "用 pandas 读取 CSV 文件时，怎样只保留两列？",
        "用 `pandas.read_csv` 的 `usecols` 参数，其他列根本不会被读入内存：\n\n"
        "```python\nimport pandas as pd\n\n"
        'df = pd.read_csv("orders.csv", usecols=["date", "total"])\n'
        "print(df.head())\n```\n\n"
        "- `usecols` 也可以写列的位置，例如 `[0, 3]`。\n"
        "- 文件很大时，加上 `chunksize=100_000`，分块处理。",
    ),
}


def shoot(language: str, fake: FakeOpenAI, out: Path) -> None:
    locale, timezone, question, answer = CONVERSATIONS[language]
    with tempfile.TemporaryDirectory() as workdir:
        env = app_env(api_base_url=fake.base_url, api_key="sk-screenshot", data_dir=Path(workdir))
        app = start_app(env, Path(workdir) / "streamlit.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--disable-gpu", "--disable-quic"]
                )
                context = browser.new_context(
                    locale=locale, timezone_id=timezone, viewport={"width": 1400, "height": 860}
                )
                page = context.new_page()
                page.goto(app.url)
                box = page.get_by_test_id("stChatInputTextArea")
                expect(box).to_be_editable(timeout=30_000)
                fake.enqueue(
                    Behavior(text=answer, usage={"prompt_tokens": 31, "completion_tokens": 88})
                )
                box.fill(question)
                box.press("Enter")
                expect(page.get_by_test_id("stChatMessage")).to_have_count(2, timeout=15_000)
                expect(page.get_by_test_id("stCode")).to_be_visible(timeout=15_000)
                page.wait_for_timeout(1_500)  # the reply's captions and the sidebar settle
                page.screenshot(path=str(out))
                browser.close()
        finally:
            app.stop()


def main() -> int:
    with FakeOpenAI() as fake:
        for language in CONVERSATIONS:
            out = ROOT / "docs" / f"chat-{language}.png"
            shoot(language, fake, out)
            print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
