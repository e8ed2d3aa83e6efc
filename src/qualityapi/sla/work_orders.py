"""Work orders as an SLA subject: clocks follow the order's life, the order shows the level."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.common.jsonable import jsonable
from qualityapi.db.base import table_of
from qualityapi.sla import clocks, compiled, policies, repository
from qualityapi.sla.models import SlaClock, Subject
from qualityapi.staff.models import Team
from qualityapi.timeline import repository as timeline
from qualityapi.work_orders.models import WarningLevel, WorkOrder
from qualityapi.work_orders.states import Action

SUBJECT = Subject.work_order
# What a change to these fields means for the clocks: re-match the policy and re-plan.
_REPLAN_FIELDS = {"priority", "category", "appointment_end"}


def summary(all_clocks: list[SlaClock]) -> list[dict[str, Any]]:
    return [
        {
            "target": c.target,
            "state": c.state.value,
            "due_at": jsonable(c.due_at),
            "warn_at": jsonable(c.warn_at),
        }
        for c in all_clocks
    ]


async def sync_level(
    session: AsyncSession,
    wo: WorkOrder,
    all_clocks: list[SlaClock],
    now: datetime,
    note: str | None = None,
) -> None:
    """The order's warning level and SLA summary from its clocks (timeline on change)."""
    new_summary = summary(all_clocks)
    if new_summary != wo.sla:
        wo.sla = new_summary
    new = WarningLevel(clocks.level_of(all_clocks))
    if new == wo.warning_level:
        return
    await timeline.add(
        session,
        subject_type=SUBJECT.value,
        subject_id=wo.id,
        type="warning_level_changed",
        at=now,
        actor=SYSTEM_PRINCIPAL,
        changes={"warning_level": {"old": wo.warning_level.value, "new": new.value}},
        note=note,
    )
    wo.warning_level = new


class WorkOrderClocks:
    """Registered with ``work_orders.hooks`` at start-up."""

    async def creating(self, session: AsyncSession, values: dict[str, Any], now: datetime) -> None:
        started = await clocks.start(
            session,
            subject=SUBJECT,
            subject_id=values["id"],
            priority=values["priority"].value,
            category=values["category"],
            started_at=values["reported_at"],
            appointment_end=values["appointment_end"],
            now=now,
        )
        values["warning_level"] = WarningLevel(clocks.level_of(started))
        values["sla"] = summary(started)

    async def acted(
        self, session: AsyncSession, wo: WorkOrder, action: Action, now: datetime
    ) -> None:
        all_clocks = await repository.clocks_for(session, SUBJECT.value, wo.id)
        by_target = {c.target: c for c in all_clocks}
        if action is Action.respond and "response" in by_target:
            clocks.meet(by_target["response"], now)
        elif action is Action.arrive and "arrival" in by_target:
            clocks.meet(by_target["arrival"], now)
        elif action is Action.resolve:
            for clock in all_clocks:
                # Resolving answers the order; an arrival that never happened is moot.
                if clock.target == "arrival":
                    clocks.cancel(clock, now)
                else:
                    clocks.meet(clock, now)
        elif action is Action.hold:
            for clock in all_clocks:
                await clocks.pause(session, clock, now)
        elif action is Action.resume:
            for clock in all_clocks:
                policy = (
                    await repository.get_policy(session, clock.policy_id)
                    if clock.policy_id
                    else None
                )
                if policy is not None and clock.state.value == "paused":
                    await clocks.replan(
                        session, clock, policy, now, resume=True, appointment_end=wo.appointment_end
                    )
        elif action is Action.reopen and "resolution" in by_target:
            await clocks.restart(session, by_target["resolution"], now)
        elif action is Action.cancel:
            for clock in all_clocks:
                clocks.cancel(clock, now)
        await sync_level(session, wo, all_clocks, now)

    async def updated(
        self, session: AsyncSession, wo: WorkOrder, changed: set[str], now: datetime
    ) -> None:
        if not changed & _REPLAN_FIELDS:
            return
        all_clocks = await repository.clocks_for(session, SUBJECT.value, wo.id)
        policy = await policies.match(
            session, SUBJECT, priority=wo.priority.value, category=wo.category
        )
        if policy is None:
            for clock in all_clocks:
                clocks.cancel(clock, now)
        else:
            for clock in all_clocks:
                await clocks.replan(session, clock, policy, now, appointment_end=wo.appointment_end)
            have = {c.target for c in all_clocks}
            all_clocks += await clocks.start(
                session,
                subject=SUBJECT,
                subject_id=wo.id,
                priority=wo.priority.value,
                category=wo.category,
                started_at=wo.reported_at,
                appointment_end=wo.appointment_end,
                now=now,
                only={
                    t for t in (await compiled.resolve_targets(session, policy)) if t not in have
                },
            )
        await sync_level(session, wo, all_clocks, now)


