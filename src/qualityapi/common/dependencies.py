from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qualityapi.clock import Clock


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(_clock)]
