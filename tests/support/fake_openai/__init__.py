"""A fake OpenAI-compatible HTTP server for AnyChat's unit and browser tests, and benchmarks.

Tests need an upstream that is deterministic, needs no network or API key, and can be
made to misbehave on purpose (HTTP errors, slow first tokens, streams that break in
the middle).  Unit tests drive it through ``enqueue``; browser tests cannot reach the
test process from the Streamlit subprocess, so they steer it by typing directives such
as ``[[status:429 retry:7]]`` into the chat box (see ``parse_directives``).

Without a queued behavior the server also follows a few request fields the way a real
upstream would: ``n``, ``stop``, ``response_format`` (JSON mode echoes valid JSON) and
``stream_options.include_usage``; and a request whose last message is a tool result is
answered in text, so an app's tool loop ends after one round.

Three layers, each importing only the ones before it:

- ``directives``: Behavior (how to answer one request) and the ``[[name:value]]`` directives;
- ``replies``: the completion, chunk, model and error JSON built from a Behavior and a request;
- ``http``: the HTTP/SSE server and ``FakeOpenAI``, the handle tests hold.

Run standalone for demos (from the project folder)::

    .venv/bin/python -m tests.support.fake_openai --port 8765 --first-token-delay 0.2
"""

from tests.support.fake_openai.directives import Behavior, parse_directives
from tests.support.fake_openai.http import DEFAULT_MODELS, FakeOpenAI, RecordedRequest

__all__ = ["DEFAULT_MODELS", "Behavior", "FakeOpenAI", "RecordedRequest", "parse_directives"]
