"""Streamlit rendering helpers. Pages call these; the logic they show lives in chatcore."""
