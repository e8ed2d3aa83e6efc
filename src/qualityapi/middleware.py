"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import fastapi.routing as fastapi_routing
import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualityapi.errors import PROBLEM_MEDIA_TYPE, problem_response

log = structlog.get_logger("qualityapi.http")

REQUESTS = Counter(
    "qualityapi_http_requests_total", "HTTP requests handled", ["method", "handler", "status"]
)
# By route *template* (/v1/work-orders/{work_order_id}), never the raw path: one series per
# route and status, however many ids clients send.
LATENCY = Histogram(
    "qualityapi_http_request_duration_seconds",
    "HTTP request duration by route template and status",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_UNMATCHED = ("unmatched", "unmatched")


class InputGuard:
    """Refuses what no route could handle: bodies above ``max_bytes`` (413, by header or by
    counting) and NUL characters in the URL (400; PostgreSQL cannot compare text with NUL)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
            response = problem_response(
                status=400,
                slug="bad-request",
                title="Bad request",
                detail="the URL contains a NUL (%00) character",
                instance=None,
            )
            await response(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._refuse(scope, receive, send)
                    return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    # Answer now and tell the app the client left: whatever it tries to
                    # send afterwards is dropped below.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            status=413,
            slug="payload-too-large",
            title="Request body too large",
            detail=f"the body exceeds {self.max_bytes} bytes",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


class RequestContext:
    """Request id (echoed as X-Request-ID), one access-log line, Prometheus metrics.

    Runs on every request, so the per-request work is a few dict look-ups: the labels of a
    route (its name and full template) and the metric children of a (route, method,
    status) are resolved once and kept. An error response's problem ``type`` is read from
    its body, which only error responses pay for.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[str, str] | None = None
        self._labels: dict[int, tuple[str, str]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _route_labels(self, scope: Scope) -> tuple[str, str]:
        route = scope.get("route")
        if route is None:
            return _UNMATCHED
        labels = self._labels.get(id(route))
        if labels is None:
            # The endpoint's name (= its OpenAPI operationId) and its full template: a
            # nested router's route knows only its own part of the path (no "/v1").
            if self._templates is None:
                app = scope.get("app")
                routes = getattr(app, "routes", [])
                self._templates = {
                    str(ctx.name): str(ctx.path_format)
                    for ctx in fastapi_routing.iter_route_contexts(routes)
                    if ctx.name and ctx.path_format
                }
            name = str(getattr(route, "name", None) or "unmatched")
            template = self._templates.get(name) or str(
                getattr(route, "path_format", None) or "unmatched"
            )
            labels = (name, template)
            # Route objects live as long as the app; the dict is bounded by the routes.
            self._labels[id(route)] = labels
        return labels

    def _observe(self, method: str, handler: str, template: str, status: int, s: float) -> None:
        key = (handler, method, status)
        children = self._children.get(key)
        if children is None:
            status_text = str(status)
            children = (
                REQUESTS.labels(method, handler, status_text),
                LATENCY.labels(method, template, status_text),
            )
            if len(self._children) < 10_000:  # methods x routes x statuses: bounded anyway
                self._children[key] = children
        children[0].inc()
        children[1].observe(s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:100]
        request_id = request_id or uuid.uuid4().hex
        status = 500
        problem: str | None = None
        is_problem = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, problem, is_problem
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if status >= 400:
                    is_problem = (b"content-type", PROBLEM_MEDIA_TYPE.encode()) in headers
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            elif is_problem and problem is None:
                problem = _problem_type(message.get("body", b""))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            handler, template = self._route_labels(scope)
            method = scope["method"]
            self._observe(method, handler, template, status, elapsed)
            fields: dict[str, Any] = {
                "method": method,
                "path": scope["path"],
                "handler": handler,
                "status": status,
                "ms": round(elapsed * 1000, 1),
            }
            if problem is not None:
                fields["problem"] = problem
            # A 4xx is the client's to fix (info, with the problem type saying which rule).
            # A 500 is a bug (errors.py has logged its traceback; this ties it to the id);
            # other 5xx are retryable conditions (database down, busy), logged once as such.
            level = log.error if status == 500 else log.warning if status > 500 else log.info
            level("request", **fields)
            structlog.contextvars.unbind_contextvars("request_id")


def _problem_type(body: bytes) -> str | None:
    # Only for problem+json error bodies (small, one chunk): the slug after the base URL.
    try:
        value = json.loads(body).get("type")
    except (ValueError, AttributeError):
        return None
    return str(value).rsplit("/", 1)[-1] if value else None
