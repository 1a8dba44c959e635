"""The storage benchmark still runs: its quick mode on SQLite, with a small long conversation,
in a process of its own (it sets signal handlers and a last-resort timer, as bench/load does).

It checks the benchmark works, never how fast anything is: figures are for bench/, not tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_quick_storage_benchmark_prints_its_table(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "bench.storage",
        "--quick",
        "--long",
        "300",
        "--transfer",
        "5",
        "--no-cache",
        "--timeout",
        "100",
        "--out",
        str(tmp_path / "figures.json"),
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=150, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout
    for label in (
        "sidebar list (newest 20)",
        "open the 300-message conversation",
        "land on its 100th message or so (first time)",
        "start a reply in the 300-message one (to the worker)",
        "search “zeppelin” (English)",
        "import a 5-conversation ChatGPT export",
        "export 5 conversations",
    ):
        assert label in table
    assert "skipped" not in table
    assert (tmp_path / "figures.json").exists()
