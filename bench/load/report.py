"""Figures from the turns, the goals they are held to, and the Markdown table that shows them.

Definitions (every time is ``time.monotonic()`` of this process, which the clients and the
fake upstream share, so no clock needs aligning):

- first-token overhead: message sent -> first piece of the reply on the page, minus the
  upstream's own first-token delay. Split into "to upstream" (sent -> the request reached the
  upstream: the script run and the database write before the call) and "upstream -> page"
  (the upstream's first token -> the page has it: the generation thread, the page's redraw).
- turns per minute: turns whose whole reply was shown, over the time from the first message
  sent to the last reply finished.
- follow lag (two processes): for every redraw of a reply on the follower's page (another
  process), the time since the teammate's own page first showed at least as much text.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.load.scenario import LoadOutcome, Turn
from bench.load.verify import Verdict

GOALS = {
    "p95_overhead_ms": 300.0,  # 20 users x 10 turns, one process
    "scaling": 1.6,  # two processes' turns/min over one process's
    "follow_lag_p95_ms": 250.0,
}
# The shortest time with every teammate active that gives a rate worth printing.
MIN_ACTIVE_SPAN_S = 10.0
# One process is saturated at a teammate count when no larger count raised its rate by more
# than this.
SATURATED_GAIN = 1.05


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: list[float]) -> dict[str, Any]:
    """n, p50, p95, max, rounded to the millisecond."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95) or 0.0, 1),
        "max": round(max(values), 1),
    }


@dataclass(frozen=True)
class Setup:
    """One configuration: which database, how many processes, how many teammates."""

    database: str  # "sqlite" or "postgres"
    processes: int
    users: int
    turns: int

    @property
    def label(self) -> str:
        return f"{self.database} x{self.processes}"


def follow_lags(turns: list[Turn]) -> tuple[list[float], list[float], list[float], int]:
    """(every redraw's lag, first-text lags, whole-reply lags) in ms, and turns followed."""
    lags: list[float] = []
    first: list[float] = []
    whole: list[float] = []
    followed = 0
    for turn in turns:
        follow = turn.followed
        if follow is None or not follow.view.updates or not turn.view.updates:
            continue
        followed += 1
        own = turn.view.updates
        for at, shown in follow.view.updates:
            owner_at = next((t for t, n in own if n >= shown), None)
            if owner_at is not None:
                lags.append((at - owner_at) * 1000)
        if follow.view.first_at is not None and turn.view.first_at is not None:
            first.append((follow.view.first_at - turn.view.first_at) * 1000)
        if follow.view.complete_at is not None and turn.view.complete_at is not None:
            whole.append((follow.view.complete_at - turn.view.complete_at) * 1000)
    return lags, first, whole, followed


def figures(
    setup: Setup,
    outcome: LoadOutcome,
    verdict: Verdict,
    arrivals: dict[str, float | None],
    first_token_delay: float,
    resources: dict[str, Any],
    logs: dict[str, int],
    repeats: int,
) -> dict[str, Any]:
    """Everything measured for one configuration, as plain data (the JSON's shape)."""
    sent = [t for t in outcome.turns if t.sent_at is not None]
    completed = [t for t in sent if t.completed]
    delay_ms = first_token_delay * 1000
    overhead: list[float] = []
    to_upstream: list[float] = []
    after_upstream: list[float] = []
    turn_ms: list[float] = []
    for turn in sent:
        assert turn.sent_at is not None
        arrived = arrivals.get(turn.marker)
        if turn.view.first_at is not None:
            overhead.append((turn.view.first_at - turn.sent_at) * 1000 - delay_ms)
            if arrived is not None:
                after_upstream.append((turn.view.first_at - arrived) * 1000 - delay_ms)
        if arrived is not None:
            to_upstream.append((arrived - turn.sent_at) * 1000)
        if turn.completed and turn.finished_at is not None:
            turn_ms.append((turn.finished_at - turn.sent_at) * 1000)
    if completed:
        begin = min(t.sent_at for t in sent if t.sent_at is not None)
        end = max(t.finished_at for t in completed if t.finished_at is not None)
        minutes = max(1e-9, (end - begin) / 60)
        per_minute: float | None = round(len(completed) / minutes, 1)
        span_s: float | None = round(end - begin, 1)
    else:
        per_minute = span_s = None
    sustained, sustained_span_s = all_active_rate(outcome.turns)
    lags, first_lags, whole_lags, followed = follow_lags(outcome.turns)
    apps = {k: v for k, v in resources.items() if k.startswith("app-")}

    server_mean = sum(v["cores_mean"] or 0.0 for v in apps.values())
    client = (resources.get("bench") or {}).get("cores_mean")
    return {
        "setup": {
            "database": setup.database,
            "processes": setup.processes,
            "users": setup.users,
            "turns_per_user": setup.turns,
        },
        "turns_planned": setup.users * setup.turns,
        "turns_sent": len(sent),
        "turns_completed": len(completed),
        "turns_per_minute": per_minute,
        "load_span_s": span_s,
        "turns_per_minute_all_active": sustained,
        "all_active_span_s": sustained_span_s,
        "first_token_overhead_ms": spread(overhead),
        "to_upstream_ms": spread(to_upstream),
        "upstream_to_page_ms": spread(after_upstream),
        "turn_ms": spread(turn_ms),
        "messages_lost": len(verdict.lost),
        "replies_not_completed": len(verdict.not_completed),
        "problems": verdict.reasons,
        "upstream_repeats": repeats,
        "logs": logs,
        "follow": {
            "turns_followed": followed,
            "lag_ms": spread(lags),
            "first_text_lag_ms": spread(first_lags),
            "whole_reply_lag_ms": spread(whole_lags),
        },
        "resources": resources,
        "server_cores_mean": round(server_mean, 2),
        "server_cpu_ms_per_turn": cpu_per_turn(server_mean, span_s, len(completed)),
        # The load client does the same work in every run: how much more the servers used is
        # a figure this machine's changes of speed move far less than times (see the README).
        "server_to_client_cpu": round(server_mean / client, 2) if client else None,
        "server_rss_mb_peak": {k: v.get("rss_mb_peak") for k, v in apps.items()},
        "page_load_failures": outcome.connect_failures,
        "errors": outcome.errors,
    }


