"""Streamlit's theme options, read once per parse of its configuration instead of at every run.

Every script run (a page, a fragment, each slice of a reply being followed) starts with a
`new_session` message that carries the theme. Streamlit fills it from six theme sections,
and each section is found by reading all of its ~370 options (`config.get_options_for_section`
scans them under a lock). With 80 teammates chatting on one process that was 7% of the
interpreter's time (bench/load, `py-spy record --gil`), about 5 ms of every turn.

Theme options change only when Streamlit parses its configuration again (a `config.toml`
edited while it runs): `st.set_option` accepts `client.*` options only. A parse builds a new
options dict and, once done, says so (`config.on_config_parsed`): the memo belongs to one dict
and is forgotten at the end of every parse, so a run that read the theme while a parse was
filling the new dict does not leave a half-read theme behind. Other sections are read as
before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from streamlit import config

_THEME = "theme"


class _ThemeSections:
    """`get_options_for_section` with the theme's sections remembered per configuration."""

    def __init__(self, read: Callable[[str], dict[str, Any]]) -> None:
        self.read = read
        self._lock = threading.Lock()
        self._options: object = None  # the configuration the memo belongs to
        self._sections: dict[str, dict[str, Any]] = {}

    def forget(self) -> None:
        with self._lock:
            self._options, self._sections = None, {}

    def __call__(self, section: str) -> dict[str, Any]:
        if section != _THEME and not section.startswith(f"{_THEME}."):
            return self.read(section)
        options = config.get_config_options()
        with self._lock:
            if options is not self._options:
                self._options, self._sections = options, {}
            found = self._sections.get(section)
        if found is None:
            found = self.read(section)
            with self._lock:
                if options is self._options:
                    self._sections[section] = found
        return dict(found)  # the caller's own copy, as the original returns a new dict


def remember_theme_sections() -> None:
    """Install the memo (once; a second call leaves the first in place)."""
    if isinstance(config.get_options_for_section, _ThemeSections):
        return
    memo = _ThemeSections(config.get_options_for_section)
    config.get_options_for_section = memo
    config.on_config_parsed(memo.forget, force_connect=True)
