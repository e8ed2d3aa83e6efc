"""Whether the database answers, as this process last saw it.

A connection failure is not a bug: requests get a retryable 503 (``errors``) and the
background jobs wait for the next pass. It is logged once when the database goes away and
once when a new connection succeeds again — not once per request, which during an outage
would bury the log in tracebacks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("qualityapi.db")

# SQLSTATE classes and codes that mean "no usable connection": connection exceptions,
# the server shutting down or starting, too many connections.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_UNAVAILABLE_NAMES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "InterfaceError",
        "InternalClientError",
    }
)

_down_since: float | None = None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached (rather than a bad query)."""
    for e in _chain(error):
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, (sa_exc.TimeoutError, sa_exc.InterfaceError)):
            return True  # the pool could not hand out a connection; a closed connection
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if isinstance(e, OSError) and e.errno is not None and type(e) is not FileNotFoundError:
            return True  # socket-level: refused, reset, unreachable
        state = str(getattr(e, "sqlstate", None) or getattr(e, "pgcode", None) or "")
        if state.startswith(_UNAVAILABLE_STATES):
            return True
        if type(e).__name__ in _UNAVAILABLE_NAMES and type(e).__module__.startswith("asyncpg"):
            return True
    return False


def mark_down(error: BaseException) -> None:
    global _down_since
    if _down_since is None:
        _down_since = time.monotonic()
        log.warning(
            "database_unavailable",
            error_class=type(error).__name__,
            error=str(error).splitlines()[0][:300] if str(error) else None,
        )


def mark_up() -> None:
    global _down_since
    if _down_since is not None:
        log.warning("database_available", down_seconds=round(time.monotonic() - _down_since, 1))
        _down_since = None


def outage(error: BaseException) -> bool:
    """For background jobs' ``except``: True (and logged once) when ``error`` is the
    database being unreachable, so the caller logs a traceback only for real failures."""
    if is_unavailable(error):
        mark_down(error)
        return True
    return False


def is_down() -> bool:
    return _down_since is not None


def watch(engine: AsyncEngine) -> None:
    """A new connection that succeeds is the sign the database is back."""

    def connected(*_: object) -> None:
        mark_up()

    event.listen(engine.sync_engine, "connect", connected)
