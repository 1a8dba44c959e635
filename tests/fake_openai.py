"""A fake OpenAI-compatible HTTP server for AnyChat's unit and browser tests.

Tests need an upstream that is deterministic, needs no network or API key, and can be
made to misbehave on purpose (HTTP errors, slow first tokens, streams that break in
the middle).  Unit tests drive it through ``enqueue``; browser tests cannot reach the
test process from the Streamlit subprocess, so they steer it by typing directives such
as ``[[status:429 retry:7]]`` into the chat box (see ``parse_directives``).

Without a queued behavior the server also follows a few request fields the way a real
upstream would: ``n``, ``stop``, ``response_format`` (JSON mode echoes valid JSON) and
``stream_options.include_usage``; and a request whose last message is a tool result is
answered in text, so an app's tool loop ends after one round.

Run standalone for benchmarks and demos::

    python tests/fake_openai.py --port 8765 --first-token-delay 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

DEFAULT_MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "deepseek-chat"]
MODEL_CREATED = 1700000000
# Granularity of interruptible sleeps: bounds how long stop() or a vanished client
# can keep a handler thread busy.
_POLL = 0.02
_DIRECTIVE = re.compile(r"\[\[\s*([a-z_]+)\s*:(.*?)\]\]", re.DOTALL)
_MALFORMED_LINE = b"data: {not json\n\n"
_DONE_LINE = b"data: [DONE]\n\n"


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


@dataclass
class RecordedRequest:
    """One request as the server saw it, so tests can assert on what the app sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    # Set when the client went away before the response was complete (e.g. the app's
    # Stop button); only reliable when the response has delays to notice it in.
    client_disconnected: bool = False


class _AbandonedError(Exception):
    """Raised inside a handler to abandon a response (server stopping or client gone)."""


def _error_type(status: int) -> str:
    """Map a status to the OpenAI error ``type`` so SDK error classes look realistic."""
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return "rate_limit_error"
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        return "authentication_error"
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return "server_error"
    return "invalid_request_error"


def _content_text(content: object) -> str:
    """Flatten a message ``content`` (string or list of parts) into plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _last_user_text(body: dict[str, Any]) -> str:
    """Return the newest user message, which is where browser tests put directives."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _tool_results(body: dict[str, Any]) -> list[str] | None:
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
        results.append(_content_text(message.get("content")))
    return results[::-1] or None


def _stop_sequences(body: dict[str, Any]) -> list[str]:
    """The request's ``stop`` (a string or a list of strings) as a list of non-empty strings."""
    stop = body.get("stop")
    items = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    return [item for item in items if isinstance(item, str) and item]


def _apply_stop(text: str, stops: list[str]) -> str:
    """Cut just before the earliest stop sequence, which itself is not returned."""
    hits = [pos for pos in (text.find(stop) for stop in stops) if pos >= 0]
    return text[: min(hits)] if hits else text


def _parse_tool_directive(value: str, position: int) -> dict[str, Any]:
    """``NAME [ARGS]`` into the compact tool-call form that ``_tool_call`` understands.

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


def _count_words(text: str) -> int:
    """Word count used as a cheap, predictable stand-in for token counts."""
    return len(text.split())


def _split_chunks(text: str, size: int) -> list[str]:
    """Split into groups of ``size`` words, keeping whitespace so the join equals text."""
    pieces = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    size = max(1, size)
    return ["".join(pieces[i : i + size]) for i in range(0, len(pieces), size)]


def parse_directives(message: str) -> dict[str, Any]:
    """Turn ``[[name:value]]`` directives into Behavior field overrides.

    Besides the pacing and failure knobs, ``[[tool:NAME {"json": "args"}]]`` asks for a
    tool call (repeat it for several, ids ``call_0``, ``call_1``, ...),
    ``[[finishes:stop,length]]`` sets per-choice finish reasons for n>1 and
    ``[[fingerprint:VALUE]]`` the ``system_fingerprint``.  The pattern ends at the first
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
            elif name == "fingerprint" and value:
                overrides["system_fingerprint"] = value
        except ValueError:
            continue
    if tool_calls:
        overrides["tool_calls"] = tool_calls
    return overrides


