from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from qualityapi.auth import service
from qualityapi.auth.dependencies import AdminDep, AuthCache
from qualityapi.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.pagination import KeyPageDep
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses

router = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=ContractRoute)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_api_key(
    data: ApiKeyCreate, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> ApiKeyCreated:
    """Create a key. The response holds the key itself, once: it is stored only as a hash."""
    created = await service.create_key(
        session, name=data.name, role=data.role, actor=principal, at=clock.now()
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(created.key).model_dump(), key=created.raw)


@router.get("", responses=problem_responses(422))
async def list_api_keys(
    session: SessionDep,
    _: AdminDep,
    page: KeyPageDep,
    include_revoked: Annotated[bool, Query()] = False,
) -> Page[ApiKeyRead]:
    """Oldest first."""
    rows, cursor = page.split(
        await service.list_keys(session, include_revoked=include_revoked, page=page),
        lambda k: (k.created_at, k.id),
    )
    return Page(items=[ApiKeyRead.model_validate(k) for k in rows], next_cursor=cursor)


@router.delete("/{key_id}", responses=problem_responses(404, 422))
async def revoke_api_key(
    key_id: Id, request: Request, session: SessionDep, principal: AdminDep, clock: ClockDep
) -> ApiKeyRead:
    """Revoke a key. It stops working at once here, within the auth cache TTL elsewhere."""
    key = await service.revoke_key(session, key_id, actor=principal, at=clock.now())
    cache: AuthCache = request.app.state.auth_cache
    cache.clear()
    return ApiKeyRead.model_validate(key)
