"""Webhook delivery end to end: deliveries/s, due-to-received latency, a 10,000-breach burst.

Run from the repository root::

    .venv/bin/python -m bench.bench_webhooks [--db sqlite|postgresql|both] [--quick]
        [--messages 5000] [--latency-seconds 20] [--latency-rate 50] [--burst 10000]
        [--receiver auto|asyncio|uvicorn] [--phases throughput,latency,burst]
        [--profile DIR]

Per database it starts the real service (``python -m qualityapi serve``, one process, the
SLA scanner and the webhook dispatcher in it) and a separate receiver process
(``bench/webhook_receiver.py``: verifies every request with ``standardwebhooks``, records
it, answers 200, optionally after 50 ms), registers the receiver through the API, then:

1. **throughput**: N outbox messages (distinct subjects) written straight into the
   database in one transaction, timed from that commit to the receiver having every one;
   no-op receiver, then 50 ms receiver. In the same run, three baselines send the same N
   signed requests at the same concurrency to the same receiver, with no database: the
   service's own ``Sender`` (SSRF check, signing, its HTTP client), a plain aiohttp
   session, and a raw-socket client (``bench/loadgen.py``: the receiver's capacity);
2. **latency**: a calendar-free SLA policy (``response`` PT10S on ``24x7``) for a category
   of its own; work orders created through the API at a fixed rate; each ``sla.breached``
   timed from its ``data.due_at`` to its arrival at the receiver;
3. **burst**: 10,000 work orders with warned response clocks, bulk-inserted with due
   instants spread over one second a few seconds ahead; every ``sla.breached`` must arrive,
   each transition under a single ``webhook-id``; timed from the first due instant to the
   last receipt.

Figures and ratios only: goals are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402
from tests.support.burst import seed_breaching_orders  # noqa: E402
from tests.support.pgserver import TemporaryPostgres  # noqa: E402
from tests.support.server import free_port, running_server  # noqa: E402

from bench.loadgen import Request, run_load, run_sync  # noqa: E402
from bench.machine import git_commit  # noqa: E402
from qualityapi.common.jsonable import jsonable  # noqa: E402
from qualityapi.config import Settings  # noqa: E402
from qualityapi.db.base import table_of  # noqa: E402
from qualityapi.db.engine import make_engine  # noqa: E402
from qualityapi.events import repository as events  # noqa: E402
from qualityapi.events.models import OutboxMessage  # noqa: E402
from qualityapi.sla.clockwork import stages_due  # noqa: E402
from qualityapi.sla.compiled import ladder as ladder_of  # noqa: E402
from qualityapi.sla.models import Calendar, SlaPolicy  # noqa: E402
from qualityapi.sla.vocabulary import WARNED  # noqa: E402
from qualityapi.webhooks import signing  # noqa: E402
from qualityapi.webhooks.sender import Sender, body_of  # noqa: E402

GOAL_NOOP_RATE = 950.0
GOAL_SLOW_RATE = 600.0
GOAL_LATENCY_P99_MS = 250.0  # issue 12 (issue 4 asked for 1,000)
GOAL_BURST_S = 30.0

LATENCY_CATEGORY = "bench-webhook-latency"
LATENCY_DRAIN_S = 10.0  # how long after the last due instant a breach may still arrive
BURST_LEAD_S = 5.0  # first due instant of the burst, after its rows are built
# Waiting for the burst: this long, plus a second per this many expected messages.
BURST_TIMEOUT_S = 60.0
BURST_MIN_RATE = 50.0
STALL_S = 20.0  # no new receipt for this long: stop waiting
RESPONSE_TARGET = timedelta(hours=1)  # the urgent default policy's response target
WARN_PERCENT = 80  # the urgent default policy warns at 80 % of it

_OUTBOX = table_of(OutboxMessage)
_POLICIES = table_of(SlaPolicy)
_CALENDARS = table_of(Calendar)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- options ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    databases: tuple[str, ...]
    phases: tuple[str, ...]
    messages: int
    concurrency: int
    slow_ms: float
    poll_seconds: float
    latency_seconds: float
    latency_rate: float
    latency_target_s: int
    burst: int
    receiver: str
    capacity_requests: int
    profile: Path | None
    profile_format: str


# -- processes: receiver, CPU accounting, py-spy --------------------------------------------


class Receiver:
    """``bench/webhook_receiver.py`` in a process of its own, driven over HTTP."""

    def __init__(self, server: str, log_dir: Path) -> None:
        self.server = server
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/hooks"
        self._log = (log_dir / f"receiver-{server}.log").open("w+", encoding="utf-8")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.webhook_receiver",
                "--port",
                str(self.port),
                "--server",
                server,
            ],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"receiver exited early:\n{self._log.read()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/_stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.05)

    async def control(self, **change: Any) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            (await client.post(f"{self.base}/_control", json=change)).raise_for_status()

    async def stats(self, client: httpx.AsyncClient) -> dict[str, Any]:
        response = await client.get(f"{self.base}/_stats")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    async def records(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.get(f"{self.base}/_records")
            response.raise_for_status()
            found: dict[str, Any] = response.json()
            return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime (all threads)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == parent:
            found.append(int(entry.name))
    return found


def _postmaster(port: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"/postgres") and str(port).encode() in cmd:
            return int(entry.name)
    return None


@dataclass
class Processes:
    """Whose CPU a measurement reports: the service, PostgreSQL (all its processes), the
    receiver and this benchmark process (the baselines' clients run here)."""

    service: int
    receiver: int
    postmaster: int | None = None

    def snapshot(self) -> dict[str, int]:
        pg_pids = [self.postmaster, *_children(self.postmaster)] if self.postmaster else []
        return {
            "service": _cpu_ticks(self.service),
            "postgres": sum(_cpu_ticks(p) for p in pg_pids),
            "receiver": _cpu_ticks(self.receiver),
            "bench": _cpu_ticks(os.getpid()),
        }


def cpu_share(before: dict[str, int], after: dict[str, int], seconds: float) -> dict[str, float]:
    """Percent of one core each used over ``seconds`` (PostgreSQL: backends alive at the
    end; one that exited in between is not counted)."""
    if seconds <= 0:
        return {}
    return {
        name: max(0, after[name] - before.get(name, 0)) / _CLK_TCK / seconds * 100
        for name in after
        if name != "postgres" or after[name]
    }


@contextlib.contextmanager
def profiled(opts: Options, pid: int, name: str) -> Iterator[None]:
    """py-spy record of the service for the block (``--profile``)."""
    if opts.profile is None:
        yield
        return
    opts.profile.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[opts.profile_format]
    out = opts.profile / f"{name}.{suffix}"
    proc = subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--nonblocking",
            "--format",
            opts.profile_format,
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # py-spy attaches
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        progress(f"profile: {out}")


# -- results ------------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
    receiver: str  # "no-op" or "50 ms"
    planned: int
    received: int
    elapsed_s: float  # dispatcher: commit -> last receipt; baselines: first send -> last
    first_s: float | None = None  # dispatcher: commit -> first receipt
    span_s: float | None = None  # dispatcher: first receipt -> last receipt
    errors: int = 0
    repeats: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    sender_process: str = "bench"  # whose CPU sends: "service" or this process

    @property
    def sender_ms(self) -> float | None:
        """CPU milliseconds the sending process spent per message received."""
        share = self.cpu.get(self.sender_process)
        if share is None or not self.received:
            return None
        return share / 100 * self.elapsed_s / self.received * 1000

    @property
    def rate(self) -> float:
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.received == self.planned and self.errors == 0


@dataclass
class Latency:
    planned: int
    created: int
    create_errors: int
    create_rate: float
    latencies_ms: list[float]
    messages: int
    mismatched_due: int
    by_type: dict[str, int]
    cpu: dict[str, float]

    @property
    def everything(self) -> list[float]:
        # A breach that never arrived counts as infinitely late.
        return [*self.latencies_ms, *[math.inf] * (self.planned - len(self.latencies_ms))]


@dataclass
class Burst:
    planned: int
    per_clock: int  # messages each clock's breach produces (breach + immediate levels)
    insert_s: float
    lead_s: float  # commit -> first due instant
    breached_deliveries: int
    distinct_clocks: int
    multi_id_clocks: int
    repeated_deliveries: int
    foreign: int
    all_messages: int
    last_breached_s: float | None
    last_any_s: float | None
    latencies_ms: list[float]
    cpu: dict[str, float]

    @property
    def complete(self) -> bool:
        return self.distinct_clocks == self.planned and self.multi_id_clocks == 0


@dataclass
class DatabaseRun:
    database: str
    version: str = ""
    commit: str = ""  # what the service ran: the work tree when it started
    throughput: list[Throughput] = field(default_factory=list)
    latency: Latency | None = None
    burst: Burst | None = None
    bad_signatures: int = 0
    bad_reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None


# -- helpers ------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]  # nearest rank


def fake_breach_rows(count: int, now: datetime) -> list[dict[str, Any]]:
    """``count`` outbox rows shaped like the scanner's ``sla.breached``, one subject each."""
    rows = []
    for k in range(count):
        wo_id = uuid.uuid4()
        data = {
            "subject": {"type": "work_order", "id": str(wo_id), "number": f"WO-2026-{k:06d}"},
            "target": "response",
            "due_at": jsonable(now),
            "warning_level": "red",
            "escalation_level": 0,
            "notified": [{"role": "assignee", "staff_id": None}],
            "clock_id": str(uuid.uuid4()),
        }
        rows.append(
            events.row(type="sla.breached", subject_key=f"work_order:{wo_id}", data=data, at=now)
        )
    return rows


def signed_bodies(count: int) -> list[tuple[str, str]]:
    """(message id, body) pairs like the dispatcher's, for the baselines."""
    now = datetime.now(UTC)
    return [(r["message_id"], body_of(r["payload"])) for r in fake_breach_rows(count, now)]


def presigned(secret: str, bodies: Sequence[tuple[str, str]]) -> list[Request]:
    """Raw-client requests, signed up front (the receiver accepts 5 minutes of skew)."""
    now = datetime.now(UTC)
    return [
        Request(
            "POST",
            "/hooks",
            body.encode(),
            signing.headers([secret], message_id=mid, timestamp=now, body=body),
        )
        for mid, body in bodies
    ]


async def wait_for_count(receiver: Receiver, count: int, within: float) -> int:
    """Polls the receiver until it holds ``count`` records, stalls, or ``within`` s pass."""
    deadline = time.monotonic() + within
    last_count, last_change = -1, time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            got = int((await receiver.stats(client))["count"])
            now = time.monotonic()
            if got >= count:
                return got
            if got != last_count:
                last_count, last_change = got, now
            if now > deadline or now - last_change > STALL_S:
                return got
            await asyncio.sleep(0.05)


def first_arrivals(records: list[list[Any]], wanted: set[str]) -> tuple[dict[str, float], int]:
    """First arrival per wanted webhook-id, and how many arrivals repeated an id."""
    first: dict[str, float] = {}
    repeats = 0
    for at, message_id, *_ in records:
        if message_id not in wanted:
            continue
        if message_id in first:
            repeats += 1
        else:
            first[message_id] = at
    return first, repeats


# -- phase 1: throughput ------------------------------------------------------------------


async def dispatcher_run(
    engine: AsyncEngine,
    receiver: Receiver,
    procs: Processes,
    opts: Options,
    count: int,
    slow: bool,
    label: str = "dispatcher (service)",
) -> Throughput:
    await receiver.control(reset=True, delay=opts.slow_ms / 1000 if slow else 0.0)
    rows = fake_breach_rows(count, datetime.now(UTC))
    wanted = {r["message_id"] for r in rows}
    async with engine.begin() as conn:
        await conn.execute(insert(_OUTBOX), rows)
    committed = time.time()
    before = procs.snapshot()
    got = await wait_for_count(receiver, count, within=30 + count / 50)
    after = procs.snapshot()
    dump = await receiver.records()
    first, repeats = first_arrivals(dump["records"], wanted)
    last = max(first.values(), default=committed)
    start = min(first.values(), default=committed)
    if got < count:
        progress(f"WARNING: {label}: {len(first)} of {count} received")
    return Throughput(
        label=label,
        receiver=f"{opts.slow_ms:g} ms" if slow else "no-op",
        planned=count,
        received=len(first),
        elapsed_s=last - committed,
        first_s=start - committed,
        span_s=last - start,
        errors=int(dump["bad"]),
        repeats=repeats,
        cpu=cpu_share(before, after, max(last - committed, 1e-9)),
        sender_process="service",
    )


async def _send_all(
    bodies: Sequence[tuple[str, str]], concurrency: int, send: Any
) -> tuple[float, int]:
    """``concurrency`` workers share the requests; (seconds, failures)."""
    todo = iter(bodies)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for message_id, body in todo:
            try:
                if not await send(message_id, body):
                    errors += 1
            except (httpx.HTTPError, aiohttp.ClientError, OSError, TimeoutError):
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, errors


async def client_baseline(
    kind: str,
    receiver: Receiver,
    procs: Processes,
    opts: Options,
    secret: str,
    count: int,
    slow: bool,
) -> Throughput:
    """The same requests, signed one by one as they go, with no database, from:

    - ``sender``: the service's own ``webhooks.sender.Sender`` (SSRF check, signing,
      its HTTP client), i.e. what a delivery costs without the dispatcher and database;
    - ``aiohttp``: a plain aiohttp session, one pool of ``concurrency`` connections.
    """
    await receiver.control(reset=True, delay=opts.slow_ms / 1000 if slow else 0.0)
    bodies = signed_bodies(count)
    defaults = Settings.model_fields
    before = procs.snapshot()
    if kind == "sender":
        sender = Sender(
            concurrency=opts.concurrency,
            connect_timeout=float(defaults["webhook_connect_timeout_seconds"].default),
            read_timeout=float(defaults["webhook_read_timeout_seconds"].default),
            allowed_networks=["127.0.0.0/8"],
        )

        async def send(message_id: str, body: str) -> bool:
            outcome = await sender.send(receiver.url, [secret], message_id=message_id, body=body)
            return outcome.succeeded

        try:
            elapsed, errors = await _send_all(bodies, opts.concurrency, send)
        finally:
            await sender.aclose()
        label = "Sender baseline (no database)"
    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=opts.concurrency),
            timeout=aiohttp.ClientTimeout(total=15),
        )

        async def send(message_id: str, body: str) -> bool:
            headers = signing.headers(
                [secret], message_id=message_id, timestamp=datetime.now(UTC), body=body
            )
            async with session.post(receiver.url, data=body.encode(), headers=headers) as r:
                await r.read()
                return r.status == 200

        try:
            elapsed, errors = await _send_all(bodies, opts.concurrency, send)
        finally:
            await session.close()
        label = "aiohttp baseline (plain)"
    after = procs.snapshot()
    stats = await receiver.records()
    first, repeats = first_arrivals(stats["records"], {mid for mid, _ in bodies})
    return Throughput(
        label=label,
        receiver=f"{opts.slow_ms:g} ms" if slow else "no-op",
        planned=count,
        received=len(first),
        elapsed_s=elapsed,
        errors=errors + int(stats["bad"]),
        repeats=repeats,
        cpu=cpu_share(before, after, elapsed),
    )


