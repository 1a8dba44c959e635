"""The JSON the fake server answers with: completions, stream chunks, models and errors.

Nothing here touches a socket; ``Reply`` derives everything both response modes share from
(Behavior, request).  Without a queued text the server also follows a few request fields the
way a real upstream would: ``n``, ``stop``, ``response_format`` (JSON mode echoes valid JSON)
and ``stream_options.include_usage`` (read by the HTTP layer).
"""

from __future__ import annotations

import json
import re
import time
from http import HTTPStatus
from typing import Any

from tests.support.fake_openai.directives import Behavior, content_text, last_user_text

MODEL_CREATED = 1700000000


def _error_type(status: int) -> str:
    """Map a status to the OpenAI error ``type`` so SDK error classes look realistic."""
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return "rate_limit_error"
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        return "authentication_error"
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return "server_error"
    return "invalid_request_error"


def error_body(status: int, message: str) -> dict[str, Any]:
    """An OpenAI-shaped error body, so the SDK raises the matching exception."""
    return {"error": {"message": message, "type": _error_type(status), "code": None}}


def model_object(model: str) -> dict[str, Any]:
    """One entry of the models list."""
    return {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": "fake"}


def delta_choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One ``choices`` entry of a stream chunk."""
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}


def _stop_sequences(body: dict[str, Any]) -> list[str]:
    """The request's ``stop`` (a string or a list of strings) as a list of non-empty strings."""
    stop = body.get("stop")
    items = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    return [item for item in items if isinstance(item, str) and item]


def _apply_stop(text: str, stops: list[str]) -> str:
    """Cut just before the earliest stop sequence, which itself is not returned."""
    hits = [pos for pos in (text.find(stop) for stop in stops) if pos >= 0]
    return text[: min(hits)] if hits else text


def _count_words(text: str) -> int:
    """Word count used as a cheap, predictable stand-in for token counts."""
    return len(text.split())


def _split_chunks(text: str, size: int) -> list[str]:
    """Split into groups of ``size`` words, keeping whitespace so the join equals text."""
    pieces = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    size = max(1, size)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]


def _tool_call(position: int, call: dict[str, Any]) -> dict[str, Any]:
    """Convert the compact test form {id, name, arguments} to OpenAI's tool_call shape."""
    arguments = call.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {
        "id": call.get("id") or f"call_{position}",
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": arguments},
    }


class Reply:
    """Everything derived from (Behavior, request) that both response modes share."""

    def __init__(self, behavior: Behavior, body: dict[str, Any], number: int) -> None:
        self.behavior = behavior
        self.body = body
        self.id = f"chatcmpl-{number}"
        self.created = int(time.time())
        self.model = str(body.get("model", ""))
        n = body.get("n")
        self.n = n if isinstance(n, int) and n > 0 else 1
        text = behavior.text
        # JSON mode only changes the echo; an explicit text is the test's exact wish.
        self.json_echo = text is None and body.get("response_format") == {"type": "json_object"}
        self.last_user = last_user_text(body)
        self.text = text if text is not None else f"Echo: {self.last_user}"
        if behavior.sign_model:
            self.text = f"[{self.model}] {self.text}"
        self.stops = _stop_sequences(body)
        self.tool_calls = [_tool_call(i, tc) for i, tc in enumerate(behavior.tool_calls or [])]
        self.finish_reason = "tool_calls" if self.tool_calls else behavior.finish_reason
        self._events: list[tuple[int, dict[str, Any]]] | None = None

    def choice_text(self, index: int) -> str:
        """Distinct text per choice so n>1 tests can tell choices apart, cut at ``stop``.

        In JSON mode the choices differ by a ``choice`` key rather than a ``[i]`` prefix,
        which would make them invalid JSON.
        """
        if self.json_echo:
            payload: dict[str, Any] = {"echo": self.last_user}
            if index:
                payload["choice"] = index
            text = json.dumps(payload, ensure_ascii=False)
        else:
            text = self.text if index == 0 else f"[{index}] {self.text}"
        return _apply_stop(text, self.stops)

    def choice_finish(self, index: int) -> str:
        """Behavior.finish_reasons[index] when given (and non-empty), else finish_reason."""
        reasons = self.behavior.finish_reasons or []
        return reasons[index] if index < len(reasons) and reasons[index] else self.finish_reason

    def usage(self) -> dict[str, Any]:
        """Behavior.usage, or word counts standing in for token counts."""
        if self.behavior.usage is not None:
            usage = dict(self.behavior.usage)
            if "total_tokens" not in usage:
                total = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
                usage["total_tokens"] = total
            return usage
        messages = self.body.get("messages")
        prompt = sum(
            _count_words(content_text(m.get("content")))
            for m in (messages if isinstance(messages, list) else [])
            if isinstance(m, dict)
        )
        if self.tool_calls:
            completion = sum(_count_words(tc["function"]["arguments"]) for tc in self.tool_calls)
        else:
            completion = _count_words(self.choice_text(0))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def completion(self) -> dict[str, Any]:
        """Build the full non-streaming ``chat.completion`` object."""
        choices = []
        for index in range(self.n):
            message: dict[str, Any] = {"role": "assistant", "content": self.choice_text(index)}
            if self.tool_calls:
                message["content"] = None
                message["tool_calls"] = self.tool_calls
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": self.choice_finish(index),
                    "logprobs": None,
                }
            )
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.behavior.system_fingerprint,
            "choices": choices,
            "usage": self.usage(),
        }

    def chunk(
        self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One ``chat.completion.chunk`` object."""
        payload = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.behavior.system_fingerprint,
            "choices": choices,
        }
        if usage is not None:
            payload["usage"] = usage
        return payload

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        """Content (or tool-call) deltas as (choice index, delta), choices interleaved."""
        if self._events is None:
            per_choice = [self._deltas(index) for index in range(self.n)]
            longest = max((len(d) for d in per_choice), default=0)
            self._events = [
                (index, deltas[k])
                for k in range(longest)
                for index, deltas in enumerate(per_choice)
                if k < len(deltas)
            ]
        return self._events

    def _deltas(self, index: int) -> list[dict[str, Any]]:
        """Deltas for one choice: text pieces, or each tool call's arguments in two halves."""
        if not self.tool_calls:
            pieces = _split_chunks(self.choice_text(index), self.behavior.chunk_size)
            return [{"content": piece} for piece in pieces]
        deltas: list[dict[str, Any]] = []
        for position, call in enumerate(self.tool_calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            first = {"name": call["function"]["name"], "arguments": arguments[:half]}
            deltas.append(
                {
                    "tool_calls": [
                        {"index": position, "id": call["id"], "type": "function", "function": first}
                    ]
                }
            )
            second = {"index": position, "function": {"arguments": arguments[half:]}}
            deltas.append({"tool_calls": [second]})
        return deltas

    def cut(self) -> tuple[int, str] | None:
        """Return the earliest requested stream break as (after N events, kind), if any."""
        behavior = self.behavior
        options = [
            (behavior.disconnect_after, 0, "disconnect"),
            (behavior.malformed_after, 1, "malformed"),
            (behavior.truncate_after, 2, "truncate"),
        ]
        chosen = min(
            ((n, order, kind) for n, order, kind in options if n is not None), default=None
        )
        return None if chosen is None else (max(0, chosen[0]), chosen[2])
