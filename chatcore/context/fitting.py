"""Leaving out the oldest messages so that a request always fits the model's context window.

A long thread used to fail with the upstream's context-length 400 once it outgrew the model.
Now, before sending, the request is counted against the window with room kept for the reply,
and the oldest messages are left out until it fits. What is never left out: the leading
system (or developer) messages, which set the assistant up, and the newest turn (the last
user message and everything after it, such as a tool call and its results), without which
there is nothing to answer. A tool call goes with its results, since an API refuses either
without the other, and once anything is left out the kept history starts at a user message:
a reply without its question misleads the model, and some servers' chat templates refuse a
history that opens with the assistant (or with a tool result, which is never kept first).

Each message is counted at most once, newest first, and the walk stops at the first one that
does not fit, so a thread of thousands of messages costs what fits in the window, not what
the thread holds; the counter also remembers texts it has counted before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatcore.context.tokens import REPLY_PRIMING, ByteBound, TokenCounter
from chatcore.errors import ContextOverflow
from chatcore.i18n import N_

BYTE_BOUND = ByteBound()
# Room for the reply when no max_tokens is set: a long answer, but never most of a small window.
DEFAULT_REPLY_RESERVE = 4_096
_LEADING_ROLES = frozenset({"system", "developer"})
# An upstream's count of an earlier request is trusted with 5% on top.
COUNTED_MARGIN_DIVISOR = 20

# Raised as ContextOverflow, and kept as a failed reply's sentence when the generation thread
# finds the request cannot fit (chatcore/chat/upstream_errors.py).
CONTEXT_OVERFLOW = N_(
    "This request needs {needed:,} tokens, {reserve:,} of them kept for the reply, but {model} "
    "takes at most {window:,}. Shorten the message, remove files, or lower Max tokens."
)


@dataclass(frozen=True, slots=True)
class Fit:
    """What to send: `messages`; `dropped`, how many were left out after the leading system
    messages; `start`, the index in the given list of the first message sent after those
    (where the page marks the start of the context); `tokens`, the count of what is sent (at
    most that: a request that fits by its bytes alone is not tokenized, see ByteBound)."""

    messages: list[dict[str, Any]]
    dropped: int
    start: int
    tokens: int


def reserve_for(max_tokens: int | None, window: int) -> int:
    """Tokens kept free for the reply: max_tokens when set (the model may use them all),
    else DEFAULT_REPLY_RESERVE or a quarter of the window, whichever is less."""
    if max_tokens is not None:
        return max_tokens
    return min(DEFAULT_REPLY_RESERVE, window // 4)


def _groups(messages: Sequence[dict[str, Any]], start: int, stop: int) -> list[tuple[int, int]]:
    """[start, stop) cut into what is left out together: a message with the tool results
    that follow it."""
    groups: list[tuple[int, int]] = []
    for index in range(start, stop):
        if messages[index].get("role") == "tool" and groups:
            groups[-1] = (groups[-1][0], index + 1)
        else:
            groups.append((index, index + 1))
    return groups


def fit_messages(
    messages: Sequence[dict[str, Any]],
    *,
    window: int,
    reserve: int,
    counter: TokenCounter,
    model: str,
    counted: tuple[int, int] | None = None,
) -> Fit:
    """The messages to send to `model`, whose context takes `window` tokens, keeping `reserve`
    of them for the reply; the counts are for `model` (see TokenCounter).

    `counted`, (index, tokens), is the upstream's own count of `messages[: index + 1]`: the
    prompt and reply tokens of an earlier request that sent them all. It stands for those
    messages, with a margin, so a long thread that plainly fits is not tokenized message by
    message on every turn (a 500-message thread took 15-20 ms to count).

    Raises ContextOverflow when even the leading system messages and the newest turn do not
    fit with the reserve: the person must shorten the message, remove files or ask for a
    shorter reply.
    """
    head = 0
    while head < len(messages) and messages[head].get("role") in _LEADING_ROLES:
        head += 1
    orphan = head < len(messages) and messages[head].get("role") == "tool"
    bound = BYTE_BOUND.count_messages(messages, model=model)
    if not orphan and bound + reserve <= window:  # fits however it is tokenized
        return Fit(messages=list(messages), dropped=0, start=head, tokens=bound)
    if counted is not None and not orphan and head <= counted[0] < len(messages):
        index, tokens = counted
        # The leading messages are counted again (the system prompt may have changed since).
        rest = (*messages[:head], *messages[index + 1 :])
        known = REPLY_PRIMING + tokens + tokens // COUNTED_MARGIN_DIVISOR
        estimate = known + sum(counter.count_message(message, model=model) for message in rest)
        if estimate + reserve <= window:
            return Fit(messages=list(messages), dropped=0, start=head, tokens=estimate)
    last_user = next(
        (i for i in range(len(messages) - 1, head - 1, -1) if messages[i].get("role") == "user"),
        None,
    )
    if last_user is None:  # no question: the newest turn is the last message and its results
        groups = _groups(messages, head, len(messages))
        newest = groups.pop()[0] if groups else len(messages)
    else:
        newest = last_user
        groups = _groups(messages, head, newest)

    fixed = REPLY_PRIMING + sum(
        counter.count_message(message, model=model)
        for message in (*messages[:head], *messages[newest:])
    )
    if fixed + reserve > window:
        raise ContextOverflow(
            CONTEXT_OVERFLOW,
            needed=fixed + reserve,
            reserve=reserve,
            model=model,
            window=window,
        )

    room = window - reserve - fixed
    first = len(groups)  # the oldest group kept
    costs: list[int] = []  # the kept groups' counts, newest first
    used = 0
    for begin, end in reversed(groups):
        cost = sum(counter.count_message(message, model=model) for message in messages[begin:end])
        if used + cost > room:
            break
        costs.append(cost)
        used += cost
        first -= 1
    while first < len(groups):
        role = messages[groups[first][0]].get("role")
        if role == "user" or (role != "tool" and first == 0):
            break
        used -= costs.pop()
        first += 1

    start = groups[first][0] if first < len(groups) else newest
    return Fit(
        messages=[*messages[:head], *messages[start:]],
        dropped=start - head,
        start=start,
        tokens=fixed + used,
    )
