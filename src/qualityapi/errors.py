"""Errors as RFC 9457 problem details.

Every error a client can see is an ``AppError`` (or is converted into one by the handlers
below), so the body is always ``application/problem+json`` and never an HTML page or a trace.
"""

from __future__ import annotations

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

from qualityapi.db import health

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://qualityapi.dev/problems/"

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


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        extra=exc.extra,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(
            status=400,
            slug="malformed-json",
            title="Malformed JSON body",
            detail="the request body is not valid JSON",
            instance=request.url.path,
        )
    items = [
        {"loc": _loc(e.get("loc", ())), "msg": _validation_message(e), "type": e.get("type")}
        for e in errors
    ]
    detail = "; ".join(f"{'.'.join(map(str, i['loc']))}: {i['msg']}" for i in items[:5])
    return problem_response(
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=detail,
        instance=request.url.path,
        extra={"errors": items},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 400: "Bad request"}
    return problem_response(
        status=exc.status_code,
        slug={404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error"),
        title=titles.get(exc.status_code, "HTTP error"),
        detail=str(exc.detail) if exc.detail else None,
        instance=request.url.path,
        headers=exc.headers,
    )


async def _stale_data(request: Request, exc: Exception) -> JSONResponse:
    # Two writers raced on the same version; the loser must re-read and retry.
    return problem_response(
        status=409,
        slug="concurrent-update",
        title="Concurrent update",
        detail="the resource was changed by another request; fetch it again and retry",
        instance=request.url.path,
    )


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
    if state.startswith("40") or "database is locked" in str(exc.orig):
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
        headers={"Retry-After": "1"},
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
        409: "Conflict with the resource's current state",
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
