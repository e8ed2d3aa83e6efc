"""The in-process dispatcher: outbox messages → deliveries → signed HTTP attempts.

One loop routes new messages (a delivery row per subscribed endpoint) and claims due
deliveries a little ahead of need into a local queue; each send is a task of its own, and
the moment one ends the next queued one starts; a recorder writes results in batches.
Every step is its own short transaction, so a crash anywhere loses nothing:

- a message not yet routed is routed by whoever looks next;
- a claimed delivery carries a lease (``next_attempt_at`` pushed forward): if this
  process dies before recording the result, the row comes due again and is re-sent with
  the same ``webhook-id`` (at-least-once, as Standard Webhooks expects).

Messages about one subject go to an endpoint one at a time, in order (the claim skips a
delivery while an earlier one for the same endpoint and subject is pending); different
subjects go in parallel, up to ``webhook_concurrency`` in all and
``webhook_endpoint_concurrency`` per endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.clock import Clock
from qualityapi.common.jsonable import jsonable
from qualityapi.common.signals import commit
from qualityapi.config import Settings
from qualityapi.db import health
from qualityapi.events import repository as events
from qualityapi.events.signals import MESSAGE_WRITTEN
from qualityapi.sla.expiry import stale_warnings
from qualityapi.webhooks import metrics, repository
from qualityapi.webhooks.catalogue import ENDPOINT_DISABLED
from qualityapi.webhooks.models import DeliveryStatus, WebhookEndpoint
from qualityapi.webhooks.repository import Claimed, EndpointTarget
from qualityapi.webhooks.retry import next_delay
from qualityapi.webhooks.sender import Outcome, Sender, body_of

log = structlog.get_logger("qualityapi.webhooks")

ROUTE_BATCH = 500
CLAIM_AHEAD = 4
# A burst this large makes the planner's statistics stale; refresh them, at most this often.
ANALYZE_AFTER_ROWS = 1000
ANALYZE_EVERY_SECONDS = 10.0
# After a database error the loop pauses this long instead of spinning.
ERROR_PAUSE = 1.0


@dataclass(frozen=True)
class _Result:
    claimed: Claimed
    outcome: Outcome
    at: datetime
    # The receiver's host, for the log line of a failed attempt (never the path or query:
    # receivers put tokens there).
    host: str | None = None


def disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> dict[str, Any]:
    """Disables the endpoint and returns the ``webhook.endpoint_disabled`` outbox row."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:300]
    endpoint.disabled_at = now
    endpoint.updated_at = now
    data = {
        "endpoint_id": str(endpoint.id),
        "url": endpoint.url,
        "reason": endpoint.disabled_reason,
        "disabled_at": jsonable(now),
    }
    return events.row(
        type=ENDPOINT_DISABLED, subject_key=f"webhook_endpoint:{endpoint.id}", data=data, at=now
    )


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        sender: Sender,
        settings: Settings,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._sender = sender
        self._settings = settings
        self._token = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self._recorded = asyncio.Event()
        self._results: list[_Result] = []
        # Sends cut short by a shutdown: their leases are given back at once.
        self._cut_short: list[int] = []
        # Claimed and not yet recorded (queued, sending, or waiting to be recorded): what
        # the claims are bounded by. Claims run ahead of the sends (up to CLAIM_AHEAD
        # times the concurrency), so a send that ends starts the next one at once,
        # without waiting for a database round trip.
        self._held: Counter[uuid.UUID] = Counter()
        self._queue: deque[tuple[Claimed, EndpointTarget]] = deque()
        # HTTP requests in flight: at most webhook_concurrency, and the endpoint limit each.
        self._sending: Counter[uuid.UUID] = Counter()
        self._sends: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._recorder_task: asyncio.Task[None] | None = None
        self._stopping = False
        # Retries this process scheduled: the loop wakes for each, not only at the poll.
        self._retries: list[datetime] = []
        self._routed_since_analyze = 0
        self._analyzed_at = float("-inf")

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        MESSAGE_WRITTEN.subscribe(self.wake)
        self._loop_task = asyncio.create_task(self._loop(), name="webhook-dispatcher")
        self._recorder_task = asyncio.create_task(self._recorder(), name="webhook-recorder")
        log.info(
            "webhook_dispatcher_started",
            concurrency=self._settings.webhook_concurrency,
            per_endpoint=self._settings.webhook_endpoint_concurrency,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stops claiming, lets sends in flight finish (up to ``grace`` s, default the
        ``webhook_shutdown_grace_seconds`` setting), records them, and gives back the
        leases of those it had to cut short."""
        if grace is None:
            grace = self._settings.webhook_shutdown_grace_seconds
        MESSAGE_WRITTEN.unsubscribe(self.wake)
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await _cancel(self._loop_task)
        await self._give_back_queue()
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=grace)
        for task in set(self._sends):
            await _cancel(task)
        await self._unlease(self._cut_short)
        self._cut_short = []
        # Let the recorder write what finished (a cancelled write would lose the results:
        # those deliveries would be sent again after their lease).
        deadline = asyncio.get_running_loop().time() + grace
        while self._held and asyncio.get_running_loop().time() < deadline:
            self._recorded.set()
            await asyncio.sleep(0.01)
        if self._recorder_task is not None:
            await _cancel(self._recorder_task)

    def wake(self, _at: datetime | None = None) -> None:
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            busy = False
            try:
                routed = await self._route()
                started = await self._claim()
                busy = routed == ROUTE_BATCH or started > 0
            except Exception as exc:
                if not health.outage(exc):
                    log.exception("webhook_dispatch_failed")
                await asyncio.sleep(ERROR_PAUSE)
                continue
            if busy and self._free() > 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_timeout())
            coalesce = self._settings.webhook_wake_coalesce_seconds
            if self._wake.is_set() and coalesce > 0 and not self._stopping:
                # Woken by a commit: the rest of its burst is committing too. One pass for
                # all of them costs two transactions instead of two per message.
                await asyncio.sleep(coalesce)

    def _free(self) -> int:
        return CLAIM_AHEAD * self._settings.webhook_concurrency - self._held.total()

    def _idle_timeout(self) -> float:
        timeout = self._settings.webhook_poll_seconds
        now = self._clock.now()
        due = False
        while self._retries and self._retries[0] <= now:
            heapq.heappop(self._retries)
            due = True
        if due:
            return 0.0
        if self._retries:
            timeout = min(timeout, (self._retries[0] - now).total_seconds())
        return timeout

    async def _route(self) -> int:
        """One delivery per new message and enabled endpoint that subscribes to its type."""
        async with self._sessionmaker() as session:
            messages = await repository.claim_unrouted(session, ROUTE_BATCH)
            if not messages:
                return 0
            now = self._clock.now()
            routes = await repository.enabled_routes(session)
            rows = [
                {
                    "endpoint_id": route.id,
                    "message_pk": m.id,
                    "subject_key": m.subject_key,
                    "status": DeliveryStatus.pending,
                    "attempts": 0,
                    "next_attempt_at": m.created_at,
                    "created_at": now,
                    "updated_at": now,
                }
                for m in messages
                for route in routes
                if route.wants(m.type)
            ]
            await repository.insert_deliveries(session, rows)
            await repository.mark_routed(session, [m.id for m in messages], now)
            await commit(session)
        self._routed_since_analyze += len(rows)
        loop_now = asyncio.get_running_loop().time()
        if (
            self._routed_since_analyze >= ANALYZE_AFTER_ROWS
            and loop_now - self._analyzed_at >= ANALYZE_EVERY_SECONDS
        ):
            self._routed_since_analyze = 0
            self._analyzed_at = loop_now
            async with self._sessionmaker() as session:
                await repository.refresh_statistics(session)
                await session.commit()
        return len(messages)

    async def _claim(self) -> int:
        free = self._free()
        # While the queue still feeds the sends, wait until a good batch is free: one
        # claim transaction for many deliveries rather than one for every few.
        if free <= 0 or (self._queue and free < self._settings.webhook_concurrency // 2):
            return 0
        limit = CLAIM_AHEAD * self._settings.webhook_endpoint_concurrency
        full = [e for e, n in self._held.items() if n >= limit]
        async with self._sessionmaker() as session:
            now = self._clock.now()
            found = await repository.claim_due(session, now, free, skip_endpoints=full)
            if not found:
                return 0
            taken: list[Claimed] = []
            room = Counter({e: limit - n for e, n in self._held.items()})
            for c in found:
                if room.get(c.endpoint_id, limit) > 0:
                    room[c.endpoint_id] = room.get(c.endpoint_id, limit) - 1
                    taken.append(c)
            stale = await stale_warnings(session, {c.delivery_id: c.payload for c in taken})
            if stale:
                await repository.expire(session, sorted(stale), now)
                log.info("webhook_warnings_expired", count=len(stale))
            to_send = [c for c in taken if c.delivery_id not in stale]
            if to_send:
                until = now + timedelta(seconds=self._settings.webhook_lease_seconds)
                await repository.lease(
                    session, [c.delivery_id for c in to_send], until=until, token=self._token
                )
            endpoints = await repository.targets(session, {c.endpoint_id for c in to_send}, now)
            await session.commit()
        for c in to_send:
            endpoint = endpoints.get(c.endpoint_id)
            if endpoint is not None:  # else deleted meanwhile, its deliveries with it
                self._held[c.endpoint_id] += 1
                self._queue.append((c, endpoint))
        self._pump()
        return len(taken)

    def _pump(self) -> None:
        """Starts queued sends while there is room, in claim order, skipping (not
        reordering) those of an endpoint already at its limit."""
        total = self._settings.webhook_concurrency
        limit = self._settings.webhook_endpoint_concurrency
        if not self._queue or self._sending.total() >= total:
            return
        waiting: deque[tuple[Claimed, EndpointTarget]] = deque()
        while self._queue and self._sending.total() < total:
            claimed, endpoint = self._queue.popleft()
            if self._sending[claimed.endpoint_id] >= limit:
                waiting.append((claimed, endpoint))
                continue
            self._sending[claimed.endpoint_id] += 1
            task = asyncio.create_task(self._send(claimed, endpoint))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        waiting.extend(self._queue)
        self._queue = waiting

    async def _give_back_queue(self) -> None:
        """On shutdown: claimed but never sent. Their leases end now, not in a minute."""
        queued = [c for c, _ in self._queue]
        self._queue.clear()
        for c in queued:
            _drop(self._held, c.endpoint_id)
        await self._unlease([c.delivery_id for c in queued])

    async def _unlease(self, delivery_ids: list[int]) -> None:
        if delivery_ids:
            # Best effort: if the database is gone too, the leases simply run out.
            with contextlib.suppress(Exception):
                async with self._sessionmaker() as session:
                    await repository.unlease(session, delivery_ids, self._token, self._clock.now())
                    await session.commit()

    async def _send(self, claimed: Claimed, endpoint: EndpointTarget) -> None:
        try:
            outcome = await self._sender.send(
                endpoint.url,
                endpoint.secrets,
                message_id=claimed.message_id,
                body=body_of(claimed.payload),
            )
        except asyncio.CancelledError:
            # Shutting down mid-send: nothing to record; ``stop`` gives the lease back so
            # another replica sends it now rather than after the lease runs out.
            _drop(self._sending, claimed.endpoint_id)
            _drop(self._held, claimed.endpoint_id)
            self._cut_short.append(claimed.delivery_id)
            raise
        except Exception as exc:  # a bug here must not lose the delivery: log it as failed
            log.exception("webhook_send_crashed", delivery_id=claimed.delivery_id)
            outcome = Outcome(False, None, 0.0, "internal_error", type(exc).__name__)
        _drop(self._sending, claimed.endpoint_id)
        # The host only for the failure's log line: a success pays nothing for it.
        host = None if outcome.succeeded else urlsplit(endpoint.url).hostname
        self._results.append(_Result(claimed, outcome, self._clock.now(), host))
        self._recorded.set()
        if not self._stopping:
            self._pump()

    # --- results ------------------------------------------------------------------------

    def _take_results(self) -> list[_Result]:
        batch, self._results = self._results, []
        return batch

    async def _recorder(self) -> None:
        while True:
            await self._recorded.wait()
            self._recorded.clear()
            batch = self._take_results()
            if not batch:
                continue
            while True:
                try:
                    await self._record(batch)
                    break
                except Exception:
                    log.exception("webhook_record_failed", results=len(batch))
                    await asyncio.sleep(ERROR_PAUSE)
            for r in batch:
                _drop(self._held, r.claimed.endpoint_id)
            self._wake.set()

    async def _record(self, batch: list[_Result]) -> None:
        if not batch:
            return
        delays = self._settings.webhook_retry_delays
        results: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        ok: set[uuid.UUID] = set()
        failing: set[uuid.UUID] = set()
        gone: dict[uuid.UUID, str] = {}
        for r in batch:
            c, o = r.claimed, r.outcome
            tried = c.attempts + 1
            metrics.ATTEMPTS.labels("success" if o.succeeded else o.error_class or "error").inc()
            metrics.ATTEMPT_SECONDS.observe(o.duration_ms / 1000)
            status, next_at = _next_step(o, tried, delays, r.at)
            if o.succeeded:
                ok.add(c.endpoint_id)
                metrics.LAG_SECONDS.observe(max((r.at - c.written_at).total_seconds(), 0.0))
            else:
                failing.add(c.endpoint_id)
                if o.gone:
                    gone[c.endpoint_id] = f"the receiver answered 410 Gone to {c.message_id}"
                elif next_at is not None:
                    heapq.heappush(self._retries, next_at)
            results.append(
                {
                    "b_id": c.delivery_id,
                    "b_token": self._token,
                    "status": status,
                    "attempts": tried,
                    "next_attempt_at": next_at,
                    "last_attempt_at": r.at,
                    "last_status_code": o.status_code,
                    "last_error": o.error,
                    "completed_at": None if status is DeliveryStatus.pending else r.at,
                }
            )
            attempts.append(
                {
                    "delivery_id": c.delivery_id,
                    "endpoint_id": c.endpoint_id,
                    "message_id": c.message_id,
                    "event_type": c.type,
                    "attempted_at": r.at,
                    "succeeded": o.succeeded,
                    "status_code": o.status_code,
                    "duration_ms": o.duration_ms,
                    "error_class": o.error_class,
                    "error": o.error,
                    "response_body": o.response_body,
                }
            )
            if not o.succeeded:
                log.warning(
                    "webhook_attempt_failed",
                    endpoint_id=str(c.endpoint_id),
                    delivery_id=c.delivery_id,
                    message_id=c.message_id,
                    type=c.type,
                    attempt=tried,
                    host=r.host,
                    status_code=o.status_code,
                    error_class=o.error_class,
                    error=o.error,
                    next_attempt_at=jsonable(next_at),
                )
        now = self._clock.now()
        async with self._sessionmaker() as session:
            await repository.record_results(session, results, attempts)
            await repository.note_success(session, ok - failing)
            await repository.note_failure(session, failing - ok, now)
            await self._disable_failing(session, failing - ok, gone, now)
            await commit(session)

    async def _disable_failing(
        self,
        session: AsyncSession,
        failing: set[uuid.UUID],
        gone: dict[uuid.UUID, str],
        now: datetime,
    ) -> None:
        since = now - timedelta(seconds=self._settings.webhook_disable_after_seconds)
        reasons = dict(gone)
        for endpoint in await repository.failing_too_long(session, failing, since):
            reasons.setdefault(
                endpoint.id,
                f"every attempt failed since {jsonable(endpoint.failing_since)}",
            )
        if not reasons:
            return
        rows = []
        for endpoint_id, reason in reasons.items():
            found = await repository.get_endpoint(session, endpoint_id)
            if found is None or not found.enabled:
                continue
            rows.append(disable(found, reason, now))
            metrics.DISABLED.inc()
            log.warning("webhook_endpoint_disabled", endpoint_id=str(endpoint_id), reason=reason)
        await session.flush()
        await events.emit_many(session, rows)


def _next_step(
    outcome: Outcome, tried: int, delays: Sequence[float], at: datetime
) -> tuple[DeliveryStatus, datetime | None]:
    """A delivery's status and next attempt after its ``tried``-th attempt."""
    if outcome.succeeded:
        return DeliveryStatus.succeeded, None
    if outcome.gone:
        # The endpoint is disabled; the message waits, pending, for re-enabling.
        return DeliveryStatus.pending, at
    # The schedule bounds the number of attempts; a Retry-After only moves the next one
    # (a receiver answering 429 forever does not retry forever).
    wait = next_delay(tried, delays)
    if wait is None:
        return DeliveryStatus.failed, None
    if outcome.retry_after is not None:
        wait = outcome.retry_after
    return DeliveryStatus.pending, at + wait


def _drop(counts: Counter[uuid.UUID], key: uuid.UUID) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
