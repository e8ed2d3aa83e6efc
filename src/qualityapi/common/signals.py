"""In-process signals fired after a commit, so background work wakes at once.

A service marks the session (``signal.after_commit(session)``); whoever commits (the
request boundary, or a job through ``commit``) fires the marked signals afterwards, so
a subscriber never looks before the change is visible. Other replicas find the change
on their own next poll.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

_AFTER_COMMIT = "after_commit"


class Signal:
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def notify(self) -> None:
        for callback in tuple(self._subscribers):
            callback()

    def after_commit(self, session: AsyncSession) -> None:
        callbacks: set[Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT, set())
        callbacks.add(self.notify)


def fire_after_commit(session: AsyncSession) -> None:
    """Call right after ``session.commit()`` succeeded."""
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        callback()


async def commit(session: AsyncSession) -> None:
    await session.commit()
    fire_after_commit(session)