_orders = table_of(WorkOrder)


async def sync_level_locked(session: AsyncSession, work_order_id: uuid.UUID, now: datetime) -> None:
    """``sync_level`` for the scanner, safe against other scanners and requests."""
    await sync_levels_locked(session, [work_order_id], now)


_UPDATE_LEVEL = (
    update(_orders)
    .where(_orders.c.id == bindparam("b_id"))
    .values(
        warning_level=bindparam("b_level"), sla=bindparam("b_sla"), version=_orders.c.version + 1
    )
)


async def sync_levels_locked(
    session: AsyncSession, work_order_ids: Iterable[uuid.UUID], now: datetime
) -> None:
    """``sync_level`` for many orders at once, safe against other scanners and requests.

    The rows are locked first (PostgreSQL; in id order, so two scanners cannot deadlock),
    then their clocks are read as committed, and the level and summary of the orders that
    changed are written with one UPDATE per order in one executemany that bumps
    ``version`` (ETags change), followed by a timeline entry per changed level.
    """
    ids = sorted(set(work_order_ids))
    if not ids:
        return
    locking = session.get_bind().dialect.name == "postgresql"
    current: dict[uuid.UUID, tuple[WarningLevel, Any]] = {}
    for part in repository.chunked(ids):
        locked = (
            select(_orders.c.id, _orders.c.warning_level, _orders.c.sla)
            .where(_orders.c.id.in_(part))
            .order_by(_orders.c.id)
        )
        if locking:
            locked = locked.with_for_update()
        for row in await session.execute(locked):
            current[row.id] = (WarningLevel(row.warning_level), row.sla)
    found = [i for i in ids if i in current]
    clocks_of = await repository.clocks_of_subjects(session, SUBJECT.value, found)
    updates: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for order_id in found:
        old_level, old_summary = current[order_id]
        all_clocks = clocks_of[order_id]
        new_level = WarningLevel(clocks.level_of(all_clocks))
        new_summary = summary(all_clocks)
        if old_level == new_level and new_summary == old_summary:
            continue
        updates.append({"b_id": order_id, "b_level": new_level, "b_sla": new_summary})
        if old_level != new_level:
            entries.append(
                timeline.row(
                    subject_type=SUBJECT.value,
                    subject_id=order_id,
                    type="warning_level_changed",
                    at=now,
                    actor=SYSTEM_PRINCIPAL,
                    changes={"warning_level": {"old": old_level.value, "new": new_level.value}},
                )
            )
    if updates:
        await session.execute(_UPDATE_LEVEL, updates)
    await timeline.add_many(session, entries)


_teams = table_of(Team)


async def describe(session: AsyncSession, work_order_id: uuid.UUID) -> dict[str, Any] | None:
    """What an SLA event says about its work order, and whom each role means."""
    return (await describe_many(session, [work_order_id])).get(work_order_id)


async def describe_many(
    session: AsyncSession, work_order_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """``describe`` for many orders in one query per page; missing orders are left out."""
    ids = sorted(set(work_order_ids))
    described: dict[uuid.UUID, dict[str, Any]] = {}
    for part in repository.chunked(ids):
        stmt = (
            select(
                _orders.c.id,
                _orders.c.number,
                _orders.c.assignee_id,
                _teams.c.supervisor_id,
                _teams.c.manager_id,
            )
            .select_from(_orders)
            .outerjoin(_teams, _teams.c.id == _orders.c.team_id)
            .where(_orders.c.id.in_(part))
        )
        for row in await session.execute(stmt):
            described[row.id] = {
                "subject": {"type": SUBJECT.value, "id": str(row.id), "number": row.number},
                "people": {
                    "assignee": row.assignee_id,
                    "team_supervisor": row.supervisor_id,
                    "team_manager": row.manager_id,
                },
            }
    return described
