"""The survey callback's life cycle. Services flush and never commit: the request (or the
transaction whose event a reaction answers) does."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.models import Role
from qualityapi.auth.principal import SYSTEM_PRINCIPAL, Principal
from qualityapi.common.jsonable import ChangeSet, jsonable
from qualityapi.db.base import new_id
from qualityapi.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from qualityapi.sla import engine as sla
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.service import ensure_staff_exists
from qualityapi.surveys import events, links, repository, templates
from qualityapi.surveys.answers import Answers, problems, reasons
from qualityapi.surveys.models import Survey, SurveyAttempt, SurveyLink, SurveyResponse
from qualityapi.surveys.rules import SurveyRules
from qualityapi.surveys.schemas import (
    AttemptCreate,
    LinkCreated,
    SurveyUpdate,
)
from qualityapi.surveys.sla import ADAPTER, KIND, facts_of
from qualityapi.surveys.states import (
    CANCEL,
    COMPLETE,
    FAILED_OUTCOMES,
    GIVE_UP,
    REFUSE,
    Action,
    Channel,
    Outcome,
    Status,
    allowed_actions,
)
from qualityapi.timeline import repository as timeline
from qualityapi.work_orders import repository as work_orders
from qualityapi.work_orders import service as work_order_service
from qualityapi.work_orders.models import WorkOrder
from qualityapi.work_orders.schemas import ReasonAction
from qualityapi.work_orders.states import Action as WorkOrderAction

SUBJECT = KIND
# Whoever answers through /s/{token}: no key, so the timeline names them this way.
CUSTOMER = Principal(key_id=None, name="customer (answer link)", role=Role.viewer)
# Agents' clocks drift; an attempt a little ahead of ours is still "now".
SKEW = timedelta(minutes=5)
# Reached-but-call-me-later attempts do not end a survey; this bounds its list.
MAX_ATTEMPTS_TOTAL = 30


def normal_phone(phone: Any) -> str | None:
    digits = re.sub(r"\D", "", str(phone or ""))
    return digits or None


def normal_email(email: Any) -> str | None:
    text = str(email or "").strip().lower()
    return text or None


async def get(session: AsyncSession, survey_id: uuid.UUID, *, lock: bool = False) -> Survey:
    survey = await repository.get(session, survey_id, lock=lock)
    if survey is None:
        raise NotFound(f"survey {survey_id} does not exist")
    return survey


def _require(survey: Survey, action: Action) -> None:
    if action not in allowed_actions(survey.status):
        # The same problem type as a work order's or a complaint's disallowed action.
        raise InvalidTransition(
            action=action.value,
            status=survey.status.value,
            allowed=[a.value for a in allowed_actions(survey.status)],
            subject="survey",
        )


def _show(survey: Survey, derived: sla.Derived) -> None:
    # Assigned only when different: an unchanged JSON value must not dirty the row.
    if survey.sla != derived.summary:
        survey.sla = derived.summary
    if survey.warning_level != derived.level:
        survey.warning_level = derived.level


# --- issuing -----------------------------------------------------------------------------


async def issue(
    session: AsyncSession, wo: WorkOrder, *, rules: SurveyRules, now: datetime
) -> Survey:
    """The callback for a resolved work order, or a ``skipped`` record saying why not."""
    contact = wo.customer or {}
    customer = {k: contact.get(k) for k in ("name", "phone", "email")}
    phone, email = normal_phone(customer["phone"]), normal_email(customer["email"])
    previous = None
    if rules.throttle > timedelta(0):
        previous = await repository.recently_surveyed(
            session,
            phone=phone,
            email=email,
            since=now - rules.throttle,
            other_than_work_order=wo.id,
        )
    seq = await work_orders.next_number(session, "SV", now.year)
    survey = Survey(
        id=new_id(),
        number=f"SV-{now.year}-{seq:06d}",
        title=f"Callback for {wo.number}: {wo.title}"[:300],
        status=Status.pending if previous is None else Status.skipped,
        skip_reason=None,
        cancel_reason=None,
        work_order_id=wo.id,
        work_order_number=wo.number,
        template_id=None,
        customer=customer,
        customer_phone=phone,
        customer_email=email,
        priority=getattr(wo.priority, "value", wo.priority),
        category=wo.category,
        team_id=wo.team_id,
        assignee_id=None,
        warning_level=WarningLevel.none,
        sla=[],
        attempts_count=0,
        failed_attempts=0,
        max_attempts=rules.max_failed_attempts,
        completed_at=None,
        ended_at=None,
        created_by=SYSTEM_PRINCIPAL.name,
        created_at=now,
        updated_at=now,
    )
    if previous is not None:
        days = rules.throttle / timedelta(days=1)
        survey.skip_reason = (
            f"the customer was surveyed on {previous.created_at.date().isoformat()} "
            f"({previous.number}); not again within {days:g} days"
        )
        survey.ended_at = now
    else:
        survey.template_id = await templates.ensure_default_id(session, now)
        _show(survey, await sla.start(session, ADAPTER, facts_of(survey), now))
    session.add(survey)
    await session.flush()
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=survey.id,
        type="created" if previous is None else "skipped",
        at=now,
        actor=SYSTEM_PRINCIPAL,
        changes={"status": {"old": None, "new": survey.status.value}},
        note=survey.skip_reason or f"issued when {wo.number} was resolved",
    )
    return survey


async def cancel_pending(
    session: AsyncSession, work_order_id: uuid.UUID, *, reason: str, now: datetime
) -> int:
    """Withdraws the order's pending callbacks (it was reopened); how many."""
    pending = await repository.pending_for_work_order(session, work_order_id)
    for survey in pending:
        cs = ChangeSet(survey)
        cs.set("status", Status.cancelled)
        cs.set("cancel_reason", reason)
        cs.set("ended_at", now)
        survey.updated_at = now
        await _act(session, survey, CANCEL, now)
        await repository.revoke_links(session, survey.id, now)
        await timeline.add(
            session,
            subject_type=SUBJECT,
            subject_id=survey.id,
            type="cancelled",
            at=now,
            actor=SYSTEM_PRINCIPAL,
            changes=cs.changes,
            note=reason,
        )
    await session.flush()
    return len(pending)


