"""When to try a failed delivery again (pure: table-driven tests in tests/webhooks)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# ±20%: receivers that failed together (an outage) do not all get retried together.
JITTER = 0.2
# A Retry-After beyond this is treated as this: the retry span stays about three days.
MAX_RETRY_AFTER = timedelta(hours=24)


def next_delay(
    failed_attempts: int, delays: Sequence[float], *, rand: random.Random | None = None
) -> timedelta | None:
    """The wait after the ``failed_attempts``-th failure; None once retries are exhausted."""
    if failed_attempts < 1 or failed_attempts > len(delays):
        return None
    base = delays[failed_attempts - 1]
    factor = 1 + (rand or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base * factor)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date (RFC 9110 §10.2.3); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)
