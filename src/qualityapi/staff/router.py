from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from qualityapi.auth.dependencies import SupervisorDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.idempotency import IdempotencyDep
from qualityapi.common.pagination import Cursor, PageDep, PageParams, SeqPageDep, split_page
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page, UtcDatetime, check_period
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
from qualityapi.staff import repository, service
from qualityapi.staff.models import ErrorRecord, ErrorSource
from qualityapi.staff.schemas import (
    ErrorRecordCreate,
    ErrorRecordRead,
    ErrorRecordVoid,
    RetrainingClear,
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)
from qualityapi.timeline import service as timeline
from qualityapi.timeline.schemas import TimelineEventRead

router = APIRouter(route_class=ContractRoute)


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
async def get_team(team_id: Id, session: SessionDep, _: ViewerDep, response: Response) -> TeamRead:
    team = await service.get_team(session, team_id)
    set_etag(response, team.version)
    return TeamRead.model_validate(team)


@router.patch("/teams/{team_id}", tags=["teams"], responses=problem_responses(404, 409, 412))
async def update_team(
    team_id: Id,
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
    team_id: Annotated[Id | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
    retraining_required: Annotated[bool | None, Query()] = None,
) -> Page[StaffRead]:
    """Newest first. `retraining_required=true` lists the people the error-record rule
    flagged."""
    found = await repository.list_staff(
        session, page, team_id=team_id, active=active, retraining_required=retraining_required
    )
    rows, cursor = split_page(list(found), page)
    return Page(items=[StaffRead.model_validate(s) for s in rows], next_cursor=cursor)


@router.get("/staff/{staff_id}", tags=["staff"], responses=problem_responses(404))
async def get_staff(
    staff_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> StaffRead:
    staff = await service.get_staff(session, staff_id)
    set_etag(response, staff.version)
    return StaffRead.model_validate(staff)


@router.patch("/staff/{staff_id}", tags=["staff"], responses=problem_responses(404, 412))
async def update_staff(
    staff_id: Id,
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


@router.post(
    "/staff/{staff_id}/clear-retraining",
    tags=["staff"],
    responses=problem_responses(404, 409, 412),
)
async def clear_staff_retraining(
    staff_id: Id,
    data: RetrainingClear,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> StaffRead:
    """Clear the `retraining_required` flag (retraining done), with a note for the timeline.
    Records that occurred before now no longer count: a new crossing raises it again."""
    staff = await service.clear_retraining(
        session, staff_id, data.note, if_match=if_match, actor=principal, at=clock.now()
    )
    set_etag(response, staff.version)
    return StaffRead.model_validate(staff)


@router.get("/staff/{staff_id}/events", tags=["staff"], responses=problem_responses(400, 404))
async def list_staff_events(
    staff_id: Id, session: SessionDep, _: ViewerDep, page: SeqPageDep
) -> Page[TimelineEventRead]:
    """The staff member's timeline, oldest first: error records, voids, the retraining flag."""
    await service.get_staff(session, staff_id)
    return await timeline.page(
        session, subject_type=service.SUBJECT, subject_id=staff_id, params=page
    )


# --- service error records -------------------------------------------------------------


async def _rules(request: Request) -> service.QualityRules:
    return service.QualityRules.of(request.app.state.settings)


RulesDep = Annotated[service.QualityRules, Depends(_rules)]


def _read_record(record: ErrorRecord, response: Response | None = None) -> ErrorRecordRead:
    if response is not None:
        set_etag(response, record.version)
    return ErrorRecordRead.model_validate(record)


@router.post(
    "/staff/{staff_id}/error-records",
    status_code=status.HTTP_201_CREATED,
    tags=["staff"],
    response_model=ErrorRecordRead,
    responses=problem_responses(404, 409),
)
async def create_error_record(
    staff_id: Id,
    data: ErrorRecordCreate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    rules: RulesDep,
    response: Response,
) -> Any:
    """Record a service error. The rule's count within the rolling window (default: the
    third in 90 days) flags the person `retraining_required` and emits
    `staff.retraining_required`, once per crossing."""

    async def create() -> ErrorRecordRead:
        record = await service.create_error_record(
            session, staff_id, data, actor=principal, at=clock.now(), rules=rules
        )
        response.headers["Location"] = f"/v1/staff/{staff_id}/error-records/{record.id}"
        return _read_record(record, response)

    return await idem.run(create, status_code=201, owner=principal)


def _split_by_occurrence(
    rows: list[ErrorRecord], page: PageParams
) -> tuple[list[ErrorRecord], str | None]:
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, Cursor(created_at=rows[-1].occurred_at, id=rows[-1].id).encode(page.list_key)


@router.get(
    "/staff/{staff_id}/error-records", tags=["staff"], responses=problem_responses(400, 404)
)
async def list_error_records(
    staff_id: Id,
    session: SessionDep,
    _: ViewerDep,
    page: PageDep,
    source: Annotated[list[ErrorSource] | None, Query()] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    voided: Annotated[bool | None, Query()] = None,
    occurred_from: Annotated[UtcDatetime | None, Query()] = None,
    occurred_to: Annotated[UtcDatetime | None, Query()] = None,
) -> Page[ErrorRecordRead]:
    """Newest `occurred_at` first. Repeat `source` to match any of several;
    `occurred_from` is inclusive, `occurred_to` exclusive."""
    await service.get_staff(session, staff_id)
    check_period(occurred_from, occurred_to, start_name="occurred_from", end_name="occurred_to")
    f = repository.ErrorRecordFilter(
        source=source or (),
        category=category,
        voided=voided,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    found = await repository.list_error_records(session, staff_id, page, f)
    rows, cursor = _split_by_occurrence(list(found), page)
    return Page(items=[_read_record(r) for r in rows], next_cursor=cursor)


@router.get(
    "/staff/{staff_id}/error-records/{record_id}",
    tags=["staff"],
    responses=problem_responses(404),
)
async def get_error_record(
    staff_id: Id,
    record_id: Id,
    session: SessionDep,
    _: ViewerDep,
    response: Response,
) -> ErrorRecordRead:
    return _read_record(await service.get_error_record(session, staff_id, record_id), response)


@router.post(
    "/staff/{staff_id}/error-records/{record_id}/void",
    tags=["staff"],
    responses=problem_responses(404, 409, 412),
)
async def void_error_record(
    staff_id: Id,
    record_id: Id,
    data: ErrorRecordVoid,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    rules: RulesDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ErrorRecordRead:
    """Void a record made in error, with the reason. It stays listed (`voided: true`) but no
    longer counts; a retraining flag it helped raise is withdrawn if the rule is no longer
    reached."""
    record = await service.void_error_record(
        session,
        staff_id,
        record_id,
        data.reason,
        if_match=if_match,
        actor=principal,
        at=clock.now(),
        rules=rules,
    )
    return _read_record(record, response)
