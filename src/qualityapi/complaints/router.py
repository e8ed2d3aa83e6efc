"""Complaint resources: CRUD, timeline, SLA, corrective actions, high-frequency problems.
Actions live in actions.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from qualityapi.auth.dependencies import AgentDep, SupervisorDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.idempotency import IdempotencyDep
from qualityapi.common.pagination import KeyPageDep, PageDep, SeqPageDep, split_page
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page, UtcDatetime, check_period
from qualityapi.complaints import frequency, repository, service
from qualityapi.complaints.models import Complaint, Dimension, Severity
from qualityapi.complaints.schemas import (
    ComplaintCreate,
    ComplaintRead,
    ComplaintUpdate,
    CorrectiveActionCreate,
    CorrectiveActionRead,
    CorrectiveActionUpdate,
    HighFrequencyRead,
    ImprovementPlanRead,
    ImprovementPlanUpdate,
)
from qualityapi.complaints.sla import ADAPTER
from qualityapi.complaints.states import Status
from qualityapi.db.session import SessionDep
from qualityapi.errors import NotFound, problem_responses
from qualityapi.sla import engine as sla_engine
from qualityapi.sla.schemas import SubjectSlaRead
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.timeline import service as timeline
from qualityapi.timeline.schemas import TimelineEventRead

router = APIRouter(tags=["complaints"], route_class=ContractRoute)
plans_router = APIRouter(tags=["complaints"], route_class=ContractRoute)


def read(c: Complaint, response: Response | None = None) -> ComplaintRead:
    if response is not None:
        set_etag(response, c.version)
    return service.read(c)


@router.post(
    "/complaints",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintRead,
    responses=problem_responses(409),
)
async def create_complaint(
    data: ComplaintCreate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Register a complaint. `received_by` (the person who took it) owns it until a
    handover is accepted; `received_at` may lie in the past."""

    async def create() -> ComplaintRead:
        c = await service.create(session, data, actor=principal, now=clock.now())
        response.headers["Location"] = f"/v1/complaints/{c.id}"
        return read(c, response)

    return await idem.run(create, status_code=201, owner=principal)


