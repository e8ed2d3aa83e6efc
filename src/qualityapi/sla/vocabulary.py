"""The engine's words, defined once: warning levels, stages and how one maps to the other.

Stages of a clock cycle: 0 on track (blue), 1 warned (yellow), 2 breached (red), 2 + n
escalation level n. A subject's level is the worst level among its open clocks.
"""

from __future__ import annotations

import enum

ON_TRACK, WARNED, BREACHED = 0, 1, 2


class WarningLevel(enum.StrEnum):
    none = "none"
    blue = "blue"
    yellow = "yellow"
    red = "red"


def level_of_stage(stage: int) -> WarningLevel:
    if stage >= BREACHED:
        return WarningLevel.red
    return WarningLevel.yellow if stage == WARNED else WarningLevel.blue


def escalation_level(stage: int) -> int:
    """Ladder levels reached (0 before the first)."""
    return max(0, stage - BREACHED)


# What each level means to a person reading the board or a timeline.
LEVEL_MEANING = {
    WarningLevel.none: "no clock running",
    WarningLevel.blue: "on track",
    WarningLevel.yellow: "deadline near (inside the warning window)",
    WarningLevel.red: "deadline passed",
}


def stage_label(stage: int | None) -> str | None:
    """A stage in words: ``on track``, ``warning``, ``breached``, ``escalation level n``."""
    if stage is None:
        return None
    if stage > BREACHED:
        return f"escalation level {stage - BREACHED}"
    return {ON_TRACK: "on track", WARNED: "warning", BREACHED: "breached"}.get(stage, str(stage))


_RANK = {WarningLevel.none: 0, WarningLevel.blue: 1, WarningLevel.yellow: 2, WarningLevel.red: 3}


def worst(levels: list[WarningLevel]) -> WarningLevel:
    return max(levels, key=_RANK.__getitem__, default=WarningLevel.none)


class ClockState(enum.StrEnum):
    # pending: the target cannot be computed yet (e.g. no appointment); not counted in
    # the level until it can.
    pending = "pending"
    running = "running"
    paused = "paused"
    met = "met"
    breached = "breached"
    cancelled = "cancelled"


# States in which a clock still counts towards its subject's level (unless met_at is set:
# a breached clock that was met late stays breached but is no longer open).
OPEN_STATES = frozenset({ClockState.running, ClockState.paused, ClockState.breached})


class Op(enum.StrEnum):
    """What a subject's action does to a clock (see ``sla.clockwork.transition``)."""

    start = "start"
    meet = "meet"
    pause = "pause"
    resume = "resume"
    replan = "replan"
    restart = "restart"
    cancel = "cancel"