class _Server(ThreadingHTTPServer):
    """Threading server that knows its FakeOpenAI and stays quiet about dead clients."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Swallow disconnect errors; they are expected when clients hit Stop."""
        if isinstance(sys.exc_info()[1], (OSError, _AbandonedError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes the handful of OpenAI endpoints the app uses."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        """Register the socket so stop() can unblock threads waiting on keep-alive reads."""
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        """Unregister the socket; tolerate it having been torn down already."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: object) -> None:
        """Keep pytest and benchmark output clean."""

    def do_GET(self) -> None:
        """Handle GET requests."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST requests."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT requests (always 404, but recorded)."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE requests (always 404, but recorded)."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Handle PATCH requests (always 404, but recorded)."""
        self._dispatch()

    # -- plumbing ---------------------------------------------------------------

    def _dispatch(self) -> None:
        """Record the request, route it, and turn connection failures into silence."""
        fake = self.server.fake
        self._number = fake._next_number()
        self._record: RecordedRequest | None = None
        self._chunked = False
        try:
            self._route(fake)
        except (OSError, _AbandonedError):
            if self._record is not None:
                self._record.client_disconnected = not fake._stopping.is_set()
            self._abort()

    def _route(self, fake: FakeOpenAI) -> None:
        """Send each path to its endpoint implementation."""
        raw = self._read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._record = RecordedRequest(self.command, self.path, headers, body, time.monotonic())
        fake._add_request(self._record)

        path = self.path.split("?", 1)[0].rstrip("/")
        path = path.removeprefix("/v1")
        if self.command == "GET" and path == "/models":
            self._models(fake)
        elif self.command == "GET" and path.startswith("/models/"):
            self._model(fake, path[len("/models/") :])
        elif self.command == "POST" and path == "/chat/completions":
            self._chat(fake, body)
        else:
            self._send_error(404, f"Unknown request URL: {self.command} {self.path}")

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked) so keep-alive stays in sync."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _abort(self) -> None:
        """Drop the connection without a proper end, like a crashed upstream would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.connection.close()

    def _peer_gone(self) -> bool:
        """Detect a client that closed its end, without consuming request bytes."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _pause(self, seconds: float) -> None:
        """Sleep in small steps so stop() and client disconnects interrupt delays."""
        deadline = time.monotonic() + max(0.0, seconds)
        stopping = self.server.fake._stopping
        while True:
            if stopping.is_set() or self._peer_gone():
                raise _AbandonedError
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            stopping.wait(min(_POLL, remaining))

    def _start_headers(self, status: int, extra: dict[str, str] | None) -> None:
        """Status line plus the headers every response carries."""
        self.send_response(status)
        self.send_header("x-request-id", f"req_{self._number}")
        for key, value in (extra or {}).items():
            self.send_header(key, value)

    def _send_json(self, status: int, payload: object, extra: dict[str, str] | None = None) -> None:
        """Send a complete JSON response with Content-Length (connection may be reused)."""
        self._send_bytes(status, json.dumps(payload).encode(), extra)

    def _send_bytes(self, status: int, data: bytes, extra: dict[str, str] | None) -> None:
        """Send raw bytes labelled as JSON (also used for deliberately broken bodies)."""
        self._start_headers(status, extra)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        """Send an OpenAI-shaped error body so the SDK raises the matching exception."""
        payload = {"error": {"message": message, "type": _error_type(status), "code": None}}
        self._send_json(status, payload, extra)

    # -- endpoints --------------------------------------------------------------

    def _models(self, fake: FakeOpenAI) -> None:
        """GET /v1/models, or an error when a test set ``models_status``."""
        status = fake.models_status
        if status != HTTPStatus.OK:
            self._send_error(status, "fake models error")
            return
        data = [_model_object(m) for m in fake.models]
        self._send_json(200, {"object": "list", "data": data})

    def _model(self, fake: FakeOpenAI, model: str) -> None:
        """GET /v1/models/{id} for completeness (the SDK exposes ``models.retrieve``)."""
        if model in fake.models:
            self._send_json(200, _model_object(model))
        else:
            self._send_error(404, f"The model '{model}' does not exist")

    def _chat(self, fake: FakeOpenAI, body: object) -> None:
        """POST /v1/chat/completions, shaped by the selected Behavior."""
        if not isinstance(body, dict):
            self._send_error(400, "Request body must be a JSON object")
            return
        behavior = fake._select(body)
        if behavior.status != HTTPStatus.OK:
            self._pause(behavior.first_token_delay)
            self._send_error(behavior.status, behavior.error_message, behavior.headers)
            return
        reply = _Reply(behavior, body, self._number)
        if body.get("stream") is True:
            self._stream(reply)
        else:
            self._complete(reply)

    def _complete(self, reply: _Reply) -> None:
        """Non-streaming answer; broken-stream knobs map to their closest equivalents."""
        behavior = reply.behavior
        self._pause(behavior.first_token_delay)
        if behavior.disconnect_after is not None:
            self._abort()
            return
        if behavior.malformed_after is not None:
            self._send_bytes(200, b"{not json", behavior.headers)
            return
        self._send_json(200, reply.completion(), behavior.headers)

    def _stream(self, reply: _Reply) -> None:
        """Server-sent events, chunked, closing the connection at the end."""
        behavior = reply.behavior
        self.close_connection = True
        self._start_headers(200, behavior.headers)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._chunked = True

        self._pause(behavior.first_token_delay)
        for index in range(reply.n):
            self._event(reply.chunk([_delta_choice(index, {"role": "assistant", "content": ""})]))
        cut = reply.cut()
        for sent, (index, delta) in enumerate(reply.events()):
            if cut is not None and sent >= cut[0]:
                break
            if sent:
                self._pause(behavior.chunk_delay)
            self._event(reply.chunk([_delta_choice(index, delta)]))
        if cut is not None:  # a break above, or N >= number of events
            self._cut(cut[1])
            return
        for index in range(reply.n):
            self._event(reply.chunk([_delta_choice(index, {}, reply.choice_finish(index))]))
        options = reply.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            self._event(reply.chunk([], usage=reply.usage()))
        self._write(_DONE_LINE)
        self._write(b"")

    def _cut(self, kind: str) -> None:
        """End a stream early in one of the three broken ways a test can ask for."""
        if kind == "disconnect":
            self._abort()
            return
        self._write(_MALFORMED_LINE if kind == "malformed" else _DONE_LINE)
        self._write(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        """Send one SSE ``data:`` event."""
        self._write(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write(self, data: bytes) -> None:
        """Write one HTTP chunk (empty = terminating chunk) and flush it immediately."""
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)
        self.wfile.flush()


def _model_object(model: str) -> dict[str, Any]:
    """One entry of the models list."""
    return {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": "fake"}


def _delta_choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One ``choices`` entry of a stream chunk."""
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}


class _Reply:
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
        self.last_user = _last_user_text(body)
        self.text = text if text is not None else f"Echo: {self.last_user}"
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
            _count_words(_content_text(m.get("content")))
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


class FakeOpenAI:
    """The fake server: start it, point the SDK at ``base_url``, steer it, inspect it."""

    def __init__(
        self, models: list[str] | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.models = list(models) if models is not None else list(DEFAULT_MODELS)
        self.requests: list[RecordedRequest] = []
        self.default = Behavior()
        self.models_status = 200
        self._host = host
        self._port = port
        self._queue: deque[Behavior] = deque()
        self._cond = threading.Condition()
        self._number = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` of the running server."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://{self._host}:{self._server.server_address[1]}/v1"

    def start(self) -> Self:
        """Bind (port 0 = any free port) and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already started")
        self._stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop quickly, even with streams mid-delay or idle keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def enqueue(self, *behaviors: Behavior) -> None:
        """Queue behaviors for the next chat requests, first in first out."""
        with self._cond:
            self._queue.extend(behaviors)

    def chat_requests(self) -> list[RecordedRequest]:
        """Only the POST /v1/chat/completions requests, in arrival order."""
        with self._cond:
            return [r for r in self.requests if _is_chat(r)]

    def reset(self) -> None:
        """Forget queue and history and restore defaults, for reuse across tests."""
        with self._cond:
            self._queue.clear()
            self.requests.clear()
            self.default = Behavior()
            self.models_status = 200

    def wait_for_requests(self, count: int, timeout: float = 10) -> None:
        """Block until at least ``count`` chat requests arrived, else AssertionError."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for r in self.requests if _is_chat(r)) >= count, timeout
            )
            seen = sum(1 for r in self.requests if _is_chat(r))
        if not ok:
            raise AssertionError(f"expected {count} chat requests within {timeout}s, got {seen}")

    # -- used by the handler ----------------------------------------------------

    def _next_number(self) -> int:
        with self._cond:
            self._number += 1
            return self._number

    def _add_request(self, record: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _select(self, body: dict[str, Any]) -> Behavior:
        """Queued behavior, else directives in the last user message, else the default.

        A tool-result turn keeps the directives' other knobs but always answers in text
        (``Tool results: ...``), so a tool directive cannot loop forever; queued
        behaviors still win because unit tests need full control.
        """
        with self._cond:
            if self._queue:
                return self._queue.popleft()
            default = self.default
        overrides = parse_directives(_last_user_text(body))
        results = _tool_results(body)
        if results is not None:
            overrides["tool_calls"] = None
            overrides["text"] = "Tool results: " + "; ".join(results)
        return dataclasses.replace(default, **overrides) if overrides else default


def _is_chat(record: RecordedRequest) -> bool:
    """Tell chat-completions calls apart, whichever base path the client used."""
    path = record.path.split("?", 1)[0].rstrip("/")
    return record.method == "POST" and path.endswith("/chat/completions")


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C; prints base_url first so scripts can read it."""
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(host=args.host, port=args.port)
    fake.default = Behavior(first_token_delay=args.first_token_delay, chunk_delay=args.chunk_delay)
    fake.start()
    print(fake.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
