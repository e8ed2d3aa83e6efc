"""One retention pass: each kind of row in bounded batches, each batch its own short
transaction, with a pause between batches so requests never wait behind the job."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.config import Settings
from qualityapi.retention import repository

Prune = Callable[..., Awaitable[int]]
DELETED = Counter(
    "qualityapi_retention_deleted_rows_total", "Rows the retention job deleted", ["table"]
)


@dataclass(frozen=True)
class Policy:
    """How long each kind of row is kept (None: for ever)."""

    deliveries: timedelta | None
    attempts: timedelta | None
    outbox: timedelta | None
    idempotency: timedelta | None
    batch: int = 1000
    # Batches per kind and pass: a huge first backlog drains over several passes.
    max_batches: int = 200
    # Between batches: on SQLite a statement runs on the event loop (db/sqlite_inline).
    pause_seconds: float = 0.05

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        def days(value: float) -> timedelta | None:
            return timedelta(days=value) if value > 0 else None

        return cls(
            deliveries=days(settings.retention_webhook_deliveries_days),
            attempts=days(settings.retention_webhook_attempts_days),
            outbox=days(settings.retention_outbox_days),
            idempotency=timedelta(hours=settings.retention_idempotency_hours),
            batch=settings.retention_batch,
        )


async def prune(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime, policy: Policy
) -> dict[str, int]:
    """Deletes what is due; returns rows deleted per kind. Attempts first (the largest
    table), then deliveries, then the messages they belonged to."""
    plan: list[tuple[str, Prune, timedelta | None]] = [
        ("webhook_attempts", repository.prune_attempts, policy.attempts),
        ("webhook_deliveries", repository.prune_deliveries, policy.deliveries),
        ("outbox_messages", repository.prune_outbox, policy.outbox),
        ("idempotency_keys", repository.prune_idempotency, policy.idempotency),
    ]
    deleted: dict[str, int] = {}
    for name, fn, keep in plan:
        if keep is None:
            continue
        before = now - keep
        total = 0
        for _ in range(policy.max_batches):
            async with sessionmaker() as session:
                n = await fn(session, before=before, batch=policy.batch)
                await session.commit()
            total += n
            if n == 0:
                break
            await asyncio.sleep(policy.pause_seconds)
        deleted[name] = total
        if total:
            DELETED.labels(name).inc(total)
    return deleted
