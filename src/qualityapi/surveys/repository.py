"""All SQL for survey templates, callbacks, attempts, answers and links."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import PageParams, paginate_newest_first
from qualityapi.db.base import table_of
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.staff.models import Team
from qualityapi.surveys.models import (
    Survey,
    SurveyAttempt,
    SurveyLink,
    SurveyResponse,
    SurveyTemplate,
)
from qualityapi.surveys.states import ISSUED_STATUSES, Status


def _pages(ids: Iterable[uuid.UUID], size: int = 1000) -> Iterator[list[uuid.UUID]]:
    # Both databases cap the parameters of one statement.
    listed = sorted(set(ids))
    for start in range(0, len(listed), size):
        yield listed[start : start + size]


# --- templates ---------------------------------------------------------------------------


async def get_template(session: AsyncSession, template_id: uuid.UUID) -> SurveyTemplate | None:
    return await session.get(SurveyTemplate, template_id)


async def templates_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, SurveyTemplate]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    stmt = select(SurveyTemplate).where(SurveyTemplate.id.in_(wanted))
    return {t.id: t for t in (await session.execute(stmt)).scalars()}


_DEFAULT_TEMPLATE_ID = (
    select(SurveyTemplate.id)
    .where(SurveyTemplate.is_default.is_(True), SurveyTemplate.superseded_by_id.is_(None))
    .order_by(SurveyTemplate.created_at.desc())
    .limit(1)
)


async def default_template_id(session: AsyncSession) -> uuid.UUID | None:
    """The default template's id alone: what each new callback needs, every resolve."""
    return (await session.execute(_DEFAULT_TEMPLATE_ID)).scalar_one_or_none()


async def default_template(session: AsyncSession) -> SurveyTemplate | None:
    stmt = (
        select(SurveyTemplate)
        .where(SurveyTemplate.is_default.is_(True), SurveyTemplate.superseded_by_id.is_(None))
        .order_by(SurveyTemplate.created_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def other_defaults(session: AsyncSession, template_id: uuid.UUID) -> Sequence[SurveyTemplate]:
    stmt = select(SurveyTemplate).where(
        SurveyTemplate.is_default.is_(True), SurveyTemplate.id != template_id
    )
    return (await session.execute(stmt)).scalars().all()


async def any_template(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(SurveyTemplate.id.is_not(None)))))


async def list_templates(
    session: AsyncSession,
    params: PageParams,
    *,
    include_superseded: bool,
    family_id: uuid.UUID | None,
) -> Sequence[SurveyTemplate]:
    stmt = select(SurveyTemplate)
    if not include_superseded:
        stmt = stmt.where(SurveyTemplate.superseded_by_id.is_(None))
    if family_id is not None:
        stmt = stmt.where(SurveyTemplate.family_id == family_id)
    stmt = paginate_newest_first(stmt, params, SurveyTemplate.created_at, SurveyTemplate.id)
    return (await session.execute(stmt)).scalars().all()


