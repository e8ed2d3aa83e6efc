"""The state machine as a table: every (status, action) pair has one expected outcome."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qualityapi.work_orders.states import Action, Facts, Status, allowed_actions, next_status

S, A = Status, Action
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# (status, action, expected next status or None when refused)
CASES = [
    (S.open, A.assign, S.assigned),
    (S.open, A.respond, S.in_progress),
    (S.open, A.cancel, S.cancelled),
    (S.open, A.arrive, None),
    (S.open, A.resolve, None),
    (S.open, A.hold, None),
    (S.assigned, A.assign, S.assigned),
    (S.assigned, A.respond, S.in_progress),
    (S.assigned, A.hold, S.on_hold),
    (S.assigned, A.resolve, None),
    (S.in_progress, A.arrive, S.in_progress),
    (S.in_progress, A.resolve, S.resolved),
    (S.in_progress, A.hold, S.on_hold),
    (S.in_progress, A.assign, S.in_progress),
    (S.in_progress, A.respond, None),
    (S.in_progress, A.close, None),
    (S.resolved, A.close, S.closed),
    (S.resolved, A.reopen, S.in_progress),
    (S.resolved, A.cancel, None),
    (S.closed, A.reopen, S.in_progress),
    (S.closed, A.close, None),
    (S.closed, A.assign, None),
    (S.cancelled, A.reopen, None),
    (S.cancelled, A.respond, None),
]


@pytest.mark.parametrize(("status", "action", "expected"), CASES, ids=lambda v: str(v))
def test_transition_table(status: Status, action: Action, expected: Status | None) -> None:
    held_from = S.assigned if status is S.on_hold else None
    assert next_status(action, Facts(status, None, held_from)) == expected


@pytest.mark.parametrize("held_from", [S.assigned, S.in_progress])
def test_resume_returns_to_the_status_before_the_hold(held_from: Status) -> None:
    assert next_status(A.resume, Facts(S.on_hold, None, held_from)) == held_from


def test_arrival_is_recorded_once() -> None:
    assert A.arrive in allowed_actions(Facts(S.in_progress, None, None))
    assert A.arrive not in allowed_actions(Facts(S.in_progress, T0, None))
    assert next_status(A.arrive, Facts(S.in_progress, T0, None)) is None


def test_terminal_statuses_allow_only_reopen_or_nothing() -> None:
    assert allowed_actions(Facts(S.cancelled, None, None)) == []
    assert allowed_actions(Facts(S.closed, None, None)) == [A.reopen]
