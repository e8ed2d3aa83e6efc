"""Work-order create/get throughput against bare and one-query FastAPI baselines.

Run from the repository root::

    .venv/bin/python -m bench.bench_work_orders [--db sqlite|postgresql|both]
        [--duration 8] [--warmup 2] [--connections 4,64] [--rounds 1]
        [--quick] [--baseline-only]

Per database it starts the real app and ``bench.baseline_app`` as separate uvicorn
processes (one worker each) on the same database, then drives them one target at a time
from this process. It prints figures only; nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.loadgen import (  # noqa: E402
    LoadResult,
    Request,
    RequestFactory,
    ResponseHook,
    run_load,
    run_sync,
    uvloop_available,
)
from bench.machine import git_commit  # noqa: E402

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # json is slower, which only matters for the id-collecting hook
    _loads = json.loads

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
MIGRATE_TIMEOUT_S = 300.0
ID_CAP = 5000
PRIME_COUNT = 200
LOG_TAIL_LINES = 30

GOAL_CREATE_VS_INSERT = 0.75
GOAL_GET_VS_SELECT = 0.9
GOAL_CREATE_P99_VS_BARE = 10.0

TARGET_BARE = "baseline GET /bare"
TARGET_INSERT = "baseline POST /insert"
TARGET_CREATE = "app POST /v1/work-orders"
TARGET_SELECT = "baseline GET /select/{id}"
TARGET_GET = "app GET /v1/work-orders/{id}"


class BenchError(RuntimeError):
    """A setup step failed; the message says which and includes the relevant output."""


# -- subprocesses -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no output: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # Settings exported in the caller's shell would silently change what is measured.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("QUALITYAPI_", "BENCH_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )
    env.update(extra)
    return env


class UvicornServer:
    """One uvicorn process (1 worker) serving an app factory on a free loopback port."""

    def __init__(self, name: str, factory: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.factory = factory
        self.env = env
        self.port = _free_port()
        self.log_path = log_dir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise BenchError(f"{self.name} was never started")
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            self.factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self._log = self.log_path.open("wb")
        # A session of its own keeps Ctrl-C away from the server, so it stays up until
        # our cleanup stops it in order instead of dying mid-request.
        self._proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=_child_env(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
            except OSError as exc:
                last = str(exc)
            finally:
                conn.close()
            time.sleep(0.1)
        raise BenchError(
            f"{self.name} not ready on GET {path} after {timeout_s:.0f}s (last: {last}).\n"
            f"--- {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def check_alive(self) -> None:
        if self._proc is None:
            raise BenchError(f"{self.name} was never started")
        code = self._proc.poll()
        if code is not None:
            raise BenchError(
                f"{self.name} exited with code {code}.\n"
                f"--- {self.log_path} ---\n{_tail(self.log_path)}"
            )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def run_migrations(database_url: str, log_dir: Path) -> None:
    log_path = log_dir / "migrate.log"
    with log_path.open("wb") as log:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "qualityapi", "migrate"],
                cwd=REPO_ROOT,
                env=_child_env({"QUALITYAPI_DATABASE_URL": database_url}),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=MIGRATE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"`python -m qualityapi migrate` timed out.\n{_tail(log_path)}"
            ) from None
    if proc.returncode != 0:
        raise BenchError(
            f"`python -m qualityapi migrate` failed with code {proc.returncode}.\n"
            f"--- output ---\n{_tail(log_path)}"
        )


# -- measurement --------------------------------------------------------------------------


@dataclass
class Measurement:
    database: str
    target: str
    connections: int
    result: LoadResult


@dataclass
class DatabaseRun:
    database: str
    server_version: str = ""
    measurements: list[Measurement] = field(default_factory=list)
    error: str | None = None

    def find(self, target: str, connections: int) -> LoadResult | None:
        matching = [
            m.result
            for m in self.measurements
            if m.target == target and m.connections == connections
        ]
        return LoadResult.combine(matching) if matching else None

    def rows(self) -> list[tuple[str, int, LoadResult]]:
        """One row per (target, connections) in first-measured order, rounds pooled."""
        keys = dict.fromkeys((m.target, m.connections) for m in self.measurements)
        return [(t, c, r) for t, c in keys if (r := self.find(t, c)) is not None]


@dataclass(frozen=True)
class Settings:
    databases: tuple[str, ...]
    duration_s: float
    warmup_s: float
    connections: tuple[int, ...]
    rounds: int
    baseline_only: bool


class IdCollector:
    """Keeps ids from 2xx JSON responses so the read phases hit rows that exist."""

    def __init__(self, cap: int = ID_CAP) -> None:
        self.ids: list[str] = []
        self.cap = cap

    def __call__(self, status: int, body: bytes) -> None:
        if len(self.ids) >= self.cap or not 200 <= status < 300:
            return
        with contextlib.suppress(ValueError, TypeError):
            row_id = _loads(body).get("id")
            if isinstance(row_id, str):
                self.ids.append(row_id)


# Each factory numbers its titles from its own block, so every created row is distinct.
_title_blocks = itertools.count(0, 10_000_000)
JSON_HEADERS = {"Content-Type": "application/json"}
BARE_REQUEST = Request("GET", "/bare")


def _create_factory(path: str, headers: dict[str, str]) -> RequestFactory:
    offset = next(_title_blocks)
    all_headers = {**headers, **JSON_HEADERS}

    def factory(seq: int) -> Request:
        # Both create endpoints get the same body; the baseline model ignores the extra
        # fields, so parsing cost differs only by what the app does with them.
        body = json.dumps(
            {
                "title": f"Bench {offset + seq}",
                "priority": "normal",
                "customer": {"name": "Bench"},
            }
        ).encode()
        return Request("POST", path, body, all_headers)

    return factory


def _cycle_factory(path_prefix: str, ids: Sequence[str], headers: dict[str, str]) -> RequestFactory:
    # Built up front: the same Request objects come round again, encoded once.
    requests = [Request("GET", f"{path_prefix}{row_id}", None, headers) for row_id in ids]
    return lambda seq: requests[seq % len(requests)]


def _statuses(result: LoadResult | None) -> dict[int, int]:
    return dict(result.statuses) if result is not None else {}


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(
    run: DatabaseRun,
    settings: Settings,
    server: UvicornServer,
    target: str,
    connections: int,
    factory: RequestFactory,
    on_response: ResponseHook | None = None,
) -> LoadResult:
    _progress(f"  {run.database:<10} {target:<30} {connections:>3} conns ...")
    result = run_sync(
        run_load(
            server.base_url,
            factory,
            connections=connections,
            duration_s=settings.duration_s,
            warmup_s=settings.warmup_s,
            on_response=on_response,
        )
    )
    server.check_alive()
    run.measurements.append(Measurement(run.database, target, connections, result))
    return result


def prime(server: UvicornServer, factory: RequestFactory, collector: IdCollector) -> None:
    run_sync(
        run_load(
            server.base_url,
            factory,
            connections=4,
            total_requests=PRIME_COUNT,
            on_response=collector,
        )
    )
    server.check_alive()


def bench_database(database: str, settings: Settings, run: DatabaseRun) -> None:
    from tests.support.pgserver import TemporaryPostgres

    admin_key = secrets.token_urlsafe(32)
    auth = {"Authorization": f"Bearer {admin_key}"}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-bench-")))
        if database == "postgresql":
            _progress("starting PostgreSQL ...")
            pg = stack.enter_context(TemporaryPostgres())
            url = pg.url
            run.server_version = _postgres_version(pg.bin_dir)
        else:
            url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            run.server_version = f"SQLite {sqlite3.sqlite_version}"

        app: UvicornServer | None = None
        if not settings.baseline_only:
            _progress("running migrations ...")
            run_migrations(url, workdir)
            app = UvicornServer(
                "app",
                "qualityapi.main:create_app",
                {
                    "QUALITYAPI_DATABASE_URL": url,
                    "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": admin_key,
                    "QUALITYAPI_SCHEDULER_ENABLED": "false",
                    "QUALITYAPI_LOG_LEVEL": "warning",
                },
                workdir,
            )
        baseline = UvicornServer(
            "baseline", "bench.baseline_app:create_app", {"BENCH_DATABASE_URL": url}, workdir
        )
        # Stopped before the database goes away (ExitStack unwinds in reverse).
        for server in (baseline, app):
            if server is not None:
                stack.callback(server.stop)
                server.start()
        _progress("waiting for servers ...")
        baseline.wait_ready("/bare")
        if app is not None:
            app.wait_ready("/healthz")

        inserted, created = IdCollector(), IdCollector()
        insert_factory = _create_factory("/insert", {})
        create_factory = _create_factory("/v1/work-orders", auth)

        def go(
            server: UvicornServer,
            target: str,
            conns: int,
            factory: RequestFactory,
            hook: ResponseHook | None = None,
        ) -> None:
            measure(run, settings, server, target, conns, factory, hook)

        # Rounds repeat the whole sequence rather than each target, so slow drift on a
        # shared machine hits baseline and app alike instead of skewing the ratios.
        for conns in [c for _ in range(settings.rounds) for c in settings.connections]:
            go(baseline, TARGET_BARE, conns, lambda _seq: BARE_REQUEST)
            go(baseline, TARGET_INSERT, conns, insert_factory, inserted)
            if app is not None:
                go(app, TARGET_CREATE, conns, create_factory, created)
            if not inserted.ids:
                prime(baseline, insert_factory, inserted)
            if not inserted.ids:
                raise BenchError("baseline POST /insert returned no ids; cannot run selects")
            go(baseline, TARGET_SELECT, conns, _cycle_factory("/select/", inserted.ids, {}))
            if app is None:
                continue
            if not created.ids:
                prime(app, create_factory, created)
            if not created.ids:
                raise BenchError(
                    "app POST /v1/work-orders returned no ids (expected 201 with a JSON 'id'; "
                    f"statuses seen: {_statuses(run.find(TARGET_CREATE, conns))}).\n"
                    f"--- {app.log_path} ---\n{_tail(app.log_path)}"
                )
            go(app, TARGET_GET, conns, _cycle_factory("/v1/work-orders/", created.ids, auth))


# -- reporting ----------------------------------------------------------------------------


def _postgres_version(bin_dir: Path) -> str:
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "PostgreSQL (version unknown)"
    return out.replace("postgres (PostgreSQL)", "PostgreSQL")


def print_header(settings: Settings) -> None:
    print("qualityapi work-order benchmark")
    print(f"  machine:  {os.cpu_count()} cores, {platform.platform()}")
    print(f"  python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"  commit:   {git_commit()}")
    print(
        f"  loadgen:  {'uvloop' if uvloop_available() else 'asyncio'}, same machine, "
        f"keep-alive; {settings.warmup_s:g}s warm-up + {settings.duration_s:g}s per run"
    )
    if settings.rounds > 1:
        print(f"  rounds:   {settings.rounds}, figures pool all rounds of a target")
    print("  servers:  uvicorn, 1 worker each, one target measured at a time")
    print()


def _errors_cell(result: LoadResult) -> str:
    if not result.errors:
        return "0"
    bad = {code: n for code, n in sorted(result.statuses.items()) if not 200 <= code < 300}
    detail = ", ".join(f"{code}x{n}" for code, n in bad.items())
    if result.transport_errors:
        detail = ", ".join(filter(None, [detail, f"io x{result.transport_errors}"]))
    return f"{result.errors} ({detail})"


def print_table(runs: Sequence[DatabaseRun]) -> None:
    header = (
        f"{'database':<11}{'target':<31}{'conns':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}  errors"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        for target, conns, r in run.rows():
            print(
                f"{run.database:<11}{target:<31}{conns:>5}{r.rps:>10.0f}"
                f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}  {_errors_cell(r)}"
            )
    print()


def _verdict(value: float, goal: float, higher_is_better: bool, *results: LoadResult) -> str:
    # A run with failures can look fast (errors are cheap), so it never counts as a pass.
    if any(r.errors for r in results):
        return "INVALID (errors)"
    ok = value >= goal if higher_is_better else value <= goal
    return "PASS" if ok else "MISS"


def _rps(result: LoadResult) -> float:
    return result.rps


def _p99(result: LoadResult) -> float:
    return result.p99_ms


def print_ratios(run: DatabaseRun, connections: Sequence[int]) -> None:
    # The p99 goal is stated at 4 connections; use the lowest count if 4 was not run.
    p99_conns = 4 if 4 in connections else min(connections)
    specs: list[tuple[str, str, str, int, Callable[[LoadResult], float], float, bool]] = [
        *(
            (f"create/insert req/s @ {c} conns", TARGET_CREATE, TARGET_INSERT, c, _rps,
             GOAL_CREATE_VS_INSERT, True)
            for c in connections
        ),
        *(
            (f"get/select req/s @ {c} conns", TARGET_GET, TARGET_SELECT, c, _rps,
             GOAL_GET_VS_SELECT, True)
            for c in connections
        ),
        (f"create p99 / bare p99 @ {p99_conns} conns", TARGET_CREATE, TARGET_BARE, p99_conns,
         _p99, GOAL_CREATE_P99_VS_BARE, False),
    ]  # fmt: skip
    print(f"{run.database} ({run.server_version})")
    print(f"  {'ratio':<40}{'value':>8}  {'goal':<7}result")
    for label, num_target, den_target, conns, metric, goal, higher in specs:
        goal_text = f"{'>=' if higher else '<='}{goal:g}"
        num, den = run.find(num_target, conns), run.find(den_target, conns)
        if num is None or den is None or not metric(den) > 0:
            print(f"  {label:<40}{'-':>8}  {goal_text:<7}n/a (not measured)")
            continue
        value = metric(num) / metric(den)
        verdict = _verdict(value, goal, higher, num, den)
        print(f"  {label:<40}{value:>8.2f}  {goal_text:<7}{verdict}")
    if run.error:
        print(f"  stopped early: {run.error.splitlines()[0]}")
    print()


# -- entry point --------------------------------------------------------------------------


def _parse_connections(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 4,64, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"connection counts must be >= 1, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_work_orders",
        description="Work-order create/get throughput against FastAPI baselines.",
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        help="database(s) to run against (default: both; sqlite with --quick)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run (default 2)")
    parser.add_argument("--connections", type=_parse_connections, default=(4, 64), help="e.g. 4,64")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat the whole sequence N times and pool the figures (steadier ratios)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: short runs, SQLite only unless --db"
    )
    parser.add_argument(
        "--baseline-only", action="store_true", help="skip the app; measure the baselines"
    )
    args = parser.parse_args(argv)
    db = args.db or ("sqlite" if args.quick else "both")
    default_duration, default_warmup = (0.5, 0.2) if args.quick else (8.0, 2.0)
    return Settings(
        databases=("sqlite", "postgresql") if db == "both" else (db,),
        duration_s=args.duration if args.duration is not None else default_duration,
        warmup_s=args.warmup if args.warmup is not None else default_warmup,
        connections=args.connections,
        rounds=max(1, args.rounds),
        baseline_only=args.baseline_only,
    )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    # SIGTERM would otherwise end us without unwinding, leaving uvicorn and PostgreSQL up.
    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    print_header(settings)
    runs: list[DatabaseRun] = []
    failed = interrupted = False
    with _sigterm_as_interrupt():
        try:
            for database in settings.databases:
                run = DatabaseRun(database)
                runs.append(run)
                try:
                    bench_database(database, settings, run)
                except BenchError as exc:
                    failed = True
                    run.error = str(exc)
                    print(f"\n{database}: {exc}\n", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print("\ninterrupted; partial results follow", file=sys.stderr)
            interrupted = True
    print()
    print_table(runs)
    for run in runs:
        print_ratios(run, settings.connections)
    if interrupted:
        return 130
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
