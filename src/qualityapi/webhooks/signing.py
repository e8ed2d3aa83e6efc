"""Secrets and Standard Webhooks signatures (the public ``standardwebhooks`` package signs)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def is_valid_secret(value: str) -> bool:
    """``whsec_`` + base64 of 24 to 64 bytes, as the specification recommends."""
    if not value.startswith(SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        return False
    return 24 <= len(raw) <= 64


def active_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during the
    rotation's overlap."""
    if previous and previous_expires_at and previous_expires_at > now:
        return [secret, previous]
    return [secret]


def signature_header(
    secrets_: list[str], *, message_id: str, timestamp: datetime, body: str
) -> str:
    """``v1,<sig>`` per secret, space-separated: during a rotation both secrets sign."""
    return " ".join(Webhook(s).sign(message_id, timestamp, body) for s in secrets_)


def headers(
    secrets_: list[str], *, message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(
            secrets_, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
