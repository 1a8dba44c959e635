"""A light Streamlit client: the browser's own websocket protocol, without a browser.

Forty Chromium contexts do not fit on two cores next to the servers they measure, so each
simulated teammate is one websocket to ``/_stcore/stream`` that speaks what the front end
speaks: ``BackMsg`` protobufs out (a ``rerun_script`` carrying the URL's query string, the chat
input's value and the reader's time zone and locale), ``ForwardMsg`` protobufs in (the page's
deltas, ``page_info_changed`` when the app puts the conversation in the URL, ``script_finished``).
The server cannot tell it from a tab, so every script run, database read and redraw the app
does for a browser it does here too; what is left out is the browser's own work (parsing the
deltas into React components and painting them), which is why the first-token figures here
are lower than ``bench.chat_latency``'s, which include it.

Like a tab, a session sends only the widget states that changed (the chat input's trigger):
the server keeps the others from the previous run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import ChatInputValue
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

HOST = "127.0.0.1"  # only ever the app on this machine
# A run that ended to make way for another (st.rerun) is followed by that run: not the end.
# A run that ends with no other queued: the page's, or a fragment's alone (the conversation's
# area after a reply). Not FINISHED_EARLY_FOR_RERUN: another run follows at once.
_RUN_ENDED = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
}


class SessionClosed(RuntimeError):
    """The websocket closed (the server went away or dropped this client)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One ForwardMsg and when it was read off the socket (``time.monotonic()``)."""

    at: float
    msg: ForwardMsg


@dataclass(slots=True)
class RunResult:
    """How one script run that this client asked for ended."""

    sent_at: float
    finished_at: float | None  # None: it did not finish within the timeout
    status: str  # "finished", "timeout", "closed", "compile_error"


def markdown_body(msg: ForwardMsg) -> str | None:
    """The Markdown text of a delta that draws a Markdown element, else None.

    Replies (streaming and final) and user messages are all drawn as Markdown elements.
    """
    if msg.WhichOneof("type") != "delta":
        return None
    delta = msg.delta
    if delta.WhichOneof("type") != "new_element":
        return None
    element = delta.new_element
    if element.WhichOneof("type") != "markdown":
        return None
    return str(element.markdown.body)


class StreamlitSession:
    """One browser tab's worth of connection: a websocket and the page state a tab keeps.

    A reader task stamps every incoming message the moment it is read, so times stay right
    while the coroutine that asked for a run is busy elsewhere (a think time, another wait).
    """

    def __init__(
        self,
        port: int,
        *,
        timezone: str = "UTC",
        locale: str = "en-US",
        user_header: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.user_header = user_header  # (name, value): who a trusted proxy says this is
        self.timezone = timezone
        self.locale = locale
        self.query_string = ""  # the tab's URL query, as the app last set it
        self.chat_input_id: str | None = None
        self.closed = False
        self._ws: ClientConnection | None = None
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/_stcore/stream"

    async def connect(self, timeout: float = 30.0) -> None:
        """Open the websocket as the front end does: subprotocol "streamlit", no proxy."""
        self._ws = await connect(
            self.url,
            subprotocols=[Subprotocol("streamlit")],
            proxy=None,  # loopback only, whatever the environment says
            max_size=None,  # a long thread's first run can exceed the 1 MiB default
            open_timeout=timeout,
            additional_headers=[self.user_header] if self.user_header else None,
        )
        self._reader = asyncio.create_task(self._read(), name=f"st-read-{self.port}")

    async def close(self) -> None:
        """Close the socket and stop the reader."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self.closed = True

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                at = time.monotonic()
                if isinstance(raw, str):  # Streamlit only sends binary frames
                    continue
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._observe(msg)
                self._events.put_nowait(Event(at, msg))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._events.put_nowait(None)

    def _observe(self, msg: ForwardMsg) -> None:
        """Keep what a tab keeps: the URL the app set, and the chat input's widget id."""
        kind = msg.WhichOneof("type")
        if kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            if element.WhichOneof("type") == "chat_input":
                self.chat_input_id = element.chat_input.id

    def _drain(self) -> None:
        """Forget events of earlier runs, so a run's watcher sees only its own."""
        while True:
            try:
                item = self._events.get_nowait()
            except asyncio.QueueEmpty:
                return
            if item is None:  # keep the end-of-stream mark for the next reader
                self._events.put_nowait(None)
                return

    def _rerun_message(self, chat_text: str | None, query_string: str) -> bytes:
        back = BackMsg()
        state = back.rerun_script
        state.query_string = query_string
        state.context_info.timezone = self.timezone
        state.context_info.locale = self.locale
        if chat_text is not None:
            if self.chat_input_id is None:
                raise RuntimeError("no chat input seen yet: load the page first")
            state.widget_states.widgets.append(
                WidgetState(id=self.chat_input_id, chat_input_value=ChatInputValue(data=chat_text))
            )
        return bytes(back.SerializeToString())

    async def run(
        self,
        *,
        chat_text: str | None = None,
        query_string: str | None = None,
        watch: Callable[[Event], None] | None = None,
        timeout: float = 60.0,
        on_sent: Callable[[float], None] | None = None,
    ) -> RunResult:
        """Ask for a script run (a page load, or a chat message sent) and wait for its end.

        `watch` sees every message of the run as it arrives; `on_sent` is called with the
        send time right after the message left, before any reply is awaited.
        """
        if self._ws is None or self.closed:
            raise SessionClosed("the websocket is closed")
        self._drain()
        payload = self._rerun_message(
            chat_text, self.query_string if query_string is None else query_string
        )
        sent_at = time.monotonic()
        try:
            await self._ws.send(payload)
        except ConnectionClosed as exc:
            raise SessionClosed(str(exc)) from exc
        if on_sent is not None:
            on_sent(sent_at)
        deadline = sent_at + timeout
        started = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return RunResult(sent_at, None, "timeout")
            try:
                event = await asyncio.wait_for(self._events.get(), remaining)
            except TimeoutError:
                return RunResult(sent_at, None, "timeout")
            if event is None:
                self._events.put_nowait(None)
                return RunResult(sent_at, None, "closed")
            kind = event.msg.WhichOneof("type")
            if kind == "new_session":
                started = True
            if watch is not None:
                watch(event)
            if kind == "script_finished" and started and event.msg.script_finished in _RUN_ENDED:
                ok = event.msg.script_finished != ForwardMsg.FINISHED_WITH_COMPILE_ERROR
                return RunResult(sent_at, event.at, "finished" if ok else "compile_error")
