"""What surveys do when work orders change, wired at the composition root.

Each runs inside the transaction that resolved or reopened the order, so the order and
its callback commit (or roll back) together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.config import Settings
from qualityapi.events import reactions
from qualityapi.surveys import rules, service
from qualityapi.work_orders import events as work_order_events
from qualityapi.work_orders import repository as work_orders
from qualityapi.work_orders.states import Action


def _order_id(payload: Mapping[str, Any]) -> uuid.UUID:
    return uuid.UUID(str(payload["data"]["work_order"]["id"]))


async def on_resolved(session: AsyncSession, payload: Mapping[str, Any], at: datetime) -> None:
    """A resolved order gets its callback (or a skipped record: the throttle)."""
    # The session's own object: the resolution is not flushed yet when this runs.
    wo = await work_orders.get(session, _order_id(payload))
    if wo is not None:
        await service.issue(session, wo, rules=rules.current(), now=at)


async def on_status_changed(
    session: AsyncSession, payload: Mapping[str, Any], at: datetime
) -> None:
    """A reopened order's pending callback is withdrawn; its next resolution issues a new
    one."""
    if payload["data"].get("action") != Action.reopen.value:
        return
    await service.cancel_pending(
        session, _order_id(payload), reason="the work order was reopened", now=at
    )


def install(settings: Settings) -> None:
    """Called by ``main.create_app``: the app's survey settings, and the reactions."""
    rules.configure(settings)
    reactions.on(work_order_events.RESOLVED, on_resolved)
    reactions.on(work_order_events.STATUS_CHANGED, on_status_changed)