async def _act(session: AsyncSession, survey: Survey, action: str, now: datetime) -> None:
    derived = await sla.act(
        session, ADAPTER, facts_of(survey), action, now, level=survey.warning_level
    )
    _show(survey, derived)


# --- attempts, answers, links ------------------------------------------------------------


async def record_attempt(
    session: AsyncSession, survey: Survey, data: AttemptCreate, *, actor: Principal, now: datetime
) -> Survey:
    _require(survey, Action.attempt)
    if survey.attempts_count >= MAX_ATTEMPTS_TOTAL:
        raise Conflict(f"this survey already has {survey.attempts_count} attempts, the most kept")
    at = data.attempted_at or now
    if at > now + SKEW:
        raise Unprocessable("attempted_at: lies in the future")
    if at < survey.created_at - SKEW:
        raise Unprocessable("attempted_at: before the survey was issued")
    session.add(
        SurveyAttempt(
            survey_id=survey.id,
            attempted_at=at,
            outcome=data.outcome,
            note=data.note,
            agent_name=actor.name,
            agent_key_id=actor.key_id,
            created_at=now,
        )
    )
    cs = ChangeSet(survey)
    cs.set("attempts_count", survey.attempts_count + 1)
    engine_action = None
    if data.outcome in FAILED_OUTCOMES:
        cs.set("failed_attempts", survey.failed_attempts + 1)
        if survey.failed_attempts >= survey.max_attempts:
            cs.set("status", Status.unreached)
            engine_action = GIVE_UP
    elif data.outcome is Outcome.refused:
        cs.set("status", Status.refused)
        engine_action = REFUSE
    if engine_action is not None:
        cs.set("ended_at", now)
        await _act(session, survey, engine_action, now)
        await repository.revoke_links(session, survey.id, now)
    survey.updated_at = now
    note = data.outcome.value + (f": {data.note}" if data.note else "")
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=survey.id,
        type="attempt_recorded",
        at=now,
        actor=actor,
        changes=cs.changes,
        note=note[:2000],
    )
    await session.flush()
    return survey


