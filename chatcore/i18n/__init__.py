"""Interface text in the reader's language: gettext catalogues managed with Babel, and Babel's
formats for dates and numbers.

Every sentence of ours is written once, in English, as a msgid: `_()` where a page draws it,
`N_()` where it is defined before anyone reads it (an error's template, a label in a table),
and translated when it is shown. Catalogues live in locales/<language>/LC_MESSAGES/anychat.po,
compiled to .mo beside them by scripts/i18n.sh; the languages offered are the catalogues found,
so adding a language is adding one catalogue. English is the source language: its catalogue
exists for its plural rules, and an empty entry there means "as written".

Sentences take their values as named `{fields}` (str.format), never by position, so a
translation can put them in its own order; tests/test_i18n.py holds every catalogue to the
same fields as its source.
"""

from __future__ import annotations

import functools
import gettext
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError, dates, numbers
from babel.support import Translations

DOMAIN = "anychat"
LOCALES_DIR = Path(__file__).with_name("locales")
SOURCE_LANGUAGE = "en"
# ANYCHAT_LANGUAGE's default and the account's "follow the browser": no fixed language.
AUTO = "auto"


def N_(message: str) -> str:
    """Mark `message` for the catalogue where it is defined; it is translated where shown."""
    return message


class Explainable(Protocol):
    """What can be said in any language: an English template and the values it shows."""

    @property
    def template(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...


@functools.cache
def languages() -> tuple[str, ...]:
    """The languages with a compiled catalogue, as gettext names them ("en", "zh_CN")."""
    found = {
        folder.name
        for folder in LOCALES_DIR.iterdir()
        if (folder / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file()
    }
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


def normalise(tag: str) -> str | None:
    """The language we have for a tag a browser, a person or a setting gave ("zh-CN",
    "zh-Hans-CN", "zh", "en-US", "zh_CN"), or None.

    An exact catalogue wins; otherwise any catalogue of the same language, so a Chinese
    reader anywhere gets the Chinese we have rather than English.
    """
    tag = tag.strip().replace("-", "_")
    if not tag or tag == "*":
        return None
    by_lower = {language.lower(): language for language in languages()}
    if tag.lower() in by_lower:
        return by_lower[tag.lower()]
    try:
        wanted = Locale.parse(tag, sep="_")
    except (ValueError, UnknownLocaleError):
        return None
    exact = f"{wanted.language}_{wanted.territory}" if wanted.territory else wanted.language
    if exact.lower() in by_lower:
        return by_lower[exact.lower()]
    for language in languages():
        if language.split("_")[0] == wanted.language:
            return language
    return None


def negotiate(preferred: Iterable[str]) -> str | None:
    """The first of the reader's languages, in their order, that we have."""
    for tag in preferred:
        found = normalise(tag)
        if found is not None:
            return found
    return None


def accept_language(header: str | None) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (RFC 9110 quality values)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, quality = item.strip().partition(";")
        weight = 1.0
        if quality.strip().startswith("q="):
            try:
                weight = float(quality.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def resolve_language(choice: str | None, browser: Iterable[str], server_default: str) -> str:
    """The person's own choice, else the browser's languages, else the server's default
    (ANYCHAT_LANGUAGE), else English."""
    for candidate in (choice, negotiate(browser), server_default):
        if candidate and candidate != AUTO:
            found = normalise(candidate)
            if found is not None:
                return found
    return SOURCE_LANGUAGE


def zone(name: str | None) -> tzinfo:
    """The reader's time zone by its IANA name (the browser's), UTC when unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


@functools.cache
def _catalogue(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE:
        # Its catalogue may say nothing but its plural rule, which is gettext's own default.
        return gettext.NullTranslations()
    return Translations.load(str(LOCALES_DIR), [language], DOMAIN)


@dataclass(frozen=True, slots=True)
class Translator:
    """One reader's language and time zone: their sentences, dates and numbers."""

    language: str = SOURCE_LANGUAGE
    timezone: tzinfo = UTC
    _catalogue: gettext.NullTranslations = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_catalogue", _catalogue(self.language))

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    @property
    def tag(self) -> str:
        """The BCP 47 tag of this language ("zh-CN", "en"), for `lang=` and Content-Language."""
        return self.language.replace("_", "-")

    @property
    def is_chinese(self) -> bool:
        return self.language.split("_")[0] == "zh"

    def gettext(self, message: str, **params: Any) -> str:
        """`message` in this language, its `{fields}` filled from `params` when given."""
        text = self._catalogue.gettext(message)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, count: int, **params: Any) -> str:
        """The form for `count` in this language; `{count}` and `params` filled in."""
        text = self._catalogue.ngettext(singular, plural, count)
        return text.format(count=self.format_number(count), **params)

    def explain(self, error: Explainable) -> str:
        """An error of ours (or a stored reply error) in this language."""
        text = self._catalogue.gettext(error.template)
        return text.format(**error.params) if error.params else text

    def local(self, moment: datetime) -> datetime:
        """`moment` on the reader's clock (naive datetimes from the database are UTC)."""
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(self.timezone)

    def format_datetime(self, moment: datetime, form: str = "medium") -> str:
        return dates.format_datetime(self.local(moment), form, locale=self.locale)

    def format_date(self, day: date | datetime, form: str = "medium") -> str:
        if isinstance(day, datetime):
            day = self.local(day).date()
        return dates.format_date(day, form, locale=self.locale)

    def format_time(self, moment: datetime, form: str = "short") -> str:
        return dates.format_time(self.local(moment), form, locale=self.locale)

    def format_number(self, value: float) -> str:
        return numbers.format_decimal(value, locale=self.locale)

    def format_percent(self, value: float) -> str:
        return numbers.format_percent(value, locale=self.locale)

    def format_currency(self, value: float, currency: str) -> str:
        return numbers.format_currency(value, currency, locale=self.locale)


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


@functools.cache
def translator(language: str = SOURCE_LANGUAGE, timezone: str | None = None) -> Translator:
    """The (shared, immutable) translator for a language and an IANA time-zone name."""
    return Translator(language, zone(timezone))


def for_accept_language(header: str | None, server_default: str) -> Translator:
    """The translator for a request nobody is signed in to: its Accept-Language header, else
    the server's default (ANYCHAT_LANGUAGE)."""
    return translator(resolve_language(None, accept_language(header), server_default))


def display_width(text: str) -> int:
    """Columns `text` takes on screen: a wide (CJK) character counts two, a combining mark none."""
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def clip(text: str, width: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `width` columns, at a whole character, with `ellipsis` when cut.

    Whole characters only: a combining mark stays with the letter before it, and a pair of
    surrogates cannot occur in a Python str.
    """
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    used = 0
    end = 0
    for index, char in enumerate(text):
        used += _char_width(char)
        if used > room:
            break
        end = index + 1
    while end < len(text) and _char_width(text[end]) == 0 and end > 0:
        end -= 1  # never leave a combining mark without its base
    return text[:end].rstrip() + ellipsis
