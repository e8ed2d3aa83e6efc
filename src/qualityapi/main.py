"""Application factory and lifespan: engine, clock, auth cache, SLA scanner, webhook dispatcher."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import fastapi.routing as fastapi_routing
import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from qualityapi import __version__
from qualityapi.api import mount_v1
from qualityapi.auth.dependencies import AuthCache, min_role_of
from qualityapi.auth.throttle import AuthThrottle
from qualityapi.bootstrap import prepare
from qualityapi.clock import Clock, SystemClock
from qualityapi.common.concurrency import RetryCollisions, install_lock_timeout
from qualityapi.common.openapi import plain_optional_bodies, unique_schema_names
from qualityapi.complaints import events as complaint_events
from qualityapi.complaints import frequency as complaint_frequency
from qualityapi.complaints import reactions as complaint_reactions
from qualityapi.complaints.sla import ADAPTER as COMPLAINTS
from qualityapi.config import Settings, get_settings
from qualityapi.db.engine import make_engine, sqlite_file
from qualityapi.db.migrations import head_revision
from qualityapi.db.session import make_sessionmaker
from qualityapi.db.sqlite_checkpoint import Checkpointer
from qualityapi.errors import UnhandledErrors, document_problems, install_error_handlers
from qualityapi.events import reactions
from qualityapi.health import metrics as ops_metrics
from qualityapi.health.router import router as health_router
from qualityapi.logs import configure_logging
from qualityapi.middleware import InputGuard, RequestContext
from qualityapi.reports.jobs import RollupJob
from qualityapi.retention.service import Policy as RetentionPolicy
from qualityapi.scheduler.exclusive import SchedulerLock
from qualityapi.scheduler.jobs import RetentionJob, SlaScanJob
from qualityapi.sla import subjects
from qualityapi.sla.events import BREACHED_EVENT
from qualityapi.staff import service as staff_service
from qualityapi.surveys import reactions as survey_reactions
from qualityapi.surveys import templates as survey_templates
from qualityapi.surveys.sla import ADAPTER as SURVEY_CALLBACKS
from qualityapi.web import board as board_pages
from qualityapi.web import feed as board_feed
from qualityapi.web.survey_page import router as survey_page_router
from qualityapi.webhooks.dispatcher import Dispatcher
from qualityapi.webhooks.openapi import document_webhooks
from qualityapi.webhooks.sender import Sender
from qualityapi.work_orders.sla import ADAPTER as WORK_ORDERS

DESCRIPTION = """
Service-quality management: work orders with priority tiers and SLA deadlines, the
red / yellow / blue warning system, complaints, surveys and quality reports.

**Auth**: `Authorization: Bearer <api-key>`. Roles: viewer < agent < supervisor < admin.
**Errors**: RFC 9457 `application/problem+json`.
**Concurrency**: resources carry `version` and an `ETag`; send `If-Match` to get 412 on a
stale write. **Retries**: send `Idempotency-Key` on POST; a repeat returns the first result.
"""


def _operation_id(route: APIRoute) -> str:
    # Stable, readable ids for generated clients: the endpoint's name, unique in this app.
    return route.name


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI ≥ 0.16x nests them)."""
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:
        return [r for r in app.routes if isinstance(r, APIRoute)]
    found = (ctx.original_route for ctx in iter_contexts(app.routes))
    return [r for r in found if isinstance(r, APIRoute)]


