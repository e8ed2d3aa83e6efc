"""In-process signals fired after a commit, so background work wakes at once.

A service marks the session (``signal.after_commit(session)``); whoever commits (the
request boundary, or a job through ``commit``) fires the marked signals afterwards, so
a subscriber never looks before the change is visible. Other replicas find the change
on their own next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

_AFTER_COMMIT = "after_commit"

Subscriber = Callable[[datetime | None], None]
"""Called with the earliest instant the change needs attention, None for "at once"."""


class Signal:
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def notify(self, at: datetime | None = None) -> None:
        for callback in tuple(self._subscribers):
            callback(at)

    def after_commit(self, session: AsyncSession, at: datetime | None = None) -> None:
        """Fires once after the commit however often it is marked, with the earliest
        ``at`` marked (``None``, "at once", is the earliest of all): a subscriber that is
        already due to look by then need not wake for it."""
        pending: dict[Signal, datetime | None] = session.info.setdefault(_AFTER_COMMIT, {})
        if self in pending:
            before = pending[self]
            at = None if before is None or at is None else min(before, at)
        pending[self] = at


def fire_after_commit(session: AsyncSession) -> None:
    """Call right after ``session.commit()`` succeeded."""
    pending: dict[Signal, datetime | None] = session.info.pop(_AFTER_COMMIT, {})
    for signal, at in pending.items():
        signal.notify(at)


async def commit(session: AsyncSession) -> None:
    await session.commit()
    fire_after_commit(session)
