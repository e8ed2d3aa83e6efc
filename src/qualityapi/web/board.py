"""The live board page ``/board``, the landing page ``/``, their static assets, and the
two API helpers the page uses: the change stream and the attainment chart.

The page is a shell: it holds no data, so it needs no key. Its script asks for an API key
once (kept in the browser's localStorage), sends it as ``Authorization`` on every fetch,
and shows nothing until the key works. Updates come from ``GET /v1/board/stream``
(server-sent events read with ``fetch``, because ``EventSource`` cannot send a header);
while the stream is not delivering, the page polls ``GET /v1/board`` every 2 seconds.
Nothing is loaded from another origin (Content-Security-Policy says so to the browser).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualityapi import __version__
from qualityapi.auth.dependencies import ViewerDep
from qualityapi.common.dependencies import ClockDep
from qualityapi.config import Settings
from qualityapi.db.session import SessionDep
from qualityapi.errors import AppError, NotFound
from qualityapi.sla import repository as sla_repository
from qualityapi.web import attainment, rendering
from qualityapi.web.feed import BoardFeed

# Pages and assets: outside /v1 and the OpenAPI document.
pages = APIRouter(include_in_schema=False)
# The page's API helpers, under /v1 with a viewer key. Out of the OpenAPI document too: a
# stream that never ends is no operation for generated clients or schema fuzzers.
api = APIRouter(prefix="/v1", include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Only the files shipped in static/ (no path from the URL reaches the file system).
_ASSETS = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in _TYPES}

# The page states this latency and the browser test holds it to it.
UPDATE_LATENCY_SECONDS = 2
POLL_MILLISECONDS = 2000


class StreamUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


def _page(name: str, **context: object) -> HTMLResponse:
    html, _ = rendering.render(name, version=__version__, **context)
    return HTMLResponse(
        html,
        headers={
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            # Everything from this origin; the chart arrives as a blob: image.
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; style-src 'self'; "
                "connect-src 'self'; img-src 'self' blob:; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'"
            ),
        },
    )


# GET and HEAD: uptime checks and link previews ask with HEAD; a page's HEAD changes nothing.
@pages.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def landing() -> HTMLResponse:
    return _page("landing.html", heading="qualityapi")


@pages.api_route("/board", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def board_page(kiosk: Annotated[str | None, Query(max_length=5)] = None) -> HTMLResponse:
    return _page(
        "board.html",
        heading="Live board",
        kiosk=kiosk in ("1", "true", "yes", "on"),
        latency=UPDATE_LATENCY_SECONDS,
        poll_ms=POLL_MILLISECONDS,
    )


@pages.api_route("/static/{name}", methods=["GET", "HEAD"])
async def static_asset(name: str) -> Response:
    path = _ASSETS.get(name)
    if path is None:
        raise NotFound(f"no asset {name!r}")
    return Response(
        path.read_bytes(),
        media_type=_TYPES[path.suffix],
        # The page asks for ?v=<version>, so a new release is fetched anew.
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# --- the stream ---------------------------------------------------------------------------


def _sse(snapshot_id: str, data: str) -> str:
    return f"id: {snapshot_id}\nevent: board\ndata: {data}\n\n"


@api.get("/board/stream")
async def board_stream(
    request: Request,
    _: ViewerDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """``text/event-stream`` of ``board`` events, each the whole board (as ``GET
    /v1/board?limit=100``) with its content digest as ``id``. With ``Last-Event-ID`` the
    current board is sent only if it differs from that one. A comment every
    ``board_stream_heartbeat_seconds``; the stream ends after ``board_stream_max_seconds``
    and at shutdown (the client reconnects)."""
    feed: BoardFeed = request.app.state.board_feed
    settings: Settings = request.app.state.settings
    if feed.closed:
        raise StreamUnavailable("the server is shutting down")
    if feed.clients >= settings.board_stream_max_clients:
        raise StreamUnavailable("too many open board streams; poll GET /v1/board instead")
    heartbeat = settings.board_stream_heartbeat_seconds
    lifetime = settings.board_stream_max_seconds

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + lifetime
        after = last_event_id or None
        async with feed.subscribe() as subscription:
            # Reconnect after 1 s when the stream ends.
            yield "retry: 1000\n\n"
            while not feed.closed:
                left = ends - loop.time()
                if left <= 0:
                    break
                snapshot = await subscription.next(after, min(heartbeat, left))
                if snapshot is not None:
                    after = snapshot.id
                    yield _sse(snapshot.id, snapshot.data)
                elif not feed.closed and loop.time() < ends:
                    yield ": heartbeat\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            # nginx and similar proxies: pass each event on at once, do not buffer.
            "X-Accel-Buffering": "no",
        },
    )


# --- the chart ----------------------------------------------------------------------------


@api.get("/board/attainment.svg")
async def attainment_chart(
    request: Request,
    session: SessionDep,
    _: ViewerDep,
    clock: ClockDep,
    days: Annotated[int, Query(ge=7, le=92)] = 30,
) -> Response:
    """Daily SLA attainment over the last ``days`` days in the business calendar's time
    zone, as an SVG image."""
    business = await sla_repository.get_calendar_by_name(session, "business")
    tz = business.time_zone if business is not None else "UTC"
    figures = await attainment.daily_attainment(session, days=days, tz=tz, now=clock.now())
    settings: Settings = request.app.state.settings
    svg = attainment.render_svg(figures, goal=settings.report_target_attainment, tz=tz)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# --- the API docs' pages --------------------------------------------------------------------

_DOCS_PATHS = frozenset({"/docs", "/redoc"})
# Swagger UI and ReDoc (fastapi-offline's local copies) with inline start-up scripts; the
# policy keeps them to this origin. Without it ReDoc's sidebar loads its logo from
# cdn.redoc.ly: the browser now never asks (the page works the same offline).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; base-uri 'self'; frame-ancestors 'none'"
)


class DocsContentPolicy:
    """Pure ASGI: adds ``Content-Security-Policy`` to the /docs and /redoc pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in _DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = DOCS_POLICY
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, send_with_policy)
