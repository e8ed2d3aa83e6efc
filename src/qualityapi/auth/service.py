"""API key life cycle. Services flush; the caller's boundary commits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.audit import repository as audit
from qualityapi.auth import repository
from qualityapi.auth.models import ApiKey, Role
from qualityapi.auth.principal import Principal
from qualityapi.common.pagination import KeyPageParams
from qualityapi.errors import NotFound

KEY_PREFIX = "qak_"
BOOTSTRAP_KEY_NAME = "bootstrap-admin"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    raw: str


def _snapshot(key: ApiKey) -> dict[str, object]:
    return {"name": key.name, "role": key.role.value, "prefix": key.prefix}


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    actor: Principal,
    at: datetime,
    raw: str | None = None,
) -> CreatedKey:
    raw = raw or generate_key()
    key = ApiKey(
        name=name,
        role=role,
        prefix=raw[:12],
        key_hash=hash_key(raw),
        created_at=at,
        created_by=actor.name,
    )
    session.add(key)
    await session.flush()
    audit.record(
        session,
        at=at,
        actor=actor,
        action="api_key.created",
        resource_type="api_key",
        resource_id=key.id,
        before=None,
        after=_snapshot(key),
    )
    return CreatedKey(key=key, raw=raw)


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, *, actor: Principal, at: datetime
) -> ApiKey:
    key = await repository.get(session, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist")
    if key.revoked_at is None:
        key.revoked_at = at
        audit.record(
            session,
            at=at,
            actor=actor,
            action="api_key.revoked",
            resource_type="api_key",
            resource_id=key.id,
            before=_snapshot(key),
            after=None,
        )
    return key


async def list_keys(
    session: AsyncSession, *, include_revoked: bool, page: KeyPageParams | None = None
) -> Sequence[ApiKey]:
    return await repository.list_all(session, include_revoked=include_revoked, page=page)


async def authenticate(session: AsyncSession, raw: str) -> Principal | None:
    digest = hash_key(raw)
    key = await repository.get_active_by_hash(session, digest)
    # The look-up is by hash (its timing says nothing about the key itself); the final
    # comparison is constant-time all the same.
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return Principal(key_id=key.id, name=key.name, role=key.role)


async def ensure_bootstrap_key(
    session: AsyncSession, raw: str, *, actor: Principal, at: datetime
) -> bool:
    """Make the configured bootstrap key valid; a previous bootstrap key stops working.

    Returns True when a key row was created.
    """
    digest = hash_key(raw)
    await repository.revoke_named_except(session, name=BOOTSTRAP_KEY_NAME, keep_hash=digest, at=at)
    if await repository.get_active_by_hash(session, digest) is not None:
        return False
    await create_key(session, name=BOOTSTRAP_KEY_NAME, role=Role.admin, actor=actor, at=at, raw=raw)
    return True


async def has_any_key(session: AsyncSession) -> bool:
    return await repository.count_all(session) > 0
