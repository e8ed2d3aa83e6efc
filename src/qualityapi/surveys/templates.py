"""Survey templates: versions, the default one, and the audit of every change.

A version that a survey uses is never changed again: an edit of its content makes the
next version (a new row) and marks the used one superseded, so every answer can always
be read against the questions the customer saw. A version no survey uses yet is edited
in place (it takes the next version number all the same, which is also its ETag).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.audit import repository as audit
from qualityapi.auth.principal import SYSTEM_PRINCIPAL, Principal
from qualityapi.clock import Clock
from qualityapi.common.concurrency import check_if_match
from qualityapi.db.base import new_id
from qualityapi.errors import Conflict, NotFound, Unprocessable
from qualityapi.surveys import repository
from qualityapi.surveys.models import SurveyTemplate
from qualityapi.surveys.schemas import (
    DEFAULT_SCALE,
    Question,
    SurveyTemplateCreate,
    SurveyTemplateRead,
    SurveyTemplateSaved,
    SurveyTemplateUpdate,
    TemplateVersionRef,
)

log = structlog.get_logger("qualityapi.surveys")

# Fixed, so two replicas starting at once cannot both create it.
DEFAULT_TEMPLATE_ID = uuid.UUID("5e1f0c8e-3a52-4c1b-9d7e-00000000a001")
# 000 §5.1: confirm the problem is solved and ask satisfaction; 001 §2.1.3: 5-point items
# plus open questions.
DEFAULT_TEMPLATE: dict[str, Any] = {
    "name": "After-service callback (回访)",
    "description": "The return call after every resolved work order.",
    "questions": [
        {"key": "solved", "kind": "solved", "text": "Was your problem solved? (问题是否已解决)"},
        {
            "key": "overall",
            "kind": "overall",
            "text": "Overall, how satisfied are you with this service? (总体满意度)",
        },
        {
            "key": "timeliness",
            "kind": "rating",
            "text": "How satisfied are you with how quickly we responded? (响应及时性)",
        },
        {
            "key": "attitude",
            "kind": "rating",
            "text": "How satisfied are you with our staff's attitude? (服务态度)",
        },
        {
            "key": "quality",
            "kind": "rating",
            "text": "How satisfied are you with the quality of the work? (服务质量)",
        },
        {
            "key": "suggestions",
            "kind": "text",
            "text": "What could we do better? (意见和建议)",
        },
    ],
}

CONTENT = ("name", "description", "questions", "scale_labels")
Outcome = Literal["edited_in_place", "new_version"]


def read(template: SurveyTemplate, *, in_use: bool) -> SurveyTemplateRead:
    return SurveyTemplateRead.model_validate(
        {
            **{
                k: getattr(template, k)
                for k in SurveyTemplateRead.model_fields
                if k not in ("status", "in_use")
            },
            "status": "superseded" if template.superseded_by_id else "current",
            "in_use": in_use,
        }
    )


async def read_many(
    session: AsyncSession, templates: Sequence[SurveyTemplate]
) -> list[SurveyTemplateRead]:
    used = await repository.used_templates(session, [t.id for t in templates])
    return [read(t, in_use=t.id in used) for t in templates]


async def read_one(session: AsyncSession, template: SurveyTemplate) -> SurveyTemplateRead:
    return (await read_many(session, [template]))[0]


async def get(session: AsyncSession, template_id: uuid.UUID) -> SurveyTemplate:
    template = await repository.get_template(session, template_id)
    if template is None:
        raise NotFound(f"survey template {template_id} does not exist")
    return template


def _questions(questions: Sequence[Question]) -> list[dict[str, Any]]:
    return [q.model_dump(mode="json") for q in questions]


def _snapshot(template: SurveyTemplate, *, in_use: bool) -> dict[str, Any]:
    return read(template, in_use=in_use).model_dump(mode="json")


async def create(
    session: AsyncSession,
    data: SurveyTemplateCreate,
    *,
    actor: Principal,
    now: datetime,
    template_id: uuid.UUID | None = None,
) -> SurveyTemplate:
    # The first template is the default whatever it says: callbacks need one.
    first = await repository.default_template(session) is None
    template_id = template_id or new_id()
    template = SurveyTemplate(
        id=template_id,
        family_id=template_id,
        name=data.name,
        description=data.description,
        questions=_questions(data.questions),
        scale_labels=list(data.scale_labels or DEFAULT_SCALE),
        is_default=bool(data.is_default) or first,
        version=1,
        supersedes_id=None,
        superseded_by_id=None,
        superseded_at=None,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    await session.flush()
    _audit(session, actor, now, "survey_template.created", template, None)
    if template.is_default:
        await _clear_other_defaults(session, template, actor=actor, now=now)
    return template


def _audit(
    session: AsyncSession,
    actor: Principal,
    now: datetime,
    action: str,
    template: SurveyTemplate,
    before: dict[str, Any] | None,
    *,
    in_use: bool = False,
) -> None:
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        resource_type="survey_template",
        resource_id=template.id,
        before=before,
        after=_snapshot(template, in_use=in_use),
    )


async def _clear_other_defaults(
    session: AsyncSession, template: SurveyTemplate, *, actor: Principal, now: datetime
) -> None:
    """One default at a time: the one just made default replaces the others."""
    others = await repository.other_defaults(session, template.id)
    used = await repository.used_templates(session, [o.id for o in others])
    for other in others:
        before = _snapshot(other, in_use=other.id in used)
        other.is_default = False
        other.version += 1
        other.updated_at = now
        await session.flush()
        _audit(
            session, actor, now, "survey_template.updated", other, before, in_use=other.id in used
        )


def _content(data: SurveyTemplateCreate | SurveyTemplateUpdate, put: bool) -> dict[str, Any]:
    sent = data.model_dump(exclude_unset=not put, exclude={"is_default"})
    for required in ("name", "questions"):
        if required in sent and sent[required] is None:
            raise Unprocessable(f"{required}: may not be null")
    if "questions" in sent:
        sent["questions"] = _questions(data.questions or [])
    if "scale_labels" in sent:
        sent["scale_labels"] = list(data.scale_labels or DEFAULT_SCALE)
    return sent


async def save(
    session: AsyncSession,
    template: SurveyTemplate,
    data: SurveyTemplateCreate | SurveyTemplateUpdate,
    *,
    put: bool,
    if_match: str | None,
    actor: Principal,
    now: datetime,
) -> SurveyTemplateSaved:
    """PUT (``put``: every content field) or PATCH (the fields sent)."""
    if template.superseded_by_id is not None:
        raise Conflict(
            f"version {template.version} of survey template '{template.name}' was superseded "
            f"by {template.superseded_by_id}; edit the current version"
        )
    check_if_match(if_match, template.version)
    content = _content(data, put)
    make_default = data.is_default
    if make_default is False and template.is_default:
        raise Unprocessable(
            "is_default: callbacks need a default template; make another template the "
            "default instead"
        )
    changed = {k: v for k, v in content.items() if getattr(template, k) != v}
    default_changed = make_default is not None and make_default != template.is_default
    in_use = template.id in await repository.used_templates(session, [template.id])
    if not changed and not default_changed:
        return _saved(template, in_use, "edited_in_place", None, "nothing changed")
    before = _snapshot(template, in_use=in_use)
    if changed and in_use:
        saved = await _new_version(session, template, changed, make_default, now=now, actor=actor)
        _audit(session, actor, now, "survey_template.versioned", saved, before)
        if saved.is_default:
            await _clear_other_defaults(session, saved, actor=actor, now=now)
        detail = (
            f"version {template.version} is used by surveys, so it was kept unchanged and "
            f"the edit saved as version {saved.version}"
        )
        ref = TemplateVersionRef(id=template.id, version=template.version)
        return _saved(saved, False, "new_version", ref, detail)
    for key, value in changed.items():
        setattr(template, key, value)
    if make_default is not None:
        template.is_default = make_default
    template.version += 1
    template.updated_at = now
    await session.flush()
    _audit(session, actor, now, "survey_template.updated", template, before, in_use=in_use)
    if default_changed and template.is_default:
        await _clear_other_defaults(session, template, actor=actor, now=now)
    detail = (
        "only the default setting changed: a used version keeps its questions"
        if in_use
        else "no survey used this version yet, so it was edited in place"
    )
    return _saved(template, in_use, "edited_in_place", None, detail)


async def _new_version(
    session: AsyncSession,
    template: SurveyTemplate,
    changed: dict[str, Any],
    make_default: bool | None,
    *,
    now: datetime,
    actor: Principal,
) -> SurveyTemplate:
    successor = SurveyTemplate(
        id=new_id(),
        family_id=template.family_id,
        **{k: changed.get(k, getattr(template, k)) for k in CONTENT},
        is_default=template.is_default if make_default is None else make_default,
        version=template.version + 1,
        supersedes_id=template.id,
        superseded_by_id=None,
        superseded_at=None,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(successor)
    # The used version keeps its number and content; only its place in the family moves.
    template.superseded_by_id = successor.id
    template.superseded_at = now
    template.is_default = False
    template.updated_at = now
    await session.flush()
    return successor


def _saved(
    template: SurveyTemplate,
    in_use: bool,
    outcome: Outcome,
    replaced: TemplateVersionRef | None,
    detail: str,
) -> SurveyTemplateSaved:
    return SurveyTemplateSaved.model_validate(
        {
            **read(template, in_use=in_use).model_dump(),
            "outcome": outcome,
            "replaced": replaced,
            "detail": detail,
        }
    )


# --- the default template ----------------------------------------------------------------


async def ensure_default_id(session: AsyncSession, now: datetime) -> uuid.UUID:
    """The id of the template new callbacks use: one small read when it exists."""
    found = await repository.default_template_id(session)
    return found if found is not None else (await ensure_default(session, now)).id


async def ensure_default(session: AsyncSession, now: datetime) -> SurveyTemplate:
    """The template new callbacks use; the built-in one if none exists yet."""
    found = await repository.default_template(session)
    if found is not None:
        return found
    existing = await repository.get_template(session, DEFAULT_TEMPLATE_ID)
    if existing is not None and existing.superseded_by_id is None:
        existing.is_default = True
        await session.flush()
        return existing
    return await create(
        session,
        SurveyTemplateCreate.model_validate({**DEFAULT_TEMPLATE, "is_default": True}),
        actor=SYSTEM_PRINCIPAL,
        now=now,
        template_id=None if existing is not None else DEFAULT_TEMPLATE_ID,
    )


async def seed_default(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> bool:
    """On start: the built-in template when there is no template at all. Idempotent, and
    safe when two replicas start together (its id is fixed: the second insert fails and
    is dropped). Returns True when it was created."""
    async with sessionmaker() as session:
        if await repository.any_template(session):
            return False
        try:
            await ensure_default(session, clock.now())
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return False
    log.info("default_survey_template_created")
    return True
