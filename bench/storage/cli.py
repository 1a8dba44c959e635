"""Options, the run over databases and sizes within its time budget, and the printed tables."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.storage import dataset
from bench.storage.dataset import Library
from bench.storage.measure import Figure, Limits, measure
from chatcore.config import load_settings
from chatcore.wiring import build_services
from storage import Database, upgrade_to_head
from storage.migrate import HEAD_REVISION
from tests.support.fake_openai import FakeOpenAI
from tests.support.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"10k": 100, "100k": 1_000, "1m": 10_000}  # conversations of 100 messages
DATABASES = ("sqlite", "postgresql")
QUICK_CONVERSATIONS = 20

POSTGRES: list[PostgresServer] = []  # started and not yet stopped, for the last resort


class BenchTimeout(Exception):
    """The whole run exceeded its time budget, or was signalled to stop."""


def _choices(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [part.strip().lower() for part in text.split(",") if part.strip()]
        if not values or set(values) - set(allowed):
            raise argparse.ArgumentTypeError(f"comma-separated, from: {', '.join(allowed)}")
        return values

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storage",
        description=(
            "AnyChat storage benchmark: one person's library of 100-message conversations plus "
            "one long one (5,000 by default), at growing sizes, on SQLite and PostgreSQL."
        ),
    )
    parser.add_argument(
        "--db", type=_choices(DATABASES), default=list(DATABASES), help="sqlite,postgresql"
    )
    parser.add_argument(
        "--sizes",
        type=_choices(tuple(SIZES)),
        default=list(SIZES),
        help="messages in the library (conversations of 100, plus the long one): 10k,100k,1m",
    )
    parser.add_argument("--reps", type=int, default=20, help="repetitions per figure")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per figure (at least 3 repetitions)"
    )
    parser.add_argument(
        "--transfer", type=int, default=1000, help="conversations imported and exported"
    )
    parser.add_argument(
        "--browser",
        choices=("largest", "all", "none"),
        default="largest",
        help="time the page in Chromium at the largest size (default), at every size, or not",
    )
    parser.add_argument("--browser-runs", type=int, default=5, help="page loads per size")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: SQLite, {QUICK_CONVERSATIONS} conversations, 3 repetitions, "
        "20 imported, no browser",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "anychat-bench-storage",
        help="folder keeping built SQLite libraries between runs",
    )
    parser.add_argument("--no-cache", action="store_true", help="build every library afresh")
    parser.add_argument(
        "--long", type=int, default=dataset.LONG_MESSAGES, help="messages in the long conversation"
    )
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="time only the searches (bench.storage.search_cases)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds for the run")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.db, args.browser = ["sqlite"], "none"
        args.reps, args.transfer = min(args.reps, 3), min(args.transfer, 20)
    if (
        not 1 <= args.reps <= 1000
        or args.budget <= 0
        or not 1 <= args.transfer <= 10_000
        or not 200 <= args.long <= 100_000
    ):
        parser.error("--reps 1..1000, --budget > 0, --transfer 1..10000, --long 200..100000")
    return args


def library_sizes(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.quick:
        return [("quick", QUICK_CONVERSATIONS)]
    return sorted(((name, SIZES[name]) for name in args.sizes), key=lambda item: item[1])


def cache_key(seed: int) -> str:
    """Libraries built by other code or for another schema are never reused."""
    digest = hashlib.sha256(f"{HEAD_REVISION}-{seed}".encode())
    for name in ("dataset.py", "text.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    for migration in sorted((ROOT / "storage" / "migrations" / "versions").glob("*.py")):
        digest.update(migration.name.encode())
    return digest.hexdigest()[:12]


class SqliteLibraries:
    """Each size's SQLite file, built once (growing the largest smaller one kept) and copied
    for each run: the measurements change the copy, never the kept file."""

    def __init__(self, folder: Path | None, seed: int, long: int, workdir: Path) -> None:
        self.folder = folder
        self.seed = seed
        self.long = long
        self.key = f"{cache_key(seed)}-{long}"
        self.work = workdir / "library.db"

    def _kept(self, conversations: int) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / f"library-{self.key}-{conversations}.db"

    def prepare(self, conversations: int, log: Callable[[str], None]) -> tuple[str, float]:
        """The working copy's URL, and the seconds spent building (0 when kept)."""
        kept = self._kept(conversations)
        self.work.unlink(missing_ok=True)
        if kept is not None and kept.exists():
            shutil.copyfile(kept, self.work)
            return f"sqlite:///{self.work}", 0.0
        smaller = [
            path
            for size in range(conversations - 1, 0, -1)
            if (path := self._kept(size)) is not None and path.exists()
        ]
        if smaller:
            shutil.copyfile(smaller[0], self.work)
        url = f"sqlite:///{self.work}"
        began = time.monotonic()
        build(url, conversations, self.seed, self.long, log)
        seconds = time.monotonic() - began
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.work, kept.with_suffix(".partial"))
            kept.with_suffix(".partial").rename(kept)
        return url, seconds


def build(
    url: str, conversations: int, seed: int, long: int, log: Callable[[str], None]
) -> Library:
    database = Database(url)
    try:
        upgrade_to_head(database.engine)
        return dataset.build(database, conversations, seed=seed, long_messages=long, progress=log)
    finally:
        database.dispose()  # SQLite folds its write-ahead log back into the file


