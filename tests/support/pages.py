"""Running the app's pages in Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app(query: dict[str, str] | None = None) -> AppTest:
    """app.py run once, with `query` as the URL's query parameters."""
    at = AppTest.from_file(APP, default_timeout=20)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()
