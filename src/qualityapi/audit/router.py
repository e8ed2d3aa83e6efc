from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qualityapi.audit import repository
from qualityapi.audit.schemas import AuditEventRead
from qualityapi.auth.dependencies import AdminDep
from qualityapi.common.pagination import SeqPageDep
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Page, UtcDatetime
from qualityapi.db.session import SessionDep

router = APIRouter(tags=["audit"], route_class=ContractRoute)


@router.get("/audit-events")
async def list_audit_events(
    session: SessionDep,
    _: AdminDep,
    page: SeqPageDep,
    resource_type: Annotated[str | None, Query(max_length=50)] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[UtcDatetime | None, Query()] = None,
) -> Page[AuditEventRead]:
    """Every configuration change: who, when, before and after. Newest first."""
    found = await repository.list_page(
        session,
        before_id=page.cursor_id,
        limit=page.limit,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
    )
    rows, cursor = page.split(list(found))
    return Page(items=[AuditEventRead.model_validate(e) for e in rows], next_cursor=cursor)
