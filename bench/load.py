"""A realistic, bounded mix against one real process on SQLite: throughput and p50/p99
per route, and each route's p99 as a multiple of a bare FastAPI endpoint's p99 measured
in the same run (``bench/baseline_app.py``'s ``GET /bare``, same connections).

The mix, per 20 requests: 4 creates, 4 lists, 4 gets, 4 actions (each order created goes
respond → arrive → resolve → close), 1 service-log entry, 2 board reads, 1 SLA report.
The scheduler runs (scanner, dispatcher, rollup) as in production.

    .venv/bin/python -m bench.load                      # 20 s mix, 8 connections
    .venv/bin/python -m bench.load --duration 60 -c 16
    .venv/bin/python -m bench.load --soak 600           # RSS and open fds every 10 s, slopes

Goals (reported, never asserted): 0 errors; every route's p99 <= 10x the bare p99; in a
soak, an RSS slope indistinguishable from zero. Exit code 0 when the run completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_work_orders import UvicornServer, run_migrations  # noqa: E402
from bench.loadgen import ProtocolError, Request, _read_response, run_load  # noqa: E402

KEY = "qak_bench_load_admin_key_0123456789"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
GOAL_P99_VS_BARE = 10.0
SAMPLE_EVERY_S = 10.0
LIFECYCLE = ("respond", "arrive", "resolve", "close")
# One round of the mix, in order (a round is 20 requests).
ROUND = (
    "create", "list", "get", "action", "create", "board", "list", "get", "action", "log",
    "create", "list", "get", "action", "report", "create", "list", "get", "action", "board",
)  # fmt: skip
ROUTES = {
    "create": "POST /v1/work-orders",
    "list": "GET /v1/work-orders?limit=20",
    "get": "GET /v1/work-orders/{id}",
    "action": "POST /v1/work-orders/{id}/{action}",
    "log": "POST /v1/work-orders/{id}/logs",
    "board": "GET /v1/board",
    "report": "GET /v1/reports/sla",
}


@dataclass
class Mix:
    """Shared by the connections: what to send next, and what came back per route."""

    deadline: float
    seq: int = 0
    ids: list[str] = field(default_factory=list)
    # (order id, next lifecycle step): orders whose previous action has completed.
    ready: deque[tuple[str, int]] = field(default_factory=deque)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)

    def next(self) -> tuple[str, Request, tuple[str, int] | None] | None:
        if time.perf_counter() >= self.deadline:
            return None
        kind = ROUND[self.seq % len(ROUND)]
        n = self.seq
        self.seq += 1
        if kind != "create" and not self.ids:
            kind = "create"
        if kind == "action" and not self.ready:
            kind = "get"
        if kind == "create":
            body = {
                "title": f"Load {n}",
                "priority": ("urgent", "high", "normal")[n % 3],
                "category": ("hvac", "plumbing", "electrical")[n % 3],
                "customer": {"name": "Li Na", "phone": "+86 138 0000 0000"},
                "location": f"Building {n % 7}",
            }
            return kind, _post("/v1/work-orders", body), None
        order = self.ids[n % len(self.ids)]
        if kind == "list":
            return kind, Request("GET", "/v1/work-orders?limit=20", headers=AUTH), None
        if kind == "get":
            return kind, Request("GET", f"/v1/work-orders/{order}", headers=AUTH), None
        if kind == "action":
            order, step = self.ready.popleft()
            return kind, _post(f"/v1/work-orders/{order}/{LIFECYCLE[step]}", None), (order, step)
        if kind == "log":
            body = {"action": "Checked the unit", "place": "on site"}
            return kind, _post(f"/v1/work-orders/{order}/logs", body), None
        if kind == "board":
            return kind, Request("GET", "/v1/board", headers=AUTH), None
        now = datetime.now(UTC)
        since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        until = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        path = f"/v1/reports/sla?from={since}&to={until}&group_by=priority"
        return kind, Request("GET", path, headers=AUTH), None


def _post(path: str, body: object) -> Request:
    data = json.dumps(body).encode() if body is not None else None
    return Request("POST", path, body=data, headers=AUTH)


async def _connection(mix: Mix, host: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (picked := mix.next()) is not None:
            kind, request, step = picked
            started = time.perf_counter()
            writer.write(request.encode(f"{host}:{port}"))
            status, body, close = await asyncio.wait_for(_read_response(reader), 30)
            mix.latencies[kind].append(time.perf_counter() - started)
            if status >= 400:
                mix.errors[kind] += 1
                if len(mix.samples) < 5:
                    mix.samples.append(f"{kind} {status} {body[:200]!r}")
            elif kind == "create":
                order_id = json.loads(body)["id"]
                mix.ids.append(order_id)
                mix.ready.append((order_id, 0))
            elif step is not None and step[1] + 1 < len(LIFECYCLE):
                mix.ready.append((step[0], step[1] + 1))
            if close:
                raise ProtocolError("the server closed the connection")
    finally:
        writer.close()


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1] * 1000 if ordered else math.nan


def _slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of value over time, per minute."""
    if len(points) < 2:
        return math.nan
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return math.nan
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 60