async def used_templates(session: AsyncSession, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The template versions among ``ids`` that some survey uses."""
    used: set[uuid.UUID] = set()
    for part in _pages(ids):
        stmt = select(Survey.template_id).where(Survey.template_id.in_(part)).distinct()
        used.update(t for t in (await session.execute(stmt)).scalars() if t is not None)
    return used


# --- surveys -----------------------------------------------------------------------------


async def get(session: AsyncSession, survey_id: uuid.UUID, *, lock: bool = False) -> Survey | None:
    """``lock``: held until commit, before the change writes events (event order, see
    ``work_orders.repository.get``)."""
    return await session.get(Survey, survey_id, with_for_update=lock or None)


@dataclass(frozen=True)
class SurveyFilter:
    status: Sequence[Status] = ()
    warning_level: Sequence[WarningLevel] = ()
    work_order_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    dissatisfied: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def list_page(session: AsyncSession, params: PageParams, f: SurveyFilter) -> Sequence[Survey]:
    stmt = select(Survey)
    if f.status:
        stmt = stmt.where(Survey.status.in_(f.status))
    if f.warning_level:
        stmt = stmt.where(Survey.warning_level.in_(f.warning_level))
    if f.work_order_id is not None:
        stmt = stmt.where(Survey.work_order_id == f.work_order_id)
    if f.assignee_id is not None:
        stmt = stmt.where(Survey.assignee_id == f.assignee_id)
    if f.dissatisfied is not None:
        answered = select(SurveyResponse.survey_id).where(
            SurveyResponse.dissatisfied.is_(f.dissatisfied)
        )
        stmt = stmt.where(Survey.id.in_(answered))
    if f.created_from is not None:
        stmt = stmt.where(Survey.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(Survey.created_at < f.created_to)
    stmt = paginate_newest_first(stmt, params, Survey.created_at, Survey.id)
    return (await session.execute(stmt)).scalars().all()


async def pending_for_work_order(
    session: AsyncSession, work_order_id: uuid.UUID
) -> Sequence[Survey]:
    stmt = (
        select(Survey)
        .where(Survey.work_order_id == work_order_id, Survey.status == Status.pending)
        .order_by(Survey.created_at, Survey.id)
    )
    return (await session.execute(stmt)).scalars().all()


class Previous(NamedTuple):
    """The survey that makes a new one too soon: what the skip reason names."""

    number: str
    created_at: datetime


@lru_cache(maxsize=4)
def _recent_statement(by_phone: bool, by_email: bool) -> Select[str, datetime]:
    # Built once per way of reaching the customer: every resolve asks it.
    who = [
        c
        for c in (
            Survey.customer_phone == bindparam("phone") if by_phone else None,
            Survey.customer_email == bindparam("email") if by_email else None,
        )
        if c is not None
    ]
    return (
        select(Survey.number, Survey.created_at)
        .where(
            or_(*who),
            Survey.created_at >= bindparam("since"),
            Survey.status.in_(ISSUED_STATUSES),
            or_(Survey.work_order_id.is_(None), Survey.work_order_id != bindparam("other")),
        )
        .order_by(Survey.created_at.desc())
        .limit(1)
    )


async def recently_surveyed(
    session: AsyncSession,
    *,
    phone: str | None,
    email: str | None,
    since: datetime,
    other_than_work_order: uuid.UUID,
) -> Previous | None:
    """The latest survey issued to this phone or e-mail since ``since``, for another work
    order (an order resolved again after a reopen always gets its callback)."""
    if not phone and not email:
        return None
    stmt = _recent_statement(bool(phone), bool(email))
    params: dict[str, Any] = {"since": since, "other": other_than_work_order}
    params.update({k: v for k, v in (("phone", phone), ("email", email)) if v})
    row = (await session.execute(stmt, params)).first()
    return None if row is None else Previous(row.number, row.created_at)


async def attempts_of(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[SurveyAttempt]]:
    found: dict[uuid.UUID, list[SurveyAttempt]] = defaultdict(list)
    for part in _pages(ids):
        stmt = (
            select(SurveyAttempt)
            .where(SurveyAttempt.survey_id.in_(part))
            .order_by(SurveyAttempt.survey_id, SurveyAttempt.id)
        )
        for attempt in (await session.execute(stmt)).scalars():
            found[attempt.survey_id].append(attempt)
    return found


async def responses_of(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SurveyResponse]:
    found: dict[uuid.UUID, SurveyResponse] = {}
    for part in _pages(ids):
        stmt = select(SurveyResponse).where(SurveyResponse.survey_id.in_(part))
        found.update((r.survey_id, r) for r in (await session.execute(stmt)).scalars())
    return found


async def latest_links_of(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SurveyLink]:
    found: dict[uuid.UUID, SurveyLink] = {}
    for part in _pages(ids):
        stmt = (
            select(SurveyLink)
            .where(SurveyLink.survey_id.in_(part))
            .order_by(
                SurveyLink.survey_id,
                # A link replaced in the same instant it was made (a frozen clock, or a
                # coarse one) still sorts before the one that replaced it.
                SurveyLink.revoked_at.is_(None),
                SurveyLink.created_at,
                SurveyLink.id,
            )
        )
        # Ascending: the last one seen per survey is its newest.
        found.update((link.survey_id, link) for link in (await session.execute(stmt)).scalars())
    return found


# --- links -------------------------------------------------------------------------------


async def link_by_hash(session: AsyncSession, token_hash: str) -> SurveyLink | None:
    stmt = select(SurveyLink).where(SurveyLink.token_hash == token_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_links(session: AsyncSession, survey_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(SurveyLink)
        .where(
            SurveyLink.survey_id == survey_id,
            SurveyLink.used_at.is_(None),
            SurveyLink.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )


async def use_link(session: AsyncSession, link_id: uuid.UUID, at: datetime) -> bool:
    """Marks the link used; False when another submission got there first."""
    result = await session.execute(
        update(SurveyLink)
        .where(SurveyLink.id == link_id, SurveyLink.used_at.is_(None))
        .values(used_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# --- stats -------------------------------------------------------------------------------


def _period(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


async def count_by_status(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> dict[str, int]:
    stmt = (
        select(Survey.status, func.count())
        .where(*_period(Survey.created_at, start, end))
        .group_by(Survey.status)
    )
    return {getattr(s, "value", s): int(n) for s, n in (await session.execute(stmt)).all()}


async def count_answers(
    session: AsyncSession, start: datetime | None, end: datetime | None
) -> tuple[int, int, int]:
    """(answered, overall 4-5, dissatisfied) among surveys issued in the period."""
    satisfied = func.sum(case((SurveyResponse.overall >= 4, 1), else_=0))
    unhappy = func.sum(case((SurveyResponse.dissatisfied.is_(True), 1), else_=0))
    stmt = (
        select(func.count(), satisfied, unhappy)
        .select_from(SurveyResponse)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(*_period(Survey.created_at, start, end))
    )
    row = (await session.execute(stmt)).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


# --- what the SLA engine reads (surveys.sla) ---------------------------------------------

_surveys = table_of(Survey)
_teams = table_of(Team)


async def people_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Any]:
    """id, number, title, the caller and the work order team's supervisor and manager."""
    rows: list[Any] = []
    for part in _pages(ids):
        stmt = (
            select(
                _surveys.c.id,
                _surveys.c.number,
                _surveys.c.title,
                _surveys.c.assignee_id,
                _surveys.c.team_id,
                _teams.c.name.label("team_name"),
                _teams.c.supervisor_id,
                _teams.c.manager_id,
            )
            .select_from(_surveys)
            .outerjoin(_teams, _teams.c.id == _surveys.c.team_id)
            .where(_surveys.c.id.in_(part))
        )
        rows.extend((await session.execute(stmt)).all())
    return rows


async def sla_facts_of(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Any]:
    rows: list[Any] = []
    c = _surveys.c
    for part in _pages(ids):
        stmt = select(c.id, c.priority, c.category, c.created_at, c.status).where(c.id.in_(part))
        rows.extend((await session.execute(stmt)).all())
    return rows