async def raw_baseline(
    receiver: Receiver,
    procs: Processes | None,
    opts: Options,
    secret: str,
    count: int,
    slow: bool,
) -> Throughput:
    """The receiver's capacity: pre-signed requests from the raw-socket load generator."""
    await receiver.control(reset=True, delay=opts.slow_ms / 1000 if slow else 0.0)
    bodies = signed_bodies(count)
    requests = presigned(secret, bodies)
    before = procs.snapshot() if procs else {}
    result = await run_load(
        receiver.base,
        lambda seq: requests[seq],
        connections=opts.concurrency,
        total_requests=count,
    )
    after = procs.snapshot() if procs else {}
    stats = await receiver.records()
    first, repeats = first_arrivals(stats["records"], {mid for mid, _ in bodies})
    return Throughput(
        label="raw client (receiver capacity)",
        receiver=f"{opts.slow_ms:g} ms" if slow else "no-op",
        planned=count,
        received=len(first),
        elapsed_s=result.elapsed_s,
        errors=result.errors + int(stats["bad"]),
        repeats=repeats,
        cpu=cpu_share(before, after, result.elapsed_s) if procs else {},
    )


async def measure_throughput(
    engine: AsyncEngine,
    receiver: Receiver,
    procs: Processes,
    opts: Options,
    secret: str,
    run: DatabaseRun,
) -> None:
    progress(f"{run.database}: warm-up ({min(500, opts.messages)} messages)")
    await dispatcher_run(
        engine, receiver, procs, opts, min(500, opts.messages), slow=False, label="warm-up"
    )
    for slow in (False, True):
        kind = f"{opts.slow_ms:g} ms" if slow else "no-op"
        progress(f"{run.database}: dispatcher, {opts.messages:,} messages, {kind} receiver")
        with profiled(opts, procs.service, f"{run.database}-throughput-{kind.replace(' ', '')}"):
            run.throughput.append(
                await dispatcher_run(engine, receiver, procs, opts, opts.messages, slow)
            )
        progress(f"{run.database}: {run.throughput[-1].rate:.0f}/s; baselines, {kind}")
        for kind_of_client in ("sender", "aiohttp"):
            run.throughput.append(
                await client_baseline(
                    kind_of_client, receiver, procs, opts, secret, opts.messages, slow
                )
            )
        run.throughput.append(
            await raw_baseline(receiver, procs, opts, secret, opts.messages, slow)
        )
    await receiver.control(reset=True, delay=0.0)


