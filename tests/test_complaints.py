"""Complaints end to end on both databases, with an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from qualityapi.events.models import OutboxMessage
from qualityapi.sla.scanner import scan_once
from tests.conftest import Api, started_api
from tests.helpers import assert_problem, create_staff

SHANGHAI = ZoneInfo("Asia/Shanghai")


def complaint_body(received_by: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "phone",
        "severity": "general",
        "category": "billing",
        "customer": {"name": "Chen Jie", "phone": "+86 139 1111 2222"},
        "location": "Tower B",
        "description": "Charged twice for the same repair",
        "expected_outcome": "Refund of the second charge",
        "received_by": received_by,
    }
    body.update(overrides)
    return body


async def create_complaint(api: Api, received_by: str, **overrides: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/complaints",
        json=complaint_body(received_by, **overrides),
        headers=api.auth(Role.agent),
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def act(api: Api, cid: str, action: str, body: dict[str, Any] | None = None) -> Any:
    return await api.client.post(
        f"/v1/complaints/{cid}/{action}", json=body, headers=api.auth(Role.agent)
    )


async def sla(api: Api, cid: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/complaints/{cid}/sla", headers=api.auth())
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def clock_of(explained: dict[str, Any], target: str) -> dict[str, Any]:
    return next(c for c in explained["clocks"] if c["target"] == target)


async def events(api: Api, cid: str) -> list[dict[str, Any]]:
    got = await api.client.get(f"/v1/complaints/{cid}/events", headers=api.auth())
    items: list[dict[str, Any]] = got.json()["items"]
    return items


async def outbox(api: Api, prefix: str) -> list[dict[str, Any]]:
    async with api.app.state.sessionmaker() as session:
        stmt = (
            select(OutboxMessage.payload)
            .where(OutboxMessage.type.startswith(prefix))
            .order_by(OutboxMessage.id)
        )
        return list((await session.execute(stmt)).scalars())


RESOLVE = {
    "resolution": "Second charge refunded",
    "upheld": True,
    "root_cause": "The payment terminal retried a timed-out charge",
    "corrective_action": "Terminal firmware updated; duplicate-charge check added",
    "decision": {"text": "We refund the second charge within 3 days", "channel": "phone"},
}


def _nth_working_day_after(day: date, n: int) -> date:
    """From the holidays library's own data: public holidays are off, its substituted
    working days (China's working weekends) are on, otherwise Monday to Friday."""
    table = holidays.country_holidays("CN", years=range(day.year, day.year + 2))
    worked = set(table.weekend_workdays)
    while n:
        day += timedelta(days=1)
        if day in worked or (day.weekday() < 5 and day not in table):
            n -= 1
    return day


async def test_a_major_complaint_is_due_on_the_seventh_working_day(database_url: str) -> None:
    received = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
    async with started_api(database_url, FrozenClock(received.astimezone(UTC))) as api:
        officer = await create_staff(api, "Officer Wu")
        c = await create_complaint(
            api, officer["id"], severity="major", received_at=received.isoformat()
        )
        assert c["number"].startswith("CP-2026-") and len(c["number"]) == len("CP-2026-000001")
        due_day = _nth_working_day_after(received.date(), 7)
        assert due_day == date(2026, 10, 15)  # 10-08, 10-09, Sat 10-10, 10-12 ... 10-15
        expected = datetime.combine(due_day, time(18), tzinfo=SHANGHAI).astimezone(UTC)
        resolution = clock_of(await sla(api, c["id"]), "resolution")
        assert resolution["due_at"] == expected.isoformat().replace("+00:00", "Z")
        # The feedback loop: 15 working days; acknowledgement: 2 business hours (12:00).
        feedback_day = _nth_working_day_after(received.date(), 15)
        feedback = clock_of(await sla(api, c["id"]), "feedback")
        assert feedback["due_at"].startswith(feedback_day.isoformat())
        assert clock_of(await sla(api, c["id"]), "acknowledge")["due_at"] == "2026-09-30T04:00:00Z"


async def test_a_complaint_received_long_before_it_is_entered_is_red_at_once(
    database_url: str,
) -> None:
    received = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
    entered = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)  # every deadline has passed
    async with started_api(database_url, FrozenClock(entered.astimezone(UTC))) as api:
        officer = await create_staff(api, "Officer Wu")
        c = await create_complaint(
            api, officer["id"], severity="major", received_at=received.isoformat()
        )
        assert c["warning_level"] == "red"
        assert {s["state"] for s in c["sla"]} == {"breached"}
        got = await api.client.get(f"/v1/complaints/{c['id']}", headers=api.auth())
        assert got.json()["warning_level"] == "red"
        assert got.json()["version"] == c["version"] == 1