def cpu_per_turn(cores: float, span_s: float | None, turns: int) -> float | None:
    """The servers' CPU milliseconds per completed turn, over the run's span."""
    if not span_s or not turns:
        return None
    return round(cores * span_s * 1000 / turns, 1)


def all_active_rate(turns: list[Turn]) -> tuple[float | None, float | None]:
    """Turns finished per minute while every teammate was active: from the last teammate's
    first send to the first teammate's last finish. The whole run's rate also counts the
    start, as teammates join, and the end, as they run out of turns, which weigh more in a
    configuration that finishes sooner (two processes); the goal is about a rate sustained.
    None when that window is shorter than MIN_ACTIVE_SPAN_S."""
    first_sent: dict[int, float] = {}
    last_finished: dict[int, float] = {}
    for turn in turns:
        if turn.sent_at is not None:
            first_sent[turn.user] = min(first_sent.get(turn.user, turn.sent_at), turn.sent_at)
        if turn.completed and turn.finished_at is not None:
            previous = last_finished.get(turn.user, turn.finished_at)
            last_finished[turn.user] = max(previous, turn.finished_at)
    if not first_sent or set(last_finished) != set(first_sent):
        return None, None
    begin, end = max(first_sent.values()), min(last_finished.values())
    if end - begin < MIN_ACTIVE_SPAN_S:
        return None, None
    done = sum(
        1
        for turn in turns
        if turn.completed and turn.finished_at is not None and begin <= turn.finished_at <= end
    )
    return round(done / ((end - begin) / 60), 1), round(end - begin, 1)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _s(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.2f}"


def _cores(resources: dict[str, Any], group: str) -> str:
    entry = resources.get(group)
    if not entry or entry.get("cores_mean") is None:
        return "–"
    return f"{entry['cores_mean']:.2f}"


