"""Sessions. The request (or job) boundary commits; services only flush."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from qualityapi.common.signals import commit


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as session:
        yield session
        # Commit before the response is sent (scope="function" below): a failed commit
        # must become an error response, never a 201 for a write that did not happen.
        # Reads have nothing to commit; closing the session ends their transaction.
        if request.method not in _READ_ONLY:
            # Then wake work that must only see committed data (scanner, dispatcher).
            await commit(session)


# scope="function" runs the exit code right after the endpoint returns, before the
# response goes out. FastAPI's default ("request") would commit after sending.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
