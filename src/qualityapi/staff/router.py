from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from qualityapi.auth.dependencies import SupervisorDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.pagination import PageDep, split_page
from qualityapi.common.schemas import Page
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
from qualityapi.staff import repository, service
from qualityapi.staff.schemas import (
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)

router = APIRouter()


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    tags=["teams"],
    responses=problem_responses(409),
)
async def create_team(
    data: TeamCreate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
) -> TeamRead:
    """Create a team. Its supervisor and manager are the escalation contacts."""
    team = await service.create_team(session, data, actor=principal, at=clock.now())
    set_etag(response, team.version)
    return TeamRead.model_validate(team)


@router.get("/teams", tags=["teams"])
async def list_teams(session: SessionDep, _: ViewerDep, page: PageDep) -> Page[TeamRead]:
    rows, cursor = split_page(list(await repository.list_teams(session, page)), page)
    return Page(items=[TeamRead.model_validate(t) for t in rows], next_cursor=cursor)


@router.get("/teams/{team_id}", tags=["teams"], responses=problem_responses(404))
async def get_team(
    team_id: uuid.UUID, session: SessionDep, _: ViewerDep, response: Response
) -> TeamRead:
    team = await service.get_team(session, team_id)
    set_etag(response, team.version)
    return TeamRead.model_validate(team)


@router.patch("/teams/{team_id}", tags=["teams"], responses=problem_responses(404, 409, 412))
async def update_team(
    team_id: uuid.UUID,
    data: TeamUpdate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> TeamRead:
    team = await service.get_team(session, team_id)
    check_if_match(if_match, team.version)
    team = await service.update_team(session, team, data, actor=principal, at=clock.now())
    set_etag(response, team.version)
    return TeamRead.model_validate(team)


@router.post("/staff", status_code=status.HTTP_201_CREATED, tags=["staff"])
async def create_staff(
    data: StaffCreate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
) -> StaffRead:
    staff = await service.create_staff(session, data, actor=principal, at=clock.now())
    set_etag(response, staff.version)
    return StaffRead.model_validate(staff)


@router.get("/staff", tags=["staff"], responses=problem_responses(400))
async def list_staff(
    session: SessionDep,
    _: ViewerDep,
    page: PageDep,
    team_id: Annotated[uuid.UUID | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
) -> Page[StaffRead]:
    found = await repository.list_staff(session, page, team_id=team_id, active=active)
    rows, cursor = split_page(list(found), page)
    return Page(items=[StaffRead.model_validate(s) for s in rows], next_cursor=cursor)


@router.get("/staff/{staff_id}", tags=["staff"], responses=problem_responses(404))
async def get_staff(
    staff_id: uuid.UUID, session: SessionDep, _: ViewerDep, response: Response
) -> StaffRead:
    staff = await service.get_staff(session, staff_id)
    set_etag(response, staff.version)
    return StaffRead.model_validate(staff)


@router.patch("/staff/{staff_id}", tags=["staff"], responses=problem_responses(404, 412))
async def update_staff(
    staff_id: uuid.UUID,
    data: StaffUpdate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> StaffRead:
    staff = await service.get_staff(session, staff_id)
    check_if_match(if_match, staff.version)
    staff = await service.update_staff(session, staff, data, actor=principal, at=clock.now())
    set_etag(response, staff.version)
    return StaffRead.model_validate(staff)