def _head(*columns: str) -> list[str]:
    """A Markdown table's header row and the line under it."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def table(results: list[dict[str, Any]]) -> str:
    """One Markdown row per configuration."""
    lines = _head(
        "database × processes",
        "run",
        "users × turns",
        "turns done / sent",
        "turns/min: whole run / all active",
        "first-token overhead p50 / p95 (ms)",
        "to upstream p50 (ms)",
        "turn p50 / p95 (s)",
        "lost",
        "not completed",
        '"database is locked"',
        "follow lag p50 / p95 (ms)",
        "server CPU (cores)",
        "server CPU per turn (ms)",
        "server RSS peak (MB)",
        "PostgreSQL CPU",
        "load client CPU",
        "other CPU",
    )
    for r in results:
        s = r["setup"]
        over = r["first_token_overhead_ms"]
        follow = r["follow"]["lag_ms"]
        follow_cell = f"{_ms(follow['p50'])} / {_ms(follow['p95'])}" if follow["n"] else "–"
        rss = " + ".join(f"{v:.0f}" for v in r["server_rss_mb_peak"].values() if v is not None)
        res = r["resources"]
        lines.append(
            f"| {s['database']} × {s['processes']} | {r.get('run', 1)} "
            f"| {s['users']} × {s['turns_per_user']} "
            f"| {r['turns_completed']} / {r['turns_sent']} "
            f"| {_ms(r['turns_per_minute'])} / {_ms(r.get('turns_per_minute_all_active'))} "
            f"| {_ms(over['p50'])} / {_ms(over['p95'])} | {_ms(r['to_upstream_ms']['p50'])} "
            f"| {_s(r['turn_ms']['p50'])} / {_s(r['turn_ms']['p95'])} "
            f"| {r['messages_lost']} | {r['replies_not_completed']} "
            f"| {r['logs']['database_is_locked']} | {follow_cell} "
            f"| {r['server_cores_mean']:.2f} | {_ms(r.get('server_cpu_ms_per_turn'))} "
            f"| {rss or '–'} | {_cores(res, 'postgres')} "
            f"| {_cores(res, 'bench')} | {_cores(res, 'other')} |"
        )
    return "\n".join(lines)


def setup_key(result: dict[str, Any]) -> tuple[str, int, int, int]:
    s = result["setup"]
    return (s["database"], s["processes"], s["users"], s["turns_per_user"])


def by_setup(
    results: list[dict[str, Any]],
) -> dict[tuple[str, int, int, int], list[dict[str, Any]]]:
    """The runs of each configuration (several with --repeat), in the order first run."""
    groups: dict[tuple[str, int, int, int], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(setup_key(r), []).append(r)
    return groups


def median_of(values: list[float | None]) -> float | None:
    """The median of the runs that have the figure; None when none has it."""
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def _runs_note(values: list[float | None]) -> str:
    """ "median of 3 runs: 211, 240, 446" when a figure comes from several runs."""
    if len(values) < 2:
        return ""
    shown = ", ".join("–" if v is None else f"{v:g}" for v in values)
    return f"median of {len(values)} runs: {shown}"


def goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal from the issue, judged on the configurations that measure it. With several
    runs of a configuration (--repeat), a figure is judged on its median over the runs, as
    one run on this machine can land far from another (see the README); nothing lost and no
    "database is locked" must hold in every run."""
    verdicts: list[dict[str, Any]] = []

    def add(name: str, value: Any, goal: str, met: bool | None, note: str = "") -> None:
        verdicts.append({"goal": name, "value": value, "target": goal, "met": met, "note": note})

    groups = by_setup(results)
    for (database, processes, users, turns), runs in groups.items():
        where = f"{database} × {processes}, {users} × {turns}"
        lost = sum(r["messages_lost"] for r in runs)
        add(
            f"nothing lost ({where})",
            lost,
            "0",
            lost == 0 and all(r["turns_sent"] > 0 for r in runs),
        )
        locked = sum(r["logs"]["database_is_locked"] for r in runs)
        add(f'no "database is locked" ({where})', locked, "0", locked == 0)
        if processes == 1 and users == 20:
            p95s = [r["first_token_overhead_ms"]["p95"] for r in runs]
            p95 = median_of(p95s)
            complete = all(r["turns_completed"] == users * turns for r in runs)
            notes = [_runs_note(p95s), "" if complete else "not every planned turn completed"]
            add(
                f"20 users, one process: p95 first-token overhead ({where})",
                p95,
                f"<= {GOALS['p95_overhead_ms']:.0f} ms, all turns done",
                p95 is not None and p95 <= GOALS["p95_overhead_ms"] and complete,
                "; ".join(n for n in notes if n),
            )
        if processes > 1:
            lags = [r["follow"]["lag_ms"]["p95"] for r in runs]
            lag = median_of(lags)
            add(
                f"follow lag p95 ({where})",
                lag,
                f"<= {GOALS['follow_lag_p95_ms']:.0f} ms",
                None if lag is None else lag <= GOALS["follow_lag_p95_ms"],
                _runs_note(lags),
            )
    for (database, processes, users, turns), runs in sorted(groups.items()):
        one = groups.get((database, 1, users, turns))
        if processes == 1 or one is None:
            continue
        for key, label in (
            ("turns_per_minute_all_active", "while all teammates are active"),
            ("turns_per_minute", "whole run"),
        ):
            alone = median_of([r.get(key) for r in one])
            together = median_of([r.get(key) for r in runs])
            if not alone or not together:
                continue
            ratio = round(together / alone, 2)
            busier = _room_above(_rates(groups, (key,)).get((database, 1, turns), {}), users)
            note = (
                "only meaningful where one process is saturated (see turn time and server CPU)"
                if busier is None
                else f"one process is not saturated here: {busier[0]} teammates "
                f"gave it {busier[1]:g}"
            )
            add(
                f"{processes} processes / 1, turns/min {label} ({database}, {users} users)",
                ratio,
                f">= {GOALS['scaling']} at saturation",
                ratio >= GOALS["scaling"] if busier is None else None,
                note + ("; medians of the runs" if len(runs) > 1 or len(one) > 1 else ""),
            )
    verdicts.extend(_capacity_verdicts(groups))
    return verdicts


