"""Failed authentication per client address: slowed, then refused for a while.

In-process and bounded: each replica counts what it sees (a client spread over N
replicas gets at most N times the limit — still a handful of guesses per minute, against
256-bit keys), and at most ``max_clients`` addresses are remembered. Only a key that was
sent and refused counts: a request without a key is a 401 but not a guess.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from prometheus_client import Counter

from qualityapi.clock import Clock
from qualityapi.config import Settings
from qualityapi.errors import AppError

FAILURES = Counter(
    "qualityapi_auth_failures_total", "Requests whose API key was unknown or revoked"
)
REFUSED = Counter(
    "qualityapi_auth_refused_total",
    "Requests refused with 429 because their address failed authentication too often",
)


class TooManyAuthFailures(AppError):
    status, slug, title = 429, "too-many-auth-failures", "Too many failed authentications"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many requests with an unknown or revoked API key from this address; "
            f"retry after {retry_after} s with a valid key",
            headers={"Retry-After": str(retry_after)},
        )


@dataclass
class _Window:
    started: float  # epoch seconds of the first failure in this window
    failures: int


class AuthThrottle:
    def __init__(
        self, *, limit: int, window_seconds: float, max_delay: float, max_clients: int
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_delay = max_delay
        self.max_clients = max_clients
        # Oldest window first: eviction takes from the front.
        self._peers: OrderedDict[str, _Window] = OrderedDict()

    @classmethod
    def of(cls, settings: Settings) -> AuthThrottle:
        return cls(
            limit=settings.auth_failure_limit,
            window_seconds=settings.auth_failure_window_seconds,
            max_delay=settings.auth_failure_max_delay_seconds,
            max_clients=settings.auth_failure_max_clients,
        )

    def __len__(self) -> int:
        return len(self._peers)

    def refused(self, peer: str, clock: Clock) -> int | None:
        """Seconds until ``peer`` may try again, or None. A dict miss for every client
        that has not failed lately: the clock is not even read."""
        entry = self._peers.get(peer)
        if entry is None or entry.failures < self.limit:
            return None
        left = entry.started + self.window - clock.now().timestamp()
        if left <= 0:
            del self._peers[peer]
            return None
        REFUSED.inc()
        return max(1, math.ceil(left))

    def failed(self, peer: str, clock: Clock) -> float:
        """Counts a refused key; returns how long to hold back the 401 (seconds)."""
        now = clock.now().timestamp()
        entry = self._peers.get(peer)
        if entry is None or now >= entry.started + self.window:
            if entry is not None:
                del self._peers[peer]
            while len(self._peers) >= self.max_clients:
                self._peers.popitem(last=False)
            entry = self._peers[peer] = _Window(started=now, failures=0)
        entry.failures += 1
        FAILURES.inc()
        return failure_delay(entry.failures, self.limit, self.max_delay)

    def succeeded(self, peer: str) -> None:
        # A person who mistyped once and then got it right starts from zero.
        self._peers.pop(peer, None)


def failure_delay(failures: int, limit: int, max_delay: float) -> float:
    """No delay for the first half of the limit, then growing linearly to ``max_delay``
    at the limit: a script slows down long before it is refused; a person never notices."""
    free = limit // 2
    if failures <= free or limit <= free:
        return 0.0
    return round(max_delay * min(1.0, (failures - free) / (limit - free)), 3)
