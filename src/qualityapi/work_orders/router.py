"""Work-order resources: CRUD, timeline, logs, checklist. Actions live in actions.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from qualityapi.auth.dependencies import AgentDep, SupervisorDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.idempotency import IdempotencyDep
from qualityapi.common.pagination import KeyPageDep, PageDep, SeqPageDep, split_page
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page, UtcDatetime, check_period
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
from qualityapi.sla import engine as sla_engine
from qualityapi.sla.schemas import SubjectSlaRead
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.timeline import service as timeline
from qualityapi.timeline.schemas import TimelineEventRead
from qualityapi.work_orders import fieldwork, repository, service
from qualityapi.work_orders.models import Priority, WorkOrder
from qualityapi.work_orders.schemas import (
    ChecklistRead,
    ChecklistTemplateCreate,
    ChecklistTemplateRead,
    ChecklistUpdate,
    WorkOrderCreate,
    WorkOrderLogCreate,
    WorkOrderLogRead,
    WorkOrderRead,
    WorkOrderUpdate,
)
from qualityapi.work_orders.sla import ADAPTER
from qualityapi.work_orders.states import Status

router = APIRouter(tags=["work-orders"], route_class=ContractRoute)
templates_router = APIRouter(
    prefix="/checklist-templates", tags=["checklist-templates"], route_class=ContractRoute
)


def read(wo: WorkOrder, response: Response | None = None) -> WorkOrderRead:
    if response is not None:
        set_etag(response, wo.version)
    return WorkOrderRead.model_validate(wo)


@router.post(
    "/work-orders",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkOrderRead,
    responses=problem_responses(409),
)
async def create_work_order(
    data: WorkOrderCreate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Create a work order. `reported_at` may lie in the past (the customer called earlier)."""

    async def create() -> WorkOrderRead:
        values = await service.create(session, data, actor=principal, now=clock.now())
        response.headers["Location"] = f"/v1/work-orders/{values['id']}"
        set_etag(response, values["version"])
        return service.read_values(values)

    return await idem.run(create, status_code=201, owner=principal)


