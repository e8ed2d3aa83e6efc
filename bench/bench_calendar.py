"""Deadline previews on pathological calendars, and what they do to everyone else.

Run from the repository root::

    .venv/bin/python -m bench.bench_calendar [--duration 5] [--warmup 1]
        [--connections 4] [--quick] [--only TEXT]

It migrates a fresh SQLite file, starts the real app (``uvicorn``, one worker, scheduler
off), and creates through the API the calendars that used to stall the process: open
every minute but with one closed day (in the past, in the future), 00:00-22:00 plus
22:00-00:00 every day (with and without a closed day), and one hour on Mondays with every
Monday closed for 19 years; one policy per calendar (1 h, 2 working days, 30 days; one
with a 366-day target). Then, one scenario at a time, it sends ``POST
/v1/sla-policies/preview`` back to back on ``--connections`` connections while one more
connection polls ``GET /healthz``, and prints preview and health latencies (p50/p99) next to
the health latency of the idle server. A start that varies over 20 years (``varied``)
defeats the span cache, the worst case. It prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_work_orders import BenchError, UvicornServer, run_migrations  # noqa: E402
from bench.loadgen import LoadResult, Request, RequestFactory, run_load  # noqa: E402
from bench.machine import git_commit  # noqa: E402

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FULL_DAY = [{"start": "00:00", "end": "00:00"}]
SPLIT_DAY = [{"start": "00:00", "end": "22:00"}, {"start": "22:00", "end": "00:00"}]
START = datetime(2026, 11, 2, 1, tzinfo=UTC)  # Monday 09:00 in Asia/Shanghai
VARIED_SPAN_DAYS = 20 * 365
HEALTH = Request("GET", "/healthz")


def _calendars() -> dict[str, dict[str, Any]]:
    mondays = [str(date(2026, 11, 2) + timedelta(weeks=w)) for w in range(1000)]
    return {
        "all-day-closed-past": {
            "time_zone": "UTC",
            "working_hours": dict.fromkeys(DAYS, FULL_DAY),
            "closed_days": ["2020-01-01"],
        },
        "all-day-closed-future": {
            "time_zone": "UTC",
            "working_hours": dict.fromkeys(DAYS, FULL_DAY),
            "closed_days": ["2026-11-04"],
        },
        "split": {"time_zone": "Asia/Shanghai", "working_hours": dict.fromkeys(DAYS, SPLIT_DAY)},
        "split-closed": {
            "time_zone": "Asia/Shanghai",
            "working_hours": dict.fromkeys(DAYS, SPLIT_DAY),
            "closed_days": ["2020-01-01"],
        },
        "sparse": {
            "time_zone": "UTC",
            "working_hours": {"monday": [{"start": "09:00", "end": "10:00"}]},
            "closed_days": mondays,
        },
    }


TARGETS = {"response": "PT1H", "arrival": {"working_days": 2}, "resolution": "P30D"}
# priority -> (calendar, targets)
POLICIES: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, TARGETS) for name in _calendars()},
    "year-long": ("all-day-closed-future", {**TARGETS, "resolution": "P366D"}),
}


@dataclass(frozen=True)
class Scenario:
    label: str
    priority: str
    varied: bool = False
    start: datetime = START
    appointment_end: datetime | None = None


SCENARIOS = [
    Scenario("business calendar (normal)", "normal"),
    Scenario("all day, closed day in the past", "all-day-closed-past"),
    Scenario("all day, closed day in the past, varied", "all-day-closed-past", varied=True),
    Scenario("all day, closed day ahead", "all-day-closed-future"),
    Scenario("00-22 + 22-00 (always open)", "split"),
    Scenario("00-22 + 22-00, closed day, varied", "split-closed", varied=True),
    Scenario("366-day target, closed day, varied", "year-long", varied=True),
    Scenario("no working time for 19 years (422)", "sparse"),
    Scenario("start in year 9999 (422)", "urgent", start=datetime(9999, 12, 31, 23, tzinfo=UTC)),
    Scenario(
        "appointment end in year 9999 (422)",
        "high",
        appointment_end=datetime(9999, 12, 31, tzinfo=UTC),
    ),
]


@dataclass(frozen=True)
class Options:
    duration_s: float
    warmup_s: float
    connections: int
    only: str | None = None


@dataclass
class Row:
    label: str
    previews: LoadResult
    health: LoadResult


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _call(port: int, key: str, method: str, path: str, body: Any) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            method,
            path,
            json.dumps(body),
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status >= 300:
        raise BenchError(f"{method} {path} answered {response.status}: {text[:500]}")
    return json.loads(text)


def _set_up(port: int, key: str) -> None:
    ids = {
        name: _call(port, key, "POST", "/v1/calendars", {"name": name, **body})["id"]
        for name, body in _calendars().items()
    }
    for priority, (calendar, targets) in POLICIES.items():
        body = {
            "name": priority,
            "rank": 1,
            "match": {"priorities": [priority]},
            "calendar_id": ids[calendar],
            "targets": targets,
        }
        _call(port, key, "POST", "/v1/sla-policies", body)


def _preview_factory(scenario: Scenario, key: str) -> RequestFactory:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def factory(seq: int) -> Request:
        start = scenario.start
        if scenario.varied:
            # A stride coprime to the span walks every day of 20 years before repeating.
            start += timedelta(days=(seq * 7919) % VARIED_SPAN_DAYS, minutes=seq % 1440)
        body: dict[str, Any] = {"priority": scenario.priority, "start": start.isoformat()}
        if scenario.appointment_end is not None:
            body["appointment_end"] = scenario.appointment_end.isoformat()
        return Request("POST", "/v1/sla-policies/preview", json.dumps(body).encode(), headers)

    return factory


async def _with_health(
    base_url: str, factory: RequestFactory | None, options: Options
) -> tuple[LoadResult | None, LoadResult]:
    health = run_load(
        base_url,
        lambda _seq: HEALTH,
        connections=1,
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
    )
    if factory is None:
        return None, await health
    previews = run_load(
        base_url,
        factory,
        connections=options.connections,
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
    )
    preview_result, health_result = await asyncio.gather(previews, health)
    return preview_result, health_result


def run(options: Options) -> tuple[LoadResult, list[Row]]:
    key = secrets.token_urlsafe(32)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-bench-cal-")))
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        _progress("running migrations ...")
        run_migrations(url, workdir)
        app = UvicornServer(
            "app",
            "qualityapi.main:create_app",
            {
                "QUALITYAPI_DATABASE_URL": url,
                "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": key,
                "QUALITYAPI_SCHEDULER_ENABLED": "false",
                "QUALITYAPI_LOG_LEVEL": "warning",
            },
            workdir,
        )
        stack.callback(app.stop)
        app.start()
        app.wait_ready("/healthz")
        _progress("creating calendars and policies ...")
        _set_up(app.port, key)
        _progress("  idle /healthz ...")
        _, idle = asyncio.run(_with_health(app.base_url, None, options))
        rows = []
        for scenario in SCENARIOS:
            if options.only is not None and options.only not in scenario.label:
                continue
            _progress(f"  {scenario.label} ...")
            previews, health = asyncio.run(
                _with_health(app.base_url, _preview_factory(scenario, key), options)
            )
            assert previews is not None
            app.check_alive()
            rows.append(Row(scenario.label, previews, health))
        return idle, rows


def _statuses(result: LoadResult) -> str:
    text = ", ".join(f"{code}x{n}" for code, n in sorted(result.statuses.items()))
    if result.transport_errors:
        text += f", io x{result.transport_errors}"
    return text or "-"


def print_report(options: Options, idle: LoadResult, rows: Sequence[Row]) -> None:
    print("qualityapi calendar benchmark (SQLite)")
    print(f"  machine:  {os.cpu_count()} cores, {platform.platform()}")
    print(f"  python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"  sqlite:   {sqlite3.sqlite_version}")
    print(f"  commit:   {git_commit()}")
    print(
        f"  load:     {options.connections} preview connections + 1 /healthz connection, "
        f"{options.warmup_s:g}s warm-up + {options.duration_s:g}s per scenario"
    )
    print(
        f"  idle /healthz: p50 {idle.p50_ms:.2f} ms, p99 {idle.p99_ms:.2f} ms, "
        f"max {idle.percentile_ms(1.0):.2f} ms"
    )
    print()
    header = (
        f"{'scenario':<42}{'req/s':>7}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'health p50':>12}{'p99':>8}{'max':>8}{'p99/idle':>10}  statuses"
    )
    print(header)
    print("-" * len(header))

    def ratio(health: LoadResult) -> str:
        return f"{health.p99_ms / idle.p99_ms:.1f}x" if idle.p99_ms > 0 else "-"

    for row in rows:
        p, h = row.previews, row.health
        print(
            f"{row.label:<42}{p.rps:>7.0f}{p.p50_ms:>9.2f}{p.p99_ms:>9.2f}"
            f"{h.p50_ms:>12.2f}{h.p99_ms:>8.2f}{h.percentile_ms(1.0):>8.2f}{ratio(h):>10}"
            f"  {_statuses(p)}"
        )
    print()


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_calendar",
        description="Preview latency on pathological calendars, and /healthz meanwhile.",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per scenario (5)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per scenario (1)")
    parser.add_argument("--connections", type=int, default=4, help="preview connections (4)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s per scenario")
    parser.add_argument("--only", help="run only the scenarios whose label contains this")
    args = parser.parse_args(argv)
    duration, warmup = (1.0, 0.3) if args.quick else (5.0, 1.0)
    return Options(
        duration_s=args.duration if args.duration is not None else duration,
        warmup_s=args.warmup if args.warmup is not None else warmup,
        connections=max(1, args.connections),
        only=args.only,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        idle, rows = run(options)
    except BenchError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    print_report(options, idle, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
