"""Optimistic concurrency over HTTP: ``version`` ↔ ``ETag``, ``If-Match`` → 412 when stale;
and collisions the client did not cause, retried here before they become a 503.

What ``version`` counts: client-visible edits (fields a client can change, status and
assignment through actions). SLA-derived fields (``warning_level``, ``sla``) that the
scanner moves leave it alone, so a client's fresh ETag is not failed by the scanner.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import Header, Response
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualityapi.errors import RETRYABLE_HEADER, PreconditionFailed

log = structlog.get_logger(__name__)


def etag_for(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)


IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=2000,
        description=(
            'ETag(s) from a previous read (`"3"`, or a list `"3", "4"`, or `*`); the '
            "write fails with 412 unless one matches the current version. Strong "
            'comparison (RFC 9110 §13.1.1): a weak tag `W/"3"` never matches. `version` '
            "counts client-visible edits only: SLA-derived fields (`warning_level`, `sla`) "
            "change without a new version."
        ),
    ),
]


def parse_entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """``If-Match`` as (weak?, opaque tag) pairs; ``None`` when it is ``*``.

    Scans quoted strings rather than splitting on commas: an entity tag may itself contain
    a comma. Anything that is not a tag is skipped (it can match nothing)."""
    text = header.strip()
    if text == "*":
        return None
    tags: list[tuple[bool, str]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t,":
            i += 1
            continue
        weak = text.startswith("W/", i)
        if weak:
            i += 2
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                break
            tags.append((weak, text[i + 1 : end]))
            i = end + 1
        else:
            # Not a tag (a bare token): skip to the next list member.
            nxt = text.find(",", i)
            i = n if nxt < 0 else nxt + 1
    return tags


def if_match_allows(if_match: str, version: int) -> bool:
    """Strong comparison: only a strong tag equal to the current one matches; ``*`` matches
    any existing resource (every caller has one)."""
    tags = parse_entity_tags(if_match)
    if tags is None:
        return True
    current = str(version)
    return any(not weak and tag == current for weak, tag in tags)


def check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None or if_match_allows(if_match, version):
        return
    current = etag_for(version)
    weak = ""
    if "W/" in if_match:
        weak = " (a weak tag never matches If-Match: send the ETag as received)"
    raise PreconditionFailed(
        f"If-Match {if_match} does not match the current version {current}{weak}; "
        "fetch the resource again and retry"
    )


# --- collisions the client did not cause --------------------------------------------------

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_MARKER = RETRYABLE_HEADER.encode("latin-1")
# Short: the holder is a scanner batch or another request, both brief; the jitter-free
# steps keep tests deterministic in count (never in time).
_BACKOFF_SECONDS = (0.05, 0.15, 0.3, 0.5)


class RetryCollisions:
    """Re-runs a whole write request when it collided with concurrent work.

    The error handlers mark such responses (a deadlock, a serialization failure, a lock
    timeout, a version check lost to a concurrent writer) with ``RETRYABLE_HEADER``; the
    transaction was rolled back whole, so running the request again in a fresh one is
    safe. The body is recorded as it is read and replayed. Only the last attempt's
    response goes out (then a 503 with ``Retry-After``), the marker removed. A response
    that is not marked is passed through as it comes: the success path buffers nothing.
    """

    def __init__(self, app: ASGIApp, attempts: int = 3) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE or self.attempts <= 1:
            await self.app(scope, receive, send)
            return
        recorded: list[Message] = []
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            replay = list(recorded)

            async def receive_once(replay: list[Message] = replay) -> Message:
                if replay:
                    return replay.pop(0)
                message = await receive()
                if message["type"] == "http.request":
                    recorded.append(message)
                return message

            swallowed = False

            async def send_or_swallow(message: Message, last: bool = last) -> None:
                nonlocal swallowed
                if message["type"] == "http.response.start":
                    headers = message.get("headers", [])
                    if any(name == _MARKER for name, _ in headers):
                        if not last:
                            swallowed = True
                            return
                        message = {
                            **message,
                            "headers": [(n, v) for n, v in headers if n != _MARKER],
                        }
                elif swallowed:
                    return
                await send(message)

            await self.app(scope, receive_once, send_or_swallow)
            if not swallowed:
                return
            log.info("collision_retried", path=scope.get("path"), attempt=attempt)
            await asyncio.sleep(_BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS)) - 1])


def install_lock_timeout(engine: AsyncEngine, milliseconds: int) -> None:
    """PostgreSQL: a statement waiting longer than this for a row lock fails (SQLSTATE
    55P03), so a request behind a long-held row is retried and then answered 503, instead
    of hanging. Set per connection: costs nothing per request."""
    if engine.dialect.name != "postgresql" or milliseconds <= 0:
        return

    statement = f"SET lock_timeout = {int(milliseconds)}"

    def _set(dbapi_conn: Any, _record: Any) -> None:
        # On the driver's connection, outside the transaction the adapter would open (a
        # SET inside it would be rolled back when the connection goes back to the pool).
        dbapi_conn.run_async(lambda conn: conn.execute(statement))

    event.listen(engine.sync_engine, "connect", _set)
