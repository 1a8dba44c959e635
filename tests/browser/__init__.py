"""Browser tests: the real app (``streamlit run server.py``) driven in Chromium by Playwright."""
