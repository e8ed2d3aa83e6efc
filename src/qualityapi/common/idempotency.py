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

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Index, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from qualityapi.auth.principal import Principal
from qualityapi.common.concurrency import etag_for
from qualityapi.common.dependencies import ClockDep
from qualityapi.db.base import Base, UuidPk
from qualityapi.db.session import SessionDep
from qualityapi.errors import Conflict, IdempotencyInFlight, Unprocessable

M = TypeVar("M", bound=BaseModel)


# In a record whose response held secrets: which fields were left out.
_WITHHELD = "__withheld__"


class IdempotencyRecord(UuidPk, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal_key", "key"),
        # The retention job deletes expired keys oldest first, in bounded batches.
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    principal_key: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]]
    # The first response's Location (a create's), sent again on every replay.
    location: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]


class Idempotency:
    def __init__(
        self,
        session: AsyncSession,
        *,
        key: str | None,
        fingerprint: str,
        now: datetime,
        response: Response | None = None,
    ) -> None:
        self._session = session
        # The endpoint's own response object (FastAPI hands dependencies the same one), so
        # the Location a create sets is recorded with its result.
        self._response = response
        self.key = key
        self._fingerprint = fingerprint
        self._now = now

    async def run(
        self,
        fn: Callable[[], Awaitable[M]],
        *,
        status_code: int,
        owner: Principal,
        secret: frozenset[str] = frozenset(),
    ) -> M | JSONResponse:
        """Runs ``fn`` once per (owner, key); a repeat gets the first response back.

        ``secret`` names fields the service must not keep (a link's token: only its hash is
        stored). They are left out of the record, so a repeat cannot be answered with the
        first response: it is a 409 that says so, and ``fn`` still runs only once."""
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
                reason = (
                    "this Idempotency-Key was used before with a different request; "
                    "use a new key for a new request"
                )
                loc = ["header", "Idempotency-Key"]
                raise Unprocessable(
                    reason, extra={"errors": [{"loc": loc, "msg": reason, "type": "key_reused"}]}
                )
            if previous.response_body.get(_WITHHELD):
                raise Conflict(
                    "a request with this Idempotency-Key already succeeded; its result "
                    f"held {', '.join(previous.response_body[_WITHHELD])}, which the service "
                    "does not keep, so it cannot be sent again; that first result still "
                    "stands: send the request again with a new key to replace it"
                )
            headers = {"Idempotent-Replayed": "true"}
            version = previous.response_body.get("version")
            if isinstance(version, int):
                headers["ETag"] = etag_for(version)
            if previous.location is not None:
                headers["Location"] = previous.location
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
                response_body=result.model_dump(mode="json", exclude=set(secret))
                | ({_WITHHELD: sorted(secret)} if secret else {}),
                location=self._response.headers.get("location")
                if self._response is not None
                else None,
                created_at=self._now,
            )
        )
        try:
            await self._session.flush()
        except IntegrityError as exc:
            # Another request with the same key committed first; ours is rolled back whole.
            raise IdempotencyInFlight(
                "a request with this Idempotency-Key was processed concurrently; "
                "retry to receive its result"
            ) from exc
        return result


async def _idempotency(
    request: Request,
    response: Response,
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
        response=response,
    )


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
