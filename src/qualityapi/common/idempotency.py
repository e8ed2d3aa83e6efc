"""``Idempotency-Key`` on POST: a repeat with the same key returns the first result.

The record is written in the same transaction as the change it describes, so a crash can
never leave a change without its record (or a record without its change). Keys are scoped
to the API key that sent them, as Stripe does.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.auth.principal import Principal
from qualityapi.common.concurrency import etag_for
from qualityapi.common.dependencies import ClockDep
from qualityapi.db.base import Base, UuidPk
from qualityapi.db.session import SessionDep
from qualityapi.errors import Conflict, Unprocessable

M = TypeVar("M", bound=BaseModel)


class IdempotencyRecord(UuidPk, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal_key", "key"),)

    principal_key: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Idempotency:
    def __init__(
        self,
        session: AsyncSession,
        *,
        key: str | None,
        fingerprint: str,
        now: datetime,
    ) -> None:
        self._session = session
        self.key = key
        self._fingerprint = fingerprint
        self._now = now

    async def run(
        self, fn: Callable[[], Awaitable[M]], *, status_code: int, owner: Principal
    ) -> M | JSONResponse:
        """Runs ``fn`` once per (owner, key); a repeat gets the first response back."""
        if self.key is None:
            return await fn()
        principal_key = str(owner.key_id or uuid.UUID(int=0))
        stmt = select(IdempotencyRecord).where(
            IdempotencyRecord.principal_key == principal_key,
            IdempotencyRecord.key == self.key,
        )
        previous = (await self._session.execute(stmt)).scalar_one_or_none()
        if previous is not None:
            if previous.fingerprint != self._fingerprint:
                raise Unprocessable(
                    "this Idempotency-Key was used before with a different request; "
                    "use a new key for a new request"
                )
            headers = {"Idempotent-Replayed": "true"}
            version = previous.response_body.get("version")
            if isinstance(version, int):
                headers["ETag"] = etag_for(version)
            return JSONResponse(
                previous.response_body, status_code=previous.status_code, headers=headers
            )
        result = await fn()
        self._session.add(
            IdempotencyRecord(
                principal_key=principal_key,
                key=self.key,
                fingerprint=self._fingerprint,
                status_code=status_code,
                response_body=result.model_dump(mode="json"),
                created_at=self._now,
            )
        )
        try:
            await self._session.flush()
        except IntegrityError as exc:
            # Another request with the same key committed first; ours is rolled back whole.
            raise Conflict(
                "a request with this Idempotency-Key was processed concurrently; "
                "retry to receive its result"
            ) from exc
        return result


async def _idempotency(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Any unique string; a repeat with the same key returns the first result.",
        ),
    ] = None,
) -> Idempotency:
    fingerprint = ""
    if idempotency_key is not None:
        body = await request.body()
        digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
        digest.update(body)
        fingerprint = digest.hexdigest()
    return Idempotency(
        session,
        key=idempotency_key,
        fingerprint=fingerprint,
        now=clock.now(),
    )


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