# -- phase 2: due -> received latency -------------------------------------------------------


async def measure_latency(
    api: httpx.AsyncClient, receiver: Receiver, procs: Processes, opts: Options
) -> Latency:
    calendars = (await api.get("/v1/calendars")).json()["items"]
    always = next(c for c in calendars if c["name"] == "24x7")
    policy = await api.post(
        "/v1/sla-policies",
        json={
            "name": f"bench-latency-{uuid.uuid4().hex[:8]}",
            "rank": 0,
            "match": {"categories": [LATENCY_CATEGORY]},
            "calendar_id": always["id"],
            "targets": {"response": f"PT{opts.latency_target_s}S"},
            "warning": {"percent": 80},
            "escalation": [
                {"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}]},
                {"level": 2, "after": "PT30M", "notify": [{"role": "team_manager"}]},
            ],
        },
    )
    if policy.status_code != 201:
        raise RuntimeError(f"creating the latency policy: {policy.status_code} {policy.text}")
    await receiver.control(reset=True, delay=0.0)

    planned = max(1, round(opts.latency_seconds * opts.latency_rate))
    spacing = 1 / opts.latency_rate
    due_by_order: dict[str, str] = {}
    errors = 0
    gate = asyncio.Semaphore(32)

    async def create(k: int) -> None:
        nonlocal errors
        async with gate:
            try:
                response = await api.post(
                    "/v1/work-orders",
                    json={
                        "title": f"bench latency {k}",
                        "category": LATENCY_CATEGORY,
                        "customer": {"name": "Bench"},
                    },
                )
            except httpx.HTTPError:
                errors += 1
                return
        if response.status_code != 201:
            errors += 1
            return
        body = response.json()
        clock = next(c for c in body["sla"] if c["target"] == "response")
        due_by_order[body["id"]] = clock["due_at"]

    before = procs.snapshot()
    started = time.perf_counter()
    tasks = []
    for k in range(planned):
        await asyncio.sleep(max(0.0, started + k * spacing - time.perf_counter()))
        tasks.append(asyncio.create_task(create(k)))
    await asyncio.gather(*tasks)
    create_rate = planned / (time.perf_counter() - started)

    last_due = max(
        (datetime.fromisoformat(d).timestamp() for d in due_by_order.values()), default=0.0
    )
    await asyncio.sleep(max(0.0, last_due - time.time() + 0.5))
    arrived: dict[str, tuple[float, str]] = {}
    dump: dict[str, Any] = {"records": []}
    while True:
        dump = await receiver.records()
        for at, _mid, kind, _clock, due_at, subject in dump["records"]:
            if kind == "sla.breached" and subject in due_by_order and subject not in arrived:
                arrived[subject] = (at, due_at)
        if len(arrived) >= len(due_by_order) or time.time() > last_due + LATENCY_DRAIN_S:
            break
        await asyncio.sleep(0.5)
    after = procs.snapshot()
    window = time.perf_counter() - started
    latencies = [
        (at - datetime.fromisoformat(due).timestamp()) * 1000 for at, due in arrived.values()
    ]
    mismatched = sum(1 for order, (_, due) in arrived.items() if due != due_by_order[order])
    by_type = Counter(r[2] for r in dump["records"])  # the receiver was reset for the phase
    return Latency(
        planned=planned,
        created=len(due_by_order),
        create_errors=errors,
        create_rate=create_rate,
        latencies_ms=latencies,
        messages=sum(by_type.values()),
        mismatched_due=mismatched,
        by_type=dict(by_type),
        cpu=cpu_share(before, after, window),
    )


# -- phase 3: a burst of 10,000 breaches ------------------------------------------------------


async def measure_burst(
    engine: AsyncEngine, receiver: Receiver, procs: Processes, opts: Options, database: str
) -> Burst:
    async with engine.connect() as conn:
        policy = (await conn.execute(select(_POLICIES).where(_POLICIES.c.name == "urgent"))).one()
        calendar_id = (
            await conn.execute(select(_CALENDARS.c.id).where(_CALENDARS.c.name == "24x7"))
        ).scalar_one()
    ladder = [r.after for r in ladder_of(SlaPolicy(escalation=policy.escalation))]
    await receiver.control(reset=True, delay=0.0)

    n = opts.burst
    base = datetime.now(UTC) + timedelta(seconds=BURST_LEAD_S)
    t0 = time.perf_counter()
    # The same rows the replica tests seed: warned response clocks due within one second.
    seeded = await seed_breaching_orders(
        engine,
        count=n,
        first_due=base,
        policy_id=policy.id,
        calendar_id=calendar_id,
        category="bench-burst",
        target=RESPONSE_TARGET,
        warn_percent=WARN_PERCENT,
    )
    insert_s = time.perf_counter() - t0
    due_of = {str(c.clock_id): c.due_at.timestamp() for c in seeded}
    # What each clock's breach produces at once: the breach, plus every escalation level
    # whose delay is zero (the urgent default has level 1 at PT0S).
    first = seeded[0].due_at
    per_clock = len(
        stages_due(
            WARNED,
            warn_at=first - RESPONSE_TARGET * (100 - WARN_PERCENT) / 100,
            due_at=first,
            ladder=ladder,
            now=first + timedelta(seconds=1),
        )
    )
    first_due = base.timestamp()
    lead = first_due - time.time()
    if lead < 1.5:
        progress(f"WARNING: burst committed only {lead:.2f} s before its first due instant")
    progress(f"{database}: burst of {n:,} inserted in {insert_s:.1f} s, first due in {lead:.1f} s")
    before = procs.snapshot()
    with profiled(opts, procs.service, f"{database}-burst"):
        await asyncio.sleep(max(0.0, first_due - time.time()))
        got = await wait_for_count(
            receiver, n * per_clock, within=BURST_TIMEOUT_S + n * per_clock / BURST_MIN_RATE
        )
    after = procs.snapshot()
    dump = await receiver.records()
    records = dump["records"]
    ids_by_clock: dict[str, set[str]] = {}
    breached_at: dict[str, float] = {}
    seen_ids: Counter[str] = Counter()
    foreign = 0
    last_any = None
    for at, message_id, kind, clock_id, _due, _subject in records:
        if clock_id not in due_of:
            foreign += 1
            continue
        seen_ids[message_id] += 1
        last_any = at if last_any is None else max(last_any, at)
        if kind != "sla.breached":
            continue
        ids_by_clock.setdefault(clock_id, set()).add(message_id)
        breached_at.setdefault(clock_id, at)
    last_breached = max(breached_at.values(), default=None)
    if got < n * per_clock:
        progress(f"WARNING: burst: {got} of {n * per_clock} messages received")
    return Burst(
        planned=n,
        per_clock=per_clock,
        insert_s=insert_s,
        lead_s=lead,
        breached_deliveries=sum(1 for r in records if r[2] == "sla.breached" and r[3] in due_of),
        distinct_clocks=len(ids_by_clock),
        multi_id_clocks=sum(1 for ids in ids_by_clock.values() if len(ids) > 1),
        repeated_deliveries=sum(c - 1 for c in seen_ids.values()),
        foreign=foreign,
        all_messages=len(seen_ids),
        last_breached_s=None if last_breached is None else last_breached - first_due,
        last_any_s=None if last_any is None else last_any - first_due,
        latencies_ms=[(at - due_of[c]) * 1000 for c, at in breached_at.items()],
        cpu=cpu_share(before, after, max(1e-9, (last_any or time.time()) - first_due)),
    )


# -- one database -------------------------------------------------------------------------


def service_env(url: str, admin_key: str, opts: Options) -> dict[str, str]:
    return {
        "QUALITYAPI_DATABASE_URL": url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": admin_key,
        "QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "QUALITYAPI_WEBHOOK_CONCURRENCY": str(opts.concurrency),
        "QUALITYAPI_WEBHOOK_ENDPOINT_CONCURRENCY": str(opts.concurrency),
        "QUALITYAPI_WEBHOOK_POLL_SECONDS": f"{opts.poll_seconds:g}",
        "QUALITYAPI_SCHEDULER_ENABLED": "true",
        "QUALITYAPI_LOG_LEVEL": "warning",
    }


async def bench_service(
    url: str,
    base: str,
    admin_key: str,
    receiver: Receiver,
    procs: Processes,
    opts: Options,
    run: DatabaseRun,
) -> None:
    engine = make_engine(url)
    headers = {"Authorization": f"Bearer {admin_key}"}
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                version = (await conn.execute(text("SHOW server_version"))).scalar_one()
                run.version = f"PostgreSQL {version}"
            else:
                run.version = f"SQLite {sqlite3.sqlite_version}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api:
            created = await api.post(
                "/v1/webhook-endpoints", json={"url": receiver.url, "description": "bench"}
            )
            if created.status_code != 201:
                raise RuntimeError(f"creating the endpoint: {created.status_code} {created.text}")
            secret = created.json()["secret"]
            await receiver.control(secret=secret, reset=True, delay=0.0)
            if "throughput" in opts.phases:
                await measure_throughput(engine, receiver, procs, opts, secret, run)
            if "latency" in opts.phases:
                progress(
                    f"{run.database}: latency, {opts.latency_rate:g} orders/s for "
                    f"{opts.latency_seconds:g} s, response PT{opts.latency_target_s}S"
                )
                run.latency = await measure_latency(api, receiver, procs, opts)
            if "burst" in opts.phases:
                run.burst = await measure_burst(engine, receiver, procs, opts, run.database)
        dump = await receiver.records()
        run.bad_signatures = int(dump["bad"])
        run.bad_reasons = dump["bad_reasons"]
    finally:
        await engine.dispose()


def run_database(database: str, receiver: Receiver, opts: Options, tmp: Path) -> DatabaseRun:
    run = DatabaseRun(database)
    started = time.perf_counter()
    admin_key = f"bench-admin-{uuid.uuid4().hex}"
    log_file = tmp / f"service-{database}.log"
    try:
        with contextlib.ExitStack() as stack:
            postmaster = None
            if database == "postgresql":
                pg = stack.enter_context(TemporaryPostgres())
                url = pg.url
                postmaster = _postmaster(pg.port)
            else:
                url = f"sqlite+aiosqlite:///{tmp / 'bench-webhooks.db'}"
            env = {
                k: v for k, v in os.environ.items() if not k.startswith("QUALITYAPI_")
            } | service_env(url, admin_key, opts)
            progress(f"{database}: starting the service")
            run.commit = git_commit() + _dirty()
            base, proc = stack.enter_context(
                running_server({}, env_override=env, log_file=log_file, timeout=90)
            )
            procs = Processes(service=proc.pid, receiver=receiver.proc.pid, postmaster=postmaster)
            try:
                run_sync(bench_service(url, base, admin_key, receiver, procs, opts, run))
            finally:
                if proc.poll() is not None:
                    run.error = f"the service exited ({proc.returncode})"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # report what was measured, then the failure
        run.error = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            run.error += "\n  service log tail:\n" + "\n".join(
                "    " + line for line in log_file.read_text().splitlines()[-15:]
            )
    progress(f"{database}: done in {time.perf_counter() - started:.0f} s")
    return run


def pick_receiver(opts: Options, tmp: Path) -> tuple[str, dict[str, float]]:
    """Raw-client capacity of each receiver server (no-op, same concurrency); the faster
    one is used for the whole run unless ``--receiver`` names one."""
    servers = ("asyncio", "uvicorn") if opts.receiver == "auto" else (opts.receiver,)
    capacity: dict[str, float] = {}
    for server in servers:
        receiver = Receiver(server, tmp)
        try:
            secret = signing.new_secret()

            async def measure(r: Receiver = receiver, s: str = secret) -> float:
                await r.control(secret=s, reset=True)
                await raw_baseline(r, None, opts, s, min(1000, opts.capacity_requests), False)
                best = 0.0
                for _ in range(2):
                    result = await raw_baseline(r, None, opts, s, opts.capacity_requests, False)
                    best = max(best, result.rate if result.complete else 0.0)
                return best

            capacity[server] = run_sync(measure())
        finally:
            receiver.stop()
    return max(capacity, key=lambda s: capacity[s]), capacity


# -- reporting ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _ms(value: float) -> str:
    return "never" if value == math.inf else f"{value:.0f}"


def _cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0f}%" for name, share in cpu.items())


