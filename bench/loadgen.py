"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams.

Deliberately minimal: a full client such as httpx spends more CPU per request than the
servers under test, so on a small machine it would mostly measure itself. Each connection
sends requests back to back (no pipelining) and times each one.

Only what the benchmarked servers speak is supported: responses must carry
Content-Length; a chunked response raises ProtocolError instead of being misread.

CLI for ad-hoc use: ``python -m bench.loadgen http://127.0.0.1:8000/bare -c 4 -d 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "LoadResult",
    "ProtocolError",
    "Request",
    "RequestFactory",
    "ResponseHook",
    "run_load",
    "run_sync",
    "uvloop_available",
]

_T = TypeVar("_T")
_MAX_CONSECUTIVE_FAILURES = 50
_RECONNECT_BACKOFF_S = 0.01


class ProtocolError(RuntimeError):
    """The server said something this client deliberately does not understand."""


class Request:
    """One HTTP request; its wire bytes are built once and reused if the object is."""

    __slots__ = ("_wire", "body", "headers", "method", "path")

    def __init__(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.headers = dict(headers or {})
        self._wire: bytes | None = None

    def encode(self, host: str) -> bytes:
        if self._wire is None:
            lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
            lines += [f"{name}: {value}" for name, value in self.headers.items()]
            body = self.body or b""
            if self.body is not None or self.method in ("POST", "PUT", "PATCH"):
                lines.append(f"Content-Length: {len(body)}")
            self._wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return self._wire


# Called with a per-run sequence number, so bodies can be unique and paths can cycle.
RequestFactory = Callable[[int], Request]
# Called with (status, body) for every response, warm-up included.
ResponseHook = Callable[[int, bytes], None]


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    connections: int = 0
    latencies_s: list[float] = field(default_factory=list, repr=False)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    aborted: bool = False

    @classmethod
    def combine(cls, results: Sequence[LoadResult]) -> LoadResult:
        """Pool several runs of the same target, as if they were one longer run."""
        pooled = cls(connections=results[0].connections if results else 0)
        for r in results:
            pooled.requests += r.requests
            pooled.errors += r.errors
            pooled.elapsed_s += r.elapsed_s
            pooled.latencies_s.extend(r.latencies_s)
            pooled.statuses.update(r.statuses)
            pooled.transport_errors += r.transport_errors
            pooled.aborted = pooled.aborted or r.aborted
        return pooled

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return math.nan
        ordered = sorted(self.latencies_s)
        # Nearest-rank: the value at or below which q of the samples fall.
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[rank - 1] * 1000.0

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)


@dataclass
class _Shared:
    factory: RequestFactory
    host: str
    port: int
    on_response: ResponseHook | None
    measure_from: float
    deadline: float
    remaining: int | None  # fixed-count mode when not None
    timeout_s: float
    result: LoadResult
    sequence: int = 0
    last_done: float = 0.0

    def next_request(self) -> Request | None:
        now = time.perf_counter()
        if self.remaining is not None:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        elif now >= self.deadline:
            return None
        seq = self.sequence
        self.sequence += 1
        return self.factory(seq)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x response: {head[:60]!r}")
    status = int(head[9:12])
    lower = head.lower()
    if b"\r\ntransfer-encoding:" in lower:
        raise ProtocolError("chunked/transfer-encoded responses are not supported")
    idx = lower.find(b"\r\ncontent-length:")
    if idx >= 0:
        end = lower.index(b"\r\n", idx + 2)
        length = int(lower[idx + 17 : end])
    elif status in (204, 304) or 100 <= status < 200:
        length = 0
    else:
        raise ProtocolError(f"response {status} has no Content-Length: {head[:200]!r}")
    body = await reader.readexactly(length) if length else b""
    close = b"\r\nconnection: close" in lower
    return status, body, close


