"""``POST /work-orders/{id}/{action}``: one route per action so each documents its own body.

No ``from __future__ import annotations`` here: the endpoints are built in a loop and
FastAPI must see each one's real body type, not a string it cannot resolve.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from qualityapi.auth.dependencies import AgentDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.idempotency import IdempotencyDep
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
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

router = APIRouter(tags=["work-order-actions"])

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


def _endpoint(action: Action, model: type[Any], required: bool) -> Callable[..., Awaitable[Any]]:
    async def run(
        work_order_id: uuid.UUID,
        session: SessionDep,
        principal: AgentDep,
        clock: ClockDep,
        idem: IdempotencyDep,
        response: Response,
        body: Any,
        if_match: str | None,
    ) -> Any:
        async def apply() -> WorkOrderRead:
            wo = await service.get(session, work_order_id)
            check_if_match(if_match, wo.version)
            wo = await service.apply_action(
                session, wo, action, body, actor=principal, now=clock.now()
            )
            return read(wo, response)

        return await idem.run(apply, status_code=200, owner=principal)

    # Two signatures because FastAPI reads "required" from the absence of a default.
    if required:

        async def endpoint(
            work_order_id: uuid.UUID,
            session: SessionDep,
            principal: AgentDep,
            clock: ClockDep,
            idem: IdempotencyDep,
            response: Response,
            body: Annotated[model, Body()],  # type: ignore[valid-type]
            if_match: IfMatchHeader = None,
        ) -> Any:
            return await run(
                work_order_id, session, principal, clock, idem, response, body, if_match
            )

    else:

        async def endpoint(  # type: ignore[misc]
            work_order_id: uuid.UUID,
            session: SessionDep,
            principal: AgentDep,
            clock: ClockDep,
            idem: IdempotencyDep,
            response: Response,
            body: Annotated[model | None, Body()] = None,  # type: ignore[valid-type]
            if_match: IfMatchHeader = None,
        ) -> Any:
            return await run(
                work_order_id, session, principal, clock, idem, response, body, if_match
            )

    endpoint.__name__ = f"{action.value}_work_order"
    return endpoint


for _action, (_model, _required, _summary) in _ACTIONS.items():
    router.add_api_route(
        f"/work-orders/{{work_order_id}}/{_action.value}",
        _endpoint(_action, _model, _required),
        methods=["POST"],
        response_model=WorkOrderRead,
        summary=_summary,
        description=(
            f"{_summary}. Not allowed in the current status → 409 with `current_status` and "
            "`allowed_actions`. Send `If-Match` to guard against concurrent changes."
        ),
        responses=problem_responses(404, 409, 412),
        name=f"{_action.value}_work_order",
    )
