"""The ``survey.*`` events written to the outbox, and the schema of their ``data``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import SYSTEM_PRINCIPAL, Principal
from qualityapi.common.jsonable import jsonable
from qualityapi.common.schemas import UtcDatetime
from qualityapi.events import repository as events
from qualityapi.surveys.models import Survey, SurveyResponse, SurveyTemplate
from qualityapi.surveys.states import Channel

COMPLETED = "survey.completed"
DISSATISFIED = "survey.dissatisfied"
SUBJECT = "survey_callback"

Reason = Literal["low_score", "not_solved"]


class SurveyCustomerData(BaseModel):
    name: str | None
    phone: str | None
    email: str | None


class SurveyActor(BaseModel):
    id: uuid.UUID | None = Field(description="The API key's id; null for the customer's link.")
    name: str = Field(description="The key's name, or `customer` for the answer page.")
    role: str


class SurveyCompletedData(BaseModel):
    """``data`` of ``survey.completed`` (every answer, by phone or through the link)."""

    survey_id: uuid.UUID
    survey_number: str = Field(examples=["SV-2026-000123"])
    survey_version: int = Field(description="The callback's version after the answer (ETag).")
    actor: SurveyActor = Field(description="Who recorded the answer.")
    work_order_id: uuid.UUID | None
    work_order_number: str | None
    template_id: uuid.UUID
    template_version: int
    channel: Channel
    answered_at: UtcDatetime
    overall: int | None = Field(ge=1, le=5, description="The overall item, 1 to 5.")
    solved: bool | None = Field(description="Was the problem solved? Null if not asked.")
    nps: int | None = Field(default=None, ge=0, le=10)
    ratings: dict[str, int] = Field(description="The other 5-point items by question key.")
    comment: str | None = Field(description="The open answers, one per line; null if none.")
    dissatisfied: bool
    reasons: list[Reason] = Field(
        description="Why it is dissatisfied: `low_score` (overall at or below the line, "
        "2 by default), `not_solved`; empty when satisfied."
    )


class SurveyDissatisfiedData(SurveyCompletedData):
    """``data`` of ``survey.dissatisfied``: the answer and whom to call back about it."""

    customer: SurveyCustomerData


def comment_of(template: SurveyTemplate, comments: dict[str, Any]) -> str | None:
    """The open answers in the template's order, one per line."""
    order = [q["key"] for q in template.questions if q["kind"] == "text"]
    lines = [str(comments[k]).strip() for k in order if str(comments.get(k) or "").strip()]
    return "\n".join(lines) or None


def _data(
    survey: Survey, response: SurveyResponse, template: SurveyTemplate, actor: Principal
) -> dict[str, Any]:
    return {
        "survey_id": str(survey.id),
        "survey_number": survey.number,
        "survey_version": survey.version,
        "actor": {
            "id": None if actor.key_id is None else str(actor.key_id),
            "name": actor.name,
            "role": actor.role.value,
        },
        "work_order_id": jsonable(survey.work_order_id),
        "work_order_number": survey.work_order_number,
        "template_id": str(template.id),
        "template_version": template.version,
        "channel": jsonable(response.channel),
        "answered_at": jsonable(response.answered_at),
        "overall": response.overall,
        "solved": response.solved,
        "nps": response.nps,
        "ratings": dict(response.ratings),
        "comment": comment_of(template, response.comments),
        "dissatisfied": response.dissatisfied,
        "reasons": list(response.reasons),
    }


async def answered(
    session: AsyncSession,
    survey: Survey,
    response: SurveyResponse,
    template: SurveyTemplate,
    at: datetime,
    *,
    actor: Principal = SYSTEM_PRINCIPAL,
) -> None:
    """``survey.completed``, then ``survey.dissatisfied`` when it is (complaints react to
    that one in this same transaction)."""
    data = _data(survey, response, template, actor)
    key = f"{SUBJECT}:{survey.id}"
    rows = [events.row(type=COMPLETED, subject_key=key, data=data, at=at)]
    if response.dissatisfied:
        customer = {k: survey.customer.get(k) for k in ("name", "phone", "email")}
        rows.append(
            events.row(
                type=DISSATISFIED, subject_key=key, data={**data, "customer": customer}, at=at
            )
        )
    await events.emit_many(session, rows)
