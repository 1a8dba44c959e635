"""A reply's code blocks are cut out of its Markdown only where that cannot change what the rest
means, and coloured without changing a character."""

from __future__ import annotations

import pytest

from chatcore.code_blocks import (
    COLOUR_LIMIT,
    PLAIN,
    CodePiece,
    coloured,
    inert_pieces,
    split_code,
)
from tests.support.markdown import live_images

CLASSES = set("cpabnsodkfri") | {PLAIN}


def test_a_block_between_paragraphs_is_cut_out_with_its_language() -> None:
    text = "Try this:\n\n```python title=demo.py\ndef f():\n    return 1\n```\nThen run it.\n"
    assert split_code(text) == (
        "Try this:\n\n",
        CodePiece("def f():\n    return 1", "python"),
        "\nThen run it.\n",
    )


def test_text_without_a_block_is_one_piece() -> None:
    text = "Plain `code span` and ~~strike~~, nothing fenced."
    assert split_code(text) == (text,)


def test_blocks_next_to_each_other_and_tilde_fences() -> None:
    text = "```\na\n```\n~~~sh\nb\n~~~"
    assert split_code(text) == (CodePiece("a", ""), CodePiece("b", "sh"))


def test_a_longer_fence_holds_a_shorter_one() -> None:
    text = "````markdown\n```js\nx\n```\n````\nafter"
    assert split_code(text) == (CodePiece("```js\nx\n```", "markdown"), "\nafter")


def test_the_opening_fences_indentation_is_taken_off_each_line() -> None:
    text = "  ```\n    kept two\n  gone\n x\n  ```"
    assert split_code(text) == (CodePiece("  kept two\ngone\nx", ""),)


def test_a_block_the_text_ends_in_runs_to_the_end() -> None:
    text = "Stopped here:\n```python\nfor x in"
    assert split_code(text) == ("Stopped here:\n", CodePiece("for x in", "python"))


def test_empty_blocks_and_windows_line_ends() -> None:
    assert split_code("```\n```") == (CodePiece("", ""),)
    windows = "a\r\n```c\r\nint x;\r\n```\r\nb"
    assert split_code(windows) == ("a\r\n", CodePiece("int x;", "c"), "\r\nb")


@pytest.mark.parametrize(
    "text",
    [
        "- step one:\n  ```sh\n  make\n  ```\n",  # inside a list item
        "> quoted:\n> ```\n> x\n> ```\n",  # inside a block quote
        "[^1]: a note\n    ```\n    x\n    ```\n",  # inside a footnote
        "    ```\n    indented code, not a fence\n    ```\n",
        "Para\n<div>\n```\nx\n```\n</div>",  # inside raw HTML, which runs to a blank line
    ],
)
def test_a_block_inside_something_else_stays_markdown(text: str) -> None:
    assert split_code(text) == (text,)


@pytest.mark.parametrize(
    "text",
    [
        "See [the docs][d].\n\n```\nx\n```\n\n[d]: https://example.com\n",
        "A claim[^1].\n\n```\nx\n```\n\n[^1]: Its source.\n",
    ],
)
def test_nothing_is_cut_when_a_definition_could_be_used_across_the_cut(text: str) -> None:
    assert split_code(text) == (text,)


def test_a_fence_inside_display_math_is_not_cut() -> None:
    # remark-math reads `$$ … $$` as one block, so the backticks inside are math, not a fence.
    text = "Where\n$$\n```\nx = 1\n```\n$$\nholds."
    assert split_code(text) == (text,)


def test_after_a_directive_nothing_is_cut() -> None:
    text = "```\nbefore\n```\n:::note\n```\nafter\n```\n:::"
    pieces = split_code(text)
    assert pieces[0] == CodePiece("before", "")
    assert all(not isinstance(piece, CodePiece) for piece in pieces[1:])


def test_a_fence_interrupts_a_paragraph() -> None:
    assert split_code("text\n```\nx\n```") == ("text\n", CodePiece("x", ""))


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ('def f(x):\n    """Doc."""\n    return x + 1  # one\n', "python"),
        ("\n\n  leading and trailing blank lines\n\n", "python"),
        ("SELECT id FROM t WHERE name = 'x%' AND n > 2;", "sql"),
        ("const a = `${b}` + 1; // c\n\tindented();", "js"),
        ("-removed\n+added\n unchanged", "diff"),
        ('{\n  "a": [1, 2.5, true, null],\n  "b": "x\\"y"\n}', "json"),
        ("emoji 😀 and 中文 and \u200b zero width", "python"),
        ('<img src=x onerror="alert(1)"><script>alert(2)</script>', "html"),
        ("anything at all", "no-such-language"),
        ("no language given", ""),
    ],
)
def test_colouring_keeps_every_character(code: str, language: str) -> None:
    runs = coloured(code, language)
    assert "".join(text for _name, text in runs) == code
    assert {name for name, _text in runs} <= CLASSES
    assert all(text for _name, text in runs)


def test_a_known_language_is_coloured_and_an_unknown_one_is_plain() -> None:
    runs = dict((text, name) for name, text in coloured("def f():\n    return 'x'", "Python"))
    assert runs["def"] == "k" and runs["f"] == "f" and runs["'x'"] == "s"
    assert coloured("def f(): pass", "klingon") == ((PLAIN, "def f(): pass"),)


def test_a_block_too_long_to_colour_is_shown_plain() -> None:
    code = "x = 1\n" * (COLOUR_LIMIT // 6 + 1)
    assert coloured(code, "python") == ((PLAIN, code),)


def test_each_markdown_piece_is_made_inert_on_its_own_and_code_is_untouched() -> None:
    leak = "http://127.0.0.1:9/leak.png"
    text = f"See ![a]({leak})\n\n```md\n![b]({leak})\n```\n\nand ![c]({leak})"
    before, block, after = inert_pieces(text, ())
    assert isinstance(before, str) and isinstance(after, str)
    assert live_images(before) == [] and live_images(after) == []
    assert leak in before and leak in after  # kept as links, not dropped
    assert block == CodePiece(f"![b]({leak})", "md")
