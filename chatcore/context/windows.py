"""How many tokens a model takes in one request (its context window: prompt plus reply).

The upstream's /models list does not say, so the app keeps a table of the common families
(checked against the vendors' model pages when written) and an administrator adds or
corrects ids in a text area (`parse_overrides`); anything else gets the operator's default
(ANYCHAT_DEFAULT_CONTEXT_TOKENS). Where a family's members differ, the table keeps the
smaller figure: a window set too large lets a request through that the model refuses for
length, one set too small only leaves out a little more of the oldest history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from chatcore.context.names import by_longest_prefix
from chatcore.errors import ConfigError
from chatcore.i18n import N_

# Family prefix (lower case, no vendor path) -> tokens. The longest matching prefix wins.
CONTEXT_WINDOWS: Mapping[str, int] = MappingProxyType(
    {
        # OpenAI
        "gpt-3.5-turbo": 16_385,
        "gpt-3.5-turbo-instruct": 4_096,
        "gpt-4": 8_192,
        "gpt-4-32k": 32_768,
        "gpt-4-turbo": 128_000,
        "gpt-4-0125-preview": 128_000,
        "gpt-4-1106-preview": 128_000,
        "gpt-4-vision-preview": 128_000,
        "gpt-4o": 128_000,
        "gpt-4o-mini": 128_000,
        "chatgpt-4o": 128_000,
        "gpt-4.1": 1_047_576,
        "gpt-4.5": 128_000,
        "gpt-5": 400_000,
        "gpt-5-chat": 128_000,  # ChatGPT's model in the API has the smaller window
        "o1": 200_000,
        "o1-mini": 128_000,
        "o1-preview": 128_000,
        "o3": 200_000,
        "o4-mini": 200_000,
        # Anthropic
        "claude-3": 200_000,
        "claude-sonnet-4": 200_000,
        "claude-opus-4": 200_000,
        "claude-haiku-4": 200_000,
        # Google
        "gemini-1.5": 1_048_576,
        "gemini-2": 1_048_576,
        # DeepSeek (the V3.x API)
        "deepseek-chat": 128_000,
        "deepseek-reasoner": 128_000,
        # Alibaba Qwen (DashScope)
        "qwen-max": 32_768,
        "qwen-plus": 131_072,
        "qwen-turbo": 1_000_000,
        # Zhipu
        "glm-4": 128_000,
        # Moonshot
        "moonshot-v1-8k": 8_192,
        "moonshot-v1-32k": 32_768,
        "moonshot-v1-128k": 131_072,
        "kimi-k2": 131_072,
        # Open-weight families as most servers run them
        "llama-3.1": 131_072,
        "llama-3.3": 131_072,
        "mistral-large": 131_072,
    }
)

# An override below this is a typo (a missing digit), not a model.
MIN_OVERRIDE_TOKENS = 1_024
MAX_OVERRIDE_TOKENS = 100_000_000

_OVERRIDE_LINE = re.compile(r"^(?P<model>[^=]+?)\s*=\s*(?P<tokens>\S+)$")


def context_window(model: str, overrides: Mapping[str, int], default: int) -> int:
    """The window for `model`: the administrator's override for this exact id (any case)
    first, then the table, then `default`."""
    wanted = model.strip().lower()
    for name, tokens in overrides.items():
        if name.strip().lower() == wanted:
            return tokens
    found = by_longest_prefix(model, CONTEXT_WINDOWS)
    return default if found is None else found


def parse_overrides(text: str) -> dict[str, int]:
    """The administrator's "model = tokens" lines, keyed by lower-case model id.

    Blank lines and "#" comments are skipped; digits may be grouped with "_" or ",". A line
    that cannot be read stops the whole text, naming the line, so nothing half-read is
    saved. A model named twice keeps its last line, as in a settings file.
    """
    windows: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _OVERRIDE_LINE.match(line)
        if match is None:
            raise ConfigError(
                N_("Context windows, line {line}: write one model per line as “model = tokens”."),
                code="context_window_line_unreadable",
                line=number,
            )
        digits = match["tokens"].replace("_", "").replace(",", "")
        tokens = int(digits) if digits.isascii() and digits.isdigit() else None
        if tokens is None or not MIN_OVERRIDE_TOKENS <= tokens <= MAX_OVERRIDE_TOKENS:
            raise ConfigError(
                N_(
                    "Context windows, line {line}: the tokens must be a whole number from "
                    "{minimum:,} to {maximum:,}."
                ),
                code="context_window_out_of_range",
                line=number,
                minimum=MIN_OVERRIDE_TOKENS,
                maximum=MAX_OVERRIDE_TOKENS,
            )
        windows[match["model"].strip().lower()] = tokens
    return windows
