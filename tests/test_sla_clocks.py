"""Clocks and the scanner, driven by an injected clock on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.models import Role
from qualityapi.events.models import OutboxMessage
from qualityapi.sla import compiled, replans, subjects
from qualityapi.sla.models import SlaTransition
from qualityapi.sla.scanner import RETRY_AFTER, scan_once
from tests.conftest import Api
from tests.helpers import act, assert_problem, create_staff, create_work_order, work_order_body

SLA_MESSAGE = OutboxMessage.type.startswith("sla.")


async def scan(api: Api) -> int:
    result = await scan_once(api.app.state.sessionmaker, api.clock.now())
    return result.transitions


async def sla(api: Api, wo_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/work-orders/{wo_id}/sla", headers=api.auth(Role.viewer))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def level(api: Api, wo_id: str) -> str:
    body = (await api.client.get(f"/v1/work-orders/{wo_id}", headers=api.auth())).json()
    return str(body["warning_level"])


async def messages(api: Api) -> list[dict[str, Any]]:
    """The SLA messages in the outbox (work-order events are written there too)."""
    async with api.app.state.sessionmaker() as session:
        stmt = select(OutboxMessage).where(SLA_MESSAGE).order_by(OutboxMessage.id)
        return [r.payload for r in (await session.execute(stmt)).scalars()]


async def test_blue_yellow_red_and_the_escalation_ladder(api: Api) -> None:
    # urgent: respond within 1 h on 24x7 -> yellow at 80% (48 min), red at 1 h,
    # escalation level 1 at once (PT0S), level 2 after 30 min.
    wo = await create_work_order(api, priority="urgent")
    assert wo["warning_level"] == "blue"
    assert await scan(api) == 0

    api.clock.advance(timedelta(minutes=47, seconds=59))
    assert await scan(api) == 0
    api.clock.advance(timedelta(seconds=1))
    assert await scan(api) == 1
    assert await level(api, wo["id"]) == "yellow"

    api.clock.advance(timedelta(minutes=12))
    assert await scan(api) == 2  # breached, and escalation level 1 (after PT0S)
    assert await level(api, wo["id"]) == "red"
    api.clock.advance(timedelta(minutes=29, seconds=59))
    assert await scan(api) == 0
    api.clock.advance(timedelta(seconds=1))
    assert await scan(api) == 1
    assert await scan(api) == 0  # nothing left on the ladder

    sent = await messages(api)
    assert [(m["type"], m["data"]["escalation_level"]) for m in sent] == [
        ("sla.warning", 0),
        ("sla.breached", 0),
        ("sla.escalated", 1),
        ("sla.escalated", 2),
    ]
    first = sent[0]["data"]
    assert first["subject"] == {
        "type": "work_order",
        "id": wo["id"],
        "number": wo["number"],
        "title": wo["title"],
    }
    assert first["target"] == "response"
    assert first["due_at"] == "2026-11-02T02:00:00Z"
    # Nobody holds the role: the event says so and why, instead of a silent null.
    assert sent[3]["data"]["notified"] == [
        {
            "role": "team_manager",
            "staff_id": None,
            "name": None,
            "email": None,
            "phone": None,
            "reason": "the work order has no team",
            "instead_of": None,
        },
        {
            "role": "team_supervisor",
            "staff_id": None,
            "name": None,
            "email": None,
            "phone": None,
            "reason": "the work order has no team",
            "instead_of": "team_manager",
        },
    ]

    explained = await sla(api, wo["id"])
    response_clock = next(c for c in explained["clocks"] if c["target"] == "response")
    assert response_clock["state"] == "breached"
    assert response_clock["breached_at"] == "2026-11-02T02:00:00Z"
    assert response_clock["escalation_level"] == 2
    assert response_clock["remaining_seconds"] == -1800.0
    assert explained["policy_name"] == "urgent"

    events = (
        await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth())
    ).json()["items"]
    types = [e["type"] for e in events]
    assert types.count("sla_escalated") == 2
    assert "sla_warning" in types and "sla_breached" in types

    # Responding late meets the response clock; the arrival clock is still on track.
    assert (await act(api, wo["id"], "respond")).json()["warning_level"] == "blue"


async def test_scanning_twice_changes_nothing(api: Api) -> None:
    await create_work_order(api, priority="urgent")
    api.clock.advance(timedelta(hours=5))
    first = await scan(api)
    assert first == 8  # response and arrival: warning, breach, level 1, level 2 each
    assert await scan(api) == 0
    assert len(await messages(api)) == 8


async def test_two_scanners_at_once_fire_each_transition_once(api: Api) -> None:
    for _ in range(25):
        await create_work_order(api, priority="urgent")
    api.clock.advance(timedelta(hours=5))
    sessionmaker = api.app.state.sessionmaker
    results = await asyncio.gather(
        scan_once(sessionmaker, api.clock.now(), batch=20),
        scan_once(sessionmaker, api.clock.now(), batch=20),
        scan_once(sessionmaker, api.clock.now(), batch=20),
    )
    # Whatever the batches left, later passes finish; nothing is ever done twice.
    while (await scan_once(sessionmaker, api.clock.now(), batch=20)).claimed:
        pass
    async with sessionmaker() as session:
        transitions = await session.scalar(select(func.count()).select_from(SlaTransition))
        sent = await session.scalar(select(func.count()).where(SLA_MESSAGE))
    assert transitions == sent == 25 * 2 * 4
    assert sum(r.transitions for r in results) <= transitions


async def test_a_failing_clock_never_stops_the_batch(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [await create_work_order(api, priority="urgent") for _ in range(3)]
    bad = uuid.UUID(orders[1]["id"])
    adapter = subjects.get("work_order")
    describe = adapter.describe_many

    async def failing(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        wanted = set(ids)
        if bad in wanted:
            raise RuntimeError("this order cannot be described")
        return await describe(session, wanted)

    # The batched pass fails as a whole, then each clock is tried on its own.
    monkeypatch.setattr(adapter, "describe_many", failing)
    api.clock.advance(timedelta(minutes=48))  # the three response clocks warn
    sessionmaker = api.app.state.sessionmaker
    result = await scan_once(sessionmaker, api.clock.now())
    assert (result.claimed, result.transitions, result.failed) == (3, 2, 1)
    assert [await level(api, o["id"]) for o in orders] == ["yellow", "blue", "yellow"]
    # The failed clock is not retried on every pass, only after RETRY_AFTER.
    assert (await scan_once(sessionmaker, api.clock.now())).claimed == 0

    monkeypatch.undo()
    api.clock.advance(RETRY_AFTER)
    result = await scan_once(sessionmaker, api.clock.now())
    assert (result.claimed, result.transitions, result.failed) == (1, 1, 0)
    assert [await level(api, o["id"]) for o in orders] == ["yellow"] * 3
    warned = [m["data"]["subject"]["id"] for m in await messages(api) if m["type"] == "sla.warning"]
    assert sorted(warned) == sorted(o["id"] for o in orders)


async def test_a_pass_costs_the_same_statements_for_1_or_30_due_clocks(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The look for pending re-plans is throttled on the process's own monotonic clock, so
    # whether a pass makes it depends on how long the test took; it is not per clock anyway.
    monkeypatch.setattr(replans, "should_look", lambda: False)
    # The compiled policies are re-read after TTL seconds of the process's time: not within
    # this test, however slow the machine.
    monkeypatch.setattr(compiled, "TTL", 3600.0)
    engine = api.app.state.engine.sync_engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    async def one_pass(orders: int) -> int:
        for _ in range(orders):
            await create_work_order(api, priority="urgent")
        api.clock.advance(timedelta(hours=5))  # warning, breach and 2 levels, both clocks
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            result = await scan_once(api.app.state.sessionmaker, api.clock.now())
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert (result.claimed, result.transitions, result.failed) == (2 * orders, 8 * orders, 0)
        return len(statements)

    assert await one_pass(1) == await one_pass(30)


async def test_hold_pauses_and_resume_keeps_the_time_used(api: Api) -> None:
    # normal: resolution within 24 plain hours (24x7 calendar).
    wo = await create_work_order(api, priority="normal")
    await act(api, wo["id"], "respond")
    api.clock.advance(timedelta(hours=2))
    assert (await act(api, wo["id"], "hold", {"reason": "waiting for parts"})).status_code == 200
    held = next(c for c in (await sla(api, wo["id"]))["clocks"] if c["target"] == "resolution")
    assert held["state"] == "paused"
    assert held["elapsed_seconds"] == 7200.0
    api.clock.advance(timedelta(hours=5))
    assert await scan(api) == 0
    assert (await act(api, wo["id"], "resume")).status_code == 200
    resumed = next(c for c in (await sla(api, wo["id"]))["clocks"] if c["target"] == "resolution")
    assert resumed["state"] == "running"
    # 24 h - 2 h used = 22 h from the resume at 08:00Z -> 06:00Z the next day.
    assert resumed["due_at"] == "2026-11-03T06:00:00Z"
    assert resumed["paused_segments"] == [
        {"from": "2026-11-02T03:00:00Z", "to": "2026-11-02T08:00:00Z"}
    ]


async def test_priority_change_keeps_the_working_time_used(api: Api) -> None:
    # normal: respond within 4 business hours, from Monday 09:00 Shanghai (01:00Z).
    wo = await create_work_order(api, priority="normal")
    api.clock.advance(timedelta(hours=1))
    response = await api.client.patch(
        f"/v1/work-orders/{wo['id']}", json={"priority": "high"}, headers=api.auth(Role.agent)
    )
    assert response.status_code == 200, response.text
    clock = next(c for c in (await sla(api, wo["id"]))["clocks"] if c["target"] == "response")
    # high: 2 business hours; 1 h already used -> 1 h from 10:00 local = 11:00 = 03:00Z.
    assert clock["due_at"] == "2026-11-02T03:00:00Z"
    assert clock["elapsed_seconds"] == 3600.0
    assert {c["target"] for c in (await sla(api, wo["id"]))["clocks"]} >= {"response", "arrival"}


async def test_cancel_stops_every_clock_and_reopen_restarts_resolution(api: Api) -> None:
    wo = await create_work_order(api, priority="normal")
    cancelled = await act(api, wo["id"], "cancel", {"reason": "duplicate"})
    assert cancelled.json()["warning_level"] == "none"
    api.clock.advance(timedelta(days=3))
    assert await scan(api) == 0

    other = await create_work_order(api, priority="normal")
    await act(api, other["id"], "respond")
    await act(api, other["id"], "resolve")
    api.clock.advance(timedelta(hours=1))
    reopened = await act(api, other["id"], "reopen", {"reason": "leaking again"})
    assert reopened.json()["warning_level"] == "blue"
    clock = next(c for c in (await sla(api, other["id"]))["clocks"] if c["target"] == "resolution")
    assert clock["cycle"] == 2
    assert clock["due_at"] == "2026-11-06T02:00:00Z"


async def test_board_counts_open_orders_by_level(api: Api) -> None:
    late = await create_work_order(api, priority="urgent")
    await create_work_order(api, priority="normal")
    api.clock.advance(timedelta(hours=2))
    await scan(api)
    board = (await api.client.get("/v1/board", headers=api.auth(Role.viewer))).json()
    assert board["counts"]["red"] == 1
    assert [wo["id"] for wo in board["items"]["red"]] == [late["id"]]
    assert board["counts"]["blue"] + board["counts"]["yellow"] == 1


async def test_policy_edit_replans_running_clocks_in_the_scanner(api: Api) -> None:
    wo = await create_work_order(api, priority="urgent")
    api.clock.advance(timedelta(minutes=10))
    urgent = next(
        p
        for p in (await api.client.get("/v1/sla-policies", headers=api.auth())).json()["items"]
        if p["name"] == "urgent"
    )
    response = await api.client.patch(
        f"/v1/sla-policies/{urgent['id']}",
        json={"targets": {"response": "PT30M", "arrival": "PT4H"}},
        headers=api.auth(),
    )
    assert response.status_code == 200, response.text
    # The edit commits at once; the running clocks wait for the scanner, and say so.
    assert response.json()["replanning"] is True
    waiting = await sla(api, wo["id"])
    assert waiting["replanning"] is True
    clock = next(c for c in waiting["clocks"] if c["target"] == "response")
    assert clock["due_at"] == "2026-11-02T02:00:00Z"

    result = await scan_once(api.app.state.sessionmaker, api.clock.now())
    assert result.replanned == 2  # response and arrival
    explained = await sla(api, wo["id"])
    assert explained["replanning"] is False
    clock = next(c for c in explained["clocks"] if c["target"] == "response")
    # 10 min used of the new 30 min: due 20 min after the edit, at 01:30Z.
    assert clock["due_at"] == "2026-11-02T01:30:00Z"
    order = (await api.client.get(f"/v1/work-orders/{wo['id']}", headers=api.auth())).json()
    summary = {c["target"]: c["due_at"] for c in order["sla"]}
    assert summary["response"] == "2026-11-02T01:30:00Z"
    policy = await api.client.get(f"/v1/sla-policies/{urgent['id']}", headers=api.auth())
    assert policy.json()["replanning"] is False


# --- clock rules around hold, resume, re-plan and reopen (found by independent runs) -------


def clock_of(explained: dict[str, Any], target: str) -> dict[str, Any]:
    return next(c for c in explained["clocks"] if c["target"] == target)


async def test_a_priority_change_during_a_hold_applies_at_the_resume(api: Api) -> None:
    engineer = await create_staff(api)
    wo = await create_work_order(api, priority="normal", assignee_id=engineer["id"])
    api.clock.advance(timedelta(minutes=20))
    assert (await act(api, wo["id"], "hold", {"reason": "customer away"})).status_code == 200
    patched = await api.client.patch(
        f"/v1/work-orders/{wo['id']}", json={"priority": "urgent"}, headers=api.auth(Role.agent)
    )
    assert patched.status_code == 200, patched.text
    api.clock.advance(timedelta(minutes=30))
    resumed = await act(api, wo["id"], "resume")
    assert resumed.status_code == 200
    explained = await sla(api, wo["id"])
    assert explained["policy_name"] == "urgent"
    response = clock_of(explained, "response")
    assert response["state"] == "running"
    # urgent: 1 h on 24x7; 20 min used before the hold -> 40 min from the resume (01:50Z).
    assert response["due_at"] == "2026-11-02T02:30:00Z"
    assert clock_of(explained, "resolution")["state"] == "cancelled"  # urgent has none
    assert clock_of(explained, "arrival")["state"] == "running"
    summary = {c["target"]: c["state"] for c in resumed.json()["sla"]}
    assert summary == {"response": "running", "resolution": "cancelled", "arrival": "running"}


async def test_a_yellow_clock_stays_yellow_after_a_hold_outside_working_hours(api: Api) -> None:
    # normal: respond within 4 business hours from Monday 09:00 local: due 14:30 local
    # (06:30Z), yellow at 80 % (13:42 local, 05:42Z).
    engineer = await create_staff(api)
    wo = await create_work_order(api, priority="normal", assignee_id=engineer["id"])
    api.clock.advance(timedelta(hours=4, minutes=42))
    assert await scan(api) == 1
    assert await level(api, wo["id"]) == "yellow"
    api.clock.advance(timedelta(minutes=18))  # 14:00 local: 30 working minutes left
    await act(api, wo["id"], "hold", {"reason": "waiting for the customer"})
    assert await level(api, wo["id"]) == "yellow"
    api.clock.advance(timedelta(hours=5))  # 19:00 local: closed
    resumed = await act(api, wo["id"], "resume")
    assert resumed.json()["warning_level"] == "yellow"
    response = clock_of(await sla(api, wo["id"]), "response")
    assert response["warning_level"] == "yellow"
    assert response["due_at"] == "2026-11-03T01:30:00Z"  # 30 min from Tuesday's opening
    api.clock.advance(timedelta(hours=6))  # Tuesday 09:00 local: inside the old window
    assert await scan(api) == 0
    warnings = [m for m in await messages(api) if m["type"] == "sla.warning"]
    assert len(warnings) == 1


async def test_an_arrival_without_an_appointment_is_pending(api: Api) -> None:
    wo = await create_work_order(api, priority="high")
    arrival = clock_of(await sla(api, wo["id"]), "arrival")
    assert arrival["state"] == "pending"
    assert "appointment_end" in arrival["pending_reason"]
    assert arrival["due_at"] is None
    assert wo["warning_level"] == "blue"  # from the response clock only
    # The appointment arrives: the arrival clock is due at its end.
    patched = await api.client.patch(
        f"/v1/work-orders/{wo['id']}",
        json={"appointment_end": "2026-11-03T04:00:00Z"},
        headers=api.auth(Role.agent),
    )
    assert patched.status_code == 200, patched.text
    arrival = clock_of(await sla(api, wo["id"]), "arrival")
    assert (arrival["state"], arrival["due_at"]) == ("running", "2026-11-03T04:00:00Z")


async def test_a_reopened_urgent_order_has_a_running_response_clock(api: Api) -> None:
    wo = await create_work_order(api, priority="urgent")
    await act(api, wo["id"], "respond")
    await act(api, wo["id"], "resolve", {"resolution": "reset the breaker"})
    api.clock.advance(timedelta(hours=2))
    reopened = await act(api, wo["id"], "reopen", {"reason": "tripped again"})
    assert reopened.json()["warning_level"] == "blue"
    response = clock_of(await sla(api, wo["id"]), "response")
    assert (response["state"], response["cycle"]) == ("running", 2)
    assert response["due_at"] == "2026-11-02T04:00:00Z"  # 1 h from the reopen


async def test_a_met_clock_shows_the_time_it_took(api: Api) -> None:
    wo = await create_work_order(api, priority="urgent")
    api.clock.advance(timedelta(minutes=10))
    await act(api, wo["id"], "respond")
    api.clock.advance(timedelta(hours=1))
    response = clock_of(await sla(api, wo["id"]), "response")
    assert response["state"] == "met"
    assert response["elapsed_seconds"] == 600.0
    assert response["remaining_seconds"] == 3000.0


async def test_a_policy_edit_with_no_change_leaves_an_appointment_clock_alone(api: Api) -> None:
    wo = await create_work_order(api, priority="high", appointment_end="2026-11-03T04:00:00Z")
    api.clock.advance(timedelta(hours=1))
    high = next(
        p
        for p in (await api.client.get("/v1/sla-policies", headers=api.auth())).json()["items"]
        if p["name"] == "high"
    )
    for _ in range(2):
        edited = await api.client.patch(
            f"/v1/sla-policies/{high['id']}", json={"rank": 20}, headers=api.auth()
        )
        assert edited.status_code == 200, edited.text
        assert (await scan_once(api.app.state.sessionmaker, api.clock.now())).replanned == 2
    arrival = clock_of(await sla(api, wo["id"]), "arrival")
    assert arrival["elapsed_seconds"] == 3600.0
    assert arrival["due_at"] == "2026-11-03T04:00:00Z"
    await act(api, wo["id"], "respond")
    await act(api, wo["id"], "hold", {"reason": "customer away"})
    api.clock.advance(timedelta(hours=1))
    await act(api, wo["id"], "resume")
    assert clock_of(await sla(api, wo["id"]), "arrival")["due_at"] == "2026-11-03T04:00:00Z"


async def test_a_breach_says_who_could_not_be_notified(api: Api) -> None:
    manager_less = await api.client.post(
        "/v1/teams", json={"name": "Night shift"}, headers=api.auth(Role.supervisor)
    )
    assert manager_less.status_code == 201, manager_less.text
    wo = await create_work_order(api, priority="urgent", team_id=manager_less.json()["id"])
    api.clock.advance(timedelta(hours=1))
    await scan(api)
    breached = next(m for m in await messages(api) if m["type"] == "sla.breached")
    notified = {n["role"]: n for n in breached["data"]["notified"]}
    assert notified["assignee"]["reason"] == "the work order has no assignee"
    assert notified["team_supervisor"]["reason"] == "team 'Night shift' has no supervisor"
    events = (
        await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth())
    ).json()["items"]
    note = next(e["note"] for e in events if e["type"] == "sla_breached")
    assert "not notified" in note and "has no supervisor" in note


async def test_a_policy_edit_reaches_many_clocks_in_bounded_batches(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replans, "BATCH", 3)
    orders = [await create_work_order(api, priority="urgent") for _ in range(4)]  # 8 clocks
    urgent = next(
        p
        for p in (await api.client.get("/v1/sla-policies", headers=api.auth())).json()["items"]
        if p["name"] == "urgent"
    )
    edited = await api.client.patch(
        f"/v1/sla-policies/{urgent['id']}",
        json={"targets": {"response": "PT2H", "arrival": "PT4H"}},
        headers=api.auth(),
    )
    assert edited.status_code == 200, edited.text
    sessionmaker = api.app.state.sessionmaker
    done = [(await scan_once(sessionmaker, api.clock.now())).replanned for _ in range(4)]
    assert done == [3, 3, 2, 0]
    for order in orders:
        explained = await sla(api, order["id"])
        assert explained["replanning"] is False
        assert clock_of(explained, "response")["due_at"] == "2026-11-02T03:00:00Z"


async def test_an_appointment_beyond_the_horizon_is_a_clear_422(api: Api) -> None:
    # Found: year 9999 ran 50-150 s on the event loop, then answered 500.
    # Year 9999 is now outside the accepted instants (common.schemas.INSTANT_RANGE).
    for when, needle in (
        ("9999-12-31T00:00:00Z", "appointment_end: timestamp out of range"),
        ("2100-01-01T00:00:00Z", "SLA target arrival"),
    ):
        response = await api.client.post(
            "/v1/work-orders",
            json=work_order_body(priority="high", appointment_end=when),
            headers=api.auth(Role.agent),
        )
        problem = assert_problem(response, 422)
        assert needle in problem["detail"]
    listed = (await api.client.get("/v1/work-orders", headers=api.auth())).json()
    assert listed["items"] == []  # nothing stored
    near = await create_work_order(api, priority="high", appointment_end="2027-06-01T04:00:00Z")
    assert clock_of(await sla(api, near["id"]), "arrival")["due_at"] == "2027-06-01T04:00:00Z"


async def test_a_policy_created_on_another_replica_escalates_here(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the 5,000-order replica test's review: each process caches its compiled
    # policies, and only the process that creates a policy clears its own cache. This
    # process's scanner then met clocks of a policy it did not know, and breached them
    # with no ladder: their escalations never came.
    from qualityapi.main import create_app
    from qualityapi.sla import compiled, policy_cache
    from tests.conftest import make_settings

    monkeypatch.setattr(compiled, "TTL", 3600.0)  # stale for the whole test, however slow
    await create_work_order(api, priority="urgent")  # this process's cache is now built
    other = create_app(make_settings(api.database_url), clock=api.clock)
    async with other.router.lifespan_context(other):
        # One process stands in for two: the other replica's edits clear its cache only.
        mine = id(other.state.engine.sync_engine)
        monkeypatch.setattr(
            policy_cache, "invalidate", lambda: policy_cache.entries.pop(mine, None)
        )
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as b:
            cals = (await b.get("/v1/calendars", headers=api.auth())).json()
            cals = cals["items"] if isinstance(cals, dict) else cals
            always = next(c for c in cals if c["name"] == "24x7")
            policy = await b.post(
                "/v1/sla-policies",
                json={
                    "name": "lifts",
                    "rank": 1,
                    "match": {"categories": ["lift"]},
                    "calendar_id": always["id"],
                    "targets": {"response": "PT10M"},
                    "escalation": [{"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}]}],
                },
                headers=api.auth(),
            )
            assert policy.status_code == 201, policy.text
            created = await b.post(
                "/v1/work-orders", json=work_order_body(category="lift"), headers=api.auth()
            )
            assert created.status_code == 201, created.text
    wo_id = created.json()["id"]
    api.clock.advance(timedelta(minutes=11))
    result = await scan_once(api.app.state.sessionmaker, api.clock.now())
    assert result.failed == 0
    types = [m["type"] for m in await messages(api) if m["data"]["subject"]["id"] == wo_id]
    assert "sla.breached" in types and "sla.escalated" in types, types


async def test_an_order_reported_after_its_deadline_is_red_from_the_start(api: Api) -> None:
    # Found: reported 3 h ago (urgent: respond within 1 h), it came back blue and turned
    # red only at the scanner's next pass; the help desk saw an overdue job as on track.
    reported = api.clock.now() - timedelta(hours=3)
    wo = await create_work_order(api, priority="urgent", reported_at=reported.isoformat())
    assert wo["warning_level"] == "red"
    response = next(c for c in wo["sla"] if c["target"] == "response")
    assert response["state"] == "breached"
    assert await level(api, wo["id"]) == "red"
    # Announced after the order itself, once: warning, breach and the levels now due.
    async with api.app.state.sessionmaker() as session:
        stmt = select(OutboxMessage.type).order_by(OutboxMessage.id)
        types = list((await session.execute(stmt)).scalars())
    assert types[0] == "work_order.created"
    assert types[1:4] == ["sla.warning", "sla.breached", "sla.escalated"]
    before = len(types)
    result = await scan_once(api.app.state.sessionmaker, api.clock.now())
    assert result.transitions == 0  # nothing left for the pass
    async with api.app.state.sessionmaker() as session:
        assert len((await session.execute(select(OutboxMessage.id))).all()) == before
    # An order reported a minute ago is blue, as before.
    fresh = await create_work_order(
        api, priority="urgent", reported_at=(api.clock.now() - timedelta(minutes=1)).isoformat()
    )
    assert fresh["warning_level"] == "blue"
