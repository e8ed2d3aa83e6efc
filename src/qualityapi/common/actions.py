"""``POST /{resource}/{id}/{action}`` routes, one per action so each documents its own body.

Work orders and complaints (and later kinds) declare their actions as a table; this builds
the routes the same way for all of them: role, idempotency, If-Match, 409 on a disallowed
action, the body required or optional per action.

No ``from __future__ import annotations`` here: the endpoints are built in a loop and
FastAPI must see each one's real body type, not a string it cannot resolve.
"""

import enum
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.dependencies import AgentDep
from qualityapi.auth.principal import Principal
from qualityapi.common.concurrency import IfMatchHeader
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.idempotency import IdempotencyDep
from qualityapi.common.schemas import Id
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses

# (session, id, action, body, actor, now, if_match, response) -> the resource as read
Perform = Callable[
    [AsyncSession, uuid.UUID, Any, Any, Principal, Any, str | None, Response],
    Awaitable[BaseModel],
]


def add_action_routes(
    router: APIRouter,
    *,
    path: str,
    id_name: str,
    noun: str,
    actions: Mapping[Any, tuple[type[Any], bool, str]],
    perform: Perform,
    response_model: type[BaseModel],
) -> None:
    """``path`` like ``/complaints``; ``id_name`` the path parameter (``complaint_id``);
    ``actions``: action -> (body model, body required?, summary)."""
    for action, (model, required, summary) in actions.items():
        name = f"{str(action.value).replace('-', '_')}_{noun}"
        router.add_api_route(
            f"{path}/{{{id_name}}}/{action.value}",
            _endpoint(action, model, required, id_name, perform, name),
            methods=["POST"],
            response_model=response_model,
            summary=summary,
            description=(
                f"{summary}. Not allowed in the current status → 409 with `current_status` and "
                "`allowed_actions`. Send `If-Match` to guard against concurrent changes."
            ),
            responses=problem_responses(404, 409, 412, 503),
            name=name,
        )


def _endpoint(
    action: enum.Enum,
    model: type[Any],
    required: bool,
    id_name: str,
    perform: Perform,
    name: str,
) -> Callable[..., Awaitable[Any]]:
    SubjectId = Annotated[Id, Path(alias=id_name)]

    async def run(
        subject_id: uuid.UUID,
        session: AsyncSession,
        principal: Principal,
        clock: Any,
        idem: Any,
        response: Response,
        body: Any,
        if_match: str | None,
    ) -> Any:
        async def apply() -> BaseModel:
            return await perform(
                session, subject_id, action, body, principal, clock.now(), if_match, response
            )

        return await idem.run(apply, status_code=200, owner=principal)

    # Two signatures because FastAPI reads "required" from the absence of a default.
    if required:

        async def endpoint(
            subject_id: SubjectId,
            session: SessionDep,
            principal: AgentDep,
            clock: ClockDep,
            idem: IdempotencyDep,
            response: Response,
            body: Annotated[model, Body()],  # type: ignore[valid-type]
            if_match: IfMatchHeader = None,
        ) -> Any:
            return await run(subject_id, session, principal, clock, idem, response, body, if_match)

    else:

        async def endpoint(  # type: ignore[misc]
            subject_id: SubjectId,
            session: SessionDep,
            principal: AgentDep,
            clock: ClockDep,
            idem: IdempotencyDep,
            response: Response,
            body: Annotated[model | None, Body()] = None,  # type: ignore[valid-type]
            if_match: IfMatchHeader = None,
        ) -> Any:
            return await run(subject_id, session, principal, clock, idem, response, body, if_match)

    endpoint.__name__ = name
    return endpoint
