from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qualityapi.clock import Clock


async def _clock(request: Request) -> Clock:
    # async: a plain ``def`` dependency would cost a thread-pool hop on every request.
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(_clock)]