async def test_a_general_complaint_is_due_by_the_end_of_the_working_day(api: Api) -> None:
    officer = await create_staff(api)
    c = await create_complaint(api, officer["id"])  # Monday 09:00 local
    assert clock_of(await sla(api, c["id"]), "resolution")["due_at"] == "2026-11-02T10:00:00Z"
    simple = await create_complaint(api, officer["id"], severity="simple")
    assert clock_of(await sla(api, simple["id"]), "resolution")["due_at"] == "2026-11-02T02:00:00Z"


async def test_first_contact_ownership_and_the_handover(api: Api) -> None:
    receiver = await create_staff(api, "Front desk Li")
    specialist = await create_staff(api, "Billing Zhou")
    other = await create_staff(api, "Someone else")
    c = await create_complaint(api, receiver["id"])
    assert (c["received_by"], c["owner_id"], c["status"]) == (
        receiver["id"],
        receiver["id"],
        "received",
    )
    assert "accept-handover" not in c["allowed_actions"]

    offered = await act(
        api, c["id"], "handover", {"to_staff_id": specialist["id"], "note": "billing"}
    )
    assert offered.status_code == 200, offered.text
    assert offered.json()["owner_id"] == receiver["id"]  # not until accepted
    assert offered.json()["pending_owner_id"] == specialist["id"]
    wrong = await act(api, c["id"], "accept-handover", {"staff_id": other["id"]})
    assert "only the named person" in assert_problem(wrong, 409)["detail"]
    accepted = await act(api, c["id"], "accept-handover", {"staff_id": specialist["id"]})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["owner_id"], body["received_by"], body["status"]) == (
        specialist["id"],
        receiver["id"],
        "investigating",
    )
    types = [e["type"] for e in await events(api, c["id"])]
    assert types[:3] == ["created", "handover_offered", "handover_accepted"]
    patched = await api.client.patch(
        f"/v1/complaints/{c['id']}", json={"received_by": other["id"]}, headers=api.auth(Role.agent)
    )
    assert_problem(patched, 422)  # received_by never changes
    blanked = await api.client.patch(
        f"/v1/complaints/{c['id']}", json={"description": " "}, headers=api.auth(Role.agent)
    )
    # As on create: what the customer said may not be blanked.
    assert assert_problem(blanked, 422)["errors"][0]["loc"] == ["body", "description"]


async def test_taking_a_complaint_on_acknowledges_it(api: Api) -> None:
    # Assigned (or handed over and accepted) before anyone pressed "acknowledge": it is
    # being dealt with, so its 2-business-hour acknowledge clock is met, not breached.
    receiver = await create_staff(api, "Front desk Li")
    specialist = await create_staff(api, "Billing Zhou")
    assigned = await create_complaint(api, receiver["id"])
    handed = await create_complaint(api, receiver["id"])
    api.clock.advance(timedelta(minutes=30))
    taken = await act(api, assigned["id"], "assign", {"owner_id": specialist["id"]})
    assert taken.status_code == 200, taken.text
    assert taken.json()["acknowledged_at"] == "2026-11-02T01:30:00Z"
    await act(api, handed["id"], "handover", {"to_staff_id": specialist["id"]})
    api.clock.advance(timedelta(minutes=10))
    accepted = await act(api, handed["id"], "accept-handover", {"staff_id": specialist["id"]})
    assert accepted.json()["acknowledged_at"] == "2026-11-02T01:40:00Z"
    api.clock.advance(timedelta(hours=3))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    for c in (assigned, handed):
        assert clock_of(await sla(api, c["id"]), "acknowledge")["state"] == "met"
        got = (await api.client.get(f"/v1/complaints/{c['id']}", headers=api.auth())).json()
        assert got["warning_level"] == "blue", got
    breaches = [
        m for m in await outbox(api, "sla.breached") if m["data"]["target"] == "acknowledge"
    ]
    assert breaches == []


