"""CPU and memory of the servers under load, and of everything else on the machine.

On two cores the load generator, PostgreSQL and any neighbour's work compete with the app for
the same CPU, so each is sampled apart: a figure only means something next to what else was
running. Sampled once a second from CPU-time deltas (``psutil``), in a thread of its own.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (the app's workers, PostgreSQL's backends)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class ResourceSampler:
    """Samples, per group of processes, the cores busy and the resident memory.

    Groups are named process trees (``app-0``, ``app-1``, ``postgres``) given by root pid;
    ``bench`` is this process and its other children; ``other`` is everything else on the
    machine. Only samples taken while `recording` is on are kept, so start-up and the checks
    afterwards do not count.
    """

    def __init__(self, groups: Callable[[], dict[str, int]], interval: float = 1.0) -> None:
        self._groups = groups
        self.interval = interval
        self.recording = False
        self.cores: dict[str, list[float]] = {}
        self.rss_mb: dict[str, list[float]] = {}
        self.top_other: dict[int, list[Any]] = {}  # pid -> [command, cpu seconds]
        self.recorded_s = 0.0
        self._last_cpu: dict[int, tuple[psutil.Process, float]] = {}
        self._last_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def __enter__(self) -> ResourceSampler:
        self._tick()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # sampling must never break the benchmark
                self._tick()

    def _tick(self) -> None:
        me = psutil.Process()
        owner: dict[int, str] = {}
        for name, pid in self._groups().items():
            for proc in tree(pid):
                owner[proc.pid] = name
        owner[me.pid] = "bench"
        for child in me.children(recursive=True):
            owner.setdefault(child.pid, "bench")
        busy: dict[str, float] = {}
        rss: dict[str, float] = {}
        seen: dict[int, tuple[psutil.Process, float]] = {}
        for proc in psutil.process_iter():
            try:
                times = proc.cpu_times()
                used = times.user + times.system
                group = owner.get(proc.pid, "other")
                previous = self._last_cpu.get(proc.pid)
                if previous is not None and previous[0] == proc:  # same pid, same process
                    delta = max(0.0, used - previous[1])
                    busy[group] = busy.get(group, 0.0) + delta
                    if group == "other" and delta > 0 and self.recording:
                        entry = self.top_other.setdefault(proc.pid, [_command(proc), 0.0])
                        entry[1] += delta
                if group != "other":
                    rss[group] = rss.get(group, 0.0) + proc.memory_info().rss / 2**20
                seen[proc.pid] = (proc, used)
            except psutil.Error:
                continue
        self._last_cpu = seen
        at = time.monotonic()
        elapsed, self._last_at = at - self._last_at, at
        if not self.recording or elapsed <= 0:
            return
        self.recorded_s += elapsed
        for group in {*busy, *rss, *self._groups(), "bench", "other"}:
            self.cores.setdefault(group, []).append(busy.get(group, 0.0) / elapsed)
            if group in rss:
                self.rss_mb.setdefault(group, []).append(rss[group])

    def summary(self) -> dict[str, Any]:
        """Per group: mean and peak cores busy; peak and last resident memory (MB)."""
        out: dict[str, Any] = {}
        for group, values in sorted(self.cores.items()):
            entry: dict[str, Any] = {
                "cores_mean": round(statistics.fmean(values), 2) if values else None,
                "cores_peak": round(max(values), 2) if values else None,
                "samples": len(values),
            }
            memory = self.rss_mb.get(group)
            if memory:
                entry["rss_mb_peak"] = round(max(memory), 1)
                entry["rss_mb_last"] = round(memory[-1], 1)
            out[group] = entry
        seconds = self.recorded_s or 1.0
        top = sorted(self.top_other.items(), key=lambda item: -item[1][1])[:3]
        out["other_top"] = [
            {"pid": pid, "command": command, "cores_mean": round(used / seconds, 2)}
            for pid, (command, used) in top
        ]
        return out


def _command(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline())[:90] or proc.name()
    return "?"
