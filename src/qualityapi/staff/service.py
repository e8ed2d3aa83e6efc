"""Teams and staff. Every change is audited; references are checked so a 422 names the bad id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import Principal
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.staff import repository
from qualityapi.staff.models import Staff, Team
from qualityapi.staff.schemas import (
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)


async def get_team(session: AsyncSession, team_id: uuid.UUID) -> Team:
    team = await repository.get_team(session, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    return team


async def get_staff(session: AsyncSession, staff_id: uuid.UUID) -> Staff:
    staff = await repository.get_staff(session, staff_id)
    if staff is None:
        raise NotFound(f"staff member {staff_id} does not exist")
    return staff


async def ensure_staff_exists(
    session: AsyncSession, staff_id: uuid.UUID | None, field: str
) -> None:
    if staff_id is not None and await repository.get_staff(session, staff_id) is None:
        raise Unprocessable(f"{field}: staff member {staff_id} does not exist")


async def ensure_team_exists(session: AsyncSession, team_id: uuid.UUID | None, field: str) -> None:
    if team_id is not None and await repository.get_team(session, team_id) is None:
        raise Unprocessable(f"{field}: team {team_id} does not exist")


async def _ensure_unique_name(session: AsyncSession, name: str, own_id: uuid.UUID | None) -> None:
    other = await repository.get_team_by_name(session, name)
    if other is not None and other.id != own_id:
        raise Conflict(f"a team named '{name}' already exists")


async def create_team(
    session: AsyncSession, data: TeamCreate, *, actor: Principal, at: datetime
) -> Team:
    await _ensure_unique_name(session, data.name, None)
    await ensure_staff_exists(session, data.supervisor_id, "supervisor_id")
    await ensure_staff_exists(session, data.manager_id, "manager_id")
    team = Team(**data.model_dump(), created_at=at, updated_at=at)
    session.add(team)
    await session.flush()
    after = TeamRead.model_validate(team).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="team.created",
        resource_type="team",
        resource_id=team.id,
        before=None,
        after=after,
    )
    return team


async def update_team(
    session: AsyncSession, team: Team, data: TeamUpdate, *, actor: Principal, at: datetime
) -> Team:
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        if changes["name"] is None:
            raise Unprocessable("name: may not be null")
        await _ensure_unique_name(session, changes["name"], team.id)
    await ensure_staff_exists(session, changes.get("supervisor_id"), "supervisor_id")
    await ensure_staff_exists(session, changes.get("manager_id"), "manager_id")
    before = TeamRead.model_validate(team).model_dump(mode="json")
    for field, value in changes.items():
        setattr(team, field, value)
    team.updated_at = at
    await session.flush()
    after = TeamRead.model_validate(team).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="team.updated",
        resource_type="team",
        resource_id=team.id,
        before=before,
        after=after,
    )
    return team


async def create_staff(
    session: AsyncSession, data: StaffCreate, *, actor: Principal, at: datetime
) -> Staff:
    await ensure_team_exists(session, data.team_id, "team_id")
    staff = Staff(**data.model_dump(), created_at=at, updated_at=at)
    session.add(staff)
    await session.flush()
    after = StaffRead.model_validate(staff).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.created",
        resource_type="staff",
        resource_id=staff.id,
        before=None,
        after=after,
    )
    return staff


async def update_staff(
    session: AsyncSession, staff: Staff, data: StaffUpdate, *, actor: Principal, at: datetime
) -> Staff:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "active"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    await ensure_team_exists(session, changes.get("team_id"), "team_id")
    before = StaffRead.model_validate(staff).model_dump(mode="json")
    for field, value in changes.items():
        setattr(staff, field, value)
    staff.updated_at = at
    await session.flush()
    after = StaffRead.model_validate(staff).model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        at=at,
        action="staff.updated",
        resource_type="staff",
        resource_id=staff.id,
        before=before,
        after=after,
    )
    return staff
