"""A context that always fits the model: counting a request's tokens offline, knowing each
model's context window and whether it sees images, and leaving out the oldest messages when
a thread has outgrown the window. Nothing here imports Streamlit or the database.
"""

from __future__ import annotations

from chatcore.context.fitting import CONTEXT_OVERFLOW, Fit, fit_messages, reserve_for
from chatcore.context.tokens import (
    TokenCounter,
    counts_exactly,
    estimate_tokens,
    image_tokens,
    warm_up,
)
from chatcore.context.vision import sees_images
from chatcore.context.windows import context_window, parse_overrides

__all__ = [
    "CONTEXT_OVERFLOW",
    "Fit",
    "TokenCounter",
    "context_window",
    "counts_exactly",
    "estimate_tokens",
    "fit_messages",
    "image_tokens",
    "parse_overrides",
    "reserve_for",
    "sees_images",
    "warm_up",
]
