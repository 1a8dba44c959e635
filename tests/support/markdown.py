"""Reading Markdown the way a CommonMark renderer would, for the few checks tests need."""

from __future__ import annotations

import re


def live_images(text: str) -> list[int]:
    """Where an unescaped `![` is left in `text`: each could still start an image."""
    found = []
    for match in re.finditer(r"!\[", text):
        before = text[: match.start()]
        if (len(before) - len(before.rstrip("\\"))) % 2 == 0:
            found.append(match.start())
    return found


def code_span_content(markdown: str) -> str:
    """What a reader shows for `markdown` if it is exactly one code span, else AssertionError.

    CommonMark: a run of n backticks, text holding no run of exactly n, the same run again;
    one space is trimmed from each side when both sides have one and the text is not all spaces.
    """
    opening = re.match(r"`+", markdown)
    assert opening, markdown
    fence = opening.group()
    inner = markdown[len(fence) : len(markdown) - len(fence)]
    assert markdown.endswith(fence) and len(markdown) > 2 * len(fence), markdown
    assert all(len(run) != len(fence) for run in re.findall(r"`+", inner)), markdown
    assert not inner.startswith("`") and not inner.endswith("`"), markdown  # would join a fence
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]
    return inner