async def test_resolving_needs_an_analysis_and_not_the_person_complained_about(api: Api) -> None:
    receiver = await create_staff(api, "Front desk Li")
    accused = await create_staff(api, "Engineer Ma")
    c = await create_complaint(api, receiver["id"], subject_staff_id=accused["id"])
    thin = {k: v for k, v in RESOLVE.items() if k not in ("root_cause", "corrective_action")}
    missing = await act(api, c["id"], "resolve", thin)
    problem = assert_problem(missing, 422)
    assert "root_cause, corrective_action" in problem["detail"]
    # One entry per missing field, so a form marks both.
    assert [e["loc"] for e in problem["errors"]] == [
        ["body", "root_cause"],
        ["body", "corrective_action"],
    ]
    # The person complained about is refused as its owner when it is given to them ...
    for action, body in (
        ("assign", {"owner_id": accused["id"]}),
        ("handover", {"to_staff_id": accused["id"]}),
    ):
        refused = assert_problem(await act(api, c["id"], action, body), 422)
        assert refused["errors"][0]["loc"] == ["body", next(iter(body))], refused
        assert "the person this complaint is about" in refused["detail"]
    # ... and still when they became it otherwise (the complaint edited to be about them).
    patched = await api.client.patch(
        f"/v1/complaints/{c['id']}",
        json={"subject_staff_id": receiver["id"]},
        headers=api.auth(Role.agent),
    )
    assert patched.status_code == 200, patched.text
    own = await act(api, c["id"], "resolve", RESOLVE)
    assert "the person this complaint is about" in assert_problem(own, 409)["detail"]
    await api.client.patch(
        f"/v1/complaints/{c['id']}",
        json={"subject_staff_id": accused["id"]},
        headers=api.auth(Role.agent),
    )
    future = {**RESOLVE, "decision": {**RESOLVE["decision"], "at": "2026-11-09T00:00:00Z"}}
    dated = assert_problem(await act(api, c["id"], "resolve", future), 422)
    assert dated["errors"][0]["loc"] == ["body", "decision", "at"]
    resolved = await act(api, c["id"], "resolve", RESOLVE)
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved" and body["upheld"] is True
    assert body["decision"]["text"] == RESOLVE["decision"]["text"]
    assert body["decision"]["at"] == "2026-11-02T01:00:00Z"
    # A simple complaint may be settled on first contact without an analysis.
    simple = await create_complaint(api, receiver["id"], severity="simple")
    assert (await act(api, simple["id"], "resolve", thin)).status_code == 200