def _process(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open file descriptors) of ``pid``, from /proc."""
    rss_kib = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def _sampler(pid: int, started: float, out: list[tuple[float, float, int]]) -> None:
    while True:
        rss, fds = _process(pid)
        elapsed = time.perf_counter() - started
        out.append((elapsed, rss, fds))
        print(f"  t={elapsed:6.0f}s  rss={rss:7.1f} MiB  fds={fds}", flush=True)
        await asyncio.sleep(SAMPLE_EVERY_S)


async def run_mix(
    base_url: str, *, connections: int, seconds: float, pid: int | None = None
) -> tuple[Mix, float, list[tuple[float, float, int]]]:
    host, port = base_url.removeprefix("http://").split(":")
    # Warm-up: a few orders so every route has something to read.
    warm = Mix(deadline=time.perf_counter() + 1.0)
    await asyncio.gather(*(_connection(warm, host, int(port)) for _ in range(2)))
    mix = Mix(deadline=time.perf_counter() + seconds, ids=list(warm.ids))
    samples: list[tuple[float, float, int]] = []
    started = time.perf_counter()
    sampler = asyncio.create_task(_sampler(pid, started, samples)) if pid else None
    try:
        await asyncio.gather(*(_connection(mix, host, int(port)) for _ in range(connections)))
    finally:
        if sampler is not None:
            sampler.cancel()
    return mix, time.perf_counter() - started, samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="mix seconds (20)")
    parser.add_argument("-c", "--connections", type=int, default=8)
    parser.add_argument("--soak", type=float, default=None, metavar="SECONDS",
                        help="run the mix this long, sampling RSS and fds every 10 s")  # fmt: skip
    args = parser.parse_args(argv)
    seconds = args.soak if args.soak is not None else args.duration
    with tempfile.TemporaryDirectory(prefix="qualityapi-load-") as tmp:
        work = Path(tmp)
        app_url = f"sqlite+aiosqlite:///{work / 'app.db'}"
        run_migrations(app_url, work)
        app = UvicornServer(
            "app",
            "qualityapi.main:create_app",
            {
                "QUALITYAPI_DATABASE_URL": app_url,
                "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": KEY,
                "QUALITYAPI_LOG_LEVEL": "warning",
            },
            work,
        )
        base = UvicornServer(
            "baseline",
            "bench.baseline_app:create_app",
            {"BENCH_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'base.db'}"},
            work,
        )
        try:
            for server in (app, base):
                server.start()
            app.wait_ready("/readyz")
            base.wait_ready("/bare")
            bare = asyncio.run(
                run_load(
                    base.base_url + "/bare",
                    lambda _seq: Request("GET", "/bare"),
                    connections=args.connections,
                    duration_s=min(5.0, seconds),
                    warmup_s=0.5,
                )
            )
            print(f"qualityapi bench.load: SQLite, one process, {args.connections} connections")
            if args.soak is not None:
                print(f"soak {seconds:.0f}s, sampling every {SAMPLE_EVERY_S:.0f}s:")
            mix, elapsed, samples = asyncio.run(
                run_mix(
                    app.base_url,
                    connections=args.connections,
                    seconds=seconds,
                    pid=app.pid if args.soak is not None else None,
                )
            )
            app.check_alive()
        finally:
            app.stop()
            base.stop()
    total = sum(len(v) for v in mix.latencies.values())
    errors = sum(mix.errors.values())
    print(f"\nbare GET /bare: {bare.rps:8.0f} req/s  p50 {bare.p50_ms:6.2f} ms  "
          f"p99 {bare.p99_ms:6.2f} ms  errors {bare.errors}")  # fmt: skip
    print(f"mix: {total} requests in {elapsed:.1f}s = {total / elapsed:.0f} req/s, "
          f"errors {errors}\n")  # fmt: skip
    print(f"{'route':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/bare':>9}  goal")
    worst = 0.0
    for kind, route in ROUTES.items():
        values = mix.latencies.get(kind, [])
        if not values:
            continue
        p99 = _pct(values, 0.99)
        ratio = p99 / bare.p99_ms if bare.p99_ms else math.nan
        worst = max(worst, ratio)
        verdict = "ok" if ratio <= GOAL_P99_VS_BARE else "MISS"
        err = f"  ({mix.errors[kind]} errors)" if mix.errors.get(kind) else ""
        print(f"{route:<38} {len(values) / elapsed:7.1f} {_pct(values, 0.5):8.2f} "
              f"{p99:8.2f} {ratio:8.1f}x  {verdict}{err}")  # fmt: skip
    for sample in mix.samples:
        print(f"  error sample: {sample}")
    print(f"\nworst p99/bare: {worst:.1f}x (goal <= {GOAL_P99_VS_BARE:.0f}x); errors: {errors}")
    if samples:
        rss_slope = _slope_per_minute([(t, r) for t, r, _ in samples])
        fd_slope = _slope_per_minute([(t, float(f)) for t, _, f in samples])
        print(f"RSS slope {rss_slope:+.2f} MiB/min, open fds slope {fd_slope:+.2f}/min "
              f"over {len(samples)} samples")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
