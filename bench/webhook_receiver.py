"""A minimal webhook receiver for the webhook benchmark: a process of its own.

Run::

    .venv/bin/python -m bench.webhook_receiver --port 9000 [--server asyncio|uvicorn]

Every ``POST`` outside ``/_*`` is a webhook: it is verified with the public
``standardwebhooks`` package (``Webhook(secret).verify(body, headers)``), recorded as
(wall-clock arrival, ``webhook-id``, ``type``, ``data.clock_id``, ``data.due_at``,
``data.subject.id``), optionally held for ``delay`` seconds, then answered ``200``. A
request that does not verify is answered ``400`` and counted; it is not recorded.

Control (no signature, JSON):

- ``POST /_control`` ``{"secret": "whsec_...", "delay": 0.05, "reset": true}``: any subset;
  ``reset`` forgets every record;
- ``GET /_stats``: ``{"count", "bad", "first_at", "last_at"}`` (cheap, for polling);
- ``GET /_records``: ``{"records": [[at, id, type, clock_id, due_at, subject_id], ...],
  "bad", "bad_reasons"}``.

Two servers, same behaviour: ``asyncio`` (default) is raw asyncio streams on uvloop, HTTP/1.1
keep-alive, Content-Length bodies only; ``uvicorn`` is a bare ASGI app under uvicorn with
httptools and uvloop. The benchmark measures both and uses the faster.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn
import uvloop
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Record = tuple[float, str, str, str | None, str | None, str | None]
JSON = b"application/json"


class State:
    def __init__(self) -> None:
        self.webhook: Webhook | None = None
        self.delay = 0.0
        self.records: list[Record] = []
        self.bad = 0
        self.bad_reasons: Counter[str] = Counter()

    def control(self, body: bytes) -> dict[str, Any]:
        change = orjson.loads(body or b"{}")
        if "secret" in change:
            self.webhook = Webhook(change["secret"]) if change["secret"] else None
        if "delay" in change:
            self.delay = float(change["delay"])
        if change.get("reset"):
            self.records = []
            self.bad = 0
            self.bad_reasons.clear()
        return {"ok": True, "delay": self.delay, "secret": self.webhook is not None}

    def stats(self) -> dict[str, Any]:
        return {
            "count": len(self.records),
            "bad": self.bad,
            "first_at": self.records[0][0] if self.records else None,
            "last_at": self.records[-1][0] if self.records else None,
        }

    def dump(self) -> dict[str, Any]:
        return {"records": self.records, "bad": self.bad, "bad_reasons": dict(self.bad_reasons)}

    def webhook_received(self, body: bytes, headers: dict[str, str], at: float) -> int:
        """Verifies and records one delivery; the status to answer."""
        try:
            if self.webhook is None:
                raise WebhookVerificationError("no secret configured")
            payload = self.webhook.verify(body, headers)
            data = payload.get("data") or {}
            subject = data.get("subject") if isinstance(data.get("subject"), dict) else {}
            self.records.append(
                (
                    at,
                    headers["webhook-id"],
                    payload.get("type"),
                    data.get("clock_id"),
                    data.get("due_at"),
                    subject.get("id"),
                )
            )
        except (WebhookVerificationError, ValueError, KeyError, AttributeError) as exc:
            self.bad += 1
            self.bad_reasons[f"{type(exc).__name__}: {exc}"[:120]] += 1
            return 400
        return 200

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes, at: float
    ) -> tuple[int, bytes]:
        if path.startswith("/_"):
            if method == "POST" and path == "/_control":
                return 200, orjson.dumps(self.control(body))
            if method == "GET" and path == "/_stats":
                return 200, orjson.dumps(self.stats())
            if method == "GET" and path == "/_records":
                return 200, orjson.dumps(self.dump())
            return 404, b'{"error": "not found"}'
        if method != "POST":
            return 405, b'{"error": "POST only"}'
        status = self.webhook_received(body, headers, at)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        return status, b'{"ok": true}' if status == 200 else b'{"ok": false}'


# -- raw asyncio streams --------------------------------------------------------------------

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


def _response(status: int, body: bytes, close: bool) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        len(body),
    )
    if close:
        head += b"connection: close\r\n"
    return head + b"\r\n" + body


def asyncio_handler(
    state: State,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if "transfer-encoding" in headers:
                    writer.write(_response(501, b'{"error": "chunked"}', True))
                    return
                length = int(headers.get("content-length", "0"))
                try:
                    body = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, OSError):
                    return
                at = time.time()
                status, payload = await state.handle(method, path, headers, body, at)
                close = headers.get("connection", "").lower() == "close"
                writer.write(_response(status, payload, close))
                await writer.drain()
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

    return connection


async def serve_asyncio(state: State, host: str, port: int) -> None:
    server = await asyncio.start_server(asyncio_handler(state), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


# -- a bare ASGI app under uvicorn ----------------------------------------------------------


def asgi_app(state: State) -> Callable[..., Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        at = time.time()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status, payload = await state.handle(
            scope["method"], scope["path"], headers, b"".join(chunks), at
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", JSON), (b"content-length", b"%d" % len(payload))],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


def serve_uvicorn(state: State, host: str, port: int) -> None:
    uvicorn.run(
        asgi_app(state),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=1024,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=["asyncio", "uvicorn"], default="asyncio")
    args = parser.parse_args(argv)
    state = State()
    if args.server == "uvicorn":
        serve_uvicorn(state, args.host, args.port)
    else:
        uvloop.run(serve_asyncio(state, args.host, args.port))


if __name__ == "__main__":
    main()
