"""A real webhook receiver on loopback, with scripted faults, for the delivery tests.

It runs ``http.server`` in a thread of its own (the tests' event loop stays free), keeps
every request it got, and checks signatures with the public ``standardwebhooks`` package.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.webhook_schemas import validate_body


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Sleep before answering (longer than the service's read timeout = a timeout).
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def type(self) -> str:
        return str(self.json["type"])


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender that dies or times out mid-request resets the connection: expected in
        # the fault tests, not worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    def __init__(self, port: int = 0, *, default: Reply | None = None) -> None:
        self._port = port
        self.default = default or Reply()
        self.plan: deque[Reply] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        # Requests being handled at once, and the most there ever were.
        self._active = 0
        self.max_concurrent = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The sender died mid-request (the SIGKILL test): nothing was delivered.
                    self.close_connection = True
                    return
                body = raw.decode()
                reply = receiver._next_reply()
                with receiver._lock:
                    receiver._active += 1
                    receiver.max_concurrent = max(receiver.max_concurrent, receiver._active)
                if reply.delay:
                    time.sleep(reply.delay)
                with receiver._lock:
                    receiver._active -= 1
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            at=time.monotonic(),
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                            answered=reply.status,
                        )
                    )
                payload = b'{"ok": true}'
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if exc[0] is None:
            # Every body this receiver got matches its schema in the published document.
            self.validate_all()

    def validate_all(self) -> None:
        for request in self.snapshot():
            validate_body(request.json)

    # --- what tests use -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hooks"

    @property
    def port(self) -> int:
        return self._port

    def _next_reply(self) -> Reply:
        with self._lock:
            return self.plan.popleft() if self.plan else self.default

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def delivered(self) -> list[Received]:
        """Requests answered 2xx: what the receiver accepted."""
        return [r for r in self.snapshot() if 200 <= r.answered < 300]

    def verify_all(self, *secrets: str) -> None:
        """Every request verifies with one of ``secrets`` (standardwebhooks, 5 min tolerance)."""
        for request in self.snapshot():
            errors = []
            for secret in secrets:
                try:
                    Webhook(secret).verify(request.body, request.headers)
                    break
                except WebhookVerificationError as exc:
                    errors.append(str(exc))
            else:
                raise AssertionError(f"request {request.id} does not verify: {errors}")


async def eventually(
    check: Callable[[], bool], *, within: float = 20.0, what: str = "condition"
) -> None:
    """Polls ``check`` on the event loop (so the in-process service keeps running)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)
