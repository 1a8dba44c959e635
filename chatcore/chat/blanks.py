"""Blanks in a prompt: `{{name}}` places a teammate fills in each time the prompt is used.

A preset's system prompt ("Translate into {{language}}", "把下文译成{{语言}}") is written once
and shared; what changes from use to use is asked for in a small form rather than edited into
the prompt by hand, where a forgotten `{{language}}` would reach the model as it is.

A name is letters, digits and underscores in any script; spaces (and tabs) just inside the
braces do not count, so `{{ language }}` is `{{language}}`, and a name written twice is one
blank, asked for once. Anything else between double braces (`{{a.b}}`, `{{}}`, a line break) is
not a blank and is sent as written, as is a blank with a backslash before it (`\\{{name}}`),
the way to write double braces that are meant literally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from chatcore.errors import ChatInputError
from chatcore.i18n import N_

# \w is Unicode here: 语言 and größe are names. [^\S\r\n] is whitespace that is not a line break
# (an ideographic space included).
_BLANK = re.compile(r"(\\?)\{\{[^\S\r\n]*(\w+)[^\S\r\n]*\}\}")


def blanks(text: str) -> list[str]:
    """The names of the blanks in `text`, each once, in the order they first appear."""
    names = (match.group(2) for match in _BLANK.finditer(text) if not match.group(1))
    return list(dict.fromkeys(names))


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with every blank replaced by its value.

    One pass: a value goes in exactly as typed, and braces in it are not read as blanks of
    this text. A blank without a value (or with only spaces) is refused, naming it, so a
    half-filled prompt is never taken for a finished one.
    """
    for name in blanks(text):
        if not values.get(name, "").strip():
            raise ChatInputError(
                N_("Fill in “{name}” before using this prompt."),
                code="prompt_blank_empty",
                name=name,
            )

    def value_of(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) else values[match.group(2)]

    return _BLANK.sub(value_of, text)
