"""``POST /complaints/{id}/{action}`` (built by ``common.actions``)."""

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import Principal
from qualityapi.common.actions import add_action_routes
from qualityapi.common.concurrency import check_if_match
from qualityapi.complaints import service
from qualityapi.complaints.router import read
from qualityapi.complaints.schemas import (
    AcceptHandoverBody,
    AssignBody,
    CallbackBody,
    ComplaintRead,
    ExtendBody,
    HandoverBody,
    Note,
    ReasonBody,
    ResolveBody,
)
from qualityapi.complaints.states import Action

router = APIRouter(tags=["complaint-actions"])

# action -> (body model, body required?, summary)
_ACTIONS: dict[Action, tuple[type[Any], bool, str]] = {
    Action.acknowledge: (Note, False, "Acknowledge receipt to the complainant"),
    Action.assign: (AssignBody, True, "Give it to a named investigator at once"),
    Action.handover: (HandoverBody, True, "Offer it to a named owner (takes effect on accept)"),
    Action.accept_handover: (AcceptHandoverBody, True, "The named owner accepts the handover"),
    Action.resolve: (
        ResolveBody,
        True,
        "Record the decision (root cause and corrective action for general and major)",
    ),
    Action.callback: (CallbackBody, True, "Record the customer's answer to the decision"),
    Action.close: (Note, False, "Close after the callback"),
    Action.reopen: (ReasonBody, True, "Reopen a resolved or closed complaint"),
    Action.extend: (ExtendBody, True, "Move a deadline later, with the reason"),
}


async def _perform(
    session: AsyncSession,
    complaint_id: uuid.UUID,
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