def _dirty() -> str:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src", "migrations"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return ""
    changed = [line[3:] for line in out if line.strip()]
    return f" + uncommitted changes in {', '.join(changed)}" if changed else ""


def print_header(opts: Options, receiver: str, capacity: dict[str, float]) -> None:
    defaults = Settings.model_fields
    cpu_model = ""
    with contextlib.suppress(OSError):
        cpu_model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    print("qualityapi webhook delivery benchmark")
    print(f"  machine:  {os.cpu_count()} cores ({cpu_model}), {platform.platform()}")
    print(f"  python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"  commit:   {git_commit()}{_dirty()} (at the start; each database's service below)")
    print(
        f"  service:  python -m qualityapi serve (uvicorn, 1 process); "
        f"WEBHOOK_CONCURRENCY={opts.concurrency} WEBHOOK_ENDPOINT_CONCURRENCY="
        f"{opts.concurrency} WEBHOOK_POLL_SECONDS={opts.poll_seconds:g} "
        f"WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8 LOG_LEVEL=warning"
    )
    print(
        f"            defaults: SLA_SAFETY_INTERVAL_SECONDS="
        f"{defaults['sla_safety_interval_seconds'].default:g} SLA_SCAN_BATCH="
        f"{defaults['sla_scan_batch'].default} DB_POOL_SIZE={defaults['db_pool_size'].default} "
        f"WEBHOOK_LEASE_SECONDS={defaults['webhook_lease_seconds'].default:g}"
    )
    print(
        "  receiver: bench/webhook_receiver.py, own process, standardwebhooks verify on every "
        f"request; server '{receiver}'; capacity (raw client, c={opts.concurrency}, no-op): "
        + ", ".join(f"{s} {r:.0f} req/s" for s, r in capacity.items())
    )
    print(
        f"  run:      throughput {opts.messages:,} messages per target; latency "
        f"{opts.latency_rate:g} orders/s x {opts.latency_seconds:g} s, response "
        f"PT{opts.latency_target_s}S; burst {opts.burst:,} clocks due within 1 s; "
        f"phases {','.join(opts.phases)}"
        + (f"; py-spy attached (figures disturbed): {opts.profile}" if opts.profile else "")
    )
    print()


def print_run(run: DatabaseRun, opts: Options) -> None:
    print(f"{run.database} ({run.version or 'version unknown'}; service at commit {run.commit})")
    if run.throughput:
        print(
            f"  throughput: {opts.messages:,} messages, {opts.concurrency} concurrent; "
            "dispatcher timed from the commit of the messages (found by its "
            f"{opts.poll_seconds:g} s poll) to the last receipt; 'send cpu': CPU time of the "
            "sending process (service, or this one for the baselines) per message"
        )
        head = (
            f"    {'sender':<32}{'receiver':>9}{'msgs/s':>9}{'received':>13}"
            f"{'1st ms':>8}{'1st->last/s':>12}{'send cpu':>10}  cpu (% of a core)"
        )
        print(head)
        print("    " + "-" * (len(head) - 4))
        for t in run.throughput:
            first = f"{t.first_s * 1000:.0f}" if t.first_s is not None else "-"
            steady = f"{(t.received - 1) / t.span_s:.0f}" if t.span_s and t.received > 1 else "-"
            flag = "" if t.complete else f"  INCOMPLETE ({t.errors} errors)"
            if t.repeats:
                flag += f"  ({t.repeats} repeated ids)"
            send_ms = f"{t.sender_ms:.2f}ms" if t.sender_ms is not None else "-"
            print(
                f"    {t.label:<32}{t.receiver:>9}{t.rate:>9.0f}"
                f"{f'{t.received}/{t.planned}':>13}{first:>8}{steady:>12}{send_ms:>10}"
                f"  {_cpu(t.cpu)}{flag}"
            )
        for kind in ("no-op", f"{opts.slow_ms:g} ms"):
            rows = {t.label.split(" ")[0]: t for t in run.throughput if t.receiver == kind}
            d = rows.get("dispatcher")
            if d is None:
                continue
            parts = [
                f"dispatcher / {name} {d.rate / b.rate:.2f}"
                for name, b in (
                    ("Sender", rows.get("Sender")),
                    ("aiohttp", rows.get("aiohttp")),
                    ("raw", rows.get("raw")),
                )
                if b is not None and b.rate > 0
            ]
            print(f"    ratios, {kind} receiver: {'; '.join(parts)}")
    lat = run.latency
    if lat is not None:
        everything = lat.everything
        print(
            f"  latency: {lat.planned} orders at {opts.latency_rate:g}/s (achieved "
            f"{lat.create_rate:.1f}/s, {lat.create_errors} errors), response "
            f"PT{opts.latency_target_s}S on 24x7; {lat.messages} messages received in the phase "
            f"({', '.join(f'{k} {v}' for k, v in sorted(lat.by_type.items()))}); cpu "
            f"{_cpu(lat.cpu)}"
        )
        missing = lat.planned - len(lat.latencies_ms)
        done = max(lat.latencies_ms, default=math.nan)
        print(
            f"    due_at -> sla.breached received: p50 {_ms(_pct(everything, 0.5))} ms, "
            f"p99 {_ms(_pct(everything, 0.99))} ms, max {done:.0f} ms, min "
            f"{min(lat.latencies_ms, default=math.nan):.0f} ms; {missing} never arrived"
            + (
                f"; {lat.mismatched_due} payload due_at differ from the API's"
                if lat.mismatched_due
                else ""
            )
        )
    b = run.burst
    if b is not None:
        print(
            f"  burst: {b.planned:,} clocks due within 1 s (stage 1 -> breach, urgent "
            f"default policy: {b.per_clock} messages each); inserted in {b.insert_s:.1f} s, "
            f"committed {b.lead_s:.1f} s before the first due instant; cpu {_cpu(b.cpu)}"
        )
        print(
            f"    sla.breached: {b.breached_deliveries:,} deliveries, {b.distinct_clocks:,} "
            f"distinct clocks of {b.planned:,}; {b.multi_id_clocks} clocks under more than "
            f"one webhook-id; {b.repeated_deliveries} repeated deliveries (same id); "
            f"{b.all_messages:,} distinct messages of {b.planned * b.per_clock:,} in all"
        )
        last_b = "never" if b.last_breached_s is None else f"{b.last_breached_s:.1f} s"
        last_a = "never" if b.last_any_s is None else f"{b.last_any_s:.1f} s"
        print(
            f"    first due -> last sla.breached {last_b}; -> last message {last_a}; "
            f"due -> received p50 {_pct(b.latencies_ms, 0.5) / 1000:.1f} s, p99 "
            f"{_pct(b.latencies_ms, 0.99) / 1000:.1f} s"
        )
    if run.bad_signatures:
        print(f"  receiver: {run.bad_signatures} requests failed verification: {run.bad_reasons}")
    if run.error:
        print(f"  ERROR: {run.error}")
    print()


def goal_rows(run: DatabaseRun, opts: Options) -> list[tuple[str, str, str, bool | None]]:
    """(goal, value, target, met) per goal; met None when not measured."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for kind, goal in (("no-op", GOAL_NOOP_RATE), (f"{opts.slow_ms:g} ms", GOAL_SLOW_RATE)):
        d = next(
            (t for t in run.throughput if t.receiver == kind and t.label.startswith("dispatcher")),
            None,
        )
        rows.append(
            (
                f"deliveries/s, {kind} receiver",
                "-" if d is None else f"{d.rate:.0f}",
                f">= {goal:g}",
                None if d is None else d.complete and d.rate >= goal,
            )
        )
    lat = run.latency
    p99 = _pct(lat.everything, 0.99) if lat else math.nan
    rows.append(
        (
            "due -> sla.breached received p99 ms",
            "-" if lat is None else _ms(p99),
            f"<= {GOAL_LATENCY_P99_MS:g}",
            None if lat is None else p99 <= GOAL_LATENCY_P99_MS,
        )
    )
    b = run.burst
    rows.append(
        (
            "burst: distinct clocks breached, received",
            "-" if b is None else f"{b.distinct_clocks}",
            f"= {opts.burst}",
            None if b is None else b.distinct_clocks == b.planned,
        )
    )
    rows.append(
        (
            "burst: clocks under > 1 webhook-id",
            "-" if b is None else f"{b.multi_id_clocks}",
            "= 0",
            None if b is None else b.multi_id_clocks == 0,
        )
    )
    last = b.last_breached_s if b else None
    rows.append(
        (
            "burst: first due -> last sla.breached s",
            "-" if b is None else ("never" if last is None else f"{last:.1f}"),
            f"<= {GOAL_BURST_S:g}",
            None if b is None else (b.complete and last is not None and last <= GOAL_BURST_S),
        )
    )
    return rows


def print_summary(runs: list[DatabaseRun], opts: Options) -> None:
    print("summary (goals from issues 4 and 12; reported, not asserted)")
    names = [r.database for r in runs]
    head = f"  {'goal':<42}{'target':<11}" + "".join(f"{n:>18}" for n in names)
    print(head)
    print("  " + "-" * (len(head) - 2))
    table = [goal_rows(r, opts) for r in runs]
    for i, (goal, _, target, _) in enumerate(table[0] if table else []):
        cells = []
        for rows in table:
            _, value, _, met = rows[i]
            verdict = "n/a" if met is None else _verdict(met)
            cells.append(f"{value} {verdict}")
        print(f"  {goal:<42}{target:<11}" + "".join(f"{c:>18}" for c in cells))
    print()


# -- entry point --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default=None)
    parser.add_argument("--quick", action="store_true", help="short smoke run (~1 min, sqlite)")
    parser.add_argument("--phases", default="throughput,latency,burst")
    parser.add_argument("--messages", type=int, default=None, help="per throughput target")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--slow-ms", type=float, default=50.0, help="the slow receiver's delay")
    parser.add_argument("--poll-seconds", type=float, default=0.2)
    parser.add_argument("--latency-seconds", type=float, default=None)
    parser.add_argument("--latency-rate", type=float, default=50.0)
    parser.add_argument("--latency-target", type=int, default=None, help="seconds")
    parser.add_argument("--burst", type=int, default=None)
    parser.add_argument("--receiver", choices=["auto", "asyncio", "uvicorn"], default="auto")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy profiles of the service, here"
    )
    parser.add_argument(
        "--profile-format", choices=["flamegraph", "raw", "speedscope"], default="flamegraph"
    )
    args = parser.parse_args(argv)
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = set(phases) - {"throughput", "latency", "burst"}
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    quick = args.quick
    db = args.db or ("sqlite" if quick else "both")
    return Options(
        databases=("sqlite", "postgresql") if db == "both" else (db,),
        phases=phases,
        messages=args.messages or (1000 if quick else 5_000),
        concurrency=args.concurrency,
        slow_ms=args.slow_ms,
        poll_seconds=args.poll_seconds,
        latency_seconds=args.latency_seconds or (4.0 if quick else 20.0),
        latency_rate=args.latency_rate,
        latency_target_s=args.latency_target or (4 if quick else 10),
        burst=args.burst or (1000 if quick else 10_000),
        receiver=args.receiver,
        capacity_requests=2000 if quick else 5_000,
        profile=args.profile,
        profile_format=args.profile_format,
    )


def _sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    started = time.perf_counter()
    runs: list[DatabaseRun] = []
    try:
        with tempfile.TemporaryDirectory(prefix="qualityapi-bench-webhooks-") as tmp_name:
            tmp = Path(tmp_name)
            progress("receiver: measuring its capacity")
            server, capacity = pick_receiver(opts, tmp)
            print_header(opts, server, capacity)
            receiver = Receiver(server, tmp)
            try:
                for database in opts.databases:
                    runs.append(run_database(database, receiver, opts, tmp))
                    print_run(runs[-1], opts)
            finally:
                receiver.stop()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print_summary(runs, opts)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
