"""The complaint state machine, as data. Pure: no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    received = "received"
    acknowledged = "acknowledged"
    investigating = "investigating"
    resolved = "resolved"
    closed = "closed"


class Action(enum.StrEnum):
    acknowledge = "acknowledge"
    assign = "assign"
    handover = "handover"
    accept_handover = "accept-handover"
    resolve = "resolve"
    callback = "callback"
    close = "close"
    reopen = "reopen"
    extend = "extend"


# Past-tense names for timeline entries.
EVENT_TYPES: dict[Action, str] = {
    Action.acknowledge: "acknowledged",
    Action.assign: "assigned",
    Action.handover: "handover_offered",
    Action.accept_handover: "handover_accepted",
    Action.resolve: "resolved",
    Action.callback: "callback_recorded",
    Action.close: "closed",
    Action.reopen: "reopened",
    Action.extend: "extended",
}

_S = Status
_OPEN = (_S.received, _S.acknowledged, _S.investigating)
# action -> {status it may start from: status it leads to}; None: the status stays.
TRANSITIONS: dict[Action, dict[Status, Status | None]] = {
    Action.acknowledge: {_S.received: _S.acknowledged},
    # A named investigator takes it on at once (a supervisor's decision).
    Action.assign: dict.fromkeys(_OPEN, _S.investigating),
    # First-contact ownership moves only when the new owner accepts.
    Action.handover: dict.fromkeys(_OPEN),
    Action.accept_handover: dict.fromkeys(_OPEN, _S.investigating),
    # A simple complaint may be settled on first contact, without a separate acknowledgement.
    Action.resolve: dict.fromkeys(_OPEN, _S.resolved),
    Action.callback: {_S.resolved: None},
    Action.close: {_S.resolved: _S.closed},
    Action.reopen: {_S.resolved: _S.investigating, _S.closed: _S.investigating},
    Action.extend: dict.fromkeys((*_OPEN, _S.resolved)),
}

# Taking a complaint on acknowledges it: naming an owner (assign) or accepting a handover
# is the complaint being dealt with, so its acknowledge clock must not run on to a breach
# (and once it is being investigated, "acknowledge" is no longer offered).
ACKNOWLEDGING = frozenset({Action.acknowledge, Action.assign, Action.accept_handover})

OPEN_STATUSES = frozenset({*_OPEN, _S.resolved})  # resolved still awaits the feedback loop


@dataclass(frozen=True)
class Facts:
    status: Status
    handover_pending: bool
    callback_recorded: bool


def allowed_actions(facts: Facts) -> list[Action]:
    allowed = [a for a, table in TRANSITIONS.items() if facts.status in table]
    if not facts.handover_pending and Action.accept_handover in allowed:
        allowed.remove(Action.accept_handover)
    if not facts.callback_recorded and Action.close in allowed:
        allowed.remove(Action.close)  # closing needs the customer's answer to the decision
    return allowed


def next_status(action: Action, facts: Facts) -> Status | None:
    """The status after ``action``, or None when the action is not allowed now."""
    if action not in allowed_actions(facts):
        return None
    target = TRANSITIONS[action][facts.status]
    return target if target is not None else facts.status
