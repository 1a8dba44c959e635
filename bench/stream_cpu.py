"""CPU a streamed chunk costs the process that reads it: the app's own reading (generate()) and,
for reference, the SDK's typed chunks (what the app read until 4 Dec).

Run: `.venv/bin/python -m bench.stream_cpu` (about 20 seconds).

A real reply arrives a token per chunk, and every chunk is read on the interpreter the
process's pages share, so a reply's chunks are CPU its process's pages wait behind. The test
server runs in a process of its own and answers a 2,000-word reply, a word per chunk, at once;
this process's CPU time (time.process_time) over the chunks it read is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from openai import OpenAI

from chatcore.chat.generation import GenerationJob, generate
from chatcore.chat.live import LiveReply

WORDS = 2000
ROUNDS = 4


def _start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_openai"], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def _request(words: int) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": f"[[words:{words}]]"}]}


def read_as_the_app_does(client: OpenAI, base_url: str, words: int) -> int:
    """generate() as the worker calls it, streamed; returns the chunks it read (one a word)."""
    job = GenerationJob(message_ids=(1,), conversation_id="bench", request=_request(words))
    outcomes = generate(
        client, job, [LiveReply(1)], checkpoint=lambda *_: None, base_url=base_url, timeout=30
    )
    assert outcomes[0].error is None, outcomes[0].error
    return len(outcomes[0].content.split())


def read_typed(client: OpenAI, words: int) -> int:
    """The SDK's chat.completions.create with its typed ChatCompletionChunk models."""
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[], extra_body=_request(words), stream=True
    )
    read = 0
    for chunk in stream:
        read += sum(1 for choice in chunk.choices if choice.delta.content)
    return read


def _cpu_per_chunk(read: Callable[[], int]) -> float:
    began = time.process_time()
    chunks = read()
    return (time.process_time() - began) / chunks * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=WORDS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    server, base_url = _start_server()
    try:
        client = OpenAI(api_key="sk-bench", base_url=base_url, max_retries=0, timeout=30)
        readers = {
            "the app (generate)": lambda: read_as_the_app_does(client, base_url, args.words),
            "the SDK's typed chunks": lambda: read_typed(client, args.words),
        }
        figures: dict[str, list[float]] = {name: [] for name in readers}
        for _round in range(args.rounds):  # interleaved, so the machine's drift falls on both
            for name, read in readers.items():
                figures[name].append(_cpu_per_chunk(read))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"CPU per streamed chunk, {args.words:,} chunks a reply, median of {args.rounds}:")
    for name, values in figures.items():
        spread = ", ".join(f"{value:.0f}" for value in values)
        print(f"  {name:<24} {statistics.median(values):6.0f} µs   ({spread})")


if __name__ == "__main__":
    main()
