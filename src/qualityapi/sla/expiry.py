"""Whether an ``sla.warning`` still holds when its turn to be delivered comes.

A warning says "this deadline is near". If the clock was met, stopped or re-planned (its
deadline moved) before the message went out, the warning is no longer true and is not
sent: the dispatcher marks its delivery expired. Breaches and escalations are facts and
never expire.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.jsonable import jsonable
from qualityapi.db.base import table_of
from qualityapi.sla.events import WARNING
from qualityapi.sla.models import ClockState, SlaClock

_clocks = table_of(SlaClock)
_OVER = (ClockState.met, ClockState.cancelled)


def _clock_id(payload: Mapping[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(payload["data"]["clock_id"]))
    except (KeyError, TypeError, ValueError):
        return None


async def stale_warnings(
    session: AsyncSession, payloads: Mapping[int, Mapping[str, Any]]
) -> set[int]:
    """The keys of ``payloads`` (message envelopes) that are warnings no longer true."""
    wanted = {key: _clock_id(p) for key, p in payloads.items() if p.get("type") == WARNING}
    ids = {cid for cid in wanted.values() if cid is not None}
    if not ids:
        return set()
    c = _clocks.c
    rows = (await session.execute(select(c.id, c.state, c.due_at).where(c.id.in_(ids)))).all()
    clocks = {r.id: r for r in rows}
    stale: set[int] = set()
    for key, clock_id in wanted.items():
        clock = clocks.get(clock_id) if clock_id else None
        if clock is None:
            continue  # not a clock we know: deliver rather than drop
        due_then = payloads[key]["data"].get("due_at")
        if ClockState(clock.state) in _OVER or jsonable(clock.due_at) != due_then:
            stale.add(key)
    return stale
