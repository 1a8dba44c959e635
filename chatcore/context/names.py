"""How a model id is looked up in this package's tables.

Servers that route to several vendors name models "vendor/model" (OpenRouter, LiteLLM,
Fireworks' "accounts/x/models/y"), and dated or tuned variants extend a family's name
("gpt-4o-2024-08-06", "claude-3-5-sonnet-latest"). So a table keyed by family prefixes,
matched by the longest one against the last path segment, covers the ids a team meets
without listing each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def model_key(model: str) -> str:
    """The id as the tables spell it: lower case, without any "vendor/" path."""
    return model.strip().rsplit("/", 1)[-1].lower()


def by_longest_prefix(model: str, table: Mapping[str, T]) -> T | None:
    """The value of the longest key that `model` (normalised) starts with, else None."""
    key = model_key(model)
    best: str | None = None
    for prefix in table:
        if key.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else table[best]