def measure_size(
    url: str,
    conversations: int,
    args: argparse.Namespace,
    upstream: FakeOpenAI,
    deadline: float,
    log: Callable[[str], None],
) -> tuple[Library, dict[str, Figure]]:
    settings = replace(
        load_settings(env={}, secrets={}),
        api_key="sk-bench-storage",
        secret_key="bench-storage-secret",
        base_url=upstream.base_url,
        database_url=url,
        max_retries=0,
    )
    services = build_services(settings, prefetch_models=False)
    try:
        library = dataset.build(
            services.infra.database, conversations, seed=args.seed, long_messages=args.long
        )
        limits = Limits(args.reps, args.budget, deadline, args.transfer)
        return library, measure(services, library, limits, log, search_only=args.search_only)
    finally:
        services.close()


def run(args: argparse.Namespace, deadline: float, log: Callable[[str], None]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="anychat-bench-storage-"))
    results: list[dict[str, Any]] = []
    upstream = FakeOpenAI()
    upstream.start()
    try:
        for database in args.db:
            results += run_database(database, args, upstream, workdir, deadline, log)
    finally:
        upstream.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"results": results}


def run_database(
    database: str,
    args: argparse.Namespace,
    upstream: FakeOpenAI,
    workdir: Path,
    deadline: float,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    sizes = library_sizes(args)
    postgres: PostgresServer | None = None
    sqlite = SqliteLibraries(
        None if args.no_cache else args.cache, args.seed, args.long, workdir / "sqlite"
    )
    sqlite.work.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    try:
        if database == "postgresql":
            log("starting a throwaway PostgreSQL cluster")
            postgres = PostgresServer().start()
            POSTGRES.append(postgres)
        for name, conversations in sizes:
            if time.monotonic() > deadline:
                log(f"{database} {name}: skipped, out of time")
                break
            log(f"{database} {name}: building the library ({conversations:,} conversations)")
            if postgres is not None:
                url = postgres.url
                began = time.monotonic()
                build(url, conversations, args.seed, args.long, log)
                built = time.monotonic() - began
            else:
                url, built = sqlite.prepare(conversations, log)
            log(f"{database} {name}: measuring")
            load_before = os.getloadavg()[0]
            library, figures = measure_size(url, conversations, args, upstream, deadline, log)
            largest = name == sizes[-1][0]
            if not args.search_only and (
                args.browser == "all" or (args.browser == "largest" and largest)
            ):
                log(f"{database} {name}: the page in Chromium")
                from bench.storage.browser import page_figures  # playwright only when asked

                figures.update(
                    page_figures(
                        url,
                        library,
                        runs=args.browser_runs,
                        upstream_url=upstream.base_url,
                        workdir=workdir / f"app-{database}-{name}",
                        deadline=deadline,
                    )
                )
            results.append(
                {
                    "database": database,
                    "size": name,
                    "messages": library.messages,
                    "conversations": library.conversations + 1,
                    "build_s": round(built, 1),
                    "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                    "figures": {key: figure.as_json() for key, figure in figures.items()},
                    "cells": {key: figure.cell() for key, figure in figures.items()},
                    "labels": {key: figure.label for key, figure in figures.items()},
                    "goals": {key: figure.goal_ms for key, figure in figures.items()},
                }
            )
    finally:
        if postgres is not None:
            postgres.stop()
            POSTGRES.remove(postgres)
    return results


def render(data: dict[str, Any]) -> str:
    lines = [
        "## AnyChat storage benchmark",
        "",
        f"{os.cpu_count()} cores. Cells: median / p95 in ms (repetitions). One person's library:"
        " conversations of 100 messages plus a long one (regenerations, edits, n choices and"
        " tool calls among them), mixed English and Chinese. Services called as the pages call"
        ' them; "start a reply" ends when the request is handed to the generation worker (a'
        " stand-in that keeps the job); the line after it is the worker's own read of the"
        " conversation's earlier messages for the request, before the network.",
    ]
    for database in dict.fromkeys(result["database"] for result in data["results"]):
        rows = [result for result in data["results"] if result["database"] == database]
        header = ["figure", *(f"{r['size']} ({r['messages']:,} msgs)" for r in rows), "goal"]
        keys = list(dict.fromkeys(key for r in rows for key in r["cells"]))
        lines += ["", f"### {database}", "", _row(header), _row(["---"] * len(header))]
        lines.append(
            _row(
                ["build (s; 0 = kept from an earlier run)", *(f"{r['build_s']}" for r in rows), ""]
            )
        )
        for key in keys:
            label = next(r["labels"][key] for r in rows if key in r["labels"])
            goal = next((r["goals"][key] for r in rows if r["goals"].get(key)), None)
            cells = [r["cells"].get(key, "–") for r in rows]
            lines.append(_row([label, *cells, f"≤ {goal:g}" if goal else ""]))
        loads = ", ".join(
            f"{r['size']}: {r['load_average'][0]}→{r['load_average'][1]}" for r in rows
        )
        lines.append(f"\nLoad average during each size (before→after): {loads}.")
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _stop_everything() -> None:
    for postgres in list(POSTGRES):
        with contextlib.suppress(Exception):
            postgres.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.timeout

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    def on_signal(_signum: int, _frame: object) -> None:
        raise BenchTimeout(f"stopped (time budget {args.timeout:.0f} s, or a signal)")

    def last_resort() -> None:
        time.sleep(args.timeout + 120)
        _stop_everything()
        print("benchmark hung past its time budget; stopped its processes", file=sys.stderr)
        os._exit(3)

    signal.signal(signal.SIGALRM, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.setitimer(signal.ITIMER_REAL, args.timeout + 60)
    threading.Thread(target=last_resort, daemon=True).start()
    try:
        data = run(args, deadline, log)
    except BenchTimeout as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    data["duration_s"] = round(time.monotonic() - started, 1)
    data["finished_at"] = datetime.now().isoformat(timespec="seconds")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(render(data))
    print(f"\n({data['duration_s']} s)")
    return 0
