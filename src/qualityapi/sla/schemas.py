from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from qualityapi.common.schemas import (
    Id,
    InputModel,
    NotNull,
    ReadModel,
    StrictBool,
    StrictFloat,
    StrictInt,
    UtcDatetime,
)
from qualityapi.sla import subjects

Name = Annotated[str, Field(min_length=1, max_length=100)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip

# A kind registered with the engine (``sla.subjects``); each says which clocks it has.
SubjectKind = Annotated[
    str,
    Field(
        min_length=1,
        max_length=20,
        pattern=r"^[a-z][a-z_]*$",
        examples=["work_order"],
        description="The kind of subject: `work_order` (and each kind added later, such as "
        "`complaint` and `survey_callback`).",
    ),
]


def _whole_seconds(value: timedelta) -> timedelta:
    if value.microseconds:
        raise ValueError("durations have second granularity (e.g. PT2S, PT1H30M)")
    return value


# Local wall-clock "HH:MM" (JSON Schema's "time" format would demand an offset).
WallClock = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"])]


class Interval(InputModel):
    start: WallClock
    end: WallClock = Field(description="end <= start crosses midnight; 00:00-00:00 is all day")


class HolidaySource(InputModel):
    country: str = Field(min_length=2, max_length=3, examples=["CN"])
    subdivision: str | None = Field(default=None, max_length=10)


class CalendarCreate(InputModel):
    name: Name
    time_zone: str = Field(max_length=64, examples=["Asia/Shanghai"])
    working_hours: dict[Weekday, list[Interval]] = Field(
        default_factory=dict,
        description="Per weekday; a missing day is closed. Intervals may not overlap, "
        "neither within a day nor with the previous day's overnight interval.",
    )
    holidays: HolidaySource | None = Field(
        default=None,
        description="Public holidays of a country (and subdivision), with substituted "
        "working days, from the `holidays` library.",
    )
    closed_days: list[date] = Field(
        default_factory=list,
        max_length=1000,
        description="Closed whatever else applies; never also an extra working day.",
    )
    extra_working_days: list[date] = Field(
        default_factory=list,
        max_length=1000,
        description="Worked even on a public holiday, with the hours of its own weekday; "
        "on a weekday without hours (as for substituted working days), with those of the "
        "first weekday from Monday on that has any.",
    )


class CalendarUpdate(InputModel):
    name: Name | None = None
    time_zone: str | None = Field(default=None, max_length=64)
    working_hours: dict[Weekday, list[Interval]] | None = None
    holidays: HolidaySource | None = None
    closed_days: list[date] | None = Field(default=None, max_length=1000)
    extra_working_days: list[date] | None = Field(default=None, max_length=1000)


class CalendarRead(ReadModel):
    id: uuid.UUID
    name: str
    time_zone: str
    working_hours: dict[Weekday, list[Interval]]
    holidays: HolidaySource | None
    closed_days: list[date]
    extra_working_days: list[date]
    builtin: bool
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


def _target_shorthand(value: Any) -> Any:
    # api.md: a target is "an ISO 8601 duration or {"working_days": N}".
    return {"duration": value} if isinstance(value, str) else value


# No target, warning lead or escalation delay may exceed a year (and a day): a longer one
# is no service level, and the bound keeps all deadline arithmetic inside datetime's range.
_LONGEST = timedelta(days=366)
_LONGEST_TEXT = "366 days (P366D)"


class TargetSpec(InputModel):
    duration: timedelta | None = Field(default=None, examples=["PT4H"])
    working_days: StrictInt | None = Field(
        default=None,
        ge=0,
        le=365,
        description="Due at the end of the Nth working day after the start's local date; "
        "0: by the end of the same working day (the next one's when started after hours).",
    )
    until: Literal["appointment_end"] | None = Field(
        default=None, description="Due at the subject's appointment end."
    )
    calendar_id: Id | None = Field(
        default=None, description="This target's own calendar instead of the policy's."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        kinds = [k for k in (self.duration, self.working_days, self.until) if k is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of duration, working_days or until")
        if self.duration is not None:
            if self.duration <= timedelta(0):
                raise ValueError("duration must be positive")
            if self.duration > _LONGEST:
                raise ValueError(f"duration must be at most {_LONGEST_TEXT}")
            _whole_seconds(self.duration)
        return self


Target = Annotated[TargetSpec, BeforeValidator(_target_shorthand)]


class WarningSpec(InputModel):
    percent: StrictFloat | None = Field(
        default=None, gt=0, lt=100, description="Yellow once this share of the target elapsed."
    )
    lead: timedelta | None = Field(
        default=None, description="Yellow this long (wall-clock) before the deadline."
    )

    @field_validator("lead")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("lead must be positive")
        if value is not None and value > _LONGEST:
            raise ValueError(f"lead must be at most {_LONGEST_TEXT}")
        return value if value is None else _whole_seconds(value)


Role = Literal["assignee", "team_supervisor", "team_manager", "staff"]


class Fallback(InputModel):
    role: Role
    staff_id: Id | None = Field(default=None, description="Required when role is staff.")

    @model_validator(mode="after")
    def _staff_needs_id(self) -> Fallback:
        if (self.role == "staff") != (self.staff_id is not None):
            raise ValueError("staff_id is required for role 'staff' and only for it")
        return self


class Notify(Fallback):
    fallback: list[Fallback] = Field(
        default_factory=list,
        max_length=5,
        description="Whom to notify instead, in order, when nobody holds `role` for the "
        "subject (e.g. the supervisor when the team has no manager).",
    )


class EscalationLevel(InputModel):
    level: StrictInt = Field(ge=1, le=20)
    after: timedelta = Field(description="Delay after the breach, e.g. PT0S, PT30M.")
    notify: list[Notify] = Field(min_length=1, max_length=20)

    @field_validator("after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("after must not be negative")
        if value > _LONGEST:
            raise ValueError(f"after must be at most {_LONGEST_TEXT}")
        return _whole_seconds(value)


class MatchSpec(InputModel):
    priorities: list[str] = Field(default_factory=list, max_length=50)
    categories: list[str] = Field(default_factory=list, max_length=200)


def _check_ladder(levels: list[EscalationLevel]) -> None:
    numbers = [lvl.level for lvl in levels]
    if numbers != list(range(1, len(levels) + 1)):
        raise ValueError("escalation levels must be numbered 1, 2, 3, ... in order")
    delays = [lvl.after for lvl in levels]
    if delays != sorted(delays):
        raise ValueError("each escalation level must come no sooner than the one before")


def _check_subject(subject: str) -> subjects.SubjectAdapter:
    adapter = subjects.find(subject)
    if adapter is None:
        known = ", ".join(subjects.kinds()) or "none"
        raise ValueError(f"no subject kind {subject!r}; registered kinds: {known}")
    return adapter


def _check_targets(subject: str, targets: dict[str, TargetSpec]) -> None:
    adapter = _check_subject(subject)
    allowed = adapter.targets
    unknown = sorted(set(targets) - set(allowed))
    if unknown:
        raise ValueError(f"{subject} has no target {', '.join(unknown)}; use {', '.join(allowed)}")


class SlaPolicyCreate(InputModel):
    name: Name
    subject: SubjectKind = "work_order"
    rank: StrictInt = Field(default=100, ge=0, le=100_000, description="Lower is tried first.")
    match: MatchSpec = Field(default_factory=MatchSpec)
    calendar_id: Id
    targets: dict[str, Target] = Field(min_length=1, examples=[{"response": "PT1H"}])
    warning: WarningSpec = Field(default_factory=lambda: WarningSpec(percent=80))
    escalation: list[EscalationLevel] = Field(default_factory=list, max_length=20)
    max_extensions: StrictInt | None = Field(
        default=None,
        ge=0,
        le=100,
        description="How many times one clock may be extended per cycle; null: no limit.",
    )
    enabled: StrictBool = True

    @model_validator(mode="after")
    def _consistent(self) -> SlaPolicyCreate:
        _check_targets(self.subject, self.targets)
        _check_ladder(self.escalation)
        return self


class SlaPolicyUpdate(InputModel):
    name: Annotated[Name | None, NotNull] = None
    rank: Annotated[StrictInt | None, NotNull] = Field(default=None, ge=0, le=100_000)
    match: Annotated[MatchSpec | None, NotNull] = None
    calendar_id: Annotated[Id | None, NotNull] = None
    targets: Annotated[dict[str, Target] | None, NotNull] = None
    warning: Annotated[WarningSpec | None, NotNull] = None
    escalation: Annotated[list[EscalationLevel] | None, NotNull] = Field(
        default=None, max_length=20
    )
    max_extensions: StrictInt | None = Field(
        default=None, ge=0, le=100, description="null: no limit (as on create)."
    )
    enabled: Annotated[StrictBool | None, NotNull] = None

    @model_validator(mode="after")
    def _ladder(self) -> SlaPolicyUpdate:
        if self.escalation is not None:
            _check_ladder(self.escalation)
        return self


class SlaPolicyRead(ReadModel):
    id: uuid.UUID
    name: str
    subject: str
    rank: int
    match: MatchSpec
    calendar_id: uuid.UUID
    targets: dict[str, TargetSpec]
    warning: WarningSpec
    escalation: list[EscalationLevel]
    max_extensions: int | None = None
    enabled: bool
    replanning: bool = Field(
        default=False,
        description="True while an edit of this policy waits to reach its running clocks "
        "(the scanner re-plans them in batches).",
    )
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class PreviewRequest(InputModel):
    subject: SubjectKind = "work_order"
    priority: str | None = Field(default=None, max_length=50, examples=["urgent"])
    category: str | None = Field(default=None, max_length=100)
    start: UtcDatetime = Field(description="When the clocks would start (e.g. reported_at).")
    appointment_end: UtcDatetime | None = None

    @field_validator("subject")
    @classmethod
    def _registered(cls, subject: str) -> str:
        # A mistyped kind matches no policy: "no policy" would be a wrong, plausible answer.
        _check_subject(subject)
        return subject


class PreviewDeadline(ReadModel):
    target: str
    calendar_id: uuid.UUID
    calendar_name: str
    due_at: UtcDatetime | None = Field(description="Null when it depends on data not given.")
    warn_at: UtcDatetime | None


class PreviewRead(ReadModel):
    policy_id: uuid.UUID | None = Field(description="Null when no policy matches.")
    policy_name: str | None
    deadlines: list[PreviewDeadline]


ClockStateName = Literal["pending", "running", "paused", "met", "breached", "cancelled"]


class ClockSummary(ReadModel):
    """One clock as its subject shows it (``sla`` on a work order, the board)."""

    target: str = Field(examples=["response"])
    state: ClockStateName
    due_at: UtcDatetime | None
    warn_at: UtcDatetime | None


class ClockRead(ReadModel):
    id: uuid.UUID
    target: str
    state: ClockStateName
    pending_reason: str | None = Field(
        default=None, description="Why a `pending` clock has no deadline yet."
    )
    cycle: int = Field(description="1, then +1 each time the clock restarts (reopen).")
    started_at: UtcDatetime
    due_at: UtcDatetime | None = Field(
        description="Null while pending, and while paused (it depends on when it resumes)."
    )
    warn_at: UtcDatetime | None
    met_at: UtcDatetime | None
    breached_at: UtcDatetime | None
    elapsed_seconds: float = Field(
        description="Working seconds used so far (up to met_at once met)."
    )
    remaining_seconds: float | None = Field(description="Working seconds left; negative once late.")
    paused_segments: list[dict[str, Any]]
    original_due_at: UtcDatetime | None = Field(
        default=None, description="The deadline before any extension of this cycle."
    )
    extensions: list[dict[str, Any]] = Field(
        default_factory=list, description="Each extension: at, from, to, reason."
    )
    escalation_level: int = Field(description="Escalation levels reached (0 before any).")
    warning_level: Literal["blue", "yellow", "red", "none"]
    calendar_id: uuid.UUID
    calendar_name: str
    policy_id: uuid.UUID | None


class SubjectSlaRead(ReadModel):
    subject_type: str
    subject_id: uuid.UUID
    warning_level: Literal["blue", "yellow", "red", "none"]
    policy_id: uuid.UUID | None
    policy_name: str | None
    replanning: bool = Field(
        default=False,
        description="True while a policy or calendar edit waits to be applied to these "
        "clocks (the scanner re-plans in batches).",
    )
    clocks: list[ClockRead]
