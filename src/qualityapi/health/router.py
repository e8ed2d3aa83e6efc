from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from qualityapi.db.migrations import current_revision
from qualityapi.health.metrics import OPERATIONS

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unreachable"]
    migrations: Literal["at_head", "behind", "unknown"]
    revision: str | None
    head: str | None


@router.get("/healthz")
async def healthz() -> Health:
    """The process is up. Says nothing about the database: see /readyz."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Readiness, "description": "Not ready"}})
async def readyz(request: Request) -> Readiness:
    """Ready to serve: the database answers and its schema is at the migrations' head."""
    engine: AsyncEngine = request.app.state.engine
    head: str | None = request.app.state.migrations_head
    revision: str | None = None
    database: Literal["ok", "unreachable"] = "ok"
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            try:
                revision = await current_revision(conn)
            except SQLAlchemyError:
                revision = None  # no alembic_version table: never migrated
    except (SQLAlchemyError, OSError):
        database = "unreachable"
    migrations: Literal["at_head", "behind", "unknown"]
    if database != "ok" or head is None:
        migrations = "unknown"
    else:
        migrations = "at_head" if revision == head else "behind"
    ready = database == "ok" and migrations == "at_head"
    body = Readiness(
        status="ready" if ready else "not_ready",
        database=database,
        migrations=migrations,
        revision=revision,
        head=head,
    )
    if not ready:
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return body


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    await OPERATIONS.refresh()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
