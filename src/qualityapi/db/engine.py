"""Engine construction: one place that knows how each database wants to be pooled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from qualityapi.db import health
from qualityapi.db.sqlite_checkpoint import FALLBACK_PAGES
from qualityapi.db.sqlite_inline import inline_creator


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers outside this process (CLI, backups) work during writes; NORMAL
    # sync is durable across process crashes, which is the failure we design for here.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Statements run on the event loop (sqlite_inline.py): wait for another process's
    # write lock only briefly rather than stall every request for long.
    cursor.execute("PRAGMA busy_timeout=2000")
    cursor.close()


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL (None: not SQLite, or in memory)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def _leave_checkpoints_to_the_background(
    dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry
) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
    cursor.close()


def make_engine(
    url: str, *, pool_size: int = 20, echo: bool = False, background_checkpoints: bool = False
) -> AsyncEngine:
    """``background_checkpoints`` (SQLite): the caller runs a ``sqlite_checkpoint.
    Checkpointer`` on the file, so commits leave the WAL's checkpoints to it."""
    kwargs: dict[str, Any] = {"echo": echo}
    database = sqlite_file(url)
    if url.startswith("sqlite"):
        # One connection, one writer: SQLite serialises writers anyway, and letting many
        # connections fight over the write lock gives p99s of hundreds of ms under load.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
        if database is not None:
            kwargs["async_creator"] = inline_creator(database)
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)
    engine = create_async_engine(url, **kwargs)
    health.watch(engine)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if background_checkpoints and database is not None:
            event.listen(engine.sync_engine, "connect", _leave_checkpoints_to_the_background)
    return engine
