"""Surveys as the API shows them: each with its attempts, answer and link state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.surveys import links, repository
from qualityapi.surveys.models import Survey, SurveyLink
from qualityapi.surveys.schemas import AttemptRead, LinkState, ResponseRead, SurveyRead
from qualityapi.surveys.states import allowed_actions


def _link_state(link: SurveyLink | None, now: datetime) -> LinkState | None:
    if link is None:
        return None
    return LinkState(
        state=links.state_of(link, now),
        created_at=link.created_at,
        expires_at=link.expires_at,
        used_at=link.used_at,
        created_by=link.created_by,
    )


async def read_many(
    session: AsyncSession, surveys: Sequence[Survey], now: datetime
) -> list[SurveyRead]:
    """One query each for the page's attempts, answers, links and templates."""
    ids = [s.id for s in surveys]
    attempts = await repository.attempts_of(session, ids)
    responses = await repository.responses_of(session, ids)
    latest = await repository.latest_links_of(session, ids)
    used = await repository.templates_by_id(session, [s.template_id for s in surveys])
    reads = []
    for s in surveys:
        response = responses.get(s.id)
        template = used.get(s.template_id) if s.template_id else None
        reads.append(
            SurveyRead.model_validate(
                {
                    **{k: getattr(s, k) for k in _SURVEY_COLUMNS},
                    "template_version": template.version if template else None,
                    "attempts": [AttemptRead.model_validate(a) for a in attempts.get(s.id, [])],
                    "response": ResponseRead.model_validate(response) if response else None,
                    "link": _link_state(latest.get(s.id), now),
                    "allowed_actions": allowed_actions(s.status),
                }
            )
        )
    return reads


async def read_one(session: AsyncSession, survey: Survey, now: datetime) -> SurveyRead:
    return (await read_many(session, [survey], now))[0]


_DERIVED = {"template_version", "attempts", "response", "link", "allowed_actions"}
_SURVEY_COLUMNS = tuple(k for k in SurveyRead.model_fields if k not in _DERIVED)
