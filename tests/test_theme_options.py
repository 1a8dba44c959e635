"""The theme's options, read once per parse of Streamlit's configuration (web/theme_options.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit import config
from streamlit.proto.NewSession_pb2 import CustomThemeConfig
from streamlit.runtime.app_session import _populate_theme_msg

from web import theme_options
from web.theme_options import _ThemeSections

SECTIONS = ["theme", "theme.light", "theme.dark", "theme.sidebar", "theme.dark.sidebar"]


@pytest.fixture
def reparsed_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Parses Streamlit's configuration from a file of the test's; the real one afterwards."""

    def parse(path: Path) -> None:
        monkeypatch.setattr(config, "get_config_files", lambda _name: [str(path)])
        config.get_config_options(force_reparse=True)

    yield parse
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def test_each_theme_section_is_read_once_and_other_sections_every_time() -> None:
    original = config.get_options_for_section
    read: list[str] = []

    def counting(section: str) -> dict[str, Any]:
        read.append(section)
        return original(section)

    memo = _ThemeSections(counting)
    for _ in range(3):
        for section in SECTIONS:
            assert memo(section) == original(section)
    assert read == SECTIONS  # each once
    first = memo("theme")
    first["primaryColor"] = "changed by a caller"
    assert memo("theme")["primaryColor"] != "changed by a caller"  # every caller its own copy
    memo("server")
    memo("server")
    assert read.count("server") == 2


def test_a_new_parse_of_the_configuration_is_seen_at_once(
    tmp_path: Path, reparsed_from: Callable[[Path], None]
) -> None:
    memo = _ThemeSections(config.get_options_for_section)
    disconnect = config.on_config_parsed(memo.forget, force_connect=True)
    try:
        before = memo("theme")["primaryColor"]
        edited = tmp_path / "config.toml"
        edited.write_text('[theme]\nprimaryColor = "#123456"\n', encoding="utf-8")
        reparsed_from(edited)
        assert memo("theme")["primaryColor"] == "#123456" != before
    finally:
        disconnect()


def test_installed_the_new_session_message_carries_the_same_theme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = config.get_options_for_section
    expected = CustomThemeConfig()
    _populate_theme_msg(expected)
    monkeypatch.setattr(config, "get_options_for_section", original)  # undone after the test
    theme_options.remember_theme_sections()
    theme_options.remember_theme_sections()  # a second call keeps the first memo
    installed = config.get_options_for_section
    assert isinstance(installed, _ThemeSections) and installed.read is original
    for _ in range(2):
        message = CustomThemeConfig()
        _populate_theme_msg(message)
        assert message == expected
