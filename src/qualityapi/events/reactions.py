"""In-transaction reactions of one domain to another's events, wired at the composition
root, so domains stay independent of each other's code.

A reaction runs inside the transaction that wrote the event (``repository.emit_many``),
so what it does commits or rolls back with the cause: resolving a work order and issuing
its survey callback are one commit. Examples: surveys react to ``work_order.resolved``,
complaints to ``survey.dissatisfied``, staff records to ``sla.breached``.

A reaction receives the message's payload (``{"type", "timestamp", "data"}``) and may
emit events itself; chains are cut at ``MAX_DEPTH`` so a loop cannot run away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Reaction = Callable[[AsyncSession, Mapping[str, Any], datetime], Awaitable[None]]

MAX_DEPTH = 4

_reactions: dict[str, list[Reaction]] = {}
_depth: ContextVar[int] = ContextVar("reaction_depth", default=0)


class ReactionLoop(RuntimeError):
    pass


def on(event_type: str, reaction: Reaction) -> None:
    """Registers ``reaction`` for ``event_type`` (once: registering it again is a no-op)."""
    listed = _reactions.setdefault(event_type, [])
    if reaction not in listed:
        listed.append(reaction)


def off(event_type: str, reaction: Reaction) -> None:
    listed = _reactions.get(event_type, [])
    if reaction in listed:
        listed.remove(reaction)


def wanted(event_types: Iterable[str]) -> bool:
    return any(_reactions.get(t) for t in event_types)


async def react(
    session: AsyncSession, rows: Iterable[Mapping[str, Any]], at: datetime | None = None
) -> None:
    """Runs every reaction registered for each row's type, in order."""
    depth = _depth.get()
    for row in rows:
        handlers = _reactions.get(row["type"], ())
        if not handlers:
            continue
        if depth >= MAX_DEPTH:
            raise ReactionLoop(f"reactions nested deeper than {MAX_DEPTH} at {row['type']}")
        token = _depth.set(depth + 1)
        try:
            for handler in list(handlers):
                await handler(session, row["payload"], at or row["created_at"])
        finally:
            _depth.reset(token)
