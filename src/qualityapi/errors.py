"""Errors as RFC 9457 problem details.

Every error a client can see is an ``AppError`` (or is converted into one by the handlers
below), so the body is always ``application/problem+json`` and never an HTML page or a trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualityapi.db import health

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://qualityapi.dev/problems/"
# Internal: marks a response to a collision the client did not cause, so
# ``common.concurrency.RetryCollisions`` re-runs the request (it strips the header).
RETRYABLE_HEADER = "x-qualityapi-retryable"

log = structlog.get_logger(__name__)


class ProblemFieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details as this API sends them."""

    type: str = Field(examples=[_TYPE_BASE + "not-found"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None
    current_status: str | None = Field(
        default=None, description="On 409 invalid-transition: the resource's status now."
    )
    allowed_actions: list[str] | None = Field(
        default=None, description="On 409 invalid-transition: actions allowed in that status."
    )


class AppError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed for this role"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Action not allowed in the current status"

    def __init__(
        self, *, action: str, status: str, allowed: Sequence[str], subject: str = "work order"
    ) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"cannot '{action}' a {subject} in status '{status}'; allowed: {allowed_text}",
            extra={"current_status": status, "allowed_actions": list(allowed)},
        )


class IdempotencyInFlight(Conflict):
    slug, title = "idempotency-in-flight", "A request with this Idempotency-Key is in progress"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class Unprocessable(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


def problem_response(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": _TYPE_BASE + slug, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _loc(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _validation_message(err: Mapping[str, Any]) -> str:
    if err.get("type") == "timezone_aware":
        return "timestamp has no time zone: send RFC 3339 with an offset, e.g. 2026-11-21T09:30:00Z"
    return str(err.get("msg", "invalid value"))


# A service's 422 names the field first ("reported_at: lies in the future").
_FIELD_DETAIL = re.compile(r"([A-Za-z_][\w.]*): (.+)", re.DOTALL)


def _field_errors(request: Request, detail: str | None) -> list[dict[str, Any]]:
    """``errors[]`` for a 422 a service raised with a detail only: the README promises every
    validation problem lists ``errors[{loc, msg}]``, and a form shows ``msg`` beside the
    field in ``loc``, whether pydantic or a business rule refused it."""
    text = detail or "a value cannot be stored (unsupported characters or range)"
    found = _FIELD_DETAIL.fullmatch(text)
    if found is None:
        where = "query" if request.method in ("GET", "HEAD") else "body"
        return [{"loc": [where], "msg": text, "type": "value_error"}]
    name, msg = found.groups()
    top = name.split(".")[0]
    if top in request.path_params:
        where = "path"
    elif top in request.query_params or request.method in ("GET", "HEAD"):
        where = "query"
    else:
        where = "body"
    return [{"loc": [where, *name.split(".")], "msg": msg, "type": "value_error"}]


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    extra = exc.extra
    if isinstance(exc, Unprocessable) and "errors" not in extra:
        extra = {**extra, "errors": _field_errors(request, exc.detail)}
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        extra=extra,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    invalid = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if invalid is not None:
        # Where the decoder stopped, so a client can find its mistake.
        reason = str((invalid.get("ctx") or {}).get("error") or "invalid JSON")
        loc = _loc(invalid.get("loc", ("body",)))
        if loc[1:] == [-1]:  # the whole body (common.routing): no character to point at
            loc = ["body"]
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        msg = f"{reason}{at}"
        return problem_response(
            status=400,
            slug="malformed-json",
            title="Malformed JSON body",
            detail=f"the request body is not valid JSON: {msg}",
            instance=request.url.path,
            extra={"errors": [{"loc": loc, "msg": msg, "type": "json_invalid"}]},
        )
    items: list[dict[str, Any]] = []
    for e in errors:
        loc = _loc(e.get("loc", ()))
        if loc == ["body"] and e.get("type") != "missing" and not _sent_as_json(request):
            # The body was not read as JSON at all ("Input should be a valid dictionary"
            # names nothing a client can fix); `curl -d` alone sends a form.
            sent = request.headers.get("content-type") or "none"
            msg = (
                f"the body must be JSON sent with Content-Type: application/json "
                f"(Content-Type was {sent!r})"
            )
            items.append({"loc": loc, "msg": msg, "type": "content_type"})
            continue
        if loc == ["body"] and e.get("type") == "missing":
            # "body: Field required" names nothing a client can fix: list what to send.
            required = _required_body_fields(request)
            if required:
                names = ", ".join(required)
                items += [
                    {
                        "loc": ["body", name],
                        "msg": f"Field required (no body was sent; required: {names})",
                        "type": "missing",
                    }
                    for name in required
                ]
                continue
        items.append({"loc": loc, "msg": _validation_message(e), "type": e.get("type")})
    detail = "; ".join(f"{'.'.join(map(str, i['loc']))}: {i['msg']}" for i in items[:5])
    return problem_response(
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=detail,
        instance=request.url.path,
        extra={"errors": items},
    )


def _sent_as_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _required_body_fields(request: Request) -> list[str]:
    """The required fields of the route's body model (empty when it has none or no model)."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    if not isinstance(fields, dict):
        return []
    return [f.alias or name for name, f in fields.items() if f.is_required()]


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^/}]+\}", template)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


def _allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document gives this path. Starlette's 405 names only the
    first matching route's (``DELETE /v1/api-keys`` said ``Allow: POST``, though GET is
    there too). Built once per app, on its first 405."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = [
            (_path_pattern(path), frozenset(m.upper() for m in item if m in _HTTP_METHODS))
            for path, item in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allow_table = table
    methods: set[str] = set()
    for pattern, allowed in table:
        if pattern.match(request.url.path):
            methods |= allowed
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 400: "Bad request"}
    detail = str(exc.detail) if exc.detail else None
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    if exc.status_code == 404 and request.scope.get("route") is None:
        # No route matched (a mistyped path or action): say so, and where the paths are.
        detail = f"no such path: {request.method} {request.url.path}; every path is in /docs"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request) or headers.get("allow", "").split(", ")
        headers["allow"] = ", ".join(allowed)
        detail = (
            f"{request.method} is not allowed on {request.url.path}; it takes {', '.join(allowed)}"
        )
    return problem_response(
        status=exc.status_code,
        slug={404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error"),
        title=titles.get(exc.status_code, "HTTP error"),
        detail=detail,
        instance=request.url.path,
        headers=headers,
    )


async def _stale_data(request: Request, exc: Exception) -> JSONResponse:
    # Two writers raced on the same version without If-Match: not the client's doing, so
    # it is retried (common.concurrency) and, if it keeps losing, a 503 like any collision.
    return await _busy(request, exc)


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    # A safety net: services check what they can, but a concurrent request can still win
    # a unique key between the check and the insert.
    log.info("integrity_conflict", path=request.url.path, error=str(exc.__cause__ or exc)[:300])
    return problem_response(
        status=409,
        slug="conflict",
        title="Conflict",
        detail="the change conflicts with data written concurrently; fetch and retry",
        instance=request.url.path,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the schema let through (e.g. a NUL character).
    log.info("data_refused", path=request.url.path, error=str(exc.__cause__ or exc)[:300])
    return problem_response(
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail="a value in the request cannot be stored (unsupported characters or range)",
        instance=request.url.path,
        extra={"errors": _field_errors(request, None)},
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Logged once per outage (db.health), not per request: the client retries.
    health.mark_down(exc)
    return problem_response(
        status=503,
        slug="database-unavailable",
        title="Service temporarily unavailable",
        detail="the database cannot be reached right now; nothing was changed; retry",
        instance=request.url.path,
        headers={"Retry-After": "2"},
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    if health.is_unavailable(exc):
        return await _unavailable(request, exc)
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return problem_response(
        status=500,
        slug="internal-error",
        title="Internal server error",
        detail="an unexpected error occurred; it has been logged",
        instance=request.url.path,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Drivers do not all raise DataError/IntegrityError; the SQLSTATE class tells.
    assert isinstance(exc, DBAPIError)
    if health.is_unavailable(exc):
        return await _unavailable(request, exc)
    state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    if state.startswith("22"):
        return await _data_error(request, exc)
    if state.startswith("23"):
        return await _integrity(request, exc)
    # 40: deadlock / serialization failure; 55P03: lock_timeout (another holder of the row).
    if state.startswith("40") or state == "55P03" or "database is locked" in str(exc.orig):
        return await _busy(request, exc)
    return await _unhandled(request, exc)


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    # A deadlock or serialization failure (PostgreSQL class 40; e.g. the SLA scanner and a
    # request locking an order and its clocks in opposite order), or SQLite's lock wait
    # running out: the transaction was rolled back whole and a retry will succeed.
    log.warning("transaction_retryable", path=request.url.path, error=str(exc)[:300])
    return problem_response(
        status=503,
        slug="busy",
        title="Try again",
        detail="the change collided with concurrent work and was not applied; retry it",
        instance=request.url.path,
        # Only writes are re-run (common.concurrency); a read answers at once.
        headers={"Retry-After": "1"}
        if request.method in ("GET", "HEAD", "OPTIONS")
        else {"Retry-After": "1", RETRYABLE_HEADER: "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unhandled)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries so clients see every problem a route can return."""
    descriptions = {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "The key's role may not do this",
        404: "Not found",
        409: "Conflict with the resource's current state; `type` tells which: "
        "invalid-transition (action not allowed in this status), "
        "idempotency-in-flight (retry to get the first result), conflict (e.g. a duplicate "
        "name)",
        412: "If-Match does not match the current version",
        413: "Request body too large",
        422: "Validation failed",
        503: "Rolled back (concurrent work) or the database is unreachable: nothing was "
        "changed; retry after Retry-After",
    }
    return {
        s: {
            "model": Problem,
            "description": descriptions.get(s, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for s in statuses
    }


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Every 4xx/5xx response of ``paths`` declares the Problem schema under
    ``application/problem+json``, the only type the server sends for errors.

    FastAPI files a response ``model`` under the route's own media type (JSON) and adds its
    ``HTTPValidationError`` 422 to routes that take input; both would tell generated
    clients and schemathesis a shape the server never sends.
    """
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for code, response in operation.get("responses", {}).items():
                if str(code)[:1] in {"4", "5"}:
                    response["content"] = {PROBLEM_MEDIA_TYPE: dict(problem)}
    components = schema.get("components", {}).get("schemas", {})
    text = json.dumps({k: v for k, v in schema.items() if k != "components"})
    text += json.dumps({k: v for k, v in components.items() if k not in _FASTAPI_VALIDATION})
    # Dropped once nothing else refers to them (HTTPValidationError holds ValidationError).
    if '"#/components/schemas/HTTPValidationError"' not in text:
        components.pop("HTTPValidationError", None)
        if '"#/components/schemas/ValidationError"' not in text:
            components.pop("ValidationError", None)
    return schema


_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


class UnhandledErrors:
    """Answers an exception no handler took with a 500 problem, inside the other middleware.

    Starlette leaves such exceptions to its outermost ``ServerErrorMiddleware``: the answer
    then bypasses ``RequestContext`` (no ``X-Request-ID``) and the exception is re-raised
    to the server, which closes the connection, so the client's next request on it fails.
    Installed innermost, this sends the problem through every middleware and keeps the
    connection usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # half a response is out: nothing better than closing is left
            response = await _unhandled(Request(scope), exc)
            await response(scope, receive, send)
