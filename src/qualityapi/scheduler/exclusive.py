"""One scheduler per SQLite file.

SQLite has no row locks to share clocks and deliveries between processes, so two
processes each running the scanner and the dispatcher on one file send messages twice.
The first process to start them takes an exclusive lock on ``<database>.scheduler.lock``;
a second one refuses to start with a message saying what to do instead. (An API-only
process, ``QUALITYAPI_SCHEDULER_ENABLED=false``, takes no lock and may share the file.)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import make_url


class SchedulerAlreadyRunning(RuntimeError):
    pass


class SchedulerLock:
    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        database = url.database if url.get_backend_name() == "sqlite" else None
        self._path = (
            Path(f"{database}.scheduler.lock") if database and database != ":memory:" else None
        )
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._path is None:
            return  # PostgreSQL shares the work with SKIP LOCKED
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SchedulerAlreadyRunning(
                f"another qualityapi process already runs the SLA scanner and webhook "
                f"dispatcher on this SQLite database ({self._path.with_suffix('')}). SQLite "
                "serves one such process: use PostgreSQL (QUALITYAPI_DATABASE_URL=postgresql+"
                "asyncpg://...) for several, or start this one with "
                "QUALITYAPI_SCHEDULER_ENABLED=false to serve the API only."
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
