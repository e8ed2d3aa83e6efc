from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from qualityapi.common.kpi import KpiDefinition
from qualityapi.common.schemas import (
    Id,
    InputModel,
    NotNull,
    ReadModel,
    ShortText,
    StrictBool,
    StrictInt,
    UtcDatetime,
)
from qualityapi.sla.schemas import ClockSummary
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.surveys.states import Action, Channel, Outcome, Status

QuestionKind = Literal["overall", "rating", "solved", "text", "nps"]
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Label = Annotated[str, Field(min_length=1, max_length=50)]
Score = Annotated[StrictInt, Field(ge=1, le=5)]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text (InputModel checks top-level fields only).
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


Comment = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]

DEFAULT_SCALE = [
    "Very dissatisfied (非常不满意)",
    "Dissatisfied (不满意)",
    "Neutral (一般)",
    "Satisfied (满意)",
    "Very satisfied (非常满意)",
]


# --- templates ---------------------------------------------------------------------------


class Question(InputModel):
    key: Key
    kind: QuestionKind = Field(
        description="`overall`: the overall 5-point item (exactly one; CSAT counts it); "
        "`rating`: another 5-point item; `solved`: was the problem solved? (yes/no, at most "
        "one); `text`: an open question; `nps`: 0-10 likelihood to recommend (at most one)."
    )
    text: str = Field(min_length=1, max_length=500)
    required: StrictBool | None = Field(
        default=None,
        description="Default: true, but false for `text`. The overall item is always required.",
    )


def _check_questions(questions: list[Question]) -> list[Question]:
    keys = [q.key for q in questions]
    if len(keys) != len(set(keys)):
        raise ValueError("question keys must be unique")
    kinds = [q.kind for q in questions]
    if kinds.count("overall") != 1:
        raise ValueError("a template needs exactly one question of kind 'overall'")
    for single in ("solved", "nps"):
        if kinds.count(single) > 1:
            raise ValueError(f"a template has at most one question of kind '{single}'")
    resolved = []
    for q in questions:
        if q.kind == "overall" and q.required is False:
            raise ValueError("the overall question is always required")
        required = q.required if q.required is not None else q.kind != "text"
        resolved.append(q.model_copy(update={"required": required}))
    return resolved


Questions = Annotated[list[Question], Field(min_length=1, max_length=50)]
ScaleLabels = Annotated[
    list[Label],
    Field(min_length=5, max_length=5, description="Words for 1..5 on every 5-point item."),
]


class SurveyTemplateCreate(InputModel):
    """Also the body of PUT (a full replacement of the template's content)."""

    name: ShortText
    description: str | None = Field(default=None, max_length=2000)
    questions: Questions
    scale_labels: ScaleLabels | None = Field(
        default=None, description="Default: 1 very dissatisfied ... 5 very satisfied."
    )
    is_default: StrictBool | None = Field(
        default=None,
        description="Make it the template new callbacks use (the previous default stops "
        "being one). On POST null means false; on PUT it keeps the current setting.",
    )

    @model_validator(mode="after")
    def _valid(self) -> SurveyTemplateCreate:
        self.questions = _check_questions(self.questions)
        return self


class SurveyTemplateUpdate(InputModel):
    name: Annotated[ShortText | None, NotNull] = None
    description: str | None = Field(default=None, max_length=2000)
    questions: Annotated[Questions | None, NotNull] = None
    scale_labels: ScaleLabels | None = None
    is_default: StrictBool | None = None

    @model_validator(mode="after")
    def _valid(self) -> SurveyTemplateUpdate:
        if self.questions is not None:
            self.questions = _check_questions(self.questions)
        return self


class QuestionRead(ReadModel):
    key: str
    kind: QuestionKind
    text: str
    required: bool


class SurveyTemplateRead(ReadModel):
    id: uuid.UUID
    family_id: uuid.UUID = Field(description="The same for every version of this template.")
    name: str
    description: str | None
    questions: list[QuestionRead]
    scale_labels: list[str]
    is_default: bool
    version: int = Field(description="The version within its family; also the ETag.")
    status: Literal["current", "superseded"]
    in_use: bool = Field(description="Surveys use this version: an edit makes a new version.")
    supersedes_id: uuid.UUID | None
    superseded_by_id: uuid.UUID | None
    superseded_at: UtcDatetime | None
    created_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class TemplateVersionRef(ReadModel):
    id: uuid.UUID
    version: int


