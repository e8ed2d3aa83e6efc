"""Baselines for the work-order benchmark: the least a FastAPI endpoint can do.

- ``GET /bare``: a constant JSON object, no database (framework + server floor).
- ``POST /insert``: one INSERT through SQLAlchemy core, returns the row (201).
- ``GET /select/{id}``: one SELECT by primary key, returns the row.

It builds its engine with the application's own ``make_engine`` so that pool settings
(one connection for SQLite, the pool size for PostgreSQL) match; otherwise the ratios
would compare pool configurations rather than application code.

Run: ``BENCH_DATABASE_URL=... uvicorn bench.baseline_app:create_app --factory``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, MetaData, Table, Text, Uuid, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

try:
    from qualityapi.db.engine import make_engine
except ImportError:  # lets the baseline run before (or without) the application package
    from sqlalchemy.ext.asyncio import create_async_engine

    def make_engine(url: str) -> AsyncEngine:  # type: ignore[misc]
        if url.startswith("sqlite"):
            return create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        return create_async_engine(url)


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./bench.db"

metadata = MetaData()
bench_rows = Table(
    "bench_rows",
    metadata,
    Column("id", Uuid(as_uuid=True), primary_key=True),
    Column("title", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class InsertIn(BaseModel):
    title: str = "Bench"


def _row_json(row_id: uuid.UUID, title: str, created_at: datetime) -> dict[str, Any]:
    return {"id": str(row_id), "title": title, "created_at": created_at.isoformat()}


def create_app(database_url: str | None = None) -> FastAPI:
    url = database_url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    engine = make_engine(url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="qualityapi bench baseline", lifespan=lifespan, openapi_url=None)

    @app.get("/bare")
    async def bare() -> dict[str, Any]:
        return {"status": "ok", "service": "baseline"}

    @app.post("/insert", status_code=201)
    async def insert_row(payload: InsertIn) -> dict[str, Any]:
        row_id = uuid.uuid4()
        created_at = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(
                insert(bench_rows).values(id=row_id, title=payload.title, created_at=created_at)
            )
        return _row_json(row_id, payload.title, created_at)

    @app.get("/select/{row_id}")
    async def select_row(row_id: str) -> dict[str, Any]:
        try:
            key = uuid.UUID(row_id)
        except ValueError:
            raise HTTPException(status_code=404, detail="not found") from None
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(bench_rows.c.id, bench_rows.c.title, bench_rows.c.created_at).where(
                        bench_rows.c.id == key
                    )
                )
            ).first()
        if row is None:
            raise HTTPException(status_code=404, detail="not found")
        return _row_json(row.id, row.title, row.created_at)

    return app
