"""The live board's change feed: one poller per process, shared by every open page.

While at least one page is listening, a task reads the board once per
``board_stream_poll_seconds`` and, when its content changed, publishes the new snapshot.
A snapshot's id is a digest of its content, so ``Last-Event-ID`` means "the board I last
saw": a page that reconnects gets the current board at once if it differs, and nothing
until the next change otherwise. That holds across restarts and replicas, which share no
counter. With no page open nothing is polled. The digest leaves out the board's
``generated_at`` (else every read would be a change); the snapshot sent carries the time
of the read that found the change, which pages use to correct their clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.clock import Clock
from qualityapi.sla import board, subjects

log = structlog.get_logger("qualityapi.web.feed")

# Items per level in a pushed snapshot (the /v1/board maximum).
SNAPSHOT_LIMIT = 100


@dataclass(frozen=True)
class Snapshot:
    id: str
    data: str  # the Board as JSON


class Full(Exception):
    """Too many open streams in this process."""


class BoardFeed:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        interval: float,
        max_clients: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._interval = interval
        self._max_clients = max_clients
        self._clients = 0
        self._latest: Snapshot | None = None
        # Replaced on every change: a waiter holds the one that was current when it looked.
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Made inside the running loop (the lifespan); signal handlers reach it through it.
        self._loop = asyncio.get_running_loop()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def clients(self) -> int:
        return self._clients

    @property
    def latest(self) -> Snapshot | None:
        """The board last read, if any stream has subscribed since the feed was idle."""
        return self._latest

    async def read(self) -> Snapshot:
        """The board now, from the database (also what the poller publishes)."""
        async with self._sessionmaker() as session:
            found = await board.board(
                session, kinds=subjects.kinds(), limit=SNAPSHOT_LIMIT, now=self._clock.now()
            )
        content = found.model_dump_json(exclude={"generated_at"})
        digest = hashlib.sha256(content.encode()).hexdigest()[:20]
        return Snapshot(id=digest, data=found.model_dump_json())

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        if self._clients >= self._max_clients:
            raise Full
        self._clients += 1
        try:
            if self._latest is None:
                self._publish(await self.read())
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._poll(), name="board-feed")
            yield Subscription(self)
        finally:
            self._clients -= 1

    def _publish(self, snapshot: Snapshot) -> None:
        if self._latest is not None and self._latest.id == snapshot.id:
            return
        self._latest = snapshot
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _poll(self) -> None:
        # Runs while someone listens; the next subscriber starts it again. Started from a
        # request's context (a copy): its lines must not carry that request's id.
        structlog.contextvars.clear_contextvars()
        while self._clients > 0 and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._interval)
            if self.closed or self._clients == 0:
                break
            try:
                self._publish(await self.read())
            except Exception:  # a failed read must not end the feed for every page
                log.warning("board_feed_read_failed", exc_info=True)
        # Forget the last board: with nobody listening it would only go stale.
        if self._clients == 0:
            self._latest = None

    def close(self) -> None:
        """Ends every open stream (at shutdown); safe to call more than once."""
        self._closed.set()
        self._changed.set()

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Subscription:
    def __init__(self, feed: BoardFeed) -> None:
        self._feed = feed

    async def next(self, after: str | None, wait_seconds: float) -> Snapshot | None:
        """The current snapshot if its id is not ``after``; else waits up to
        ``wait_seconds`` for a change. None: nothing new (time for a heartbeat), or the
        feed closed."""
        feed = self._feed
        if feed.closed:
            return None
        latest = feed._latest
        if latest is not None and latest.id != after:
            return latest
        waiting = feed._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiting.wait(), wait_seconds)
        latest = feed._latest
        if feed.closed or latest is None or latest.id == after:
            return None
        return latest


# --- shutdown ---------------------------------------------------------------------------
# An open stream never ends by itself, and uvicorn waits for open responses before it
# runs the lifespan's shutdown. ``qualityapi serve`` therefore tells the feeds when the
# server is asked to exit (SIGINT/SIGTERM), so streams end and the shutdown completes.

_feeds: set[BoardFeed] = set()


def register(feed: BoardFeed) -> None:
    _feeds.add(feed)


def unregister(feed: BoardFeed) -> None:
    _feeds.discard(feed)


def close_all() -> None:
    """Callable from a signal handler: each feed is closed on its own loop."""
    for feed in list(_feeds):
        with contextlib.suppress(RuntimeError):  # its loop already closed
            feed._loop.call_soon_threadsafe(feed.close)
