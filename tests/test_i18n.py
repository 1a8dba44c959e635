"""The catalogues and the language machinery: every sentence of ours is in every catalogue,
translated, with the same fields, compiled; and the right language reaches each reader.

A new `_()` without its Chinese translation fails here (run scripts/i18n.sh, translate the new
entries of chatcore/i18n/locales/zh_CN/LC_MESSAGES/anychat.po, run it again).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from chatcore.i18n import (
    DOMAIN,
    LOCALES_DIR,
    SOURCE_LANGUAGE,
    accept_language,
    clip,
    display_width,
    languages,
    negotiate,
    normalise,
    resolve_language,
    translator,
)

ROOT = Path(__file__).resolve().parent.parent
# What scripts/i18n.sh extracts: the folders and scripts that show text to a reader.
SOURCE_FOLDERS = ("chatcore", "ui", "web", "pages")
SOURCE_SCRIPTS = ("app.py",)
FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")
TRANSLATED = [language for language in languages() if language != SOURCE_LANGUAGE]


def _catalogue(language: str) -> Catalog:
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _entries(catalogue: Catalog) -> Iterator[Message]:
    return (message for message in catalogue if message.id)


def _ids(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, str):
        return (message.string,)
    return tuple(message.string or ())


def _extracted() -> set[str]:
    """Every msgid marked in the source now, extracted the way scripts/i18n.sh does."""
    found: set[str] = set()
    method_map = [("**.py", "python")]

    def keep(messages: Iterator[tuple[object, ...]]) -> None:
        for extracted in messages:
            text = extracted[2]
            singular = text if isinstance(text, str) else text[0]
            if singular:
                found.add(str(singular))

    for folder in SOURCE_FOLDERS:
        keep(
            extract_from_dir(
                str(ROOT / folder), method_map, keywords=DEFAULT_KEYWORDS, strip_comment_tags=True
            )
        )
    for script in SOURCE_SCRIPTS:
        keep(
            (0, 0, *item[1:])
            for item in extract_from_file("python", str(ROOT / script), keywords=DEFAULT_KEYWORDS)
        )
    return found


def test_the_languages_are_the_catalogues_found() -> None:
    assert set(languages()) >= {"en", "zh_CN"}
    for language in languages():
        assert (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()


def test_every_sentence_of_the_source_is_in_every_catalogue_and_nothing_stale() -> None:
    in_source = _extracted()
    assert len(in_source) > 200  # the extraction sees the interface, not an empty folder
    for language in languages():
        in_catalogue = {_ids(message)[0] for message in _entries(_catalogue(language))}
        missing = sorted(in_source - in_catalogue)
        stale = sorted(in_catalogue - in_source)
        assert not missing, f"{language}: not in the catalogue (run scripts/i18n.sh): {missing}"
        assert not stale, f"{language}: no longer in the source (run scripts/i18n.sh): {stale}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_entry_is_translated_and_not_fuzzy(language: str) -> None:
    catalogue = _catalogue(language)
    untranslated = [
        _ids(message)[0]
        for message in _entries(catalogue)
        if not all(_strings(message)) or message.fuzzy
    ]
    assert not untranslated, f"{language}: missing or fuzzy translations: {untranslated}"
    plural_forms = catalogue.num_plurals
    for message in _entries(catalogue):
        if message.pluralizable:
            assert len(_strings(message)) == plural_forms, message.id


@pytest.mark.parametrize("language", languages())
def test_translations_keep_the_same_fields(language: str) -> None:
    differing = []
    for message in _entries(_catalogue(language)):
        wanted = set().union(*(FIELD.findall(text) for text in _ids(message)))
        for text in _strings(message):
            if text and set(FIELD.findall(text)) != wanted:
                differing.append((_ids(message)[0], text))
    assert not differing, f"{language}: fields differ from the source: {differing}"


@pytest.mark.parametrize("language", languages())
def test_translations_keep_the_markdown_and_icons(language: str) -> None:
    """Bold, code spans and Material icons survive translation (a lost `**` bolds the rest)."""
    differing = []
    for message in _entries(_catalogue(language)):
        source = _ids(message)[0]
        for text in _strings(message):
            for mark in ("**", "`", ":material/"):
                if text and source.count(mark) != text.count(mark):
                    differing.append((source, text, mark))
    assert not differing, differing


@pytest.mark.parametrize("language", languages())
def test_the_compiled_catalogue_matches_its_source(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as handle:
        compiled = {
            _ids(message): _strings(message)
            for message in read_mo(handle)
            # Babel compiles an untranslated plural as its source forms: the same as absent.
            if message.id and _strings(message) != _ids(message)
        }
    source = {
        _ids(message): _strings(message)
        for message in _entries(_catalogue(language))
        if all(_strings(message)) and not message.fuzzy and _strings(message) != _ids(message)
    }
    assert compiled == source, "the .mo is out of date: run scripts/i18n.sh compile"


def test_a_translated_sentence_fills_its_fields_and_plural() -> None:
    chinese = translator("zh_CN")
    sample = next(
        message for message in _entries(_catalogue("zh_CN")) if FIELD.search(_ids(message)[0])
    )
    fields = {name: "X" for name in FIELD.findall(_ids(sample)[0])}
    if sample.pluralizable:
        assert chinese.ngettext(*_ids(sample)[:2], 2, **fields)
    else:
        assert chinese.gettext(sample.id, **fields) == _strings(sample)[0].format(**fields)
    assert translator("en").gettext("{x} and {y}", x=1, y=2) == "1 and 2"
    assert translator("en").ngettext("{count} file", "{count} files", 1) == "1 file"
    assert translator("en").ngettext("{count} file", "{count} files", 1200) == "1,200 files"


# Which language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh-CN", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh-TW", "zh_CN"),  # the Chinese we have beats English for any Chinese reader
        ("en-US", "en"),
        ("EN", "en"),
        ("fr-FR", None),
        ("", None),
        ("*", None),
        ("not a tag!", None),
    ],
)
def test_a_tag_finds_the_language_we_have(tag: str, expected: str | None) -> None:
    assert normalise(tag) == expected


def test_accept_language_is_read_by_quality() -> None:
    header = "fr;q=0.9, zh-CN, en;q=0.8, de;q=0"
    assert accept_language(header) == ["zh-CN", "fr", "en"]
    assert negotiate(accept_language(header)) == "zh_CN"
    assert negotiate(accept_language("fr, en-GB;q=0.5")) == "en"
    assert accept_language(None) == []
    assert accept_language("en;q=abc") == []


def test_the_persons_choice_wins_then_the_browser_then_the_server() -> None:
    assert resolve_language("en", ["zh-CN"], "zh_CN") == "en"
    assert resolve_language(None, ["zh-CN"], "en") == "zh_CN"
    assert resolve_language(None, ["fr"], "zh_CN") == "zh_CN"
    assert resolve_language(None, [], "auto") == "en"
    assert resolve_language("auto", ["zh"], "auto") == "zh_CN"
    assert resolve_language("xx", [], "auto") == "en"  # a catalogue since removed


# Time and numbers -----------------------------------------------------------------------


def test_times_are_in_the_readers_zone_and_locale() -> None:
    moment = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    shanghai = translator("zh_CN", "Asia/Shanghai")
    assert shanghai.local(moment).day == 2
    assert "2026年12月2日" in shanghai.format_datetime(moment)
    assert shanghai.format_date(moment) == "2026年12月2日"
    english = translator("en", "America/New_York")
    assert english.format_date(moment) == "Dec 1, 2026"
    assert translator("en", "Not/AZone").timezone is UTC
    assert translator("en").local(moment.replace(tzinfo=None)) == moment  # naive is UTC


def test_numbers_and_money_follow_the_locale() -> None:
    assert translator("en").format_number(1234567) == "1,234,567"
    assert translator("zh_CN").format_currency(12.5, "CNY") == "¥12.50"
    assert translator("en").format_currency(12.5, "USD") == "$12.50"


# Chinese text done right ----------------------------------------------------------------


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("abc") == 3
    assert display_width("你好") == 4
    assert display_width("ｱ") == 1  # half-width katakana
    assert display_width("Ａ") == 2  # full-width Latin
    assert display_width("e\u0301") == 1  # a combining accent takes no column


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("short", 10, "short"),
        ("你好世界你好", 12, "你好世界你好"),  # exactly the width: not cut
        ("你好世界你好世界", 12, "你好世界你…"),  # 5 wide characters (10) + the ellipsis (1)
        ("ab你好", 4, "ab…"),  # a wide character that would not fit is left whole
        ("cafe\u0301 au lait", 5, "cafe\u0301…"),  # the accent stays with its letter
        ("cafe\u0301 au lait", 4, "caf…"),
        ("long English here", 6, "long…"),  # a space before the ellipsis is trimmed
    ],
)
def test_clip_cuts_at_a_whole_character_by_width(text: str, width: int, expected: str) -> None:
    clipped = clip(text, width)
    assert clipped == expected
    assert display_width(clipped) <= width


# Nothing drawn bypasses the catalogue ----------------------------------------------------

# Streamlit calls whose first argument, or these keywords, a reader sees.
_TEXT_CALLS = {
    "title", "header", "subheader", "caption", "text", "markdown", "write", "success", "info",
    "warning", "error", "toast", "exception", "button", "download_button", "link_button",
    "form_submit_button", "page_link", "checkbox", "toggle", "radio", "selectbox",
    "multiselect", "slider", "select_slider", "number_input", "text_input", "text_area",
    "chat_input", "date_input", "time_input", "file_uploader", "color_picker", "expander",
    "popover", "metric", "dialog", "spinner", "status", "segmented_control", "pills",
    "feedback", "Page", "tabs",
}  # fmt: skip
_TEXT_KEYWORDS = {"label", "help", "placeholder", "title", "body", "caption", "text", "value"}
# Ours but not a sentence: the brand, separators, arrows.
_NOT_SENTENCES = {"AnyChat", "AnyAPI"}
_WORD = re.compile(r"[A-Za-z]{2,}")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+")


def _literal_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    return None


def _untranslated(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in _TEXT_CALLS:
            continue
        positional = [] if node.func.attr == "Page" else node.args[:1]  # st.Page(path, title=)
        shown = positional + [kw.value for kw in node.keywords if kw.arg in _TEXT_KEYWORDS]
        if node.func.attr == "tabs" and node.args and isinstance(node.args[0], ast.List):
            shown = list(node.args[0].elts)
        for argument in shown:
            text = _literal_text(argument)
            if text is None or text in _NOT_SENTENCES or text.startswith(":material/"):
                continue
            if _IDENTIFIER.fullmatch(text):  # an example of a name to type (get_weather)
                continue
            if _WORD.search(re.sub(r"<[^>]*>|\{[^}]*\}|:material/\w+:", "", text)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {text[:60]!r}")
    return found


def test_no_page_draws_a_sentence_outside_the_catalogue() -> None:
    scripts = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    sources = [*sorted((ROOT / "ui").glob("*.py")), *scripts]
    found = [line for path in sources for line in _untranslated(path)]
    assert not found, "drawn without _():\n" + "\n".join(found)
