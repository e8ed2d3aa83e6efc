"""What other parts of the service may react to in a work order's life, in its transaction.

The SLA engine depends on work orders, not the other way round: it registers here at
start-up (main.py) and work orders call every registered listener.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.work_orders.models import WorkOrder
from qualityapi.work_orders.states import Action


class WorkOrderListener(Protocol):
    async def creating(self, session: AsyncSession, values: dict[str, Any], now: datetime) -> None:
        """Before the row is inserted; may set columns in ``values`` (e.g. warning_level)."""

    async def acted(
        self, session: AsyncSession, wo: WorkOrder, action: Action, now: datetime
    ) -> None: ...

    async def updated(
        self, session: AsyncSession, wo: WorkOrder, changed: set[str], now: datetime
    ) -> None: ...


_listeners: list[WorkOrderListener] = []


def register(listener: WorkOrderListener) -> None:
    if all(type(existing) is not type(listener) for existing in _listeners):
        _listeners.append(listener)


def listeners() -> tuple[WorkOrderListener, ...]:
    return tuple(_listeners)
