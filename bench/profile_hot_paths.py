"""Where a create, a get and a delivery spend their time: a phase breakdown from py-spy.

Run from the repository root (py-spy is in the dev extra)::

    .venv/bin/python -m bench.profile_hot_paths [--db sqlite|postgresql] [--seconds 10]
        [--scheduler | --no-scheduler] [--path create|get]

It starts the app as ``bench_work_orders`` does (one uvicorn worker), drives one path with
4 keep-alive connections while ``py-spy record`` samples the server process, and sorts
each sample into the first phase (from the outermost frame inwards) that its stack
enters: the phases are the ones issue 12 asks about. ``idle`` is the event loop waiting
(for the database or the network); everything else is the process's CPU. It prints
shares of samples, never asserts anything.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.pgserver import TemporaryPostgres  # noqa: E402

from bench.bench_work_orders import (  # noqa: E402
    IdCollector,
    UvicornServer,
    _create_factory,
    _cycle_factory,
    prime,
    run_migrations,
)
from bench.loadgen import run_load, run_sync  # noqa: E402

# Background work and post-commit wake-ups own every sample whose stack enters them.
BACKGROUND: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("background: scanner", ("sla/scanner.py",)),
    ("background: dispatcher/sender", ("webhooks/dispatcher.py", "webhooks/sender.py")),
    ("background: other jobs", ("apscheduler", "reports/jobs.py", "web/feed.py")),
    ("post-commit signals", ("fire_after_commit", "notify (qualityapi/common/signals.py")),
)
# A request's sample goes to the innermost frame that names a phase (a leaf in the driver
# is a statement, wherever it was called from). Order decides ties within one frame.
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("statements (ORM + driver)", ("sqlalchemy", "asyncpg", "sqlite3", "sqlite_inline")),
    ("validation (pydantic)", ("pydantic",)),
    ("serialisation", ("serialize_response", "jsonable_encoder", "json/encoder", "orjson")),
    ("deadline maths", ("sla/calendar.py", "sla/deadlines.py", "sla/clockwork.py")),
    ("auth", ("auth/",)),
    ("idempotency", ("common/idempotency.py",)),
    ("SLA engine (other)", ("qualityapi/sla/",)),
    ("service code", ("qualityapi/",)),
    ("dependency solving", ("fastapi/dependencies",)),
    ("FastAPI routing", ("fastapi/",)),
    ("HTTP (uvicorn/starlette)", ("uvicorn", "h11", "httptools", "starlette")),
)
IDLE_MARKERS = ("select (selectors.py", "(selectors.py", "epoll", "run_forever")


def classify(stack: str) -> str:
    frames = stack.split(";")
    for phase, markers in BACKGROUND:
        if any(marker in frame for frame in frames for marker in markers):
            return phase
    for frame in reversed(frames):
        for phase, markers in PHASES:
            if any(marker in frame for marker in markers):
                return phase
    leaf = frames[-1] if frames else ""
    if any(m in leaf for m in IDLE_MARKERS):
        return "idle (waiting for I/O)"
    return "other (event loop, asyncio)"


def _own_name(frame: str) -> str:
    """``create (qualityapi/work_orders/service.py:88)`` -> ``create service.py``."""
    return frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1].split(":")[0]


def _leaf(stack: str) -> str:
    return stack.rsplit(";", 1)[-1]


def _parse_raw(path: Path) -> tuple[Counter[str], Counter[str], Counter[str]]:
    phases: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()  # the project's own functions, callees included
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            phases[classify(stack)] += int(count)
            leaves[_leaf(stack)] += int(count)
            own = {_own_name(f) for f in stack.split(";") if "qualityapi/" in f}
            for name in own:
                inclusive[name] += int(count)
    return phases, leaves, inclusive


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--path", choices=("create", "get"), default="create")
    parser.add_argument("--scheduler", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a server setting"
    )
    parser.add_argument("--leaves", type=int, default=0, help="also print the N busiest frames")
    args = parser.parse_args(argv)
    admin_key = "qa_" + secrets.token_urlsafe(32)
    auth = {"Authorization": f"Bearer {admin_key}"}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-prof-")))
        if args.db == "postgresql":
            url = stack.enter_context(TemporaryPostgres()).url
        else:
            url = f"sqlite+aiosqlite:///{workdir / 'prof.db'}"
        run_migrations(url, workdir)
        app = UvicornServer(
            "app",
            "qualityapi.main:create_app",
            {
                "QUALITYAPI_DATABASE_URL": url,
                "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": admin_key,
                "QUALITYAPI_SCHEDULER_ENABLED": "true" if args.scheduler else "false",
                "QUALITYAPI_LOG_LEVEL": "warning",
                **dict(item.split("=", 1) for item in args.set),
            },
            workdir,
        )
        stack.callback(app.stop)
        app.start()
        app.wait_ready("/healthz")
        created = IdCollector()
        prime(app, _create_factory("/v1/work-orders", auth), created)
        if args.path == "create":
            factory = _create_factory("/v1/work-orders", auth)
        else:
            factory = _cycle_factory("/v1/work-orders/", created.ids, auth)
        raw = workdir / "profile.txt"
        pid = app.pid
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--duration",
                str(int(args.seconds)),
                "--output",
                str(raw),
                "--idle",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        result = run_sync(
            run_load(
                app.base_url,
                factory,
                connections=args.connections,
                duration_s=args.seconds,
                warmup_s=0.5,
            )
        )
        _, err = spy.communicate(timeout=args.seconds + 30)
        if spy.returncode != 0 or not raw.exists():
            print(err.decode(errors="replace"), file=sys.stderr)
            return 1
        phases, leaves, inclusive = _parse_raw(raw)
        total = sum(phases.values())
        rps = result.rps
        scheduler = "on" if args.scheduler else "off"
        print(
            f"{args.db} {args.path}, scheduler {scheduler}, {args.connections} conns: "
            f"{rps:.0f} req/s, {total} samples"
        )
        for phase, n in phases.most_common():
            print(f"  {phase:<32} {100 * n / total:5.1f} %")
        if args.leaves:
            print("  the project's functions, callees included:")
            for name, n in inclusive.most_common(args.leaves):
                print(f"    {100 * n / total:5.1f} %  {name[:110]}")
            print("  busiest leaf frames:")
            for leaf, n in leaves.most_common(args.leaves):
                print(f"    {100 * n / total:5.1f} %  {leaf[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