@router.get("/complaints")
async def list_complaints(
    session: SessionDep,
    _: ViewerDep,
    page: PageDep,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    warning_level: Annotated[list[WarningLevel] | None, Query()] = None,
    owner_id: Annotated[Id | None, Query()] = None,
    received_by: Annotated[Id | None, Query()] = None,
    subject_staff_id: Annotated[Id | None, Query()] = None,
    work_order_id: Annotated[Id | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    received_from: Annotated[UtcDatetime | None, Query()] = None,
    received_to: Annotated[UtcDatetime | None, Query()] = None,
) -> Page[ComplaintRead]:
    """Newest first. Repeat `status`, `severity` or `warning_level` to match any of several."""
    check_period(received_from, received_to, start_name="received_from", end_name="received_to")
    f = repository.ComplaintFilter(
        status=status_ or (),
        severity=severity or (),
        warning_level=warning_level or (),
        owner_id=owner_id,
        received_by=received_by,
        subject_staff_id=subject_staff_id,
        work_order_id=work_order_id,
        category=category,
        received_from=received_from,
        received_to=received_to,
    )
    rows, cursor = split_page(list(await repository.list_page(session, page, f)), page)
    return Page(items=[read(c) for c in rows], next_cursor=cursor)


@router.get("/complaints/high-frequency")
async def list_high_frequency(
    session: SessionDep, _: ViewerDep, clock: ClockDep, page: KeyPageDep
) -> Page[HighFrequencyRead]:
    """Categories, locations and customers with at least the threshold of complaints in
    the rolling window ending now (default 3 in 30 days), each with its improvement plan."""
    rule = frequency.RULE
    since = clock.now() - timedelta(days=rule.window_days)
    items = []
    for dimension in Dimension:
        for key, ids in await repository.counts_since(session, dimension, since, rule.threshold):
            plan = await repository.open_plan(session, dimension, key)
            items.append(
                HighFrequencyRead(
                    dimension=dimension,
                    key=key,
                    count=len(ids),
                    window_days=rule.window_days,
                    threshold=rule.threshold,
                    complaint_ids=ids,
                    improvement_plan=ImprovementPlanRead.model_validate(plan) if plan else None,
                )
            )
    listed, cursor = page.of_sequence(items, lambda h: (h.dimension.value, h.key))
    return Page(items=listed, next_cursor=cursor)


@router.get("/complaints/{complaint_id}", responses=problem_responses(404))
async def get_complaint(
    complaint_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> ComplaintRead:
    return read(await service.get(session, complaint_id), response)


@router.patch("/complaints/{complaint_id}", responses=problem_responses(404, 409, 412))
async def update_complaint(
    complaint_id: Id,
    data: ComplaintUpdate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ComplaintRead:
    c = await service.get(session, complaint_id, lock=True)
    check_if_match(if_match, c.version)
    c = await service.update(session, c, data, actor=principal, now=clock.now())
    return read(c, response)


@router.get("/complaints/{complaint_id}/sla", responses=problem_responses(404))
async def get_complaint_sla(
    complaint_id: Id, session: SessionDep, _: ViewerDep, clock: ClockDep
) -> SubjectSlaRead:
    """Every clock: acknowledge, resolution, feedback loop; extensions with their reasons."""
    await service.get(session, complaint_id)
    return await sla_engine.explain(session, ADAPTER, complaint_id, clock.now())


@router.get("/complaints/{complaint_id}/events", responses=problem_responses(400, 404))
async def list_complaint_events(
    complaint_id: Id, session: SessionDep, _: ViewerDep, page: SeqPageDep
) -> Page[TimelineEventRead]:
    """The full timeline, oldest first: intake, handovers, decisions, warnings, escalations."""
    await service.get(session, complaint_id)
    return await timeline.page(
        session, subject_type=service.SUBJECT, subject_id=complaint_id, params=page
    )


@router.get("/complaints/{complaint_id}/corrective-actions", responses=problem_responses(404))
async def list_corrective_actions(
    complaint_id: Id, session: SessionDep, _: ViewerDep, clock: ClockDep, page: KeyPageDep
) -> Page[CorrectiveActionRead]:
    await service.get(session, complaint_id)
    # A complaint has a handful: paged in memory, in the repository's order.
    found, cursor = page.of_sequence(
        await repository.corrective_actions(session, complaint_id), lambda a: (a.id,)
    )
    return Page(items=[service.read_action(a, clock.now()) for a in found], next_cursor=cursor)


@router.post(
    "/complaints/{complaint_id}/corrective-actions",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404),
)
async def add_corrective_action(
    complaint_id: Id,
    data: CorrectiveActionCreate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    response: Response,
) -> CorrectiveActionRead:
    """A corrective action with an owner, a due date and, later, an effectiveness check;
    it can outlive the complaint."""
    c = await service.get(session, complaint_id)
    a = await service.add_corrective_action(session, c, data, actor=principal, now=clock.now())
    set_etag(response, a.version)
    return service.read_action(a, clock.now())


@router.patch(
    "/complaints/{complaint_id}/corrective-actions/{action_id}",
    responses=problem_responses(404, 412),
)
async def update_corrective_action(
    complaint_id: Id,
    action_id: Id,
    data: CorrectiveActionUpdate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> CorrectiveActionRead:
    a = await repository.get_corrective_action(session, complaint_id, action_id)
    if a is None:
        raise NotFound(f"corrective action {action_id} of complaint {complaint_id} does not exist")
    check_if_match(if_match, a.version)
    a = await service.update_corrective_action(session, a, data, actor=principal, now=clock.now())
    set_etag(response, a.version)
    return service.read_action(a, clock.now())


@plans_router.get("/improvement-plans")
async def list_improvement_plans(
    session: SessionDep, _: ViewerDep, page: KeyPageDep
) -> Page[ImprovementPlanRead]:
    """Every improvement plan raised by a high-frequency problem, newest first."""
    found, cursor = page.of_sequence(await repository.plans(session), lambda p: (p.id,))
    return Page(items=[ImprovementPlanRead.model_validate(p) for p in found], next_cursor=cursor)


@plans_router.patch("/improvement-plans/{plan_id}", responses=problem_responses(404, 412))
async def update_improvement_plan(
    plan_id: Id,
    data: ImprovementPlanUpdate,
    session: SessionDep,
    _: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ImprovementPlanRead:
    """Give the plan an owner, a due date and its content; mark its progress."""
    plan = await repository.get_plan(session, plan_id)
    if plan is None:
        raise NotFound(f"improvement plan {plan_id} does not exist")
    check_if_match(if_match, plan.version)
    plan = await service.update_plan(session, plan, data, now=clock.now())
    set_etag(response, plan.version)
    return ImprovementPlanRead.model_validate(plan)
