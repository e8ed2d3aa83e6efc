"""Service error records and the retraining flag (001 §4.1), on both databases, with an
injected clock: the third non-voided record within the rolling window flags the person."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from qualityapi.common.jsonable import jsonable
from qualityapi.common.signals import commit
from qualityapi.events import repository as events
from qualityapi.events.models import OutboxMessage
from qualityapi.sla.scanner import scan_once
from qualityapi.staff.schemas import RetrainingRequiredData
from tests.conftest import START, Api, started_api
from tests.helpers import assert_problem, create_staff, create_work_order

RETRAINING = "staff.retraining_required"


async def record(api: Api, staff_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"category": "late_arrival", "description": "arrived 40 min late"}
    body.update(overrides)
    response = await api.client.post(
        f"/v1/staff/{staff_id}/error-records", json=body, headers=api.auth(Role.supervisor)
    )
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] == '"1"'
    data: dict[str, Any] = response.json()
    return data


async def staff_of(api: Api, staff_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/staff/{staff_id}", headers=api.auth(Role.viewer))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def records_of(api: Api, staff_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"/v1/staff/{staff_id}/error-records", params=params, headers=api.auth(Role.viewer)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def timeline_of(api: Api, staff_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/v1/staff/{staff_id}/events", headers=api.auth())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def retraining_events(api: Api) -> list[dict[str, Any]]:
    async with api.app.state.sessionmaker() as session:
        stmt = (
            select(OutboxMessage).where(OutboxMessage.type == RETRAINING).order_by(OutboxMessage.id)
        )
        return [
            {"subject_key": m.subject_key, **m.payload}
            for m in (await session.execute(stmt)).scalars()
        ]


async def void(api: Api, staff_id: str, record_id: str, reason: str = "wrong person") -> Any:
    return await api.client.post(
        f"/v1/staff/{staff_id}/error-records/{record_id}/void",
        json={"reason": reason},
        headers=api.auth(Role.supervisor),
    )


async def clear(api: Api, staff_id: str, note: str = "completed the service course") -> Any:
    return await api.client.post(
        f"/v1/staff/{staff_id}/clear-retraining",
        json={"note": note},
        headers=api.auth(Role.supervisor),
    )


def iso(instant: datetime) -> str:
    return str(jsonable(instant))


# -- the rule ---------------------------------------------------------------------------


async def test_third_record_within_90_days_flags_retraining_once(api: Api) -> None:
    person = await create_staff(api, "Li Na")
    await create_staff(api, "Never late")
    assert person["retraining_required"] is False
    assert person["retraining_record_ids"] == []

    first = await record(api, person["id"], occurred_at=iso(START - timedelta(days=60)))
    second = await record(api, person["id"], occurred_at=iso(START - timedelta(days=10)))
    after_two = await staff_of(api, person["id"])
    assert after_two["retraining_required"] is False
    assert after_two["retraining_required_since"] is None
    assert await retraining_events(api) == []

    api.clock.advance(timedelta(hours=2))
    third = await record(api, person["id"])  # occurred_at defaults to now
    assert third["occurred_at"] == iso(api.clock.now())
    flagged = await staff_of(api, person["id"])
    assert flagged["retraining_required"] is True
    assert flagged["retraining_required_since"] == iso(api.clock.now())
    # Newest occurrence first.
    assert flagged["retraining_record_ids"] == [third["id"], second["id"], first["id"]]
    assert flagged["version"] == person["version"] + 1

    listed = await api.client.get(
        "/v1/staff", params={"retraining_required": "true"}, headers=api.auth(Role.viewer)
    )
    assert [s["id"] for s in listed.json()["items"]] == [person["id"]]

    sent = await retraining_events(api)
    assert len(sent) == 1
    assert sent[0]["subject_key"] == f"staff:{person['id']}"
    data = RetrainingRequiredData.model_validate(sent[0]["data"])
    assert data.staff.id == uuid.UUID(person["id"]) and data.staff.name == "Li Na"
    assert (data.threshold, data.window_days) == (3, 90)
    assert [str(r.id) for r in data.records] == flagged["retraining_record_ids"]

    # The fourth record is counted on the list but raises nothing new.
    fourth = await record(api, person["id"])
    assert len(await retraining_events(api)) == 1
    still = await staff_of(api, person["id"])
    assert still["retraining_required"] is True
    assert still["retraining_required_since"] == flagged["retraining_required_since"]
    assert fourth["id"] not in still["retraining_record_ids"]

    entries = await timeline_of(api, person["id"])
    assert [e["type"] for e in entries] == [
        "error_recorded",
        "error_recorded",
        "error_recorded",
        "retraining_required",
        "error_recorded",
    ]
    assert entries[3]["changes"] == {"retraining_required": {"old": False, "new": True}}
    assert entries[3]["actor_name"] == "test-supervisor"


async def test_clearing_then_a_new_crossing_raises_the_flag_again(api: Api) -> None:
    person = await create_staff(api)
    assert_problem(await clear(api, person["id"]), 409)  # nothing to clear
    for _ in range(3):
        await record(api, person["id"])
    assert (await staff_of(api, person["id"]))["retraining_required"] is True

    api.clock.advance(timedelta(days=7))
    cleared = await clear(api, person["id"], note="two-day refresher, passed")
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert body["retraining_required"] is False
    assert body["retraining_record_ids"] == []
    assert body["retraining_cleared_at"] == iso(api.clock.now())
    assert cleared.headers["ETag"] == f'"{body["version"]}"'

    # The three records before the clearing were dealt with: two new ones are not enough.
    api.clock.advance(timedelta(days=1))
    await record(api, person["id"])
    await record(api, person["id"])
    assert (await staff_of(api, person["id"]))["retraining_required"] is False
    # Nor does a record dated before the clearing (entered late) count.
    await record(api, person["id"], occurred_at=iso(START + timedelta(days=1)))
    assert (await staff_of(api, person["id"]))["retraining_required"] is False
    assert len(await retraining_events(api)) == 1

    api.clock.advance(timedelta(minutes=1))
    third_new = await record(api, person["id"])
    again = await staff_of(api, person["id"])
    assert again["retraining_required"] is True
    assert again["retraining_record_ids"][0] == third_new["id"]
    assert len(again["retraining_record_ids"]) == 3
    assert len(await retraining_events(api)) == 2

    types = [e["type"] for e in await timeline_of(api, person["id"])]
    assert types.count("retraining_required") == 2
    assert "retraining_cleared" in types
    cleared_entry = next(
        e for e in await timeline_of(api, person["id"]) if e["type"] == "retraining_cleared"
    )
    assert cleared_entry["note"] == "two-day refresher, passed"

    audit = (
        await api.client.get(
            "/v1/audit-events", params={"resource_id": person["id"]}, headers=api.auth()
        )
    ).json()["items"]
    assert audit[0]["action"] == "staff.retraining_cleared"
    assert audit[0]["before"]["retraining_required"] is True
    assert audit[0]["after"]["retraining_required"] is False


async def test_concurrent_records_raise_the_flag_once(api: Api) -> None:
    person = await create_staff(api)
    await record(api, person["id"])
    # Two supervisors record at once: the person's row is locked while the rule is checked,
    # so exactly one of the records makes the crossing.
    made = await asyncio.gather(*(record(api, person["id"]) for _ in range(5)))
    assert len(made) == 5
    flagged = await staff_of(api, person["id"])
    assert flagged["retraining_required"] is True
    assert len(flagged["retraining_record_ids"]) == 3
    assert len(await retraining_events(api)) == 1
    types = [e["type"] for e in await timeline_of(api, person["id"])]
    assert types.count("retraining_required") == 1 and types.count("error_recorded") == 6


async def test_records_older_than_the_window_do_not_count(api: Api) -> None:
    person = await create_staff(api)
    # Backdated: 91 days ago is outside the window; 89 days ago is inside.
    await record(api, person["id"], occurred_at=iso(START - timedelta(days=91)))
    await record(api, person["id"], occurred_at=iso(START - timedelta(days=89)))
    await record(api, person["id"])
    assert (await staff_of(api, person["id"]))["retraining_required"] is False

    # The window rolls with the clock: 2 days on, the 89-day-old record has left it too.
    api.clock.advance(timedelta(days=2))
    await record(api, person["id"])
    assert (await staff_of(api, person["id"]))["retraining_required"] is False
    api.clock.advance(timedelta(days=1))
    latest = await record(api, person["id"])
    flagged = await staff_of(api, person["id"])
    assert flagged["retraining_required"] is True
    assert flagged["retraining_record_ids"][0] == latest["id"]
    assert len(flagged["retraining_record_ids"]) == 3
    assert len(await retraining_events(api)) == 1


async def test_the_threshold_and_window_are_settings(database_url: str) -> None:
    async with started_api(
        database_url,
        FrozenClock(START),
        staff_retraining_threshold=2,
        staff_retraining_window_days=7,
    ) as api:
        person = await create_staff(api)
        await record(api, person["id"], occurred_at=iso(START - timedelta(days=8)))
        await record(api, person["id"])
        assert (await staff_of(api, person["id"]))["retraining_required"] is False
        await record(api, person["id"], occurred_at=iso(START - timedelta(days=6)))
        assert (await staff_of(api, person["id"]))["retraining_required"] is True
        data = (await retraining_events(api))[0]["data"]
        assert (data["threshold"], data["window_days"]) == (2, 7)


async def test_voided_records_do_not_count(api: Api) -> None:
    person = await create_staff(api)
    first = await record(api, person["id"])
    await record(api, person["id"])

    voided = await void(api, person["id"], first["id"], reason="it was Wang's visit")
    assert voided.status_code == 200, voided.text
    body = voided.json()
    assert body["voided"] is True and body["void_reason"] == "it was Wang's visit"
    assert body["voided_at"] == iso(api.clock.now()) and body["voided_by"] == "test-supervisor"
    assert body["version"] == 2 and voided.headers["ETag"] == '"2"'
    assert_problem(await void(api, person["id"], first["id"]), 409)  # once only

    await record(api, person["id"])
    assert (await staff_of(api, person["id"]))["retraining_required"] is False
    # A void is an event, not a delete: the record is still listed, and can be filtered.
    assert len(await records_of(api, person["id"])) == 3
    assert [r["id"] for r in await records_of(api, person["id"], voided="true")] == [first["id"]]

    fourth = await record(api, person["id"])
    flagged = await staff_of(api, person["id"])
    assert flagged["retraining_required"] is True
    assert first["id"] not in flagged["retraining_record_ids"]
    assert len(await retraining_events(api)) == 1

    # Voiding a record that raised the flag withdraws it when the rule is no longer met.
    withdrawn = await void(api, person["id"], fourth["id"])
    assert withdrawn.status_code == 200, withdrawn.text
    after = await staff_of(api, person["id"])
    assert after["retraining_required"] is False and after["retraining_record_ids"] == []
    types = [e["type"] for e in await timeline_of(api, person["id"])]
    assert types[-2:] == ["error_record_voided", "retraining_withdrawn"]
    assert types.count("error_record_voided") == 2


async def test_void_honours_if_match_and_unknown_records(api: Api) -> None:
    person = await create_staff(api)
    entry = await record(api, person["id"])
    stale = await api.client.post(
        f"/v1/staff/{person['id']}/error-records/{entry['id']}/void",
        json={"reason": "typo"},
        headers={**api.auth(Role.supervisor), "If-Match": '"7"'},
    )
    assert_problem(stale, 412)
    assert_problem(await void(api, person["id"], str(uuid.uuid4())), 404)
    other = await create_staff(api, "Someone else")
    # A record is addressed under its own person only.
    assert_problem(
        await api.client.get(
            f"/v1/staff/{other['id']}/error-records/{entry['id']}", headers=api.auth()
        ),
        404,
    )
    got = await api.client.get(
        f"/v1/staff/{person['id']}/error-records/{entry['id']}", headers=api.auth(Role.viewer)
    )
    assert got.status_code == 200 and got.json() == entry
    assert got.headers["ETag"] == '"1"'


# -- the list, idempotency and validation -------------------------------------------------


async def test_list_is_newest_first_with_cursor_and_filters(api: Api) -> None:
    person = await create_staff(api)
    made = [
        await record(
            api,
            person["id"],
            occurred_at=iso(START - timedelta(days=d)),
            category="rude" if d % 2 else "late_arrival",
        )
        for d in (30, 10, 20, 40)
    ]
    by_age = {r["occurred_at"]: r["id"] for r in made}
    expected = [by_age[iso(START - timedelta(days=d))] for d in (10, 20, 30, 40)]

    page1 = await api.client.get(
        f"/v1/staff/{person['id']}/error-records", params={"limit": 3}, headers=api.auth()
    )
    body = page1.json()
    assert [r["id"] for r in body["items"]] == expected[:3] and body["next_cursor"]
    page2 = await api.client.get(
        f"/v1/staff/{person['id']}/error-records",
        params={"limit": 3, "cursor": body["next_cursor"]},
        headers=api.auth(),
    )
    assert [r["id"] for r in page2.json()["items"]] == expected[3:]
    assert page2.json()["next_cursor"] is None

    assert len(await records_of(api, person["id"], category="late_arrival")) == 4
    assert await records_of(api, person["id"], source="sla_breach") == []
    window = await records_of(
        api,
        person["id"],
        occurred_from=iso(START - timedelta(days=30)),
        occurred_to=iso(START - timedelta(days=10)),
    )
    assert [r["id"] for r in window] == expected[1:3]
    assert_problem(
        await api.client.get(
            f"/v1/staff/{person['id']}/error-records", params={"cursor": "x"}, headers=api.auth()
        ),
        400,
    )


async def test_idempotency_key_records_once(api: Api) -> None:
    person = await create_staff(api)
    headers = {**api.auth(Role.supervisor), "Idempotency-Key": "err-1"}
    body = {"category": "rude", "description": "raised voice at the customer"}
    url = f"/v1/staff/{person['id']}/error-records"
    first = await api.client.post(url, json=body, headers=headers)
    repeat = await api.client.post(url, json=body, headers=headers)
    assert first.status_code == repeat.status_code == 201
    assert repeat.json() == first.json() and repeat.headers["Idempotent-Replayed"] == "true"
    assert len(await records_of(api, person["id"])) == 1


async def test_validation_problems(api: Api) -> None:
    person = await create_staff(api)
    url = f"/v1/staff/{person['id']}/error-records"
    body = {"category": "rude", "description": "x"}

    future = {**body, "occurred_at": iso(START + timedelta(minutes=1))}
    problem = assert_problem(
        await api.client.post(url, json=future, headers=api.auth(Role.supervisor)), 422
    )
    assert "occurred_at" in problem["detail"]

    missing = f"/v1/staff/{uuid.uuid4()}/error-records"
    assert_problem(
        await api.client.post(missing, json=body, headers=api.auth(Role.supervisor)), 404
    )
    assert_problem(await api.client.get(missing, headers=api.auth()), 404)
    assert_problem(
        await api.client.get(f"/v1/staff/{uuid.uuid4()}/events", headers=api.auth()), 404
    )
    assert_problem(await clear(api, str(uuid.uuid4())), 404)

    for role in (Role.viewer, Role.agent):
        assert_problem(await api.client.post(url, json=body, headers=api.auth(role)), 403)
    assert_problem(
        await api.client.post(
            f"/v1/staff/{person['id']}/clear-retraining",
            json={"note": "x"},
            headers=api.auth(Role.viewer),
        ),
        403,
    )

    unsourced = {**body, "source": "sla_breach"}
    assert_problem(
        await api.client.post(url, json=unsourced, headers=api.auth(Role.supervisor)), 422
    )
    half = {**body, "source_type": "work_order"}
    assert_problem(await api.client.post(url, json=half, headers=api.auth(Role.supervisor)), 422)
    ghost = {**body, "recorded_by": str(uuid.uuid4())}
    assert (
        "recorded_by"
        in assert_problem(
            await api.client.post(url, json=ghost, headers=api.auth(Role.supervisor)), 422
        )["detail"]
    )
    assert_problem(
        await api.client.post(
            url, json={**body, "source": "rumour"}, headers=api.auth(Role.supervisor)
        ),
        422,
    )
    assert_problem(await clear(api, person["id"], note=""), 422)
    assert await records_of(api, person["id"]) == []

    sourced = await record(
        api,
        person["id"],
        source="complaint",
        source_type="complaint",
        source_id=str(uuid.uuid4()),
        recorded_by=person["id"],
    )
    assert sourced["source"] == "complaint" and sourced["created_by"] == "test-supervisor"


# -- automatic records --------------------------------------------------------------------


async def breach(api: Api, assignee_id: str) -> dict[str, Any]:
    """An urgent order (respond within 1 h, 24x7) left to breach, and the scanner run."""
    wo = await create_work_order(api, priority="urgent", assignee_id=assignee_id)
    api.clock.advance(timedelta(hours=1, minutes=1))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    return wo


@pytest.fixture
async def breach_api(database_url: str) -> AsyncIterator[Api]:
    async with started_api(
        database_url,
        FrozenClock(START),
        staff_error_from_breach=True,
        staff_retraining_threshold=2,
    ) as running:
        yield running


async def test_a_breached_clock_records_an_error_for_the_assignee(breach_api: Api) -> None:
    api = breach_api
    person = await create_staff(api, "Zhao Lei")
    wo = await breach(api, person["id"])

    found = await records_of(api, person["id"])
    assert len(found) == 1
    auto = found[0]
    assert auto["source"] == "sla_breach" and auto["category"] == "sla_breach"
    assert (auto["source_type"], auto["source_id"]) == ("work_order", wo["id"])
    assert auto["occurred_at"] == iso(START + timedelta(hours=1))  # the deadline
    assert auto["created_by"] == "system" and auto["recorded_by"] is None
    assert wo["number"] in auto["description"]

    # Escalations of the same clock, and the same breach seen again, add nothing.
    api.clock.advance(timedelta(hours=2))
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    async with api.app.state.sessionmaker() as session:
        stmt = select(OutboxMessage).where(OutboxMessage.type == "sla.breached")
        message = (await session.execute(stmt)).scalars().one()
        again = events.row(
            type="sla.breached",
            subject_key=message.subject_key,
            data=message.payload["data"],
            at=api.clock.now(),
        )
        await events.emit_many(session, [again])
        await commit(session)
    assert len(await records_of(api, person["id"])) == 1

    timeline = await timeline_of(api, person["id"])
    assert [e["type"] for e in timeline] == ["error_recorded"]
    assert timeline[0]["actor_name"] == "system"

    # A second breached order reaches this app's threshold (2) through the scanner.
    await breach(api, person["id"])
    flagged = await staff_of(api, person["id"])
    assert flagged["retraining_required"] is True
    sent = await retraining_events(api)
    assert len(sent) == 1 and len(sent[0]["data"]["records"]) == 2


async def test_breaches_record_nothing_when_the_setting_is_off(api: Api) -> None:
    person = await create_staff(api)
    await breach(api, person["id"])
    async with api.app.state.sessionmaker() as session:
        stmt = select(OutboxMessage).where(OutboxMessage.type == "sla.breached")
        assert len((await session.execute(stmt)).scalars().all()) == 1
    assert await records_of(api, person["id"]) == []


async def emit_complaint(api: Api, complaint: dict[str, Any], action: str = "resolve") -> None:
    """The event the complaints domain emits, written as a synthetic outbox row."""
    data = {"complaint": complaint, "action": action, "previous_status": "investigating"}
    async with api.app.state.sessionmaker() as session:
        row = events.row(
            type="complaint.status_changed",
            subject_key=f"complaint:{complaint['id']}",
            data=data,
            at=api.clock.now(),
        )
        await events.emit_many(session, [row])
        await commit(session)


def complaint(subject_staff_id: str | None, upheld: bool | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "number": "CP-2026-000042",
        "status": "resolved",
        "severity": "general",
        "category": "attitude",
        "subject_staff_id": subject_staff_id,
        "owner_id": None,
        "received_by": None,
        "upheld": upheld,
        "work_order_id": None,
        **extra,
    }


async def test_an_upheld_complaint_records_an_error_for_the_person(database_url: str) -> None:
    async with started_api(
        database_url, FrozenClock(START), staff_error_from_complaint=True
    ) as api:
        person = await create_staff(api, "Qian Hui")
        upheld = complaint(person["id"], True, received_at=iso(START - timedelta(days=2)))
        await emit_complaint(api, upheld)
        await emit_complaint(api, upheld)  # the same complaint again: once only

        found = await records_of(api, person["id"])
        assert len(found) == 1
        assert found[0]["source"] == "complaint" and found[0]["category"] == "attitude"
        assert (found[0]["source_type"], found[0]["source_id"]) == ("complaint", upheld["id"])
        assert found[0]["occurred_at"] == iso(START - timedelta(days=2))
        assert "CP-2026-000042" in found[0]["description"]

        # Not upheld, not a resolution, nobody named, or a person who does not exist: nothing,
        # and no error for the transaction that emitted the event.
        await emit_complaint(api, complaint(person["id"], False))
        await emit_complaint(api, complaint(person["id"], None))
        await emit_complaint(api, complaint(person["id"], True), action="acknowledge")
        await emit_complaint(api, complaint(None, True))
        await emit_complaint(api, complaint(str(uuid.uuid4()), True))
        assert len(await records_of(api, person["id"])) == 1


async def test_upheld_complaints_record_nothing_when_the_setting_is_off(api: Api) -> None:
    person = await create_staff(api)
    await emit_complaint(api, complaint(person["id"], True))
    assert await records_of(api, person["id"]) == []
