"""Single-use answer links: a random token in the URL, only its SHA-256 in the database.

The token is 32 random bytes (``secrets.token_urlsafe``), so hashing it without a salt is
enough: nobody can guess one, and a leaked database gives no working link.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from qualityapi.surveys.models import Survey, SurveyLink
from qualityapi.surveys.states import OPEN_STATUSES

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return bool(_TOKEN.match(token))


LinkStateName = Literal["active", "used", "expired", "revoked"]


def state_of(link: SurveyLink, now: datetime) -> LinkStateName:
    if link.used_at is not None:
        return "used"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= now:
        return "expired"
    return "active"


class Refusal(StrEnum):
    """Why a link cannot take an answer now (the page says which, nothing more)."""

    unknown = "unknown"
    used = "used"
    expired = "expired"
    replaced = "replaced"
    closed = "closed"


@dataclass(frozen=True)
class Verdict:
    refusal: Refusal | None

    @property
    def status_code(self) -> int:
        return {
            None: 200,
            Refusal.unknown: 404,
            Refusal.used: 409,
            Refusal.expired: 410,
            Refusal.replaced: 410,
            Refusal.closed: 410,
        }[self.refusal]


def verdict(link: SurveyLink | None, survey: Survey | None, now: datetime) -> Verdict:
    if link is None or survey is None:
        return Verdict(Refusal.unknown)
    state = state_of(link, now)
    if state == "used":
        return Verdict(Refusal.used)
    if survey.completed_at is not None:
        # Answered by phone meanwhile: the link's one use is gone.
        return Verdict(Refusal.used)
    if state == "revoked":
        return Verdict(Refusal.replaced)
    if state == "expired":
        return Verdict(Refusal.expired)
    if survey.status not in OPEN_STATUSES:
        return Verdict(Refusal.closed)
    return Verdict(None)
