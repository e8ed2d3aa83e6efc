"""Headers and conditions an integrator codes against (issue 13, items 4 and 5):
Location on idempotent replays, strong If-Match, what ``version`` counts, and collisions
the client did not cause (retried, then 503 + Retry-After; never a 409)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm.exc import StaleDataError

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from qualityapi.common.concurrency import RetryCollisions, if_match_allows, parse_entity_tags
from qualityapi.errors import RETRYABLE_HEADER, install_error_handlers
from qualityapi.sla.scanner import scan_once
from tests.conftest import START, Api, started_api
from tests.helpers import act, assert_problem, create_work_order, work_order_body

# --- pure: If-Match parsing and strong comparison -----------------------------------------


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ('"3"', [(False, "3")]),
        ('W/"3"', [(True, "3")]),
        ('"1", "2",W/"3"', [(False, "1"), (False, "2"), (True, "3")]),
        ('"a,b", "c"', [(False, "a,b"), (False, "c")]),
        ("*", None),
        (" * ", None),
        ('3, "4"', [(False, "4")]),  # a bare token is no tag
        ('"unterminated', []),
    ],
)
def test_parse_entity_tags(header: str, tags: list[tuple[bool, str]] | None) -> None:
    assert parse_entity_tags(header) == tags


@pytest.mark.parametrize(
    ("header", "version", "allowed"),
    [
        ('"2"', 2, True),
        ('"1"', 2, False),
        ('W/"2"', 2, False),  # strong comparison: a weak tag never matches
        ('"1", "2"', 2, True),
        ('"1","3"', 2, False),
        ('W/"2", "2"', 2, True),
        ('W/"2", "1"', 2, False),
        ("*", 7, True),
        ("2", 2, False),  # unquoted: not an entity tag
    ],
)
def test_if_match_strong_comparison(header: str, version: int, allowed: bool) -> None:
    assert if_match_allows(header, version) is allowed


# --- over HTTP -----------------------------------------------------------------------------


async def test_idempotent_replay_returns_the_original_location(api: Api) -> None:
    headers = {**api.auth(Role.agent), "Idempotency-Key": "create-77"}
    first = await api.client.post("/v1/work-orders", json=work_order_body(), headers=headers)
    again = await api.client.post("/v1/work-orders", json=work_order_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.headers["location"] == f"/v1/work-orders/{first.json()['id']}"
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]


async def test_if_match_weak_list_and_star(api: Api) -> None:
    wo = await create_work_order(api)
    url = f"/v1/work-orders/{wo['id']}"
    agent = api.auth(Role.agent)
    weak = await api.client.patch(url, json={"title": "A"}, headers={**agent, "If-Match": 'W/"1"'})
    assert "weak" in assert_problem(weak, 412)["detail"]
    listed = await api.client.patch(
        url, json={"title": "B"}, headers={**agent, "If-Match": '"7", "1"'}
    )
    assert listed.status_code == 200, listed.text
    assert listed.headers["etag"] == '"2"'
    stale_list = await api.client.patch(
        url, json={"title": "C"}, headers={**agent, "If-Match": '"1", W/"2"'}
    )
    assert_problem(stale_list, 412)
    star = await act(api, wo["id"], "respond", None, **{"If-Match": "*"})
    assert star.status_code == 200, star.text
    weak_action = await act(api, wo["id"], "arrive", None, **{"If-Match": 'W/"3"'})
    assert_problem(weak_action, 412)
    got = await api.client.get(url, headers=api.auth())
    assert got.json()["title"] == "B" and got.json()["version"] == 3


async def test_scanner_level_change_does_not_stale_a_fresh_etag(api: Api) -> None:
    # urgent: response within 1 h (24x7), warning at 80 % = 48 min.
    wo = await create_work_order(api, priority="urgent")
    url = f"/v1/work-orders/{wo['id']}"
    read = await api.client.get(url, headers=api.auth())
    etag = read.headers["etag"]
    assert read.json()["warning_level"] == "blue"
    api.clock.advance(timedelta(minutes=50))
    result = await scan_once(api.app.state.sessionmaker, api.clock.now())
    assert result.transitions >= 1
    after = await api.client.get(url, headers=api.auth())
    # The scanner moved the level; the version (client-visible edits) did not change.
    assert after.json()["warning_level"] == "yellow"
    assert after.headers["etag"] == etag == '"1"'
    patched = await api.client.patch(
        url, json={"title": "Leak worse"}, headers={**api.auth(Role.agent), "If-Match": etag}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    acted = await act(api, wo["id"], "respond", None, **{"If-Match": patched.headers["etag"]})
    assert acted.status_code == 200, acted.text


# --- the retry of collisions, on a scripted ASGI app ----------------------------------------


class _Scripted:
    """Answers the marked 503 ``collisions`` times, then 200 echoing the body it read."""

    def __init__(self, collisions: int) -> None:
        self.collisions = collisions
        self.calls = 0
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        if self.calls <= self.collisions:
            headers = [(b"retry-after", b"1"), (RETRYABLE_HEADER.encode(), b"1")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": b"busy"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def _call(app: Any, method: str = "POST") -> tuple[int, dict[bytes, bytes], bytes]:
    chunks = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": "/x", "headers": []}, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(
    ("collisions", "status", "calls"),
    [(0, 200, 1), (1, 200, 2), (2, 200, 3), (3, 503, 3), (9, 503, 3)],
)
async def test_collisions_are_retried_whole_then_503(
    collisions: int, status: int, calls: int
) -> None:
    app = _Scripted(collisions)
    got_status, headers, body = await _call(RetryCollisions(app, attempts=3))
    assert (got_status, app.calls) == (status, calls)
    # Every attempt read the whole body, the retries from the recording.
    assert app.bodies == [b'{"a":1}'] * calls
    assert RETRYABLE_HEADER.encode() not in headers
    if status == 200:
        assert body == b'{"a":1}'
    else:
        assert headers[b"retry-after"] == b"1" and body == b"busy"


async def test_reads_are_not_retried() -> None:
    app = _Scripted(1)
    status, _, _ = await _call(RetryCollisions(app, attempts=3), method="GET")
    assert (status, app.calls) == (503, 1)


# --- collisions with a real holder of the row lock (PostgreSQL) ---------------------------

LOCKING = {"lock_timeout_ms": 200, "collision_attempts": 3}


@pytest.fixture
async def locking(database_url: str) -> AsyncIterator[Api]:
    if database_url.startswith("sqlite"):
        pytest.skip("row locks held by another transaction: PostgreSQL")
    async with started_api(database_url, FrozenClock(START), **LOCKING) as running:
        yield running


async def _hold_row(api: Api, wo_id: str, held: asyncio.Event, release: asyncio.Event) -> None:
    """An open transaction holding ``SELECT ... FOR UPDATE`` on the order (as the scanner
    or another replica would) until ``release`` is set."""
    async with api.app.state.sessionmaker() as session:
        await session.execute(
            text("SELECT id FROM work_orders WHERE id = :id FOR UPDATE"), {"id": wo_id}
        )
        held.set()
        await release.wait()
        await session.rollback()


async def test_action_behind_a_briefly_held_row_is_retried_and_succeeds(locking: Api) -> None:
    api = locking
    wo = await create_work_order(api)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_row(api, wo["id"], held, release))
    await held.wait()
    action = asyncio.create_task(act(api, wo["id"], "respond"))
    # Longer than one attempt's lock wait (200 ms): the first attempt times out.
    await asyncio.sleep(0.35)
    assert not action.done()
    release.set()
    response = await asyncio.wait_for(action, timeout=30)
    await holder
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "in_progress" or response.json()["responded_at"]
    assert response.json()["version"] == 2


async def test_action_behind_a_row_held_past_the_retries_is_503_with_retry_after(
    locking: Api,
) -> None:
    api = locking
    wo = await create_work_order(api)
    held, release = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_row(api, wo["id"], held, release))
    await held.wait()
    try:
        response = await asyncio.wait_for(act(api, wo["id"], "respond"), timeout=30)
    finally:
        release.set()
        await holder
    body = assert_problem(response, 503)
    assert body["type"].endswith("/busy")
    assert int(response.headers["retry-after"]) >= 1
    assert "x-qualityapi-retryable" not in response.headers
    got = await api.client.get(f"/v1/work-orders/{wo['id']}", headers=api.auth())
    assert got.json()["version"] == 1 and got.json()["responded_at"] is None
    # Once the row is free the same request goes through.
    again = await act(api, wo["id"], "respond")
    assert again.status_code == 200, again.text


async def test_a_lost_version_check_is_retried_then_503_never_409() -> None:
    """StaleDataError (a concurrent writer won the version check, no If-Match sent) is a
    collision the client did not cause: re-run, and a 503 busy if it keeps losing."""
    app = FastAPI()
    install_error_handlers(app)
    calls = {"n": 0}

    @app.post("/x")
    async def write(fail: int) -> dict[str, int]:
        calls["n"] += 1
        if calls["n"] <= fail:
            raise StaleDataError("UPDATE statement on table 'work_orders' expected 1 row")
        return {"calls": calls["n"]}

    wrapped = RetryCollisions(app, attempts=3)
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.post("/x", params={"fail": 2})
        assert ok.status_code == 200 and ok.json() == {"calls": 3}
        calls["n"] = 0
        busy = await client.post("/x", params={"fail": 5})
        body = assert_problem(busy, 503)
        assert body["type"].endswith("/busy") and busy.headers["retry-after"] == "1"
        assert RETRYABLE_HEADER not in busy.headers and calls["n"] == 3