def _document_roles(app: FastAPI) -> None:
    """Adds ``x-required-role`` and a sentence to every operation that needs a key."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        # Problems under problem+json, and schema names a generated client can use.
        schema = unique_schema_names(plain_optional_bodies(document_problems(build())))
        app.openapi_schema = schema
        roles = {r.name: min_role_of(r) for r in api_routes(app)}
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                role = roles.get(operation.get("operationId", ""))
                if role is None:
                    continue
                operation["x-required-role"] = role.value
                note = f"Requires role `{role.value}` or higher."
                operation["description"] = (
                    operation.get("description", "") + "\n\n" + note
                ).strip()
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    clock = clock or SystemClock()
    # The composition root: every kind of subject with clocks registers its adapter here.
    subjects.register(WORK_ORDERS)
    subjects.register(COMPLAINTS)
    subjects.register(SURVEY_CALLBACKS)
    # Resolving an order issues its survey callback; reopening withdraws a pending one.
    survey_reactions.install(settings)
    complaint_frequency.configure(
        complaint_frequency.Rule(
            threshold=settings.complaint_recurrence_threshold,
            window_days=settings.complaint_recurrence_window_days,
        )
    )
    complaint_reactions.configure(
        open_from_dissatisfied_survey=settings.complaint_from_dissatisfied_survey
    )
    reactions.on("survey.dissatisfied", complaint_reactions.open_for_dissatisfied_survey)
    # Staff error records from breaches and upheld complaints (each off unless enabled).
    staff_service.configure(staff_service.QualityRules.of(settings))
    reactions.on(BREACHED_EVENT, staff_service.record_from_breach)
    reactions.on(complaint_events.STATUS_CHANGED, staff_service.record_from_complaint)
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database_file = sqlite_file(settings.database_url)
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            background_checkpoints=database_file is not None,
        )
        app.state.checkpointer = None
        if database_file is not None:
            app.state.checkpointer = Checkpointer(
                database_file, interval=settings.sqlite_checkpoint_interval_seconds
            )
        install_lock_timeout(engine, settings.lock_timeout_ms)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        ops_metrics.OPERATIONS.attach(
            engine=engine,
            sessionmaker=app.state.sessionmaker,
            clock=clock,
            refresh_seconds=settings.metrics_outbox_refresh_seconds,
        )
        ops_metrics.publish_build(settings.build_commit)
        banner = await prepare(app.state.sessionmaker, settings, clock)
        # The live board's change feed (polls only while a page listens).
        app.state.board_feed = board_feed.BoardFeed(
            app.state.sessionmaker,
            clock=clock,
            interval=settings.board_stream_poll_seconds,
            max_clients=settings.board_stream_max_clients,
        )
        board_feed.register(app.state.board_feed)
        await survey_templates.seed_default(app.state.sessionmaker, clock)
        # The sender serves test pings on every replica; the dispatcher only where the
        # background work runs.
        sender = Sender(
            concurrency=settings.webhook_concurrency,
            connect_timeout=settings.webhook_connect_timeout_seconds,
            read_timeout=settings.webhook_read_timeout_seconds,
            allowed_networks=settings.webhook_allowed_networks,
        )
        app.state.webhook_sender = sender
        scanner = None
        dispatcher = None
        rollup = None
        retention_job = None
        scheduler_lock = SchedulerLock(settings.database_url)
        if settings.scheduler_enabled:
            scheduler_lock.acquire()
            scanner = SlaScanJob(
                app.state.sessionmaker,
                clock,
                safety_interval=settings.sla_safety_interval_seconds,
                batch=settings.sla_scan_batch,
            )
            scanner.start()
            dispatcher = Dispatcher(app.state.sessionmaker, clock, sender, settings)
            dispatcher.start()
            # Folds new clock outcomes into the reports' sums (reports are exact without).
            rollup = RollupJob(
                app.state.sessionmaker, interval=settings.report_rollup_interval_seconds
            )
            rollup.start()
            retention_job = RetentionJob(
                app.state.sessionmaker,
                clock,
                RetentionPolicy.of(settings),
                interval=settings.retention_interval_seconds,
            )
            retention_job.start()
        # Everything built at start-up (modules, routes, compiled schemas) lives as long as
        # the process: out of the collector's way, a full collection pauses the loop for
        # ~10 ms instead of ~100-190 ms (measured with bench.bench_calendar).
        gc.collect()
        gc.freeze()
        if banner and settings.log_format == "json":
            # One JSON object per line, the banner too (a log collector keeps it whole).
            structlog.get_logger("qualityapi.bootstrap").warning(
                "first_admin_key_created", banner=banner.strip("\n")
            )
        elif banner:
            # Last, after the start-up lines, so the key stays on the screen.
            print(banner, file=sys.stderr, flush=True)
        if app.state.checkpointer is not None:
            app.state.checkpointer.start()
        try:
            yield
        finally:
            board_feed.unregister(app.state.board_feed)
            await app.state.board_feed.aclose()
            if scanner is not None:
                await scanner.stop()
            if dispatcher is not None:
                await dispatcher.stop()
            if rollup is not None:
                await rollup.stop()
            if retention_job is not None:
                retention_job.shutdown()
            scheduler_lock.release()
            await sender.aclose()
            ops_metrics.OPERATIONS.detach(engine)
            if app.state.checkpointer is not None:
                await app.state.checkpointer.stop()
            await engine.dispose()

    app = FastAPIOffline(
        title="qualityapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    app.state.auth_throttle = AuthThrottle.of(settings)
    app.state.migrations_head = head_revision(settings.migrations_dir)
    install_error_handlers(app)
    app.include_router(health_router)
    # The customer's survey answer page /s/{token}: no key, not in the OpenAPI document.
    app.include_router(survey_page_router)
    # The landing page /, the live board /board and its assets; the board's stream and chart.
    app.include_router(board_pages.pages)
    app.include_router(board_pages.api)
    mount_v1(app)
    # Innermost: re-runs a write that collided with concurrent work (contract, issue 13).
    # Innermost: an unexpected error is a 500 problem that still passes RequestContext.
    app.add_middleware(UnhandledErrors)
    app.add_middleware(RetryCollisions, attempts=settings.collision_attempts)
    app.add_middleware(InputGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(board_pages.DocsContentPolicy)
    if settings.cors_origins:
        # Closed by default (no middleware, no cost): only the origins an operator lists.
        # Bearer keys, not cookies: no credentials mode.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContext)
    document_webhooks(app)
    _document_roles(app)
    return app
