"""Options, the run of every configuration within its time limit, and the printed report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import streamlit

from bench.load.history import seed_history
from bench.load.protocol import StreamlitSession
from bench.load.report import Setup, figures, goals, goals_text, summary_table, table
from bench.load.resources import ResourceSampler
from bench.load.scenario import Plan, run_load, teammate_name
from bench.load.servers import (
    Apps,
    BenchError,
    Postgres,
    Upstream,
    database_url_of,
    start_apps,
)
from bench.load.verify import judge, log_counts, stored_turns
from chatcore.config import DEFAULT_PROXY_HEADER
from tests.support.app_process import AppProcess

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
GRACE_SECONDS = 30.0  # of each configuration's limit, kept for replies still in flight
STARTUP_ALLOWANCE = 90.0  # per configuration: starting, warming and stopping the apps
BUSY_MACHINE_CORES = 0.25  # other processes' mean CPU above which the report warns

RUNNING: list[Apps] = []  # app processes started and not yet stopped, for the last resort
POSTGRES: list[Postgres] = []


class BenchTimeout(Exception):
    """The whole run exceeded its time budget."""


def int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def name_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values or set(values) - {"sqlite", "postgres"}:
        raise argparse.ArgumentTypeError("sqlite, postgres or both, comma-separated")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="AnyChat load benchmark: simulated teammates against the real app.",
    )
    parser.add_argument("--users", type=int_list, default=[10, 20, 40], help="e.g. 10,20,40")
    parser.add_argument("--turns", type=int, default=10, help="messages per teammate")
    parser.add_argument("--think", type=float, default=2.0, help="mean think time, seconds")
    parser.add_argument("--processes", type=int_list, default=[1, 2], help="e.g. 1,2")
    parser.add_argument(
        "--databases",
        type=name_list,
        default=["sqlite", "postgres"],
        help="for one process; several processes always share one PostgreSQL",
    )
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds")
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between chunks")
    parser.add_argument("--chunk-size", type=int, default=2, help="words per chunk")
    parser.add_argument("--words", type=int, default=48, help="words per message (and reply)")
    parser.add_argument("--followers", type=int, default=2, help="cross-process followers")
    parser.add_argument(
        "--time-limit", type=float, default=240, help="seconds per configuration (load phase)"
    )
    parser.add_argument("--turn-timeout", type=float, default=60, help="seconds per turn")
    parser.add_argument(
        "--accounts",
        choices=("own", "shared"),
        default="own",
        help="own: each teammate signs in as themself (ANYCHAT_AUTH=proxy, a header naming "
        "them); shared: all use the one account of ANYCHAT_AUTH=none",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=20,
        help="earlier conversations of each teammate's own account, written before the load",
    )
    parser.add_argument("--workers", type=int, help="ANYCHAT_GENERATION_WORKERS for the apps")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each configuration; goals are then judged on the medians",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/load-*.json)")
    args = parser.parse_args(argv)
    if args.turns < 1 or args.words < 3 or args.think < 0 or args.time_limit < GRACE_SECONDS + 10:
        parser.error(
            f"--turns >= 1, --words >= 3, --think >= 0, --time-limit >= {GRACE_SECONDS + 10:g}"
        )
    if max(args.users) > 200 or args.turns > 100:
        parser.error("at most 200 users and 100 turns each")
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat from 1 to 10")
    return args


def setups(args: argparse.Namespace) -> list[tuple[Setup, int]]:
    """(configuration, run number) in run order: per user count, each setup, so compared
    runs are close; with --repeat, that round again, so a slow spell of the machine falls
    on every configuration alike rather than on all the runs of one."""
    out: list[tuple[Setup, int]] = []
    for users in args.users:
        for run in range(1, args.repeat + 1):
            for processes in args.processes:
                databases = args.databases if processes == 1 else ["postgres"]
                out += [(Setup(db, processes, users, args.turns), run) for db in databases]
    return out


def app_fingerprint() -> str:
    """Short hash of the app's Python sources, so a figure can be tied to the code it measured."""
    digest = hashlib.sha256()
    files = [ROOT / "app.py", ROOT / "server.py"]
    for folder in ("pages", "ui", "web", "chatcore", "storage"):
        files += sorted((ROOT / folder).rglob("*.py"))
    for path in files:
        with contextlib.suppress(OSError):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


PROXY_HEADER = DEFAULT_PROXY_HEADER  # the apps run with ANYCHAT_PROXY_HEADER unset
SIGN_IN = {
    "own": f"ANYCHAT_AUTH=proxy: each simulated teammate is their own account, named in the "
    f"{PROXY_HEADER} header, with {{history}} earlier conversations",
    "shared": "ANYCHAT_AUTH=none: every simulated teammate uses the one implicit account",
}