async def _connection(shared: _Shared) -> None:
    result = shared.result
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    failures = 0
    try:
        while True:
            request = shared.next_request()
            if request is None:
                return
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(shared.host, shared.port)
                assert reader is not None
                writer.write(request.encode(f"{shared.host}:{shared.port}"))
                status, body, close = await asyncio.wait_for(
                    _read_response(reader), shared.timeout_s
                )
            except ProtocolError:
                raise
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                result.errors += 1
                result.transport_errors += 1
                failures += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                if failures >= _MAX_CONSECUTIVE_FAILURES:
                    # The server is most likely gone; spinning on refused connects would
                    # only burn the CPU the server needs.
                    result.aborted = True
                    return
                await asyncio.sleep(_RECONNECT_BACKOFF_S)
                continue
            done = time.perf_counter()
            failures = 0
            if shared.on_response is not None:
                shared.on_response(status, body)
            if started >= shared.measure_from:
                result.requests += 1
                result.latencies_s.append(done - started)
                result.statuses[status] += 1
                if not 200 <= status < 300:
                    result.errors += 1
                shared.last_done = max(shared.last_done, done)
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_load(
    base_url: str,
    factory: RequestFactory,
    *,
    connections: int,
    duration_s: float | None = None,
    total_requests: int | None = None,
    warmup_s: float = 1.0,
    on_response: ResponseHook | None = None,
    timeout_s: float = 30.0,
) -> LoadResult:
    """Drive ``connections`` keep-alive connections against ``base_url``.

    Give either ``duration_s`` (measure for that long after ``warmup_s``) or
    ``total_requests`` (send exactly that many, no warm-up). Only requests *started*
    inside the measured window are counted; throughput divides them by the time from
    the window's start to the last of them finishing.
    """
    if (duration_s is None) == (total_requests is None):
        raise ValueError("give exactly one of duration_s and total_requests")
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"only http://host:port URLs are supported, got {base_url!r}")
    host, port = parts.hostname, parts.port or 80

    result = LoadResult(connections=connections)
    now = time.perf_counter()
    fixed_count = total_requests is not None
    measure_from = now if fixed_count else now + warmup_s
    deadline = math.inf if fixed_count else measure_from + (duration_s or 0.0)
    shared = _Shared(
        factory=factory,
        host=host,
        port=port,
        on_response=on_response,
        measure_from=measure_from,
        deadline=deadline,
        remaining=total_requests,
        timeout_s=timeout_s,
        result=result,
    )
    tasks = [asyncio.create_task(_connection(shared)) for _ in range(connections)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finished = max(shared.last_done, min(deadline, time.perf_counter()))
    result.elapsed_s = max(0.0, finished - measure_from)
    return result


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


async def _cancel_on_sigterm(coro: Coroutine[Any, Any, _T], interrupted: list[bool]) -> _T:
    # asyncio.Runner turns Ctrl-C into a clean cancellation; SIGTERM deserves the same,
    # since an exception raised from a plain signal handler would tear through the loop
    # and leave half-finished tasks behind.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm() -> None:
        interrupted[0] = True
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        return await coro
    try:
        return await coro
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        # remove_signal_handler resets to SIG_DFL; give the caller its handler back.
        signal.signal(signal.SIGTERM, previous)


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine on uvloop when installed: the client must stay cheaper than the server.

    SIGTERM and Ctrl-C both surface as KeyboardInterrupt after the load has been cancelled.
    """
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    interrupted = [False]
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            return runner.run(_cancel_on_sigterm(coro, interrupted))
        except asyncio.CancelledError:
            if interrupted[0]:
                raise KeyboardInterrupt from None
            raise


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="full URL, e.g. http://127.0.0.1:8000/bare")
    parser.add_argument("-c", "--connections", type=int, default=4)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("-w", "--warmup", type=float, default=1.0)
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("--data", help="request body (sent as JSON)")
    parser.add_argument("-H", "--header", action="append", default=[], help="Name: value")
    args = parser.parse_args()

    parts = urlsplit(args.url)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {name.strip(): value.strip() for name, value in headers.items()}
    body = args.data.encode() if args.data is not None else None
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    request = Request(args.method.upper(), path, body, headers)
    result = run_sync(
        run_load(
            f"{parts.scheme}://{parts.netloc}",
            lambda _seq: request,
            connections=args.connections,
            duration_s=args.duration,
            warmup_s=args.warmup,
        )
    )
    print(
        f"{result.requests} requests in {result.elapsed_s:.2f}s: {result.rps:.0f} req/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, errors {result.errors}, "
        f"statuses {dict(result.statuses)}"
    )


if __name__ == "__main__":
    _main()
