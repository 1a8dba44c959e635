"""What the fake server should do for one request: Behavior, and the directives that set it.

Unit tests queue Behavior objects; browser tests cannot reach the test process from the
Streamlit subprocess, so they type directives such as ``[[status:429 retry:7]]`` into the chat
box, which ``parse_directives`` turns into Behavior fields.  ``behavior_for`` picks the answer
for a request when nothing is queued.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

_DIRECTIVE = re.compile(r"\[\[\s*([a-z_]+)\s*:(.*?)\]\]", re.DOTALL)


@dataclass
class Behavior:
    """How to answer one chat-completions request."""

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "fake upstream error"
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 1
    finish_reason: str = "stop"
    disconnect_after: int | None = None
    truncate_after: int | None = None
    malformed_after: int | None = None
    usage: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    system_fingerprint: str = "fp_fake"
    # Per-choice finish reasons for n>1 (choice i gets item i); choices beyond the list,
    # or with an empty item, fall back to ``finish_reason``.
    finish_reasons: list[str] | None = None
    # Start the reply with the model asked for, "[MODEL] ...", so compared replies differ.
    sign_model: bool = False


# -- reading the request ------------------------------------------------------------------


def content_text(content: object) -> str:
    """Flatten a message ``content`` (string or list of parts) into plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    """Return the newest user message, which is where browser tests put directives."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def tool_results(body: dict[str, Any]) -> list[str] | None:
    """Contents of the trailing run of tool messages, or None when the turn is not one.

    A request ending in tool results is the app finishing a tool loop; answering it with
    tool calls again (because the last *user* message still holds a tool directive)
    would make that loop endless.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "tool":
            break
        results.append(content_text(message.get("content")))
    return results[::-1] or None


# -- directives ---------------------------------------------------------------------------


def _parse_tool_directive(value: str, position: int) -> dict[str, Any]:
    """``NAME [ARGS]`` into the compact tool-call form that the replies layer understands.

    Invalid ARGS JSON is passed through as the raw string on purpose: real models do
    produce broken arguments, and the app has to cope with them.
    """
    name, _, raw_args = value.partition(" ")
    name, raw_args = name.strip(), raw_args.strip()
    if not name:
        raise ValueError("tool directive needs a function name")
    arguments: Any = raw_args
    if not raw_args:
        arguments = {}
    else:
        with contextlib.suppress(ValueError):
            arguments = json.loads(raw_args)
    return {"id": f"call_{position}", "name": name, "arguments": arguments}


def parse_directives(message: str) -> dict[str, Any]:
    """Turn ``[[name:value]]`` directives into Behavior field overrides.

    Besides the pacing and failure knobs, ``[[tool:NAME {"json": "args"}]]`` asks for a
    tool call (repeat it for several, ids ``call_0``, ``call_1``, ...),
    ``[[finishes:stop,length]]`` sets per-choice finish reasons for n>1 and
    ``[[fingerprint:VALUE]]`` the ``system_fingerprint`` and ``[[sign:1]]`` starts the reply
    with the model asked for.  The pattern ends at the first
    ``]]``, so tool arguments must not contain one.

    Unknown names and unparsable values are ignored so a typo in a browser test shows
    up as a plain echo reply instead of a server crash.
    """
    overrides: dict[str, Any] = {}
    tool_calls: list[dict[str, Any]] = []
    for name, raw in _DIRECTIVE.findall(message):
        value = raw.strip()
        try:
            if name == "status":
                first, *rest = value.split()
                overrides["status"] = int(first)
                for item in rest:
                    key, _, val = item.partition(":")
                    if key == "retry":
                        overrides["headers"] = {"retry-after": val}
            elif name == "delay":
                overrides["first_token_delay"] = float(value)
            elif name == "chunk_delay":
                overrides["chunk_delay"] = float(value)
            elif name == "chunk_size":
                overrides["chunk_size"] = int(value)
            elif name == "words":
                overrides["text"] = " ".join(f"w{i}" for i in range(1, int(value) + 1))
            elif name == "reply":
                overrides["text"] = value
            elif name == "finish":
                overrides["finish_reason"] = value
            elif name in ("disconnect", "truncate", "malformed"):
                overrides[f"{name}_after"] = int(value)
            elif name == "tool":
                tool_calls.append(_parse_tool_directive(value, len(tool_calls)))
            elif name == "finishes":
                overrides["finish_reasons"] = [item.strip() for item in value.split(",")]
            elif name == "sign":
                overrides["sign_model"] = value not in ("0", "off", "")
            elif name == "fingerprint" and value:
                overrides["system_fingerprint"] = value
        except ValueError:
            continue
    if tool_calls:
        overrides["tool_calls"] = tool_calls
    return overrides


def behavior_for(default: Behavior, body: dict[str, Any]) -> Behavior:
    """The default, changed by directives in the last user message.

    A tool-result turn keeps the directives' other knobs but always answers in text
    (``Tool results: ...``), so a tool directive cannot loop forever.
    """
    overrides = parse_directives(last_user_text(body))
    results = tool_results(body)
    if results is not None:
        overrides["tool_calls"] = None
        overrides["text"] = "Tool results: " + "; ".join(results)
    return dataclasses.replace(default, **overrides) if overrides else default
