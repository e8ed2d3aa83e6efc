"""The survey callback's life cycle, as data. Pure: no I/O."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    # Issued, its clock running: call the customer (or send the link).
    pending = "pending"
    # Answered, by phone or through the link.
    completed = "completed"
    # Too many failed attempts; never counted as satisfied.
    unreached = "unreached"
    # Reached, and the customer declined the survey.
    refused = "refused"
    # The work order was reopened before an answer; its next resolution issues a new one.
    cancelled = "cancelled"
    # Not issued: the customer was surveyed recently (the throttle); no clock.
    skipped = "skipped"


class Outcome(enum.StrEnum):
    reached = "reached"
    no_answer = "no_answer"
    wrong_number = "wrong_number"
    refused = "refused"


# Outcomes that count towards ``unreached``.
FAILED_OUTCOMES = frozenset({Outcome.no_answer, Outcome.wrong_number})


class Channel(enum.StrEnum):
    phone = "phone"
    in_person = "in_person"
    other = "other"
    # The customer's own answer through /s/{token}.
    link = "link"


class Action(enum.StrEnum):
    """What a client may do to a survey (``allowed_actions``)."""

    attempt = "attempt"
    respond = "respond"
    link = "link"
    update = "update"


# What the SLA engine hears (``surveys.sla`` maps each to a clock operation).
COMPLETE, REFUSE, GIVE_UP, CANCEL = "complete", "refuse", "give_up", "cancel"

OPEN_STATUSES = frozenset({Status.pending})
# Issued surveys: the denominator of the response rate, and what the throttle counts.
ISSUED_STATUSES = frozenset({Status.pending, Status.completed, Status.unreached, Status.refused})


def allowed_actions(status: Status) -> list[Action]:
    return list(Action) if status in OPEN_STATUSES else []
