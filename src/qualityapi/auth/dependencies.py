"""Authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.auth import service
from qualityapi.auth.models import Role
from qualityapi.auth.principal import Principal
from qualityapi.auth.throttle import AuthThrottle, TooManyAuthFailures
from qualityapi.errors import Forbidden, Unauthorized

log = structlog.get_logger("qualityapi.auth")
_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer qak_...`")


class AuthCache:
    """Remembers recent successful look-ups so a request does not pay a query for its key.

    Revocations in this process clear it at once; other replicas see a revocation after at
    most ``ttl`` seconds.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, digest: str) -> Principal | None:
        hit = self._entries.get(digest)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


async def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    state = request.app.state
    throttle: AuthThrottle = state.auth_throttle
    peer = request.client.host if request.client else "unknown"
    retry_after = throttle.refused(peer, state.clock)
    if retry_after is not None:
        raise TooManyAuthFailures(retry_after)
    raw = credentials.credentials
    cache: AuthCache = state.auth_cache
    digest = service.hash_key(raw)
    principal = cache.get(digest)
    if principal is None:
        # A short session of its own: a cache miss is rare, and the request's session
        # stays free of the look-up.
        factory: async_sessionmaker[AsyncSession] = state.sessionmaker
        async with factory() as session:
            principal = await service.authenticate(session, raw)
        if principal is None:
            delay = throttle.failed(peer, state.clock)
            log.info("auth_failed", peer=peer, delayed_s=delay)
            if delay:
                await asyncio.sleep(delay)
            raise Unauthorized("the API key is unknown or revoked")
        cache.put(digest, principal)
    if len(throttle):
        throttle.succeeded(peer)
    return principal


def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    """The caller's principal, if its role is ``role`` or higher (401 / 403 otherwise).

    One dependency, not a chain: every level of nesting costs FastAPI time per request.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await _authenticate(request, credentials)
        if not principal.can(role):
            raise Forbidden(
                f"this needs role '{role.value}' or higher; the key has '{principal.role.value}'"
            )
        return principal

    # Read by the route-walking test and the OpenAPI document: the least role a route accepts.
    dependency.min_role = role  # type: ignore[attr-defined]
    return dependency


ViewerDep = Annotated[Principal, Depends(require_role(Role.viewer))]
AgentDep = Annotated[Principal, Depends(require_role(Role.agent))]
SupervisorDep = Annotated[Principal, Depends(require_role(Role.supervisor))]
AdminDep = Annotated[Principal, Depends(require_role(Role.admin))]


def min_role_of(route: APIRoute) -> Role | None:
    """The least role a route accepts, read from its ``require_role`` dependency."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        role = getattr(dep.call, "min_role", None)
        if isinstance(role, Role):
            return role
        stack.extend(dep.dependencies)
    return None
