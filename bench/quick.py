"""A regression guard for the hot paths: short runs of the three benchmarks, each goal line
next to the one recorded in ``bench/BASELINE.md``.

Run from the repository root (``make bench-quick``; under three minutes on 2 cores)::

    .venv/bin/python -m bench.quick [--db sqlite|postgresql] [--record]

It runs ``bench_work_orders``, ``bench_scanner`` and ``bench_webhooks`` with short
settings, keeps every goal line they print (the lines that end in PASS or MISS), and
prints each next to the same line from the baseline. ``--record`` writes this run as the
new baseline, with the commit and the machine it came from. Short runs are noisier than
the full benchmarks: compare ratios, and rerun before believing a change under ~10 %.
It is not a test and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.machine import git_commit  # noqa: E402

BASELINE = REPO_ROOT / "bench" / "BASELINE.md"
BEGIN, END = "<!-- quick:begin -->", "<!-- quick:end -->"


def runs(db: str) -> list[tuple[str, list[str]]]:
    return [
        (
            "bench_work_orders",
            ["--db", db, "--duration", "3", "--warmup", "1", "--connections", "4,64"],
        ),
        (
            "bench_scanner",
            ["--db", db, "--sizes", "10000,100000", "--repeats", "3", "--latency-seconds", "5"],
        ),
        ("bench_webhooks", ["--db", db, "--quick"]),
    ]


def goal_lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines() if re.search(r"\b(PASS|MISS)\s*$", line)]


def label(line: str) -> str:
    """The goal's name: the text before the first run of two or more spaces."""
    return re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]


def read_baseline() -> dict[str, str]:
    if not BASELINE.exists():
        return {}
    text = BASELINE.read_text()
    if BEGIN not in text or END not in text:
        return {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    found: dict[str, str] = {}
    section = ""
    for line in block.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif re.search(r"\b(PASS|MISS)\s*$", line):
            found[f"{section}: {label(line)}"] = line.strip()
    return found


def write_baseline(db: str, results: list[tuple[str, list[str]]]) -> None:
    lines = [
        "# Hot-path baseline (`make bench-quick`)",
        "",
        "The goal lines of the last recorded quick run, which `bench/quick.py` prints next",
        "to each new run. Record a new one (`.venv/bin/python -m bench.quick --record`)",
        "only on a quiet machine, and say so in the commit.",
        "",
        f"- commit: {git_commit()}",
        f"- recorded: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}",
        f"- database: {db}",
        "",
        BEGIN,
        "```",
    ]
    for name, found in results:
        lines.append(f"## {name}")
        lines.extend(found)
    lines += ["```", END, ""]
    BASELINE.write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--record", action="store_true", help="write this run as the baseline")
    args = parser.parse_args(argv)
    baseline = read_baseline()
    results: list[tuple[str, list[str]]] = []
    started = time.monotonic()
    failed = False
    for name, extra in runs(args.db):
        print(f".. {name} {' '.join(extra)}", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *extra],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            failed = True
            print(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            continue
        found = goal_lines(proc.stdout)
        results.append((name, found))
        print(f"\n{name}")
        for line in found:
            before = baseline.get(f"{name}: {label(line)}")
            print(line)
            print(f"    baseline: {before if before is not None else '(none recorded)'}")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if args.record and not failed:
        write_baseline(args.db, results)
        print(f"recorded as the baseline: {BASELINE.relative_to(REPO_ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