def environment(args: argparse.Namespace) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "streamlit": streamlit.__version__,
        "app_sources_sha256": app_fingerprint(),
        "client": "light websocket client (Streamlit's browser protocol), bench/load/protocol.py",
        "sign_in": SIGN_IN[args.accounts].format(history=args.history),
    }


def warmer(accounts: str) -> Callable[[AppProcess], None]:
    """One page load, so the process builds its services (and migrates) before the next; as
    a teammate of their own would, under ANYCHAT_AUTH=proxy."""
    header = (PROXY_HEADER, "bench-warm-up") if accounts == "own" else None
    return lambda app: warm(app, header)


def warm(app: AppProcess, user_header: tuple[str, str] | None = None) -> None:
    """One page load, so the process builds its services (and migrates) before the next."""

    async def load() -> None:
        session = StreamlitSession(app.port, user_header=user_header)
        try:
            await session.connect()
            result = await session.run(timeout=60)
            if result.status != "finished":
                raise BenchError(f"warm-up page load on port {app.port}: {result.status}")
        finally:
            await session.close()

    asyncio.run(load())


def run_setup(
    setup: Setup,
    tag: int,
    args: argparse.Namespace,
    upstream: Upstream,
    postgres: Postgres | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Start the apps, run the team against them, check everything, stop the apps."""
    workdir = Path(tempfile.mkdtemp(prefix="anychat-load-"))
    database_url = postgres.new_database() if postgres and setup.database == "postgres" else None
    apps = Apps()
    RUNNING.append(apps)
    try:
        log(f"starting {setup.processes} app process(es) on {setup.database}")
        start_apps(
            setup.processes,
            upstream=upstream,
            database_url=database_url,
            workdir=workdir,
            generation_workers=args.workers,
            warm=warmer(args.accounts),
            apps=apps,
            auth="proxy" if args.accounts == "own" else "none",
        )
        ports = [app.port for app in apps.processes]
        if args.accounts == "own":
            log(f"writing {args.history} earlier conversations for each teammate")
            names = [teammate_name(user) for user in range(setup.users)]
            seed_history(database_url_of(workdir, database_url), names, args.history)

        def groups() -> dict[str, int]:
            found = {f"app-{i}": app.pid for i, app in enumerate(apps.processes)}
            pid = postgres.postmaster_pid() if postgres else None
            if pid is not None:
                found["postgres"] = pid
            return found

        with ResourceSampler(groups) as sampler:
            begin = time.monotonic()
            plan = Plan(
                tag=tag,
                users=setup.users,
                turns=setup.turns,
                think=args.think,
                words=args.words,
                followers=args.followers,
                turn_timeout=args.turn_timeout,
                stop_sending_at=begin + args.time_limit - GRACE_SECONDS,
                hard_end=begin + args.time_limit,
                seed=args.seed + tag,
                user_header=PROXY_HEADER if args.accounts == "own" else None,
            )

            def start_recording() -> None:
                sampler.recording = True

            log(f"{setup.users} teammates x {setup.turns} turns")
            outcome = asyncio.run(run_load(ports, plan, upstream, start_recording))
            sampler.recording = False
        arrivals = {t.marker: upstream.arrival(t.marker) for t in outcome.turns}
        stored = stored_turns(database_url_of(workdir, database_url), tag)
        verdict = judge(outcome.turns, stored, {k: v is not None for k, v in arrivals.items()})
        result = figures(
            setup,
            outcome,
            verdict,
            arrivals,
            args.first_token_delay,
            sampler.summary(),
            log_counts(apps.log_text()),
            upstream.repeats(),
        )
        log(
            f"done: {result['turns_completed']}/{result['turns_sent']} turns,"
            f" {result['turns_per_minute']} turns/min,"
            f" overhead p95 {result['first_token_overhead_ms']['p95']} ms"
        )
        return result
    finally:
        apps.stop()
        RUNNING.remove(apps)
        shutil.rmtree(workdir, ignore_errors=True)


def render(data: dict[str, Any]) -> str:
    env = data["environment"]
    cfg = data["config"]
    lines = [
        "## AnyChat load benchmark",
        "",
        f"{env['cores']} cores ({env['cpu']}), {env['memory_gb']} GB; Python {env['python']},"
        f" Streamlit {env['streamlit']}; app sources sha256 {env['app_sources_sha256']}.",
        f"Client: {env['client']}. Sign-in: {env['sign_in']}.",
        f"Upstream: fake server, {cfg['first_token_delay_s'] * 1000:.0f} ms to first token,"
        f" {cfg['chunk_size']} words a chunk every {cfg['chunk_delay_s'] * 1000:.0f} ms,"
        f" ~{cfg['words']}-word replies; think time {cfg['think_s']:g} s x U[0.5, 1.5];"
        f" time limit {cfg['time_limit_s']:g} s per configuration.",
        "First-token overhead = message sent -> first reply text received by the client, minus"
        " the upstream's delay; no browser renders here, so it leaves out the front end's own"
        " drawing (bench.chat_latency measures that, for one user in Chromium).",
        "",
        table(data["results"]),
    ]
    if any(r.get("run", 1) > 1 for r in data["results"]):
        lines += ["", "Over the runs:", "", summary_table(data["results"])]
    lines += [
        "",
        "Goals:",
        goals_text(data["goals"]),
    ]
    busy = [
        r
        for r in data["results"]
        if (r["resources"].get("other") or {}).get("cores_mean", 0) > BUSY_MACHINE_CORES
    ]
    if busy:
        lines += [
            "",
            "WARNING: other processes on the machine used more than"
            f" {BUSY_MACHINE_CORES} cores during {len(busy)} configuration(s) (column"
            ' "other CPU"): those figures are inflated. Busiest:',
        ]
        for r in busy:
            s = r["setup"]
            top = ", ".join(
                f"{t['command'][:60]} ({t['cores_mean']:.2f})" for t in r["resources"]["other_top"]
            )
            lines.append(f"- {s['database']} x{s['processes']}, {s['users']} users: {top}")
    problems = [
        f"- {r['setup']['database']} x{r['setup']['processes']}, {r['setup']['users']} users: "
        + "; ".join(f"{k}: {v}" for k, v in list(r["problems"].items())[:5])
        for r in data["results"]
        if r["problems"]
    ]
    errors = [
        f"- {r['setup']['database']} x{r['setup']['processes']}, {r['setup']['users']} users: "
        + "; ".join(r["errors"][:3])
        for r in data["results"]
        if r["errors"]
    ]
    if problems:
        lines += ["", "Turns lost or not completed (first five per configuration):", *problems]
    if errors:
        lines += ["", "Errors:", *errors]
    return "\n".join(lines)


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    plan = setups(args)
    upstream = Upstream(args.first_token_delay, args.chunk_delay, args.chunk_size).start()
    postgres: Postgres | None = None
    results: list[dict[str, Any]] = []
    try:
        if any(s.database == "postgres" for s, _run in plan):
            log("starting a throwaway PostgreSQL cluster")
            try:
                postgres = Postgres().start()
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                raise BenchError(f"PostgreSQL did not start: {exc}") from exc
            POSTGRES.append(postgres)
        for tag, (setup, run_number) in enumerate(plan, start=1):
            result = run_setup(setup, tag, args, upstream, postgres, log)
            results.append({**result, "run": run_number})
    finally:
        if postgres is not None:
            postgres.stop()
            POSTGRES.remove(postgres)
        upstream.stop()
    return {
        "environment": environment(args),
        "config": {
            "users": args.users,
            "turns": args.turns,
            "think_s": args.think,
            "processes": args.processes,
            "databases": args.databases,
            "first_token_delay_s": args.first_token_delay,
            "chunk_delay_s": args.chunk_delay,
            "chunk_size": args.chunk_size,
            "words": args.words,
            "followers": args.followers,
            "time_limit_s": args.time_limit,
            "turn_timeout_s": args.turn_timeout,
            "generation_workers": args.workers,
            "accounts": args.accounts,
            "history": args.history,
            "repeat": args.repeat,
        },
        "results": results,
        "goals": goals(results),
    }


def _stop_everything() -> None:
    for apps in list(RUNNING):
        apps.kill()
    for postgres in list(POSTGRES):
        with contextlib.suppress(Exception):
            postgres.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    budget = len(setups(args)) * (args.time_limit + STARTUP_ALLOWANCE) + 60

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def on_signal(_signum: int, _frame: object) -> None:
        raise BenchTimeout(f"stopped (time budget {budget:.0f} s, or a signal)")

    def last_resort() -> None:
        # If the orderly stop itself hangs: end what this run started, and leave.
        time.sleep(budget + 60)
        _stop_everything()
        print("benchmark hung past its time budget; stopped its processes", file=sys.stderr)
        os._exit(3)

    signal.signal(signal.SIGALRM, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.setitimer(signal.ITIMER_REAL, budget)
    threading.Thread(target=last_resort, daemon=True).start()
    try:
        data = run(args, log)
    except (BenchTimeout, BenchError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    data["duration_s"] = round(time.monotonic() - started, 1)
    data["finished_at"] = datetime.now().isoformat(timespec="seconds")
    out = args.out or RESULTS / f"load-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))
    print(render(data))
    print(f"\n({data['duration_s']} s; JSON in {out})")
    return 0
