"""Policy and calendar edits reach running clocks in bounded batches, not in the request.

An edit records one ``sla_replans`` row in its own transaction and wakes the scanner;
each scanner pass then re-plans at most ``BATCH`` clocks of the oldest unfinished edit
(their subjects re-matched and re-planned as on a priority change), remembering the last
clock done, until none is left. Until then the policy, calendar and each affected
subject's SLA read say ``replanning: true``.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.sla import engine, policy_cache, repository, signals, subjects

BATCH = 200
# How often a scanner looks for edits made by other replicas when this one made none: the
# empty look costs a transaction, and most passes (one per burst of creates) find nothing.
LOOK_EVERY = 5.0

_next_look = 0.0


def should_look() -> bool:
    return time.monotonic() >= _next_look


def retry_later(after: float) -> None:
    """After a failed batch: not on every pass."""
    _look_again(after)


def _look_again(after: float) -> None:
    global _next_look
    _next_look = time.monotonic() + after


async def request(session: AsyncSession, reason: str, ref_id: uuid.UUID, now: datetime) -> None:
    """``reason``: "policy" or "calendar"."""
    await repository.request_replan(session, reason, ref_id, now)
    _look_again(0.0)
    signals.CLOCK_CHANGED.after_commit(session)


async def run_batch(session: AsyncSession, now: datetime, *, limit: int | None = None) -> int:
    """Re-plans the next batch of the oldest unfinished edit; the clocks it covered."""
    limit = limit or BATCH
    job = await repository.claim_replan(session)
    if job is None:
        _look_again(LOOK_EVERY)
        return 0
    # Another replica's edit may be newer than this process's compiled policies.
    policy_cache.invalidate()
    rows = await repository.clocks_to_replan(
        session, job.reason, job.ref_id, job.after_clock_id, limit
    )
    by_kind: dict[str, set[uuid.UUID]] = defaultdict(set)
    for row in rows:
        by_kind[row.subject_type].add(row.subject_id)
    for kind in sorted(by_kind):
        adapter = subjects.find(kind)
        if adapter is not None:
            await engine.replan_subjects(session, adapter, by_kind[kind], now)
    finished = len(rows) < limit
    _look_again(0.0)  # more of this edit, or the next one
    await repository.advance_replan(
        session,
        job.id,
        after=rows[-1].id if rows else job.after_clock_id,
        done=len(rows),
        at=now if finished else None,
    )
    return len(rows)
