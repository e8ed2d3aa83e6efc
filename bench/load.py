"""A realistic, bounded mix against one real process on SQLite, or several processes on
one PostgreSQL: throughput and p50/p99 per route, and each route's p99 as a multiple of a
bare FastAPI endpoint's p99 measured in the same run (``bench/baseline_app.py``'s
``GET /bare``, same connections, same offered rate). The two take turns in five slices
(10 s of bare in all), so that a drift of the shared machine's speed falls on both alike.

**Bounded** means an offered rate (``--rate``, requests/s over all connections), as a
help desk's clients produce it, not a closed loop that sends the next request the moment
the last one returns: a closed loop saturates the process, and every p99 is then the
queue's length, not the route's cost. Latency is measured from when a request was *due*
to be sent, so a slow response that delays the next request on its connection is
counted against it (no coordinated omission); a request sent on time is timed from its
send (the client's timer overshoot is not the server's). ``--rate 0`` is the closed loop.

The mix, per 20 requests: 4 creates, 4 lists, 4 gets, 4 actions (each order created goes
respond → arrive → resolve → close), 1 service-log entry, 2 board reads, 1 SLA report.
The scheduler runs (scanner, dispatcher, rollup) as in production.

    .venv/bin/python -m bench.load                      # SQLite, 20 s, 8 conns, 100 req/s
    .venv/bin/python -m bench.load --db postgresql      # two processes on one PostgreSQL
    .venv/bin/python -m bench.load --duration 60 -c 16 --rate 200
    .venv/bin/python -m bench.load --rate 0             # closed loop: saturation
    .venv/bin/python -m bench.load --soak 600           # RSS and open fds every 10 s, slopes

Goals (reported, never asserted): 0 errors; every route's p99 <= 10x the bare p99; in a
soak, an RSS slope indistinguishable from zero. Exit code 0 when the run completed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from tests.support.pgserver import TemporaryPostgres  # noqa: E402

from bench.bench_work_orders import UvicornServer, run_migrations  # noqa: E402
from bench.loadgen import ProtocolError, Request, _read_response  # noqa: E402

KEY = "qak_bench_load_admin_key_0123456789"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
GOAL_P99_VS_BARE = 10.0
DEFAULT_RATE = 100.0  # requests/s offered over all connections
SAMPLE_EVERY_S = 10.0
SLICES = 5  # turns of bare and mix in a run that is not a soak
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
    # How late each paced request left this client (held up by the previous response, or
    # the timer's overshoot); only the first kind is counted in the latencies.
    lateness: list[float] = field(default_factory=list)

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


class BareMix(Mix):
    """The same connections and pacing, every request ``GET /bare``: the floor."""

    _request = Request("GET", "/bare")

    def next(self) -> tuple[str, Request, tuple[str, int] | None] | None:
        if time.perf_counter() >= self.deadline:
            return None
        self.seq += 1
        return "bare", self._request, None


def _post(path: str, body: object) -> Request:
    data = json.dumps(body).encode() if body is not None else None
    return Request("POST", path, body=data, headers=AUTH)


async def _connection(
    mix: Mix, host: str, port: int, *, first_at: float | None = None, period: float = 0.0
) -> None:
    """Sends the mix's requests over one keep-alive connection: back to back (closed
    loop), or one per ``period`` seconds from ``first_at`` (each request's latency counted
    from when it was due, also when the previous one made it late)."""
    reader, writer = await asyncio.open_connection(host, port)
    due = first_at
    try:
        while True:
            # Late because the last response came after this request was due: counted from
            # when it was due (the server's doing). Early: sent when the timer fires, and
            # counted from then (the timer's own overshoot is this client's, not the
            # server's).
            held_up = due is not None and time.perf_counter() > due
            if due is not None and not held_up:
                await asyncio.sleep(due - time.perf_counter())
            if (picked := mix.next()) is None:
                break
            kind, request, step = picked
            started = due if held_up and due is not None else time.perf_counter()
            if due is not None:
                mix.lateness.append(max(0.0, time.perf_counter() - due))
                due += period
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


async def _sampler(
    pids: Sequence[int], started: float, out: list[tuple[float, float, int]]
) -> None:
    # Summed over the processes: a leak in any of them shows in the slope.
    while True:
        measured = [_process(pid) for pid in pids]
        rss, fds = sum(r for r, _ in measured), sum(f for _, f in measured)
        elapsed = time.perf_counter() - started
        out.append((elapsed, rss, fds))
        print(f"  t={elapsed:6.0f}s  rss={rss:7.1f} MiB  fds={fds}", flush=True)
        await asyncio.sleep(SAMPLE_EVERY_S)


async def run_mix(
    mix: Mix,
    urls: Sequence[str],
    *,
    connections: int,
    rate: float,
    pids: Sequence[int] = (),
) -> tuple[float, list[tuple[float, float, int]]]:
    """Drives ``mix`` until its deadline; connection k goes to ``urls[k % len(urls)]`` (as a
    round-robin load balancer would). Returns the elapsed seconds and the RSS samples."""
    targets = [url.removeprefix("http://").split(":") for url in urls]
    samples: list[tuple[float, float, int]] = []
    started = time.perf_counter()
    sampler = asyncio.create_task(_sampler(pids, started, samples)) if pids else None
    period = connections / rate if rate > 0 else 0.0

    def first_at(k: int) -> float | None:
        # Spread evenly: together the connections offer `rate` requests per second.
        return started + k / rate if rate > 0 else None

    try:
        await asyncio.gather(
            *(
                _connection(
                    mix,
                    targets[k % len(targets)][0],
                    int(targets[k % len(targets)][1]),
                    first_at=first_at(k),
                    period=period,
                )
                for k in range(connections)
            )
        )
    finally:
        if sampler is not None:
            sampler.cancel()
    return time.perf_counter() - started, samples


async def warm_up(urls: Sequence[str]) -> list[str]:
    """A second of back-to-back requests on each process: orders every route can read."""
    warm = Mix(deadline=time.perf_counter() + 1.0)
    await run_mix(warm, list(urls) * 2, connections=2 * len(urls), rate=0)
    return warm.ids


def _app(name: str, url: str, work: Path) -> UvicornServer:
    return UvicornServer(
        name,
        "qualityapi.main:create_app",
        {
            "QUALITYAPI_DATABASE_URL": url,
            "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": KEY,
            "QUALITYAPI_LOG_LEVEL": "warning",
        },
        work,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--replicas", type=int, default=None,
                        help="processes (default: 1 on SQLite, 2 on PostgreSQL)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=20.0, help="mix seconds (20)")
    parser.add_argument("-c", "--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE,
                        help="offered requests/s over all connections; 0: closed loop")  # fmt: skip
    parser.add_argument("--soak", type=float, default=None, metavar="SECONDS",
                        help="run the mix this long, sampling RSS and fds every 10 s")  # fmt: skip
    args = parser.parse_args(argv)
    replicas = args.replicas or (2 if args.db == "postgresql" else 1)
    if args.db == "sqlite" and replicas > 1:
        parser.error("several processes need PostgreSQL (the service refuses a second "
                     "scheduler on one SQLite file)")  # fmt: skip
    seconds = args.soak if args.soak is not None else args.duration
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qualityapi-load-")))
        if args.db == "postgresql":
            app_url = stack.enter_context(TemporaryPostgres()).url
        else:
            app_url = f"sqlite+aiosqlite:///{work / 'app.db'}"
        run_migrations(app_url, work)
        apps = [_app(f"app{i}", app_url, work) for i in range(replicas)]
        base = UvicornServer(
            "baseline",
            "bench.baseline_app:create_app",
            {"BENCH_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'base.db'}"},
            work,
        )
        for server in (*apps, base):
            stack.callback(server.stop)
            server.start()
        for app in apps:
            app.wait_ready("/readyz")
        base.wait_ready("/bare")
        urls = [app.base_url for app in apps]
        pace = f"{args.rate:.0f} req/s offered" if args.rate > 0 else "closed loop"
        print(f"qualityapi bench.load: {args.db}, {replicas} process(es), "
              f"{args.connections} connections, {pace}")  # fmt: skip
        if args.soak is not None:
            print(f"soak {seconds:.0f}s, sampling every {SAMPLE_EVERY_S:.0f}s:")
        ids = asyncio.run(warm_up(urls))
        bare = BareMix(deadline=0.0)
        mix = Mix(deadline=0.0, ids=ids)
        # Not a soak: the bare endpoint and the mix take turns in slices, so that both see
        # the same machine (on a shared 2-core host the floor drifts by 2x over a minute,
        # and one measured only before the mix would compare two different moments).
        slices = 1 if args.soak is not None else SLICES
        elapsed, samples = 0.0, []
        for _ in range(slices):
            bare.deadline = time.perf_counter() + min(10.0, seconds) / slices
            asyncio.run(
                run_mix(bare, [base.base_url], connections=args.connections, rate=args.rate)
            )
            mix.deadline = time.perf_counter() + seconds / slices
            took, sampled = asyncio.run(
                run_mix(
                    mix,
                    urls,
                    connections=args.connections,
                    rate=args.rate,
                    pids=[app.pid for app in apps] if args.soak is not None else (),
                )
            )
            elapsed += took
            samples += sampled
        for app in apps:
            app.check_alive()
    bare_values = bare.latencies["bare"]
    bare_p99 = _pct(bare_values, 0.99)
    total = sum(len(v) for v in mix.latencies.values())
    errors = sum(mix.errors.values())
    print(f"\nbare GET /bare: {len(bare_values)} requests, p50 {_pct(bare_values, 0.5):6.2f} ms  "
          f"p99 {bare_p99:6.2f} ms  errors {sum(bare.errors.values())}")  # fmt: skip
    if mix.lateness:
        print(f"send lateness: p50 {_pct(mix.lateness, 0.5):.2f} ms, "
              f"p99 {_pct(mix.lateness, 0.99):.2f} ms")  # fmt: skip
    print(f"mix: {total} requests in {elapsed:.1f}s = {total / elapsed:.0f} req/s, "
          f"errors {errors}\n")  # fmt: skip
    print(f"{'route':<38} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99/bare':>9}  goal")
    worst = 0.0
    for kind, route in ROUTES.items():
        values = mix.latencies.get(kind, [])
        if not values:
            continue
        p99 = _pct(values, 0.99)
        ratio = p99 / bare_p99 if bare_p99 else math.nan
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
