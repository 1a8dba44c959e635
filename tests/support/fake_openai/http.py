"""The fake server's HTTP side: a threading HTTP/1.1 server, SSE streaming, and FakeOpenAI.

``FakeOpenAI`` is what tests hold: start it, point the SDK at ``base_url``, queue Behavior
objects with ``enqueue`` (else directives in the last user message decide, see
``directives``), and read back every request it received.  Delays sleep in small steps so
``stop()`` and a client that went away (the app's Stop button) interrupt them at once.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support.fake_openai.directives import Behavior, behavior_for
from tests.support.fake_openai.replies import Reply, delta_choice, error_body, model_object
from tests.support.serving import serve_in_thread

DEFAULT_MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "deepseek-chat"]
# Granularity of interruptible sleeps: bounds how long stop() or a vanished client
# can keep a handler thread busy.
_POLL = 0.02
_MALFORMED_LINE = b"data: {not json\n\n"
_DONE_LINE = b"data: [DONE]\n\n"


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
        elif self.command == "POST" and path == "/audio/transcriptions" and fake.transcribes:
            self._record.body = {"bytes": len(raw), "model_field": b'name="model"' in raw}
            self._send_json(200, {"text": fake.transcript})
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
        self._send_json(status, error_body(status, message), extra)

    # -- endpoints --------------------------------------------------------------

    def _models(self, fake: FakeOpenAI) -> None:
        """GET /v1/models, or an error when a test set ``models_status``."""
        status = fake.models_status
        if status != HTTPStatus.OK:
            self._send_error(status, "fake models error")
            return
        data = [model_object(m) for m in fake.models]
        self._send_json(200, {"object": "list", "data": data})

    def _model(self, fake: FakeOpenAI, model: str) -> None:
        """GET /v1/models/{id} for completeness (the SDK exposes ``models.retrieve``)."""
        if model in fake.models:
            self._send_json(200, model_object(model))
        else:
            self._send_error(404, f"The model '{model}' does not exist")

    def _chat(self, fake: FakeOpenAI, body: object) -> None:
        """POST /v1/chat/completions, shaped by the selected Behavior."""
        if not isinstance(body, dict):
            self._send_error(400, "Request body must be a JSON object")
            return
        limit = fake.max_prompt_chars
        if limit is not None and _prompt_size(body) > limit:
            self._send_error(400, "This model's maximum context length was exceeded.")
            return
        behavior = fake._select(body)
        if behavior.status != HTTPStatus.OK:
            self._pause(behavior.first_token_delay)
            self._send_error(behavior.status, behavior.error_message, behavior.headers)
            return
        reply = Reply(behavior, body, self._number)
        if body.get("stream") is True:
            self._stream(reply)
        else:
            self._complete(reply)

    def _complete(self, reply: Reply) -> None:
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

    def _stream(self, reply: Reply) -> None:
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
            self._event(reply.chunk([delta_choice(index, {"role": "assistant", "content": ""})]))
        cut = reply.cut()
        for sent, (index, delta) in enumerate(reply.events()):
            if cut is not None and sent >= cut[0]:
                break
            if sent:
                self._pause(behavior.chunk_delay)
            self._event(reply.chunk([delta_choice(index, delta)]))
        if cut is not None:  # a break above, or N >= number of events
            self._cut(cut[1])
            return
        for index in range(reply.n):
            self._event(reply.chunk([delta_choice(index, {}, reply.choice_finish(index))]))
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


class FakeOpenAI:
    """The fake server: start it, point the SDK at ``base_url``, steer it, inspect it."""

    def __init__(
        self, models: list[str] | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.models = list(models) if models is not None else list(DEFAULT_MODELS)
        self.requests: list[RecordedRequest] = []
        self.default = Behavior()
        # Behaviors by the model asked for, in place of `default` (a comparison's requests
        # arrive in any order, so a queue cannot tell them apart).
        self.by_model: dict[str, Behavior] = {}
        self.models_status = 200
        # /audio/transcriptions: answered with `transcript`, or a 404 like a server without it.
        self.transcribes = True
        self.transcript = "transcribed words"
        # Refuse, as a real model does, a chat request whose messages are longer than this
        # (characters of text, plus 1,000 per image part): proves a request was fitted.
        self.max_prompt_chars: int | None = None
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
        self._thread = serve_in_thread(self._server, "fake-openai")
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
            self.by_model = {}
            self.models_status = 200
            self.transcribes = True
            self.transcript = "transcribed words"
            self.max_prompt_chars = None

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
        """Queued behavior, else directives in the last user message, else the model's
        behavior or the default.

        Queued behaviors win over directives because unit tests need full control.
        """
        with self._cond:
            if self._queue:
                return self._queue.popleft()
            default = self.by_model.get(str(body.get("model")), self.default)
        return behavior_for(default, body)


def _prompt_size(body: dict[str, Any]) -> int:
    """The messages' length as max_prompt_chars counts it."""
    size = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                size += 1000
            elif isinstance(part.get("text"), str):
                size += len(part["text"])
    return size


def _is_chat(record: RecordedRequest) -> bool:
    """Tell chat-completions calls apart, whichever base path the client used."""
    path = record.path.split("?", 1)[0].rstrip("/")
    return record.method == "POST" and path.endswith("/chat/completions")
