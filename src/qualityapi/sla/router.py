"""Calendars and SLA policies over HTTP, and the deadline preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from qualityapi.auth.dependencies import AdminDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.pagination import KeyPageDep
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
from qualityapi.sla import board, calendars, policies, replans, repository, subjects
from qualityapi.sla.dependencies import SubjectTypeDep
from qualityapi.sla.models import Calendar, SlaPolicy
from qualityapi.sla.schemas import (
    CalendarCreate,
    CalendarRead,
    CalendarUpdate,
    PreviewRead,
    PreviewRequest,
    SlaPolicyCreate,
    SlaPolicyRead,
    SlaPolicyUpdate,
)

router = APIRouter(route_class=ContractRoute)


@router.get("/board", tags=["board"], responses=problem_responses(422))
async def get_board(
    session: SessionDep,
    _: ViewerDep,
    clock: ClockDep,
    subject_type: SubjectTypeDep,
    limit: Annotated[int, Query(ge=0, le=100)] = 20,
) -> board.Board:
    """The red / yellow / blue board: counts and the oldest open items of each level, over
    every kind of subject (work orders, and each kind added later), or one `subject_type`."""
    kinds = (subject_type,) if subject_type else subjects.kinds()
    return await board.board(session, kinds=kinds, limit=limit, now=clock.now())


@router.get("/calendars", tags=["calendars"])
async def list_calendars(session: SessionDep, _: ViewerDep, page: KeyPageDep) -> Page[CalendarRead]:
    """Built-in calendars (24x7) first, then by name."""
    rows, cursor = page.split(await repository.list_calendars(session, page), _calendar_key)
    return Page(items=[calendars.read(c) for c in rows], next_cursor=cursor)


def _calendar_key(c: Calendar) -> tuple[object, ...]:
    return tuple(getattr(c, col.key) for col, _ in repository.CALENDAR_ORDER)


def _policy_key(p: SlaPolicy) -> tuple[object, ...]:
    return tuple(getattr(p, col.key) for col, _ in repository.POLICY_ORDER)


@router.post(
    "/calendars",
    status_code=status.HTTP_201_CREATED,
    tags=["calendars"],
    responses=problem_responses(409),
)
async def create_calendar(
    data: CalendarCreate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    response: Response,
) -> CalendarRead:
    cal = await calendars.create(session, data, actor=principal, now=clock.now())
    set_etag(response, cal.version)
    return calendars.read(cal)


@router.get("/calendars/{calendar_id}", tags=["calendars"], responses=problem_responses(404))
async def get_calendar(
    calendar_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> CalendarRead:
    cal = await calendars.get(session, calendar_id)
    set_etag(response, cal.version)
    return calendars.read(cal)


@router.patch(
    "/calendars/{calendar_id}", tags=["calendars"], responses=problem_responses(404, 409, 412)
)
async def update_calendar(
    calendar_id: Id,
    data: CalendarUpdate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> CalendarRead:
    """Change a calendar (24x7 is built in and cannot change)."""
    cal = await calendars.get(session, calendar_id)
    check_if_match(if_match, cal.version)
    cal = await calendars.update(session, cal, data, actor=principal, now=clock.now())
    # Running clocks are re-planned by the scanner in batches, not in this request.
    await replans.request(session, "calendar", cal.id, clock.now())
    set_etag(response, cal.version)
    return calendars.read(cal)


@router.get("/sla-policies", tags=["sla-policies"])
async def list_sla_policies(
    session: SessionDep,
    _: ViewerDep,
    page: KeyPageDep,
    subject: Annotated[str | None, Query(max_length=20)] = None,
) -> Page[SlaPolicyRead]:
    """By subject, then rank: the order in which policies are matched."""
    listed, cursor = page.split(
        await repository.list_policies(session, subject=subject, page=page), _policy_key
    )
    items = [
        policies.read(p, replanning=await repository.replan_waiting(session, [p.id]))
        for p in listed
    ]
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/sla-policies",
    status_code=status.HTTP_201_CREATED,
    tags=["sla-policies"],
    responses=problem_responses(409),
)
async def create_sla_policy(
    data: SlaPolicyCreate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    response: Response,
) -> SlaPolicyRead:
    policy = await policies.create(session, data, actor=principal, now=clock.now())
    set_etag(response, policy.version)
    return policies.read(policy)


@router.post("/sla-policies/preview", tags=["sla-policies"])
async def preview_sla_policy(
    data: PreviewRequest, session: SessionDep, _: ViewerDep
) -> PreviewRead:
    """The deadlines that would apply to a subject, without creating anything."""
    return await policies.preview(session, data)


@router.get("/sla-policies/{policy_id}", tags=["sla-policies"], responses=problem_responses(404))
async def get_sla_policy(
    policy_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> SlaPolicyRead:
    policy = await policies.get(session, policy_id)
    set_etag(response, policy.version)
    return policies.read(policy, replanning=await repository.replan_waiting(session, [policy.id]))


@router.patch(
    "/sla-policies/{policy_id}", tags=["sla-policies"], responses=problem_responses(404, 409, 412)
)
async def update_sla_policy(
    policy_id: Id,
    data: SlaPolicyUpdate,
    session: SessionDep,
    principal: AdminDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> SlaPolicyRead:
    policy = await policies.get(session, policy_id)
    check_if_match(if_match, policy.version)
    policy = await policies.update(session, policy, data, actor=principal, now=clock.now())
    # Running clocks are re-planned by the scanner in batches, not in this request.
    await replans.request(session, "policy", policy.id, clock.now())
    set_etag(response, policy.version)
    return policies.read(policy, replanning=True)
