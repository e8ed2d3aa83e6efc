"""In-process "a clock changed" signal: the scanner wakes at once instead of waiting.

Services mark the session (``clock_changed``); the request boundary fires the callbacks
after its commit, so the scanner never looks before the change is visible. Other
replicas find the change on their own next pass (at the earliest next_check_at, or the
safety interval).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

_subscribers: list[Callable[[], None]] = []


def subscribe(callback: Callable[[], None]) -> None:
    _subscribers.append(callback)


def unsubscribe(callback: Callable[[], None]) -> None:
    if callback in _subscribers:
        _subscribers.remove(callback)


def notify() -> None:
    for callback in tuple(_subscribers):
        callback()


def clock_changed(session: AsyncSession) -> None:
    callbacks: set[Callable[[], None]] = session.info.setdefault("after_commit", set())
    callbacks.add(notify)
