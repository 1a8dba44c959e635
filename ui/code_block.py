"""A model's Markdown with its code blocks drawn by an element of our own.

Streamlit's code blocks load a 1.5 MB highlighter that took 0.4 s of a warm page load (see
chatcore/code_blocks.py); this element is a few kilobytes, colours what the server coloured, and
sets every character as text, so nothing a model wrote is read as HTML.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager
from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

from chatcore.code_blocks import CodePiece, coloured, inert_pieces
from ui.i18n import _

FILES = Path(__file__).with_name("code_block_files")
PROJECT, ELEMENT = "anychat", "code"
NAME = f"{PROJECT}.{ELEMENT}"


def _serve_files() -> None:
    """Have Streamlit serve the element's files from FILES, once per runtime (AppTest starts one
    per app). Given inline, its script would be imported from a `blob:` address, which the
    page's Content-Security-Policy refuses (script-src 'self', web/headers.py); served, it is
    fetched once from our own origin and cached, and each code block's message names the files
    instead of carrying them. Streamlit finds such files through an installed package's
    manifest; this is that manifest, given directly."""
    manager = get_bidi_component_manager()
    if manager.get_component_asset_root(NAME) is None:
        manifest = ComponentManifest(PROJECT, "1", [ComponentConfig(ELEMENT, FILES.name)])
        manager.register_from_manifest(manifest, FILES.parent)


@cache
def _element() -> Any:
    """Declared once per process, as Streamlit's components are meant to be, not per run
    (`draw_code` has its files served first)."""
    html = (FILES / "code.html").read_text(encoding="utf-8")
    return st.components.v2.component(NAME, html=html, css="code.css", js="code.js")


def draw_code(code: str, language: str, key: str, *, wrap: bool = False) -> None:
    """One code block, coloured when Pygments knows `language`; `key` names it among the page's
    (a message's id and its place). `wrap` breaks long lines instead of scrolling them."""
    runs = coloured(code, language)
    _serve_files()
    # A list, not a dict: Streamlit looks through a dict's values for data frames, which imports
    # pandas and pyarrow (70 MB more memory in each server process) on the first code block.
    data = [[list(run) for run in runs], _("Copy code"), _("Copied"), wrap]
    _element()(data=data, key=key)


def draw_markdown(text: str, image_hosts: tuple[str, ...], key: str) -> None:
    """A model's Markdown, its code blocks drawn by `draw_code` and the inert Markdown between
    them (`inert_pieces`) by Streamlit."""
    for index, piece in enumerate(inert_pieces(text, image_hosts)):
        if isinstance(piece, CodePiece):
            draw_code(piece.code, piece.language, f"{key}-{index}")
        else:
            st.markdown(piece)
