"""Security an operator relies on: throttled key guessing, CORS closed unless configured,
headers on the HTML pages, and no secret echoed by a configuration error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from qualityapi.auth.throttle import AuthThrottle, failure_delay
from qualityapi.clock import FrozenClock
from qualityapi.config import ConfigError, Settings, get_settings
from tests.conftest import ROOT, START, Api, started_api
from tests.helpers import assert_problem

THROTTLED = {
    "auth_failure_limit": 4,
    "auth_failure_window_seconds": 60.0,
    "auth_failure_max_delay_seconds": 0.0,
}
WRONG = {"Authorization": "Bearer qak_not_a_key_at_all_0000000000000000"}


@pytest.fixture
async def guarded(database_url: str) -> AsyncIterator[Api]:
    async with started_api(database_url, FrozenClock(START), **THROTTLED) as running:
        yield running


def _client(api: Api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize(
    ("failures", "limit", "max_delay", "expected"),
    [
        (1, 20, 1.0, 0.0),
        (10, 20, 1.0, 0.0),  # the first half of the limit: no delay at all
        (15, 20, 1.0, 0.5),
        (20, 20, 1.0, 1.0),
        (25, 20, 1.0, 1.0),  # never more than the maximum
        (1, 1, 1.0, 1.0),
        (3, 20, 0.0, 0.0),
    ],
)
def test_failure_delay(failures: int, limit: int, max_delay: float, expected: float) -> None:
    assert failure_delay(failures, limit, max_delay) == expected


def test_throttle_memory_is_bounded() -> None:
    clock = FrozenClock(START)
    throttle = AuthThrottle(limit=3, window_seconds=60, max_delay=0, max_clients=10)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", clock)
    assert len(throttle) == 10


async def test_repeated_failures_are_refused_for_one_client_only(guarded: Api) -> None:
    async with (
        _client(guarded, "203.0.113.7") as attacker,
        _client(guarded, "198.51.100.2") as other,
    ):
        for _ in range(4):
            assert_problem(await attacker.get("/v1/work-orders", headers=WRONG), 401)
        refused_before = REGISTRY.get_sample_value("qualityapi_auth_refused_total") or 0
        refused = await attacker.get("/v1/work-orders", headers=WRONG)
        body = assert_problem(refused, 429)
        assert REGISTRY.get_sample_value("qualityapi_auth_refused_total") == refused_before + 1
        assert body["type"].endswith("/too-many-auth-failures")
        assert refused.headers["retry-after"] == "60"
        # Refused even with a valid key: while blocked, the address gets no answers at all.
        assert (await attacker.get("/v1/work-orders", headers=guarded.auth())).status_code == 429
        # Another client is not affected, with a good key or a bad one.
        assert (await other.get("/v1/work-orders", headers=guarded.auth())).status_code == 200
        assert (await other.get("/v1/work-orders", headers=WRONG)).status_code == 401
        # The window passes on the injected clock: the address may try again.
        guarded.clock.advance(timedelta(seconds=59))
        retry = await attacker.get("/v1/work-orders", headers=guarded.auth())
        assert retry.status_code == 429 and retry.headers["retry-after"] == "1"
        guarded.clock.advance(timedelta(seconds=2))
        assert (await attacker.get("/v1/work-orders", headers=guarded.auth())).status_code == 200


async def test_a_request_without_a_key_is_not_counted_as_a_guess(guarded: Api) -> None:
    async with _client(guarded, "203.0.113.8") as browser:
        for _ in range(10):
            assert_problem(await browser.get("/v1/work-orders"), 401)
        assert (await browser.get("/v1/work-orders", headers=guarded.auth())).status_code == 200


async def test_cors_is_closed_by_default(api: Api) -> None:
    preflight = await api.client.options(
        "/v1/work-orders",
        headers={"Origin": "https://desk.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = await api.client.get(
        "/v1/work-orders", headers={**api.auth(), "Origin": "https://desk.example.com"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_the_configured_origins(database_url: str) -> None:
    origins = {"cors_origins": ["https://desk.example.com"]}
    async with started_api(database_url, FrozenClock(START), **origins) as api:
        preflight = await api.client.options(
            "/v1/work-orders",
            headers={
                "Origin": "https://desk.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, idempotency-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://desk.example.com"
        got = await api.client.get(
            "/v1/work-orders", headers={**api.auth(), "Origin": "https://desk.example.com"}
        )
        assert got.headers["access-control-allow-origin"] == "https://desk.example.com"
        assert "etag" in got.headers["access-control-expose-headers"].lower()
        other = await api.client.get(
            "/v1/work-orders", headers={**api.auth(), "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    "path", ["/", "/board", "/board?kiosk=1", "/s/no-such-token", "/docs", "/redoc"]
)
async def test_html_pages_carry_security_headers(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.headers["content-type"].startswith("text/html"), path
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    # No page (the kiosk board included: it is opened full-screen, not framed) may be
    # framed by another site: no clickjacking of the survey form or the docs' "Authorize".
    assert "frame-ancestors 'none'" in policy
    assert "default-src" in policy and "http:" not in policy and "https:" not in policy


def test_config_error_names_the_variable_never_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "short-secret-1"  # too short: refused
    monkeypatch.setenv("QUALITYAPI_BOOTSTRAP_ADMIN_KEY", secret)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as raised:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(raised.value)
    assert "QUALITYAPI_BOOTSTRAP_ADMIN_KEY" in message
    assert secret not in message and raised.value.__cause__ is None
    # The settings object never shows the key either.
    shown = repr(Settings(bootstrap_admin_key="a-long-enough-secret-key"))
    assert "a-long-enough-secret-key" not in shown


def test_serve_with_a_bad_setting_prints_one_line_without_the_secret() -> None:
    secret = "short-secret-2"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALITYAPI_")}
    env["QUALITYAPI_BOOTSTRAP_ADMIN_KEY"] = secret
    result = subprocess.run(
        [sys.executable, "-m", "qualityapi", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert secret not in result.stdout + result.stderr
    assert "QUALITYAPI_BOOTSTRAP_ADMIN_KEY" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
