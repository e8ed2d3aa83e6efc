"""Key-node checklists (001 §2.1.2) and their versioned templates, plus service logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import Principal
from qualityapi.common.concurrency import check_if_match
from qualityapi.common.jsonable import jsonable
from qualityapi.errors import NotFound, Unprocessable
from qualityapi.timeline import repository as timeline
from qualityapi.work_orders import repository
from qualityapi.work_orders.models import (
    ChecklistTemplate,
    WorkOrder,
    WorkOrderChecklist,
    WorkOrderLog,
)
from qualityapi.work_orders.schemas import (
    ChecklistItemRead,
    ChecklistRead,
    ChecklistTemplateCreate,
    ChecklistUpdate,
    WorkOrderLogCreate,
)
from qualityapi.work_orders.service import REPORTED_AT_SKEW, SUBJECT

DEFAULT_TEMPLATE = "default"


async def _template_for(
    session: AsyncSession, wo: WorkOrder
) -> tuple[WorkOrderChecklist | None, ChecklistTemplate]:
    """A checklist follows the newest default template until it is first saved, then keeps
    the version it was saved against (templates are reviewed twice a year; an order in
    flight must not change under the engineer's feet)."""
    saved = await repository.get_checklist(session, wo.id)
    if saved is not None:
        template = await repository.get_template(session, saved.template_id)
    else:
        template = await repository.latest_template(session, DEFAULT_TEMPLATE)
    if template is None:
        raise NotFound("no checklist template exists; create one under /v1/checklist-templates")
    return saved, template


def _read(
    wo: WorkOrder, saved: WorkOrderChecklist | None, template: ChecklistTemplate
) -> ChecklistRead:
    states: dict[str, Any] = saved.states if saved is not None else {}
    items = []
    for item in template.items:
        state = states.get(item["key"], {})
        items.append(
            ChecklistItemRead(
                key=item["key"],
                label=item["label"],
                done=bool(state.get("done", False)),
                note=state.get("note"),
                done_at=state.get("done_at"),
                done_by=state.get("done_by"),
            )
        )
    return ChecklistRead(
        work_order_id=wo.id,
        template_id=template.id,
        template_name=template.name,
        template_version=template.version,
        items=items,
        complete=all(i.done for i in items),
        version=saved.version if saved is not None else 0,
        updated_at=saved.updated_at if saved is not None else None,
        updated_by=saved.updated_by if saved is not None else None,
    )


async def get_checklist(session: AsyncSession, wo: WorkOrder) -> ChecklistRead:
    saved, template = await _template_for(session, wo)
    return _read(wo, saved, template)


async def put_checklist(
    session: AsyncSession,
    wo: WorkOrder,
    data: ChecklistUpdate,
    *,
    if_match: str | None,
    actor: Principal,
    now: datetime,
) -> ChecklistRead:
    saved, template = await _template_for(session, wo)
    check_if_match(if_match, saved.version if saved is not None else 0)
    known = {item["key"] for item in template.items}
    unknown = [i.key for i in data.items if i.key not in known]
    if unknown:
        raise Unprocessable(
            f"items: unknown key(s) {', '.join(unknown)}; "
            f"this checklist has {', '.join(sorted(known))}"
        )
    states: dict[str, Any] = dict(saved.states) if saved is not None else {}
    changes: dict[str, dict[str, Any]] = {}
    for item in data.items:
        old = states.get(item.key, {})
        if bool(old.get("done", False)) == item.done and old.get("note") == item.note:
            continue
        done_at = old.get("done_at") if old.get("done") and item.done else None
        states[item.key] = {
            "done": item.done,
            "note": item.note,
            "done_at": done_at or (jsonable(now) if item.done else None),
            "done_by": (old.get("done_by") or actor.name) if item.done else None,
        }
        changes[item.key] = {"old": bool(old.get("done", False)), "new": item.done}
    if saved is None:
        saved = WorkOrderChecklist(
            work_order_id=wo.id,
            template_id=template.id,
            states=states,
            updated_at=now,
            updated_by=actor.name,
        )
        session.add(saved)
    elif changes:
        saved.states = states
        saved.updated_at = now
        saved.updated_by = actor.name
    if changes:
        await timeline.add(
            session,
            subject_type=SUBJECT,
            subject_id=wo.id,
            type="checklist_updated",
            at=now,
            actor=actor,
            changes=changes,
        )
    await session.flush()
    return _read(wo, saved, template)


async def create_template(
    session: AsyncSession, data: ChecklistTemplateCreate, *, actor: Principal, now: datetime
) -> ChecklistTemplate:
    latest = await repository.latest_template(session, data.name)
    template = ChecklistTemplate(
        name=data.name,
        version=(latest.version + 1) if latest else 1,
        items=[i.model_dump() for i in data.items],
        created_at=now,
        created_by=actor.name,
    )
    session.add(template)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="checklist_template.created",
        resource_type="checklist_template",
        resource_id=template.id,
        before=None,
        after={"name": template.name, "version": template.version, "items": template.items},
    )
    return template


async def get_template(session: AsyncSession, template_id: Any) -> ChecklistTemplate:
    template = await repository.get_template(session, template_id)
    if template is None:
        raise NotFound(f"checklist template {template_id} does not exist")
    return template


async def add_log(
    session: AsyncSession,
    wo: WorkOrder,
    data: WorkOrderLogCreate,
    *,
    actor: Principal,
    now: datetime,
) -> WorkOrderLog:
    occurred_at = data.occurred_at or now
    # A service log records what was done on this order: not before it was reported, and
    # not ahead of now (a year typed 2199 would sort above every real entry).
    if occurred_at > now + REPORTED_AT_SKEW:
        raise Unprocessable("occurred_at: lies in the future; send when it was done")
    if occurred_at < wo.reported_at:
        raise Unprocessable("occurred_at: before the work order was reported (its reported_at)")
    entry = WorkOrderLog(
        work_order_id=wo.id,
        occurred_at=occurred_at,
        place=data.place,
        action=data.action,
        customer_feedback=data.customer_feedback,
        author_id=actor.key_id,
        author_name=actor.name,
        created_at=now,
    )
    session.add(entry)
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=wo.id,
        type="log_added",
        at=now,
        actor=actor,
        note=data.action,
    )
    await session.flush()
    return entry
