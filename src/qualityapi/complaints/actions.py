"""``POST /complaints/{id}/{action}`` (built by ``common.actions``)."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import Principal
from qualityapi.common.actions import add_action_routes
from qualityapi.common.concurrency import check_if_match
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id
from qualityapi.complaints import service
from qualityapi.complaints.router import read
from qualityapi.complaints.schemas import (
    AcceptHandoverBody,
    AssignBody,
    CallbackBody,
    ComplaintNote,
    ComplaintRead,
    ExtendBody,
    HandoverBody,
    ReasonBody,
    ResolveBody,
)
from qualityapi.complaints.states import Action

router = APIRouter(tags=["complaint-actions"], route_class=ContractRoute)

# action -> (body model, body required?, summary)
_ACTIONS: dict[Action, tuple[type[Any], bool, str]] = {
    Action.acknowledge: (ComplaintNote, False, "Acknowledge receipt to the complainant"),
    Action.assign: (AssignBody, True, "Give it to a named investigator at once"),
    Action.handover: (HandoverBody, True, "Offer it to a named owner (takes effect on accept)"),
    Action.accept_handover: (AcceptHandoverBody, True, "The named owner accepts the handover"),
    Action.resolve: (
        ResolveBody,
        True,
        "Record the decision (root cause and corrective action for general and major)",
    ),
    Action.callback: (CallbackBody, True, "Record the customer's answer to the decision"),
    Action.close: (ComplaintNote, False, "Close after the callback"),
    Action.reopen: (ReasonBody, True, "Reopen a resolved or closed complaint"),
    Action.extend: (ExtendBody, True, "Move a deadline later, with the reason"),
}


async def _perform(
    session: AsyncSession,
    complaint_id: Id,
    action: Action,
    body: Any,
    principal: Principal,
    now: datetime,
    if_match: str | None,
    response: Response,
) -> ComplaintRead:
    c = await service.get(session, complaint_id, lock=True)
    check_if_match(if_match, c.version)
    c = await service.apply_action(session, c, action, body, actor=principal, now=now)
    return read(c, response)


add_action_routes(
    router,
    path="/complaints",
    id_name="complaint_id",
    noun="complaint",
    actions=_ACTIONS,
    perform=_perform,
    response_model=ComplaintRead,
)
