"""bench.stream_cpu reads real chunks both ways and prints a figure for each."""

from __future__ import annotations

import re

import pytest
from openai import OpenAI

from bench import stream_cpu
from tests.support.fake_openai import FakeOpenAI


def test_both_readers_read_every_chunk(fake_api: FakeOpenAI) -> None:
    client = OpenAI(api_key="sk-bench", base_url=fake_api.base_url, max_retries=0)
    assert stream_cpu.read_as_the_app_does(client, fake_api.base_url, 40) == 40
    assert stream_cpu.read_typed(client, 40) == 40


def test_it_prints_a_figure_for_each_reader(capsys: pytest.CaptureFixture[str]) -> None:
    stream_cpu.main(["--words", "30", "--rounds", "1"])
    out = capsys.readouterr().out
    assert re.search(r"the app \(generate\)\s+\d+ µs", out), out
    assert re.search(r"the SDK's typed chunks\s+\d+ µs", out), out
