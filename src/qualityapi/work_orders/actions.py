"""``POST /work-orders/{id}/{action}`` (built by ``common.actions``)."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import Principal
from qualityapi.common.actions import add_action_routes
from qualityapi.common.concurrency import check_if_match
from qualityapi.common.routing import ContractRoute
from qualityapi.work_orders import service
from qualityapi.work_orders.router import read
from qualityapi.work_orders.schemas import (
    ActionNote,
    AssignAction,
    ReasonAction,
    ResolveAction,
    WorkOrderRead,
)
from qualityapi.work_orders.states import Action

router = APIRouter(tags=["work-order-actions"], route_class=ContractRoute)

# action -> (body model, body required?, summary)
_ACTIONS: dict[Action, tuple[type[Any], bool, str]] = {
    Action.assign: (AssignAction, True, "Assign (or re-assign) a handler"),
    Action.respond: (ActionNote, False, "Record the first response"),
    Action.arrive: (ActionNote, False, "Record arrival on site"),
    Action.hold: (ReasonAction, True, "Pause: waiting on the customer or a third party"),
    Action.resume: (ActionNote, False, "Continue after a hold"),
    Action.resolve: (ResolveAction, False, "Mark resolved"),
    Action.close: (ActionNote, False, "Close a resolved order"),
    Action.reopen: (ReasonAction, True, "Reopen a resolved or closed order"),
    Action.cancel: (ReasonAction, True, "Cancel; stops every clock"),
}


async def _perform(
    session: AsyncSession,
    work_order_id: uuid.UUID,
    action: Action,
    body: Any,
    principal: Principal,
    now: datetime,
    if_match: str | None,
    response: Response,
) -> WorkOrderRead:
    wo = await service.get(session, work_order_id, lock=True)
    check_if_match(if_match, wo.version)
    wo = await service.apply_action(session, wo, action, body, actor=principal, now=now)
    return read(wo, response)


add_action_routes(
    router,
    path="/work-orders",
    id_name="work_order_id",
    noun="work_order",
    actions=_ACTIONS,
    perform=_perform,
    response_model=WorkOrderRead,
)
