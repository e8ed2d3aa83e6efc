"""Deadline maths from async code without blocking the event loop.

Nothing an admin configures (a calendar that works one hour a year, or every minute but
one day) and nothing a client sends (a start or an appointment in year 9999) may stall
every other request of the process. The calendar functions are pure and bounded by their
horizon, but a walk over the whole horizon still costs milliseconds of CPU, which is too
long for the loop. `bounded` runs the common, short case inline, where a thread hop would
cost more than the maths, and moves only the long walks to a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from qualityapi.sla.calendar import BudgetExceeded, day_budget

__all__ = ["INLINE_DAYS", "bounded"]

# Local days the inline attempt may walk, for all its calendar calls together: 128 days
# cost 0.3-0.8 ms with cold span caches (1-3 ms when a year of public holidays must be
# computed first, once per process and year) and under 0.1 ms warm, while a preview or a
# plan on an office calendar walks a few days, or a few weeks over a long holiday.
INLINE_DAYS = 128

_P = ParamSpec("_P")
_R = TypeVar("_R")


async def bounded(fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """`fn(*args, **kwargs)`: inline if it walks at most `INLINE_DAYS` local days, else
    rerun from scratch in a worker thread, where only the calendar's horizon bounds it.

    `fn` must be pure (it may run twice). Its exceptions, such as CalendarHorizonError,
    propagate unchanged from either attempt.
    """
    try:
        with day_budget(INLINE_DAYS):
            return fn(*args, **kwargs)
    except BudgetExceeded:
        pass
    return await asyncio.to_thread(_unbudgeted, fn, *args, **kwargs)


def _unbudgeted(fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    # to_thread copies the caller's context, so an enclosing budget would follow the call
    # into the thread; lift it there, the horizon is the bound.
    with day_budget(None):
        return fn(*args, **kwargs)
