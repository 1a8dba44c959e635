"""Chat logic for AnyChat: configuration, requests, streaming, errors.

Nothing here imports Streamlit, so tests and scripts use it directly.
"""
