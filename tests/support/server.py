"""Run the real service in a subprocess (uvicorn, one worker) for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ADMIN_KEY

ROOT = Path(__file__).resolve().parents[2]


def replica_env(url: str, *, lease_seconds: float) -> dict[str, str]:
    """Settings of a replica in the multi-process tests: a short lease, quick polls and
    retries, the loopback receiver allowed."""
    return {
        "QUALITYAPI_DATABASE_URL": url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "QUALITYAPI_LOG_LEVEL": "warning",
        "QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "QUALITYAPI_WEBHOOK_LEASE_SECONDS": f"{lease_seconds:g}",
        "QUALITYAPI_WEBHOOK_POLL_SECONDS": "0.2",
        "QUALITYAPI_WEBHOOK_RETRY_DELAYS": "0.3,0.5,1,1,1,1,1,1",
        "QUALITYAPI_SLA_SAFETY_INTERVAL_SECONDS": "0.2",
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    env: dict[str, str],
    *,
    args: list[str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
    env_override: dict[str, str] | None = None,
    log_file: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Starts ``python -m qualityapi serve`` (or ``args``) and waits for /healthz.

    ``env`` is added to this process's environment; ``env_override`` replaces it whole.
    """
    port = free_port()
    base_env = env_override if env_override is not None else {**os.environ, **env}
    full_env = {**base_env, "QUALITYAPI_HOST": "127.0.0.1", "QUALITYAPI_PORT": str(port)}
    cmd = args or [sys.executable, "-m", "qualityapi", "serve"]
    log_path = log_file or (cwd or ROOT) / f".server-{port}.log"
    with log_path.open("w+", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd, env=full_env, cwd=cwd or ROOT, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited early:\n{log.read()[-3000:]}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"server did not start:\n{log.read()[-3000:]}")
                time.sleep(0.1)
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if log_file is None:
                log_path.unlink(missing_ok=True)
