"""SQLite's WAL checkpoints on a worker thread, off the request path.

SQLite copies the write-ahead log back into the database file (a checkpoint, with an
fsync) in whichever connection's commit finds the log past ``wal_autocheckpoint`` pages
(1,000 by default). Ours is the event loop's only connection and runs inline
(``sqlite_inline.py``), so every ~40th create paid a 4-6 ms checkpoint inside its commit
(0.14 ms otherwise), and every request in flight waited with it: most of the p99 of
every route under load.

So the service checkpoints in the background instead: a second connection on a worker
thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds (PASSIVE waits
for no reader or writer; in WAL mode a checkpoint and a write go on at once). The
request connection's own threshold is raised to ``FALLBACK_PAGES`` rather than switched
off, so the log stays bounded if the thread ever falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

# ~40 MB of log: reached only if the background checkpoints stop keeping up.
FALLBACK_PAGES = 10_000


@dataclass(frozen=True)
class CheckpointResult:
    """``PRAGMA wal_checkpoint``'s answer: whether it was blocked, the frames in the log,
    and the frames copied back into the database file."""

    busy: bool
    log_frames: int
    checkpointed_frames: int


class Checkpointer:
    def __init__(self, path: str, *, interval: float) -> None:
        self._path = path
        self._interval = interval
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        # Cancelling the task does not stop a checkpoint already running on its thread:
        # closing the connection under it crashed the process. The lock makes the close
        # wait for it; ``_closed`` keeps a late call from opening a new connection.
        self._lock = threading.Lock()
        self._closed = False
        # The latest checkpoint's answer (None before the first): what an operator or a
        # test can read to see the log kept short.
        self.last: CheckpointResult | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def checkpoint(self) -> CheckpointResult:
        """One checkpoint now, on a worker thread."""
        self.last = await asyncio.to_thread(self._checkpoint)
        return self.last

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except sqlite3.Error as exc:
                # The request connection's own threshold still bounds the log; say why
                # and try again next time (a locked or vanished file clears by itself).
                log.warning("sqlite_checkpoint_failed", error=str(exc))

    def _checkpoint(self) -> CheckpointResult:
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the checkpointer is stopped")
            return self._checkpoint_locked()

    def _checkpoint_locked(self) -> CheckpointResult:
        if self._conn is None:
            # Used by one worker thread at a time (under the lock), not always the same one.
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            # Only ever a brief wait: a checkpoint that cannot go on is simply tried again.
            conn.execute("PRAGMA busy_timeout=100")
            # The fsyncs a checkpoint makes depend on the checkpointing connection's level.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return CheckpointResult(bool(busy), int(frames), int(copied))
