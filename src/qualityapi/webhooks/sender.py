"""One HTTP attempt: SSRF check, signing, POST with httpx, and what came of it."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from qualityapi.webhooks import signing, ssrf
from qualityapi.webhooks.retry import parse_retry_after

# What the delivery log keeps of a response body.
MAX_BODY_CHARS = 2000
# httpx's own connection pool costs several ms of CPU per request once tens of requests
# are in flight (httpx issue 3215; bench/README.md measures 1.8-5 ms against 0.7 ms):
# requests go through httpx's API on aiohttp's pool instead (httpx-aiohttp).
USER_AGENT = "qualityapi-webhooks/1"


@cache
def _tls_context() -> ssl.SSLContext:
    """The system's trust store, read once per process: loading it takes ~45 ms, and a
    context is safe to share between connections."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None
    duration_ms: float
    error_class: str | None = None
    error: str | None = None
    response_body: str | None = None
    # 429/503 with Retry-After: wait this long instead of the backoff.
    retry_after: timedelta | None = None
    # 410 Gone: the receiver asks us to stop; the endpoint is disabled.
    gone: bool = False


def body_of(payload: dict[str, object]) -> str:
    return orjson.dumps(payload).decode()


class Sender:
    def __init__(
        self,
        *,
        concurrency: int,
        connect_timeout: float,
        read_timeout: float,
        allowed_networks: Sequence[str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._transport = transport or AiohttpTransport(verify=_tls_context(), limits=limits)
        # Per request, as httpx's transports read them (seconds).
        self._timeout = {
            "connect": connect_timeout,
            "pool": connect_timeout,
            "read": read_timeout,
            "write": read_timeout,
        }
        self._allowed = ssrf.networks(allowed_networks)
        self.resolver = ssrf.Resolver()
        self._targets: dict[str, tuple[float, ssrf.Target, httpx.URL]] = {}

    async def check_url(self, url: str) -> None:
        """Raises ``ssrf.UrlRefused`` for a URL webhooks may not reach."""
        await ssrf.check(url, self.resolver, self._allowed)

    async def _checked(self, url: str) -> tuple[ssrf.Target, httpx.URL]:
        # The verdict lives as long as the DNS answer it rests on: a burst to one endpoint
        # does not parse and check the same URL thousands of times (nor has httpx parse it).
        hit = self._targets.get(url)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        target = await ssrf.check(url, self.resolver, self._allowed)
        parsed = httpx.URL(target.url)
        self._targets[url] = (now + ssrf.DNS_TTL_SECONDS, target, parsed)
        return target, parsed

    async def send(self, url: str, secrets: list[str], *, message_id: str, body: str) -> Outcome:
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 3)

        try:
            target, target_url = await self._checked(url)
        except ssrf.UrlRefused as exc:
            return Outcome(False, None, elapsed(), "ssrf_refused", str(exc)[:300])
        # The signature's timestamp is wall-clock time, whatever clock drives the service:
        # receivers reject timestamps far from their own time.
        headers = signing.headers(
            secrets, message_id=message_id, timestamp=datetime.now(UTC), body=body
        )
        headers["host"] = target.host_header
        headers["user-agent"] = USER_AGENT
        extensions: dict[str, Any] = {"timeout": self._timeout}
        if target.sni_hostname:
            extensions["sni_hostname"] = target.sni_hostname
        try:
            # Straight to the transport: an AsyncClient would add nothing a webhook needs
            # (no cookies, auth or redirects) and costs CPU on every request.
            request = httpx.Request(
                "POST", target_url, content=body.encode(), headers=headers, extensions=extensions
            )
            response = await self._transport.handle_async_request(request)
            try:
                text = await _read_some(response)
            finally:
                await response.aclose()
        except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
            cause = exc.__cause__ or exc
            return Outcome(False, None, elapsed(), _error_class(cause), _describe(cause))
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, code, elapsed(), response_body=text)
        retry_after = None
        if code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        return Outcome(
            False,
            code,
            elapsed(),
            "http_status",
            f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else ""),
            text,
            retry_after=retry_after,
            gone=code == 410,
        )

    async def aclose(self) -> None:
        await self._transport.aclose()


async def _read_some(response: httpx.Response) -> str:
    """At most MAX_BODY_CHARS of the body: a receiver cannot make us read gigabytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_CHARS * 4:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")[:MAX_BODY_CHARS]


def _error_class(exc: BaseException) -> str:
    """The delivery log's error class, from what the connection really did."""
    # Order matters: aiohttp's connect errors are also OSErrors, its timeouts also
    # connection errors.
    if isinstance(exc, aiohttp.ConnectionTimeoutError | httpx.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, aiohttp.ClientConnectorError | httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, TimeoutError | httpx.TimeoutException | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | httpx.RemoteProtocolError,
    ):
        return "protocol_error"
    return "transport_error"


def _describe(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]