async def respond(
    session: AsyncSession,
    survey: Survey,
    answers: Answers,
    *,
    channel: Channel,
    actor: Principal,
    rules: SurveyRules,
    now: datetime,
) -> SurveyResponse:
    """Records the answers (once), meets the clock, emits ``survey.completed`` and, when
    dissatisfied, ``survey.dissatisfied``; "not solved" reopens the order when enabled."""
    _require(survey, Action.respond)
    template = await templates.get(session, survey.template_id) if survey.template_id else None
    if template is None:
        raise Conflict("this survey has no questionnaire")
    wrong = problems(template.questions, answers)
    if wrong:
        detail = "; ".join(f"{k}: {v}" for k, v in wrong.items())
        raise Unprocessable(
            detail,
            extra={
                "errors": [{"loc": ["body", *k.split(".")], "msg": v} for k, v in wrong.items()]
            },
        )
    why = reasons(answers, threshold=rules.dissatisfied_threshold)
    response = SurveyResponse(
        survey_id=survey.id,
        template_id=template.id,
        channel=channel,
        overall=answers.overall,
        solved=answers.solved,
        nps=answers.nps,
        ratings=dict(answers.ratings),
        comments={k: v for k, v in answers.comments.items() if v and v.strip()},
        dissatisfied=bool(why),
        reasons=why,
        recorded_by=actor.name,
        answered_at=now,
    )
    session.add(response)
    cs = ChangeSet(survey)
    cs.set("status", Status.completed)
    cs.set("completed_at", now)
    cs.set("ended_at", now)
    survey.updated_at = now
    await _act(session, survey, COMPLETE, now)
    await repository.revoke_links(session, survey.id, now)
    note = f"answered ({channel.value}): overall {answers.overall}/5"
    if answers.solved is not None:
        note += ", solved" if answers.solved else ", not solved"
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=survey.id,
        type="responded",
        at=now,
        actor=actor,
        changes=cs.changes,
        note=note,
    )
    # Before the events: a reaction (the reopen below, a complaint) must see it answered,
    # and the unique key on the survey refuses a second answer here.
    await session.flush()
    await events.answered(session, survey, response, template, now, actor=actor)
    if "not_solved" in why and rules.reopen_when_not_solved and survey.work_order_id:
        await _reopen(session, survey, now)
    return response


async def _reopen(session: AsyncSession, survey: Survey, now: datetime) -> None:
    assert survey.work_order_id is not None
    wo = await work_orders.get(session, survey.work_order_id)
    if wo is None or WorkOrderAction.reopen not in wo.allowed_actions:
        return
    reason = f"survey {survey.number}: the customer said the problem is not solved"
    await work_order_service.apply_action(
        session,
        wo,
        WorkOrderAction.reopen,
        ReasonAction(reason=reason),
        actor=SYSTEM_PRINCIPAL,
        now=now,
    )


async def issue_link(
    session: AsyncSession,
    survey: Survey,
    *,
    base_url: str,
    actor: Principal,
    rules: SurveyRules,
    now: datetime,
) -> LinkCreated:
    """A new answer link (any earlier unused one stops working). The token is returned
    here once; only its hash is stored."""
    _require(survey, Action.link)
    await repository.revoke_links(session, survey.id, now)
    token = links.new_token()
    expires_at = now + rules.link_valid_for
    session.add(
        SurveyLink(
            survey_id=survey.id,
            token_hash=links.hash_token(token),
            created_by=actor.name,
            created_at=now,
            expires_at=expires_at,
            used_at=None,
            revoked_at=None,
        )
    )
    survey.updated_at = now
    await timeline.add(
        session,
        subject_type=SUBJECT,
        subject_id=survey.id,
        type="link_issued",
        at=now,
        actor=actor,
        changes={"link_expires_at": {"old": None, "new": jsonable(expires_at)}},
    )
    await session.flush()
    return LinkCreated(
        survey_id=survey.id,
        url=f"{rules.link_base_url or base_url.rstrip('/')}/s/{token}",
        token=token,
        expires_at=expires_at,
    )


async def find_by_token(
    session: AsyncSession, token: str
) -> tuple[SurveyLink | None, Survey | None]:
    if not links.well_formed(token):
        return None, None
    link = await repository.link_by_hash(session, links.hash_token(token))
    survey = await repository.get(session, link.survey_id) if link is not None else None
    return link, survey


async def update(
    session: AsyncSession, survey: Survey, data: SurveyUpdate, *, actor: Principal, now: datetime
) -> Survey:
    _require(survey, Action.update)
    fields = data.model_dump(exclude_unset=True)
    if "assignee_id" in fields:
        await ensure_staff_exists(session, data.assignee_id, "assignee_id")
    cs = ChangeSet(survey)
    for field, value in fields.items():
        cs.set(field, value)
    if cs.changes:
        survey.updated_at = now
        await timeline.add(
            session,
            subject_type=SUBJECT,
            subject_id=survey.id,
            type="updated",
            at=now,
            actor=actor,
            changes=cs.changes,
        )
        await session.flush()
    return survey