@router.get("/work-orders")
async def list_work_orders(
    session: SessionDep,
    _: ViewerDep,
    page: PageDep,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    warning_level: Annotated[list[WarningLevel] | None, Query()] = None,
    assignee_id: Annotated[Id | None, Query()] = None,
    team_id: Annotated[Id | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    created_from: Annotated[UtcDatetime | None, Query()] = None,
    created_to: Annotated[UtcDatetime | None, Query()] = None,
) -> Page[WorkOrderRead]:
    """Newest first. Repeat `status`, `priority` or `warning_level` to match any of several."""
    check_period(created_from, created_to, start_name="created_from", end_name="created_to")
    f = repository.WorkOrderFilter(
        status=status_ or (),
        priority=priority or (),
        warning_level=warning_level or (),
        assignee_id=assignee_id,
        team_id=team_id,
        category=category,
        created_from=created_from,
        created_to=created_to,
    )
    rows, cursor = split_page(list(await repository.list_page(session, page, f)), page)
    items = [service.read_values(row._asdict()) for row in rows]
    return Page(items=items, next_cursor=cursor)


@router.get("/work-orders/{work_order_id}", responses=problem_responses(404))
async def get_work_order(
    work_order_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> WorkOrderRead:
    values = await service.get_values(session, work_order_id)
    set_etag(response, values["version"])
    return service.read_values(values)


@router.patch("/work-orders/{work_order_id}", responses=problem_responses(404, 409, 412))
async def update_work_order(
    work_order_id: Id,
    data: WorkOrderUpdate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> WorkOrderRead:
    wo = await service.get(session, work_order_id, lock=True)
    check_if_match(if_match, wo.version)
    wo = await service.update(session, wo, data, actor=principal, now=clock.now())
    return read(wo, response)


@router.get("/work-orders/{work_order_id}/sla", responses=problem_responses(404))
async def get_work_order_sla(
    work_order_id: Id, session: SessionDep, _: ViewerDep, clock: ClockDep
) -> SubjectSlaRead:
    """Every SLA clock of the order: deadlines, time used and left, pauses, escalation."""
    await service.get_values(session, work_order_id)
    return await sla_engine.explain(session, ADAPTER, work_order_id, clock.now())


@router.get("/work-orders/{work_order_id}/events", responses=problem_responses(400, 404))
async def list_work_order_events(
    work_order_id: Id, session: SessionDep, _: ViewerDep, page: SeqPageDep
) -> Page[TimelineEventRead]:
    """The full timeline, oldest first: who did what, when, old → new."""
    await service.get(session, work_order_id)
    return await timeline.page(
        session, subject_type=service.SUBJECT, subject_id=work_order_id, params=page
    )


@router.get("/work-orders/{work_order_id}/logs", responses=problem_responses(400, 404))
async def list_work_order_logs(
    work_order_id: Id, session: SessionDep, _: ViewerDep, page: SeqPageDep
) -> Page[WorkOrderLogRead]:
    await service.get(session, work_order_id)
    found = await repository.list_logs(
        session, work_order_id, after_id=page.cursor_id, limit=page.limit
    )
    rows, cursor = page.split(list(found))
    return Page(items=[WorkOrderLogRead.model_validate(e) for e in rows], next_cursor=cursor)


@router.post(
    "/work-orders/{work_order_id}/logs",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkOrderLogRead,
    responses=problem_responses(404, 409),
)
async def add_work_order_log(
    work_order_id: Id,
    data: WorkOrderLogCreate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    idem: IdempotencyDep,
) -> Any:
    """A service log entry: time, place, key action, customer feedback."""

    async def add() -> WorkOrderLogRead:
        wo = await service.get(session, work_order_id)
        entry = await fieldwork.add_log(session, wo, data, actor=principal, now=clock.now())
        return WorkOrderLogRead.model_validate(entry)

    return await idem.run(add, status_code=201, owner=principal)


@router.get("/work-orders/{work_order_id}/checklist", responses=problem_responses(404))
async def get_work_order_checklist(
    work_order_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> ChecklistRead:
    wo = await service.get(session, work_order_id)
    checklist = await fieldwork.get_checklist(session, wo)
    set_etag(response, checklist.version)
    return checklist


@router.put("/work-orders/{work_order_id}/checklist", responses=problem_responses(404, 409, 412))
async def put_work_order_checklist(
    work_order_id: Id,
    data: ChecklistUpdate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ChecklistRead:
    """Set items done or not done. Items not listed keep their state."""
    wo = await service.get(session, work_order_id)
    checklist = await fieldwork.put_checklist(
        session, wo, data, if_match=if_match, actor=principal, now=clock.now()
    )
    set_etag(response, checklist.version)
    return checklist


@templates_router.get("")
async def list_checklist_templates(
    session: SessionDep, _: ViewerDep, page: KeyPageDep
) -> Page[ChecklistTemplateRead]:
    """Every version of every template, by name, then version."""
    rows, cursor = page.split(
        await repository.list_templates(session, page), lambda t: (t.name, t.version)
    )
    return Page(items=[ChecklistTemplateRead.model_validate(t) for t in rows], next_cursor=cursor)


@templates_router.post("", status_code=status.HTTP_201_CREATED)
async def create_checklist_template(
    data: ChecklistTemplateCreate, session: SessionDep, principal: SupervisorDep, clock: ClockDep
) -> ChecklistTemplateRead:
    """Adds a new version of the named template; orders already saved keep their version."""
    template = await fieldwork.create_template(session, data, actor=principal, now=clock.now())
    return ChecklistTemplateRead.model_validate(template)


@templates_router.get("/{template_id}", responses=problem_responses(404))
async def get_checklist_template(
    template_id: Id, session: SessionDep, _: ViewerDep
) -> ChecklistTemplateRead:
    return ChecklistTemplateRead.model_validate(await fieldwork.get_template(session, template_id))
