"""The real server in a subprocess: first start, and schemathesis over every endpoint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, ROOT
from tests.support.server import running_server

pytestmark = pytest.mark.e2e

# Bounded so the whole suite stays at a few minutes; override for a deeper run.
SCHEMATHESIS_SECONDS = os.environ.get("QUALITYAPI_SCHEMATHESIS_SECONDS", "25")


def test_first_start_prints_a_working_key_and_curl(tmp_path: Path) -> None:
    # As on a new machine: no bootstrap key, a SQLite file that does not exist yet.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALITYAPI_")}
    env["QUALITYAPI_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    log_file = tmp_path / "server.log"
    with running_server(
        {}, cwd=tmp_path, args=None, timeout=60, env_override=env, log_file=log_file
    ) as (base, _):
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline and "curl" not in text:
            text = log_file.read_text(encoding="utf-8")
            time.sleep(0.1)
        curl = re.search(r"curl -H 'Authorization: Bearer (qak_[\w-]+)' (\S+)", text)
        assert curl, text
        response = httpx.get(curl.group(2), headers={"Authorization": f"Bearer {curl.group(1)}"})
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "QUALITYAPI_DATABASE_URL": database_url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "QUALITYAPI_LOG_LEVEL": "warning",
    }
    with running_server(env) as (base, _):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(ROOT / "openapi" / "openapi.json"),
                "--url",
                base,
                "--header",
                f"Authorization: Bearer {ADMIN_KEY}",
                "--checks",
                "not_a_server_error,status_code_conformance,"
                "content_type_conformance,response_schema_conformance",
                "--max-examples",
                "15",
                "--max-time",
                SCHEMATHESIS_SECONDS,
                # One worker: with two threads, CPython 3.11.7 sometimes fails inside
                # schemathesis itself ("AST constructor recursion depth mismatch").
                "--workers",
                "1",
                "--seed",
                "20261121",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=int(SCHEMATHESIS_SECONDS) + 120,
            cwd=tmp_path,
            check=False,
        )
    summary = result.stdout[-8000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert re.search(r"Selected: (\d+)/\1", summary), summary


def test_real_server_walks_blue_yellow_red_and_escalates(database_url: str) -> None:
    """The scheduler in the real process, on second-scale targets."""
    env = {
        "QUALITYAPI_DATABASE_URL": database_url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "QUALITYAPI_LOG_LEVEL": "warning",
        "QUALITYAPI_SCHEDULER_ENABLED": "true",
        "QUALITYAPI_SLA_SAFETY_INTERVAL_SECONDS": "5",
    }
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with running_server(env) as (base, _), httpx.Client(base_url=base, headers=headers) as http:
        calendars = http.get("/v1/calendars").json()["items"]
        always = next(c for c in calendars if c["name"] == "24x7")
        policy = http.post(
            "/v1/sla-policies",
            json={
                "name": f"e2e-{time.monotonic_ns()}",
                "rank": 0,
                "match": {"categories": ["e2e-sla"]},
                "calendar_id": always["id"],
                # Yellow lasts 3 s: a scanner pass late by a second under load still
                # sees it (a 1 s window went straight from blue to red now and then).
                "targets": {"response": "PT6S"},
                "warning": {"percent": 50},
                "escalation": [
                    {"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}]},
                    {"level": 2, "after": "PT1S", "notify": [{"role": "team_manager"}]},
                ],
            },
        )
        assert policy.status_code == 201, policy.text
        wo = http.post(
            "/v1/work-orders",
            json={"title": "Lift stuck", "category": "e2e-sla", "customer": {"name": "Zhao"}},
        ).json()
        assert wo["warning_level"] == "blue"
        due = wo["sla"][0]["due_at"]

        events: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            events = http.get(f"/v1/work-orders/{wo['id']}/events").json()["items"]
            if sum(1 for e in events if e["type"] == "sla_escalated") >= 2:
                break
            time.sleep(0.2)
        levels = [
            e["changes"]["warning_level"]["new"]
            for e in events
            if e["type"] == "warning_level_changed"
        ]
        assert levels == ["yellow", "red"], events
        sla_types = [e["type"] for e in events if str(e["type"]).startswith("sla_")]
        assert sla_types == ["sla_warning", "sla_breached", "sla_escalated", "sla_escalated"], (
            events
        )
        breached = next(e for e in events if e["type"] == "sla_breached")
        assert str(breached["created_at"]) >= due  # never before the deadline
        assert http.get(f"/v1/work-orders/{wo['id']}").json()["warning_level"] == "red"
