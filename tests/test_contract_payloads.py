"""Webhook payloads a help desk can act on (issue 13, items 1 and 3): actor, reason,
customer, location, appointment, assignee and team with names, version, what changed;
``work_order.updated`` and ``work_order.arrived``; ``sla.*`` ``notified`` with names and
contact fields; every body validated against its schema in the generated document."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from qualityapi.auth.models import Role
from qualityapi.clock import SystemClock
from qualityapi.events.models import OutboxMessage
from qualityapi.sla.scanner import scan_once
from qualityapi.timeline.service import label
from tests.conftest import Api, started_api
from tests.helpers import act, create_staff, create_work_order
from tests.support.receiver import Receiver, eventually
from tests.support.webhook_schemas import document, validate_body
from tests.test_complaints import act as complaint_act
from tests.test_complaints import create_complaint
from tests.test_webhook_delivery import LIVE
from tests.test_webhook_endpoints import register

PERSON = uuid.UUID("11111111-1111-4111-8111-111111111111")
TEAM = uuid.UUID("22222222-2222-4222-8222-222222222222")


async def outbox(api: Api, prefix: str = "") -> list[dict[str, Any]]:
    async with api.app.state.sessionmaker() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        rows = (await session.execute(stmt)).scalars()
        return [r.payload for r in rows if r.type.startswith(prefix)]


async def team_with_people(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    engineer = await create_staff(api, "Li Lei", email="li@example.com", phone="+86 131 0000 1111")
    boss = await create_staff(api, "Supervisor Sun", email="sun@example.com", phone="+86 1")
    created = await api.client.post(
        "/v1/teams",
        json={"name": "Field service", "supervisor_id": boss["id"]},
        headers=api.auth(Role.supervisor),
    )
    assert created.status_code == 201, created.text
    return engineer, boss, created.json()


async def test_work_order_payloads_carry_what_a_help_desk_acts_on(api: Api) -> None:
    engineer, _, team = await team_with_people(api)
    wo = await create_work_order(
        api,
        assignee_id=engineer["id"],
        team_id=team["id"],
        appointment_start="2026-11-02T06:00:00Z",
        appointment_end="2026-11-02T08:00:00Z",
    )
    created = (await outbox(api, "work_order."))[-1]
    assert created["type"] == "work_order.created"
    data = created["data"]
    order = data["work_order"]
    assert data["action"] is None and data["previous_status"] is None
    assert data["actor"]["name"] == "test-agent" and data["actor"]["role"] == "agent"
    assert order["customer"]["name"] == "Wang Fang" and order["location"]
    # Every key of the customer, null where none was given (as the API's reads show it).
    assert set(order["customer"]) == {"name", "phone", "email", "address"}
    assert order["customer"]["email"] is None
    assert order["appointment_start"] == "2026-11-02T06:00:00Z"
    assert order["assignee"] == {"id": engineer["id"], "name": "Li Lei"}
    assert order["team"] == {"id": team["id"], "name": "Field service"}
    assert order["version"] == wo["version"] == 1
    assert order["sla"] and order["sla"][0]["due_at"]
    assert data["changes"]["status"] == {"old": None, "new": "assigned"}

    # A priority change re-plans every deadline: work_order.updated says old → new and
    # carries the new deadlines.
    patched = await api.client.patch(
        f"/v1/work-orders/{wo['id']}",
        json={"priority": "urgent", "location": "Building 3, room 404"},
        headers=api.auth(Role.agent),
    )
    assert patched.status_code == 200, patched.text
    updated = (await outbox(api, "work_order."))[-1]
    assert updated["type"] == "work_order.updated"
    changes = updated["data"]["changes"]
    assert changes["priority"] == {"old": "normal", "new": "urgent"}
    assert changes["location"]["new"] == "Building 3, room 404"
    deadlines = updated["data"]["deadlines"]
    assert deadlines is not None
    assert deadlines == updated["data"]["work_order"]["sla"]
    response_due = {d["target"]: d["due_at"] for d in deadlines}["response"]
    assert response_due == "2026-11-02T02:00:00Z"  # urgent: PT1H around the clock
    assert updated["data"]["work_order"]["version"] == patched.json()["version"] == 2

    # An edit that re-plans nothing has no deadlines.
    await api.client.patch(
        f"/v1/work-orders/{wo['id']}", json={"title": "Leak"}, headers=api.auth(Role.agent)
    )
    assert (await outbox(api, "work_order."))[-1]["data"]["deadlines"] is None

    responded = await act(api, wo["id"], "respond", {"note": "on my way"})
    assert responded.status_code == 200
    arrived_response = await act(api, wo["id"], "arrive")
    assert arrived_response.status_code == 200
    arrived = (await outbox(api, "work_order."))[-1]
    assert arrived["type"] == "work_order.arrived"
    assert arrived["data"]["action"] == "arrive"
    assert arrived["data"]["work_order"]["arrived_at"] == "2026-11-02T01:00:00Z"
    assert arrived["data"]["work_order"]["version"] == arrived_response.json()["version"]
    assert arrived["data"]["changes"]["arrived_at"]["old"] is None

    held = await act(api, wo["id"], "hold", {"reason": "waiting for parts"})
    assert held.status_code == 200
    status_changed = (await outbox(api, "work_order."))[-1]
    assert status_changed["type"] == "work_order.status_changed"
    assert status_changed["data"]["reason"] == "waiting for parts"
    assert status_changed["data"]["changes"]["status"] == {"old": "in_progress", "new": "on_hold"}

    note = [m for m in await outbox(api, "work_order.") if m["data"]["action"] == "respond"]
    assert note and note[0]["data"]["note"] == "on my way"
    for message in await outbox(api):
        validate_body(message)


async def test_sla_notified_carries_names_and_contact_fields(api: Api) -> None:
    engineer, boss, team = await team_with_people(api)
    wo = await create_work_order(
        api, priority="urgent", assignee_id=engineer["id"], team_id=team["id"]
    )
    api.clock.advance(timedelta(hours=1, minutes=1))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    sent = await outbox(api, "sla.")
    assert [m["type"] for m in sent][:2] == ["sla.warning", "sla.breached"] or sent
    warning = next(m for m in sent if m["type"] == "sla.warning")
    assert warning["data"]["subject"]["id"] == wo["id"]
    assert warning["data"]["notified"][0] == {
        "role": "assignee",
        "staff_id": engineer["id"],
        "name": "Li Lei",
        "email": "li@example.com",
        "phone": "+86 131 0000 1111",
        "reason": None,
        "instead_of": None,
    }
    escalated = [m for m in sent if m["type"] == "sla.escalated"]
    assert escalated, [m["type"] for m in sent]
    people = {n["role"]: n for n in escalated[0]["data"]["notified"]}
    supervisor = people["team_supervisor"]
    assert supervisor["staff_id"] == boss["id"] and supervisor["name"] == "Supervisor Sun"
    assert supervisor["email"] == "sun@example.com"
    for message in sent:
        validate_body(message)


async def test_complaint_payloads_carry_actor_version_and_changes(api: Api) -> None:
    receiver = await create_staff(api, "Front Desk Fu")
    complaint = await create_complaint(api, receiver["id"])
    acknowledged = await complaint_act(api, complaint["id"], "acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    created, changed = (await outbox(api, "complaint."))[-2:]
    assert created["data"]["actor"]["role"] == "agent"
    assert created["data"]["complaint"]["version"] == complaint["version"]
    assert changed["data"]["actor"]["name"] == "test-agent"
    assert changed["data"]["complaint"]["version"] == acknowledged.json()["version"]
    assert changed["data"]["changes"]["status"] == {"old": "received", "new": "acknowledged"}
    assert set(changed["data"]["customer"]) == {"name", "phone", "email", "address"}
    for message in await outbox(api, "complaint."):
        validate_body(message)


def test_webhooks_section_lists_no_422_and_a_real_created_example() -> None:
    webhooks = document()["webhooks"]
    for name in ("work_order.updated", "work_order.arrived"):
        assert name in webhooks
    for name, item in webhooks.items():
        assert "422" not in item["post"]["responses"], name
    example = webhooks["work_order.created"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    assert example["data"]["action"] is None
    validate_body(example)


async def test_every_body_a_real_receiver_gets_matches_its_schema(database_url: str) -> None:
    async with started_api(database_url, SystemClock(), **LIVE) as live:
        with Receiver() as receiver:
            await register(live, receiver.url)
            engineer = await create_staff(live, "Li Lei", phone="+86 131")
            wo = await create_work_order(live)
            steps: list[tuple[str, dict[str, Any] | None]] = [
                ("assign", {"assignee_id": engineer["id"]}),
                ("respond", None),
                ("arrive", None),
                ("hold", {"reason": "parts"}),
                ("resume", None),
                ("resolve", {"resolution": "replaced the seal"}),
                ("close", None),
            ]
            for action, body in steps:
                assert (await act(live, wo["id"], action, body)).status_code == 200
            patched = await live.client.patch(
                f"/v1/work-orders/{wo['id']}", json={"title": "x"}, headers=live.auth()
            )
            assert patched.status_code == 200
            expected = len(await outbox(live))
            await eventually(lambda: len(receiver.delivered()) >= expected, what="deliveries")
            types = {r.type for r in receiver.delivered()}
            assert {"work_order.arrived", "work_order.updated", "work_order.closed"} <= types
            # Leaving the block validates every body against the document (receiver.py);
            # here too, so a failure names the body.
            receiver.validate_all()


# --- readable for people: board items and timeline entries (item 9) -----------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("stage", None, None),
        ("stage", 0, "on track"),
        ("stage", 1, "warning"),
        ("stage", 2, "breached"),
        ("stage", 3, "escalation level 1"),
        ("stage", 5, "escalation level 3"),
        ("warning_level", "red", "red: deadline passed"),
        ("warning_level", "bogus", None),
        ("assignee_id", str(PERSON), "Li Lei"),
        ("owner_id", str(PERSON), "Li Lei"),
        ("team_id", str(TEAM), "Field service"),
        ("assignee_id", "not-a-uuid", None),
        ("title", "x", None),
    ],
)
def test_timeline_labels(name: str, value: Any, expected: str | None) -> None:
    assert label(name, value, {PERSON: "Li Lei"}, {TEAM: "Field service"}) == expected


async def test_board_and_timeline_show_names_and_meanings(api: Api) -> None:
    engineer, _, team = await team_with_people(api)
    wo = await create_work_order(
        api, priority="urgent", assignee_id=engineer["id"], team_id=team["id"]
    )
    api.clock.advance(timedelta(hours=1, minutes=1))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    board = (await api.client.get("/v1/board", headers=api.auth())).json()
    item = next(i for i in board["items"]["red"] if i["id"] == wo["id"])
    assert item["assignee"] == {"id": engineer["id"], "name": "Li Lei"}
    assert item["team"] == {"id": team["id"], "name": "Field service"}
    assert item["warning_level_meaning"] == "deadline passed"

    events = (
        await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth())
    ).json()["items"]
    created = events[0]["changes"]
    assert created["assignee_id"] == {
        "old": None,
        "new": engineer["id"],
        "new_label": "Li Lei",
    }
    stages = [e["changes"]["stage"] for e in events if "stage" in e["changes"]]
    assert {"old": None, "new": 2, "new_label": "breached"} in stages
    assert {"old": 2, "new": 3, "old_label": "breached", "new_label": "escalation level 1"} in (
        stages
    )
    level = next(e for e in events if e["type"] == "warning_level_changed")["changes"]
    assert level["warning_level"]["new_label"].startswith(level["warning_level"]["new"] + ": ")


async def test_created_payload_names_people_without_another_query(api: Api) -> None:
    """The lead's create hot path: the event reuses the staff and team rows the service
    loaded to check them (one SELECT each, as before the richer payload)."""
    engineer, _, team = await team_with_people(api)
    seen: list[str] = []
    engine = api.app.state.sessionmaker.kw["bind"].sync_engine

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        await create_work_order(api, assignee_id=engineer["id"], team_id=team["id"])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len([s for s in seen if s.startswith("SELECT") and "FROM staff" in s]) == 1, seen
    assert len([s for s in seen if s.startswith("SELECT") and "FROM teams" in s]) == 1, seen
    created = (await outbox(api, "work_order."))[-1]["data"]["work_order"]
    assert created["assignee"]["name"] == "Li Lei" and created["team"]["name"] == "Field service"


async def test_a_ladder_naming_a_staff_member_notifies_them_by_name(api: Api) -> None:
    duty = await create_staff(api, "Duty Officer Du", email="du@example.com", phone="+86 2")
    calendars = (await api.client.get("/v1/calendars", headers=api.auth())).json()["items"]
    always = next(c for c in calendars if c["name"] == "24x7")
    body = {
        "name": "lift entrapment",
        "rank": 1,
        "match": {"priorities": ["urgent"], "categories": ["lift"]},
        "calendar_id": always["id"],
        "targets": {"response": "PT10M"},
        "escalation": [
            {"level": 1, "after": "PT0S", "notify": [{"role": "staff", "staff_id": duty["id"]}]}
        ],
    }
    created = await api.client.post("/v1/sla-policies", json=body, headers=api.auth())
    assert created.status_code == 201, created.text
    await create_work_order(api, priority="urgent", category="lift")
    api.clock.advance(timedelta(minutes=11))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    escalated = next(m for m in await outbox(api, "sla.") if m["type"] == "sla.escalated")
    assert escalated["data"]["notified"] == [
        {
            "role": "staff",
            "staff_id": duty["id"],
            "name": "Duty Officer Du",
            "email": "du@example.com",
            "phone": "+86 2",
            "reason": None,
            "instead_of": None,
        }
    ]
    validate_body(escalated)
