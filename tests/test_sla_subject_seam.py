"""A third kind of subject, defined in this file alone, gets everything from the engine.

Its table and its adapter are the whole of it (no code in ``sla/``): a policy for it, its
clocks, blue -> yellow -> red -> escalated through the same scanner, ``sla.*`` events,
its level on its own row, and the board.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.models import Role
from qualityapi.common.signals import commit
from qualityapi.db.base import UtcDateTime
from qualityapi.events.models import OutboxMessage
from qualityapi.sla import engine, subjects
from qualityapi.sla.scanner import scan_once
from qualityapi.sla.subjects import EVERY, Contact, Description, LevelStore, SubjectFacts
from qualityapi.sla.vocabulary import Op, WarningLevel
from tests.conftest import Api
from tests.helpers import create_staff

# -- the whole "tickets" domain: a table and an adapter ------------------------------------

_metadata = MetaData()  # not the service's: the migrations test must not see this table
tickets = Table(
    "test_tickets",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(20)),
    Column("title", String(100)),
    Column("status", String(20)),
    Column("severity", String(20)),
    Column("assignee_id", Uuid, nullable=True),
    Column("opened_at", UtcDateTime()),
    Column("warning_level", String(10)),
    Column("sla", JSON),
    Column("version", Integer),
)


class Tickets:
    kind = "test_ticket"
    targets = ("reply",)
    actions: Mapping[str, Mapping[str, Op]] = {
        "reply": {"reply": Op.meet},
        "close": {EVERY: Op.cancel},
    }
    replan_fields = frozenset({"severity"})
    default_policies = ()  # this test creates its policy through the API
    store = LevelStore(table=tickets, open_statuses=frozenset({"open"}), since="opened_at")

    async def describe_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Description]:
        rows = await session.execute(select(tickets).where(tickets.c.id.in_(list(ids))))
        return {
            r.id: Description(
                number=r.number,
                title=r.title,
                people={
                    "assignee": Contact(r.assignee_id, None if r.assignee_id else "unassigned")
                },
            )
            for r in rows
        }

    async def facts_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SubjectFacts]:
        rows = await session.execute(select(tickets).where(tickets.c.id.in_(list(ids))))
        return {r.id: _facts(r.id, r.severity, r.opened_at) for r in rows}


def _facts(ticket_id: uuid.UUID, severity: str, opened_at: datetime) -> SubjectFacts:
    return SubjectFacts(id=ticket_id, priority=severity, category=None, started_at=opened_at)


async def open_ticket(
    session: AsyncSession, *, number: str, now: datetime, assignee: uuid.UUID | None
) -> uuid.UUID:
    ticket_id = uuid.uuid4()
    derived = await engine.start(session, TICKETS, _facts(ticket_id, "sev1", now), now)
    await session.execute(
        tickets.insert().values(
            id=ticket_id,
            number=number,
            title=f"Ticket {number}",
            status="open",
            severity="sev1",
            assignee_id=assignee,
            opened_at=now,
            warning_level=derived.level.value,
            sla=derived.summary,
            version=1,
        )
    )
    return ticket_id


TICKETS = Tickets()

# -- the test --------------------------------------------------------------------------------


@pytest.fixture
async def ticket_api(api: Api) -> AsyncIterator[Api]:
    engine_ = api.app.state.engine
    async with engine_.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    subjects.register(TICKETS)
    try:
        yield api
    finally:
        subjects.unregister(TICKETS.kind)
        async with engine_.begin() as conn:
            await conn.run_sync(_metadata.drop_all)


async def _level(api: Api, ticket_id: uuid.UUID) -> str:
    async with api.app.state.sessionmaker() as session:
        value = await session.scalar(
            select(tickets.c.warning_level).where(tickets.c.id == ticket_id)
        )
    return str(value)


async def test_a_new_subject_kind_needs_only_its_adapter(ticket_api: Api) -> None:
    api = ticket_api
    calendars = (await api.client.get("/v1/calendars", headers=api.auth())).json()["items"]
    always = next(c for c in calendars if c["name"] == "24x7")
    engineer = await create_staff(api, "Li Na")
    policy = await api.client.post(
        "/v1/sla-policies",
        json={
            "name": "tickets sev1",
            "subject": TICKETS.kind,
            "match": {"priorities": ["sev1"]},
            "calendar_id": always["id"],
            "targets": {"reply": "PT1H"},
            "warning": {"percent": 50},
            "escalation": [
                {"level": 1, "after": "PT0S", "notify": [{"role": "assignee"}]},
                {
                    "level": 2,
                    "after": "PT10M",
                    "notify": [{"role": "team_manager", "fallback": [{"role": "assignee"}]}],
                },
            ],
        },
        headers=api.auth(),
    )
    assert policy.status_code == 201, policy.text
    # Its targets are its own: a work-order target is refused for it.
    wrong = await api.client.post(
        "/v1/sla-policies",
        json={
            "name": "wrong",
            "subject": TICKETS.kind,
            "calendar_id": always["id"],
            "targets": {"response": "PT1H"},
        },
        headers=api.auth(),
    )
    assert wrong.status_code == 422
    assert "test_ticket has no target response" in wrong.text

    async with api.app.state.sessionmaker() as session:
        ticket = await open_ticket(
            session, number="T-1", now=api.clock.now(), assignee=uuid.UUID(engineer["id"])
        )
        await commit(session)
    assert await _level(api, ticket) == WarningLevel.blue

    sessionmaker = api.app.state.sessionmaker
    api.clock.advance(timedelta(minutes=30))
    assert (await scan_once(sessionmaker, api.clock.now())).transitions == 1
    assert await _level(api, ticket) == "yellow"
    board = (
        await api.client.get(
            "/v1/board", params={"subject_type": TICKETS.kind}, headers=api.auth(Role.viewer)
        )
    ).json()
    assert board["counts"]["yellow"] == 1
    assert [(i["subject_type"], i["number"]) for i in board["items"]["yellow"]] == [
        (TICKETS.kind, "T-1")
    ]

    api.clock.advance(timedelta(minutes=30))
    assert (await scan_once(sessionmaker, api.clock.now())).transitions == 2  # breach, level 1
    assert await _level(api, ticket) == "red"
    api.clock.advance(timedelta(minutes=10))
    assert (await scan_once(sessionmaker, api.clock.now())).transitions == 1  # level 2

    async with sessionmaker() as session:
        stmt = (
            select(OutboxMessage.payload)
            .where(OutboxMessage.subject_key == f"{TICKETS.kind}:{ticket}")
            .order_by(OutboxMessage.id)
        )
        sent: list[dict[str, Any]] = list((await session.execute(stmt)).scalars())
    assert [(m["type"], m["data"]["escalation_level"]) for m in sent] == [
        ("sla.warning", 0),
        ("sla.breached", 0),
        ("sla.escalated", 1),
        ("sla.escalated", 2),
    ]
    assert sent[0]["data"]["subject"] == {
        "type": TICKETS.kind,
        "id": str(ticket),
        "number": "T-1",
        "title": "Ticket T-1",
    }
    assert sent[0]["data"]["target"] == "reply"
    # Level 2 calls a role tickets do not have, so the policy's fallback is called instead.
    assert sent[3]["data"]["notified"] == [
        {
            "role": "team_manager",
            "staff_id": None,
            "name": None,
            "email": None,
            "phone": None,
            "reason": "nobody holds this role for the subject",
            "instead_of": None,
        },
        {
            "role": "assignee",
            "staff_id": engineer["id"],
            # This test adapter does not call ``with_contact_details``: ids only.
            "name": None,
            "email": None,
            "phone": None,
            "reason": None,
            "instead_of": "team_manager",
        },
    ]

    # The whole board counts it beside work orders; its own action meets the clock.
    everything = (await api.client.get("/v1/board", headers=api.auth(Role.viewer))).json()
    assert everything["by_subject"][TICKETS.kind]["red"] == 1
    assert everything["counts"]["red"] >= 1
    async with sessionmaker() as session:
        facts = (await TICKETS.facts_many(session, [ticket]))[ticket]
        derived = await engine.act(
            session, TICKETS, facts, "reply", api.clock.now(), level=WarningLevel.red
        )
        await commit(session)
    assert derived.level == WarningLevel.none
    assert derived.summary[0]["state"] == "breached"  # met late: a missed deadline stays missed
