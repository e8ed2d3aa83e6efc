"""`offload.bounded`: short calendar walks inline, long ones in a thread, the loop free.

Nothing here measures time: where the work ran is told by asyncio.to_thread calls and
thread ids, and that the loop kept running by counting its ticks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import pytest

from qualityapi.sla import offload
from qualityapi.sla.calendar import (
    HORIZON_DAYS,
    BusinessCalendar,
    CalendarHorizonError,
    WorkingInterval,
    add_working_time,
    day_budget,
    working_seconds_between,
)

R = TypeVar("R")

START = datetime(2026, 11, 2, 1, tzinfo=UTC)
D = timedelta(days=1)
# Open every minute, but the closed day sends every call down the day-by-day walk.
ALL_DAY = BusinessCalendar(
    tz="UTC",
    week=dict.fromkeys(range(7), (WorkingInterval(time(0), time(0)),)),
    closed_days=frozenset({date(2020, 1, 1)}),
)
CHINA = BusinessCalendar.china_business()


class ToThreadSpy:
    def __init__(self) -> None:
        self.calls = 0
        self._real = asyncio.to_thread

    def __call__(
        self, fn: Callable[..., R], /, *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, R]:
        self.calls += 1
        return self._real(fn, *args, **kwargs)


@pytest.fixture
def to_thread(monkeypatch: pytest.MonkeyPatch) -> ToThreadSpy:
    spy = ToThreadSpy()
    monkeypatch.setattr(asyncio, "to_thread", spy)
    return spy


def _where(fn: Callable[[], R]) -> Callable[[], tuple[R, int]]:
    """`fn` that also reports the thread it finished in."""

    def run() -> tuple[R, int]:
        return fn(), threading.get_ident()

    return run


@pytest.mark.parametrize(
    ("call", "expected", "threads"),
    [
        pytest.param(
            lambda: add_working_time(CHINA, START, timedelta(hours=4)),
            datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
            0,
            id="office-hours-inline",
        ),
        pytest.param(
            lambda: add_working_time(ALL_DAY, START, 30 * D),
            START + 30 * D,
            0,
            id="a-month-inline",
        ),
        pytest.param(
            lambda: add_working_time(ALL_DAY, START, 400 * D),
            START + 400 * D,
            1,
            id="400-days-in-a-thread",
        ),
        pytest.param(
            lambda: working_seconds_between(ALL_DAY, START, START + 1000 * D),
            1000 * 86400.0,
            1,
            id="1000-days-between-in-a-thread",
        ),
    ],
)
async def test_small_walks_run_inline_and_big_ones_in_a_thread(
    to_thread: ToThreadSpy, call: Callable[[], object], expected: object, threads: int
) -> None:
    result, ident = await offload.bounded(_where(call))
    assert result == expected
    assert to_thread.calls == threads
    assert (ident != threading.get_ident()) is (threads == 1)


@pytest.mark.parametrize(
    ("call", "threads"),
    [
        # The range check needs no walk: refused inline.
        pytest.param(
            lambda: working_seconds_between(ALL_DAY, START, START + 2000 * D), 0, id="inline"
        ),
        # Only the whole walk shows that the deadline is too far: found in the thread.
        pytest.param(lambda: add_working_time(ALL_DAY, START, 2000 * D), 1, id="in-a-thread"),
    ],
)
async def test_horizon_errors_come_through_unchanged(
    to_thread: ToThreadSpy, call: Callable[[], object], threads: int
) -> None:
    with pytest.raises(CalendarHorizonError, match=f"{HORIZON_DAYS} days"):
        await offload.bounded(call)
    assert to_thread.calls == threads


async def test_arguments_pass_through() -> None:
    due = await offload.bounded(add_working_time, ALL_DAY, START, duration=400 * D)
    assert due == START + 400 * D


async def test_an_enclosing_budget_does_not_follow_into_the_thread() -> None:
    # to_thread copies the context, budget included; the thread must lift it.
    with day_budget(1):
        assert await offload.bounded(add_working_time, ALL_DAY, START, 400 * D) == START + 400 * D


async def test_the_loop_keeps_running_while_a_long_walk_is_offloaded(
    to_thread: ToThreadSpy,
) -> None:
    loop_thread = threading.get_ident()
    ticks = 0
    ticked = threading.Event()

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks >= 10:
                ticked.set()
            await asyncio.sleep(0)

    def long_walk() -> datetime:
        due = add_working_time(ALL_DAY, START, 400 * D)
        if threading.get_ident() != loop_thread:
            # Finish only once the loop has ticked ten times meanwhile: had the walk run on
            # the loop, no tick could happen and this would give up (a failure, not a hang).
            assert ticked.wait(timeout=60)
        return due

    task = asyncio.create_task(ticker())
    try:
        assert await offload.bounded(long_walk) == START + 400 * D
    finally:
        task.cancel()
    assert to_thread.calls == 1
    assert ticks >= 10


def test_inline_budget_covers_ordinary_deadlines() -> None:
    # Seven working days over China's National Day week, and its warning, stay inline.
    start = datetime(2026, 9, 28, 7, tzinfo=UTC)
    with day_budget(offload.INLINE_DAYS):
        due = add_working_time(CHINA, start, timedelta(hours=7 * 7.5))
        working_seconds_between(CHINA, start, due)
        add_working_time(CHINA, start, timedelta(hours=0.8 * 7 * 7.5))