async def test_closing_needs_the_callback_and_closes_the_feedback_loop(api: Api) -> None:
    officer = await create_staff(api)
    c = await create_complaint(api, officer["id"])
    await act(api, c["id"], "acknowledge")
    resolved = (await act(api, c["id"], "resolve", RESOLVE)).json()
    assert "close" not in resolved["allowed_actions"]
    early = await act(api, c["id"], "close")
    problem = assert_problem(early, 409)
    assert problem["current_status"] == "resolved"
    assert "callback" in problem["allowed_actions"]
    called = await act(api, c["id"], "callback", {"result": "reached", "accepted": True})
    assert called.json()["callback"]["accepted"] is True
    closed = await act(api, c["id"], "close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    states = {k["target"]: k["state"] for k in (await sla(api, c["id"]))["clocks"]}
    assert states == {"acknowledge": "met", "resolution": "met", "feedback": "met"}
    assert closed.json()["warning_level"] == "none"
    rewritten = await api.client.patch(
        f"/v1/complaints/{c['id']}",
        json={"severity": "major", "description": "rewritten after closing"},
        headers=api.auth(Role.agent),
    )
    refused = assert_problem(rewritten, 409)
    assert (
        refused["type"].endswith("/invalid-transition") and "reopen" in refused["allowed_actions"]
    )
    reopened = await act(api, c["id"], "reopen", {"reason": "refund never arrived"})
    assert reopened.json()["status"] == "investigating"
    assert clock_of(await sla(api, c["id"]), "resolution")["cycle"] == 2


async def test_an_extension_moves_the_deadline_and_keeps_the_original(api: Api) -> None:
    officer = await create_staff(api)
    c = await create_complaint(api, officer["id"], severity="major")
    before = clock_of(await sla(api, c["id"]), "resolution")
    extended = await act(
        api, c["id"], "extend", {"working_days": 2, "reason": "waiting for the bank's records"}
    )
    assert extended.status_code == 200, extended.text
    after = clock_of(await sla(api, c["id"]), "resolution")
    assert after["due_at"] > before["due_at"]
    assert after["original_due_at"] == before["due_at"]
    assert after["extensions"][0]["reason"] == "waiting for the bank's records"
    timeline = [e for e in await events(api, c["id"]) if e["type"] == "extended"]
    assert timeline[0]["note"] == "waiting for the bank's records"
    # The entry says what the extension did, as every other entry does.
    assert timeline[0]["changes"]["resolution_due_at"] == {
        "old": before["due_at"],
        "new": after["due_at"],
    }
    bad = await act(
        api, c["id"], "extend", {"new_due_at": "2026-11-02T00:00:00Z", "reason": "earlier"}
    )
    assert "later than the current one" in assert_problem(bad, 409)["detail"]
    # The breach message says it was extended, and why.
    api.clock.advance(timedelta(days=40))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    breached = [m for m in await outbox(api, "sla.breached") if m["data"]["target"] == "resolution"]
    assert breached[0]["data"]["original_due_at"] == before["due_at"]
    assert breached[0]["data"]["extensions"][0]["reason"] == "waiting for the bank's records"


async def test_a_policy_can_limit_extensions(api: Api) -> None:
    policies = (await api.client.get("/v1/sla-policies", headers=api.auth())).json()["items"]
    major = next(p for p in policies if p["name"] == "complaint major")
    edited = await api.client.patch(
        f"/v1/sla-policies/{major['id']}", json={"max_extensions": 1}, headers=api.auth()
    )
    assert edited.status_code == 200, edited.text
    officer = await create_staff(api)
    c = await create_complaint(api, officer["id"], severity="major")
    first = await act(api, c["id"], "extend", {"working_days": 1, "reason": "first"})
    assert first.status_code == 200, first.text
    second = await act(api, c["id"], "extend", {"working_days": 1, "reason": "second"})
    assert "allows 1 extension" in assert_problem(second, 409)["detail"]
    # null lifts the limit again, as on a new policy; null on the name is still refused.
    lifted = await api.client.patch(
        f"/v1/sla-policies/{major['id']}", json={"max_extensions": None}, headers=api.auth()
    )
    assert lifted.status_code == 200 and lifted.json()["max_extensions"] is None, lifted.text
    third = await act(api, c["id"], "extend", {"working_days": 1, "reason": "third"})
    assert third.status_code == 200, third.text
    unnamed = await api.client.patch(
        f"/v1/sla-policies/{major['id']}", json={"name": None}, headers=api.auth()
    )
    assert assert_problem(unnamed, 422)["errors"][0]["loc"] == ["body", "name"]


async def test_complaints_turn_yellow_red_and_escalate_on_the_board(api: Api) -> None:
    officer = await create_staff(api)
    c = await create_complaint(api, officer["id"])
    assert c["warning_level"] == "blue"
    # Acknowledge within 2 business hours: yellow at 80 % (10:36 local), red at 11:00.
    api.clock.advance(timedelta(hours=1, minutes=36))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    got = (await api.client.get(f"/v1/complaints/{c['id']}", headers=api.auth())).json()
    assert got["warning_level"] == "yellow"
    api.clock.advance(timedelta(minutes=24))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    board = (
        await api.client.get(
            "/v1/board", params={"subject_type": "complaint"}, headers=api.auth(Role.viewer)
        )
    ).json()
    assert [i["number"] for i in board["items"]["red"]] == [c["number"]]
    breached = [m for m in await outbox(api, "sla.") if m["type"] == "sla.breached"]
    assert breached[0]["data"]["subject"]["type"] == "complaint"
    assert breached[0]["data"]["target"] == "acknowledge"
    assert breached[0]["data"]["assignee_id"] == officer["id"]  # the first-contact owner
    created = await outbox(api, "complaint.created")
    assert created[0]["data"]["complaint"]["number"] == c["number"]


async def test_high_frequency_problems_raise_a_plan_once(api: Api) -> None:
    officer = await create_staff(api)
    for i in range(2):
        await create_complaint(
            api,
            officer["id"],
            location=f"Tower {i}",
            customer={"name": f"C{i}", "phone": f"1380000000{i}"},
        )
        api.clock.advance(timedelta(days=1))
    flags = (await api.client.get("/v1/complaints/high-frequency", headers=api.auth())).json()
    assert flags["items"] == []
    third = await create_complaint(
        api, officer["id"], location="Tower 9", customer={"name": "C9", "phone": "13800000009"}
    )
    flags = (await api.client.get("/v1/complaints/high-frequency", headers=api.auth())).json()
    [flag] = flags["items"]
    assert (flag["dimension"], flag["key"], flag["count"]) == ("category", "billing", 3)
    assert third["id"] in flag["complaint_ids"]
    plan = flag["improvement_plan"]
    assert plan["status"] == "open"
    await create_complaint(
        api, officer["id"], location="Tower 8", customer={"name": "C8", "phone": "13800000008"}
    )
    sent = await outbox(api, "complaint.high_frequency")
    assert len(sent) == 1 and sent[0]["data"]["key"] == "billing"
    owner = await create_staff(api, "Quality manager")
    patched = await api.client.patch(
        f"/v1/improvement-plans/{plan['id']}",
        json={
            "owner_id": owner["id"],
            "due_at": "2026-12-01T00:00:00Z",
            "plan": "Fix the terminal",
        },
        headers=api.auth(Role.supervisor),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["complaint_count"] == 4
    # Outside the window they no longer count.
    api.clock.advance(timedelta(days=31))
    flags = (await api.client.get("/v1/complaints/high-frequency", headers=api.auth())).json()
    assert flags["items"] == []


async def test_corrective_actions_outlive_the_complaint(api: Api) -> None:
    officer = await create_staff(api)
    c = await create_complaint(api, officer["id"])
    added = await api.client.post(
        f"/v1/complaints/{c['id']}/corrective-actions",
        json={
            "description": "Audit all terminals",
            "owner_id": officer["id"],
            "due_at": "2026-11-20T00:00:00Z",
        },
        headers=api.auth(Role.agent),
    )
    assert added.status_code == 201, added.text
    action = added.json()
    path = f"/v1/complaints/{c['id']}/corrective-actions/{action['id']}"
    no_note = await api.client.patch(
        path, json={"status": "effective"}, headers=api.auth(Role.agent)
    )
    assert "check_note" in assert_problem(no_note, 422)["detail"]
    api.clock.advance(timedelta(days=30))
    listed = (
        await api.client.get(f"/v1/complaints/{c['id']}/corrective-actions", headers=api.auth())
    ).json()
    assert listed["items"][0]["overdue"] is True
    checked = await api.client.patch(
        path,
        json={"status": "effective", "check_note": "no duplicates since"},
        headers=api.auth(Role.agent),
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["checked_at"] == api.clock.now().isoformat().replace("+00:00", "Z")


async def test_numbers_stay_unique_under_concurrent_creates(api: Api) -> None:
    officer = await create_staff(api)
    created = await asyncio.gather(*(create_complaint(api, officer["id"]) for _ in range(12)))
    numbers = [c["number"] for c in created]
    assert len(set(numbers)) == 12


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"channel": "fax"}, "channel"),
        ({"received_at": "2030-01-01T00:00:00Z"}, "future"),
        ({"received_by": "00000000-0000-0000-0000-000000000001"}, "does not exist"),
        ({"received_at": "2026-11-01T00:00:00"}, "timezone"),
    ],
)
async def test_bad_input_is_a_clear_422(api: Api, change: dict[str, Any], fragment: str) -> None:
    officer = await create_staff(api)
    body = {**complaint_body(officer["id"]), **change}
    response = await api.client.post("/v1/complaints", json=body, headers=api.auth(Role.agent))
    assert fragment in repr(assert_problem(response, 422))


async def test_a_complaint_is_owned_only_by_active_staff(api: Api) -> None:
    receiver = await create_staff(api, "Officer Wu")
    gone = await create_staff(api, "Left Last Year", active=False)
    # Someone who has left may still be the one complained about.
    c = await create_complaint(api, receiver["id"], subject_staff_id=gone["id"])
    response = await act(api, c["id"], "assign", {"owner_id": gone["id"]})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "owner_id"]
    assert "inactive" in problem["detail"]
    current = await api.client.get(f"/v1/complaints/{c['id']}", headers=api.auth())
    assert current.json()["owner_id"] == receiver["id"]
