"""The work-order state machine, as data. Pure: no I/O, easy to read and to test."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Status(enum.StrEnum):
    open = "open"
    assigned = "assigned"
    in_progress = "in_progress"
    on_hold = "on_hold"
    resolved = "resolved"
    closed = "closed"
    cancelled = "cancelled"


class Action(enum.StrEnum):
    assign = "assign"
    respond = "respond"
    arrive = "arrive"
    hold = "hold"
    resume = "resume"
    resolve = "resolve"
    close = "close"
    reopen = "reopen"
    cancel = "cancel"


# Past-tense names for timeline entries ("who did what").
EVENT_TYPES: dict[Action, str] = {
    Action.assign: "assigned",
    Action.respond: "responded",
    Action.arrive: "arrived",
    Action.hold: "held",
    Action.resume: "resumed",
    Action.resolve: "resolved",
    Action.close: "closed",
    Action.reopen: "reopened",
    Action.cancel: "cancelled",
}

# action -> {status it may start from: status it leads to}. ``None`` as the target means
# "the status stays" (re-assigning keeps the work where it is); resume returns to the
# status the order had when it was put on hold.
_S = Status
TRANSITIONS: dict[Action, dict[Status, Status | None]] = {
    Action.assign: {
        _S.open: _S.assigned,
        _S.assigned: None,
        _S.in_progress: None,
        _S.on_hold: None,
    },
    Action.respond: {_S.open: _S.in_progress, _S.assigned: _S.in_progress},
    Action.arrive: {_S.in_progress: None},
    Action.hold: {_S.assigned: _S.on_hold, _S.in_progress: _S.on_hold},
    Action.resume: {_S.on_hold: None},
    Action.resolve: {_S.in_progress: _S.resolved},
    Action.close: {_S.resolved: _S.closed},
    Action.reopen: {_S.resolved: _S.in_progress, _S.closed: _S.in_progress},
    Action.cancel: {
        _S.open: _S.cancelled,
        _S.assigned: _S.cancelled,
        _S.in_progress: _S.cancelled,
        _S.on_hold: _S.cancelled,
    },
}

OPEN_STATUSES = frozenset({_S.open, _S.assigned, _S.in_progress, _S.on_hold})


@dataclass(frozen=True)
class Facts:
    """What besides the status decides whether an action is allowed."""

    status: Status
    arrived_at: datetime | None
    held_from: Status | None


def allowed_actions(facts: Facts) -> list[Action]:
    allowed = [a for a, table in TRANSITIONS.items() if facts.status in table]
    if facts.arrived_at is not None and Action.arrive in allowed:
        allowed.remove(Action.arrive)  # arrival is recorded once
    return allowed


def next_status(action: Action, facts: Facts) -> Status | None:
    """The status after ``action``, or None when the action is not allowed now."""
    if action not in allowed_actions(facts):
        return None
    target = TRANSITIONS[action][facts.status]
    if action is Action.resume:
        return facts.held_from or Status.in_progress
    return target if target is not None else facts.status