class SurveyTemplateSaved(SurveyTemplateRead):
    """The template after a PUT or PATCH, and what the write did."""

    outcome: Literal["edited_in_place", "new_version"] = Field(
        description="`new_version` (201) when surveys use the version sent: it is kept "
        "unchanged and superseded; `edited_in_place` (200) when no survey used it yet."
    )
    replaced: TemplateVersionRef | None = Field(
        description="The superseded version, on `new_version`."
    )
    detail: str


# --- surveys -----------------------------------------------------------------------------


class SurveyCustomer(ReadModel):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class AttemptCreate(InputModel):
    outcome: Outcome = Field(
        description="`no_answer` and `wrong_number` count towards `unreached`; `refused` "
        "ends the survey; `reached` leaves it open for the answers."
    )
    attempted_at: UtcDatetime | None = Field(default=None, description="Defaults to now.")
    note: str | None = Field(default=None, max_length=2000)


class AttemptRead(ReadModel):
    id: int
    outcome: Outcome
    attempted_at: UtcDatetime
    note: str | None
    agent_name: str
    created_at: UtcDatetime


class ResponseCreate(InputModel):
    """The answers, keyed by the template's question keys."""

    overall: Score = Field(description="The overall item, 1 (very dissatisfied) to 5.")
    solved: StrictBool | None = Field(default=None, description="Was the problem solved?")
    ratings: dict[Key, Score] = Field(
        default_factory=dict, max_length=50, description="Other 5-point items: key -> 1..5."
    )
    comments: dict[Key, Comment] = Field(
        default_factory=dict, max_length=50, description="Open questions: key -> text."
    )
    nps: StrictInt | None = Field(default=None, ge=0, le=10)
    channel: Literal["phone", "in_person", "other"] = "phone"


class ResponseRead(ReadModel):
    channel: Channel
    overall: int
    solved: bool | None
    nps: int | None
    ratings: dict[str, int]
    comments: dict[str, str]
    dissatisfied: bool
    reasons: list[str] = Field(description="`low_score` and/or `not_solved`.")
    recorded_by: str
    answered_at: UtcDatetime


class LinkState(ReadModel):
    """The latest answer link (never its token: that is shown once)."""

    state: Literal["active", "used", "expired", "revoked"]
    created_at: UtcDatetime
    expires_at: UtcDatetime
    used_at: UtcDatetime | None
    created_by: str


class LinkCreated(ReadModel):
    survey_id: uuid.UUID
    url: str = Field(description="Send this to the customer. Shown once: only a hash is kept.")
    token: str
    expires_at: UtcDatetime


class SurveyUpdate(InputModel):
    assignee_id: Id | None = Field(
        default=None, description="Who makes the call (notified by the callback's clock)."
    )


class SurveyRead(ReadModel):
    id: uuid.UUID
    number: str = Field(examples=["SV-2026-000123"])
    title: str
    status: Status
    skip_reason: str | None
    cancel_reason: str | None
    work_order_id: uuid.UUID | None
    work_order_number: str | None
    template_id: uuid.UUID | None
    template_version: int | None
    customer: SurveyCustomer
    priority: str | None
    category: str | None
    team_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    warning_level: WarningLevel
    sla: list[ClockSummary]
    attempts_count: int
    failed_attempts: int
    max_attempts: int
    attempts: list[AttemptRead]
    response: ResponseRead | None
    link: LinkState | None
    allowed_actions: list[Action]
    completed_at: UtcDatetime | None
    ended_at: UtcDatetime | None
    created_by: str
    version: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


# --- stats -------------------------------------------------------------------------------


class Ratio(ReadModel):
    value: float | None = Field(description="numerator / denominator; null when it is 0.")
    numerator: int
    denominator: int


class SurveyStats(ReadModel):
    period_start: UtcDatetime | None
    period_end: UtcDatetime | None
    issued: int = Field(description="Callbacks issued (pending, completed, unreached, refused).")
    answered: int
    satisfied: int = Field(description="Answered with the overall item 4 or 5.")
    dissatisfied: int = Field(description="Answered below the satisfaction line, or not solved.")
    unreached: int
    refused: int
    pending: int
    cancelled: int = Field(description="Withdrawn because the work order was reopened.")
    skipped: int = Field(description="Not issued: the customer was surveyed recently.")
    csat: Ratio
    response_rate: Ratio
    definitions: dict[str, KpiDefinition]