def _rates(
    groups: dict[tuple[str, int, int, int], list[dict[str, Any]]], keys: tuple[str, ...]
) -> dict[tuple[str, int, int], dict[int, float]]:
    """Per (database, processes, turns): each teammate count's median rate, from the first of
    `keys` the runs have."""
    rates: dict[tuple[str, int, int], dict[int, float]] = {}
    for (database, processes, users, turns), runs in groups.items():
        for key in keys:
            rate = median_of([r.get(key) for r in runs])
            if rate:
                rates.setdefault((database, processes, turns), {})[users] = rate
                break
    return rates


def _room_above(one_process: dict[int, float], users: int) -> tuple[int, float] | None:
    """A larger teammate count at which one process did over SATURATED_GAIN times its rate at
    `users`, as (count, rate): then it was not saturated at `users`."""
    for more, rate in sorted(one_process.items()):
        if more > users and rate > one_process[users] * SATURATED_GAIN:
            return more, rate
    return None


def _capacity_verdicts(
    groups: dict[tuple[str, int, int, int], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Two processes' capacity over one's: each configuration's best sustained rate over
    the teammate counts run. At one count the two may differ in load: 80 teammates saturate
    one process but leave each of two with 40, which do not saturate it; the goal compares
    what each sustains at saturation, so the second needs more teammates to show it. Only
    given when some configuration ran at more than one count (otherwise it is the ratio at
    one count, above)."""
    rates = _rates(groups, ("turns_per_minute_all_active", "turns_per_minute"))
    verdicts: list[dict[str, Any]] = []
    for (database, processes, turns), by_users in sorted(rates.items()):
        alone = rates.get((database, 1, turns))
        if processes == 1 or not alone or max(len(alone), len(by_users)) < 2:
            continue
        ratio = round(max(by_users.values()) / max(alone.values()), 2)
        counts = sorted(alone)
        saturated = len(counts) >= 2 and _room_above(alone, counts[-2]) is None
        shown = "; ".join(
            f"{p} process{'es' if p > 1 else ''}: "
            + ", ".join(f"{rate:g} at {users}" for users, rate in sorted(table.items()))
            for p, table in ((1, alone), (processes, by_users))
        )
        note = f"turns/min while all are active, by teammates ({shown})"
        if not saturated:
            note += "; one process may not be saturated: run it at two or more counts"
        verdicts.append(
            {
                "goal": f"{processes} processes / 1, capacity ({database}, best over teammates)",
                "value": ratio,
                "target": f">= {GOALS['scaling']} at saturation",
                "met": ratio >= GOALS["scaling"] if saturated else None,
                "note": note,
            }
        )
    return verdicts


def summary_table(results: list[dict[str, Any]]) -> str:
    """One row per configuration run several times: the median and range of its key figures."""
    lines = _head(
        "database × processes",
        "users × turns",
        "runs",
        "turns/min: all active, median (range)",
        "first-token overhead p95, median (range) (ms)",
        "follow lag p95, median (range) (ms)",
        "server CPU, median (cores)",
        "server CPU per turn, median (range) (ms)",
        "server / client CPU, median (range)",
    )

    def cell(values: list[float | None], shown: Callable[[float], str] = _ms) -> str:
        """Median (lowest–highest) of the runs that have the figure."""
        present = [v for v in values if v is not None]
        if not present:
            return "–"
        middle = statistics.median(present)
        return f"{shown(middle)} ({shown(min(present))}–{shown(max(present))})"

    for (database, processes, users, turns), runs in by_setup(results).items():
        lines.append(
            f"| {database} × {processes} | {users} × {turns} | {len(runs)} "
            f"| {cell([r.get('turns_per_minute_all_active') for r in runs])} "
            f"| {cell([r['first_token_overhead_ms']['p95'] for r in runs])} "
            f"| {cell([r['follow']['lag_ms']['p95'] for r in runs])} "
            f"| {median_of([r['server_cores_mean'] for r in runs]) or 0:.2f} "
            f"| {cell([r.get('server_cpu_ms_per_turn') for r in runs])} "
            f"| {cell([r.get('server_to_client_cpu') for r in runs], '{:.2f}'.format)} |"
        )
    return "\n".join(lines)


def goals_text(verdicts: list[dict[str, Any]]) -> str:
    marks = {True: "met", False: "MISSED", None: "n/a"}
    lines = []
    for v in verdicts:
        note = f" ({v['note']})" if v["note"] else ""
        lines.append(f"- {marks[v['met']]}: {v['goal']}: {v['value']} (goal {v['target']}){note}")
    return "\n".join(lines)
