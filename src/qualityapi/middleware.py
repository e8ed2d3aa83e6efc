"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request)."""

from __future__ import annotations

import time
import uuid

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualityapi.errors import problem_response

log = structlog.get_logger("qualityapi.http")

REQUESTS = Counter(
    "qualityapi_http_requests_total", "HTTP requests handled", ["method", "handler", "status"]
)
LATENCY = Histogram(
    "qualityapi_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "handler"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


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
    """Request id (echoed as X-Request-ID), one access-log line, Prometheus metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The endpoint's name (= its OpenAPI operationId): bounded, stable and, unlike
            # route.path, the same whatever prefix a router was included under.
            route = scope.get("route")
            handler = getattr(route, "name", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, handler, str(status)).inc()
            LATENCY.labels(method, handler).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                handler=handler,
                status=status,
                ms=round(elapsed * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")
