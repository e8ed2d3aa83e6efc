"""One real server process, as an operator runs it (JSON logs, scheduler on, SQLite):
SIGTERM (systemd, Kubernetes, docker stop) ends it with status 0, and its log is one JSON
object per line that says what failed where. About 4 s."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN_KEY
from tests.helpers import work_order_body
from tests.support.server import free_port, running_server

# Lines written by background work: never a request's id (contextvars copied into a task
# that a request woke).
BACKGROUND = ("sla_scan", "sla_scanner_started", "webhook_attempt_failed", "reports_rollup")


def _log(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails on any plain-text line


def test_sigterm_exits_zero_and_every_log_line_is_actionable_json(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALITYAPI_")}
    env.update(
        QUALITYAPI_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}",
        QUALITYAPI_BOOTSTRAP_ADMIN_KEY=ADMIN_KEY,
        QUALITYAPI_LOG_FORMAT="json",
        QUALITYAPI_LOG_LEVEL="debug",  # the scanner's per-pass lines too
        QUALITYAPI_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    log_file = tmp_path / "server.log"
    closed_port = free_port()  # nothing listens there: every attempt is refused
    with running_server({}, env_override=env, log_file=log_file, timeout=60) as (base, proc):
        headers = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Request-ID": "req-endpoint"}
        created = httpx.post(
            f"{base}/v1/webhook-endpoints",
            json={"url": f"http://127.0.0.1:{closed_port}/hooks?token=s3cret"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        headers["X-Request-ID"] = "req-create"
        order = httpx.post(f"{base}/v1/work-orders", json=work_order_body(), headers=headers)
        assert order.status_code == 201, order.text
        headers["X-Request-ID"] = "req-missing"
        missing = httpx.get(
            f"{base}/v1/work-orders/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=headers
        )
        assert missing.status_code == 404
        deadline = time.monotonic() + 15
        while not any(p["event"] == "webhook_attempt_failed" for p in _log(log_file)):
            assert time.monotonic() < deadline, _log(log_file)[-5:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=30)
    parsed = _log(log_file)
    events = [p["event"] for p in parsed]
    assert returncode == 0, parsed[-5:]
    assert events.index("serving") < events.index("Application startup complete.")
    assert "Application shutdown complete." in events[-3:]
    # One line per request, RequestContext's: not a second one from uvicorn's access log.
    assert not any(p.get("logger") == "uvicorn.access" for p in parsed)
    requests = [p for p in parsed if p["event"] == "request" and p["request_id"] == "req-missing"]
    assert len(requests) == 1
    assert requests[0]["status"] == 404 and requests[0]["problem"] == "not-found"
    assert requests[0]["level"] == "info"
    failed = next(p for p in parsed if p["event"] == "webhook_attempt_failed")
    assert failed["endpoint_id"] == created.json()["id"]
    assert failed["host"] == "127.0.0.1"
    assert failed["error_class"] and failed["error"]  # the text, not only the class
    assert "s3cret" not in json.dumps(parsed)  # the URL's query is never logged
    background = [p for p in parsed if p["event"] in BACKGROUND]
    assert any(p["event"] == "sla_scan" for p in background)
    assert not [p for p in background if "request_id" in p], background
