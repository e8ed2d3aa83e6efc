"""``/v1/surveys`` and ``/v1/survey-templates``. The customer's page is ``web.survey_page``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from qualityapi.auth.dependencies import AgentDep, SupervisorDep, ViewerDep
from qualityapi.common.concurrency import IfMatchHeader, check_if_match, set_etag
from qualityapi.common.dependencies import ClockDep
from qualityapi.common.idempotency import IdempotencyDep
from qualityapi.common.pagination import PageDep, SeqPageDep, split_page
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import Id, Page, UtcDatetime, check_period
from qualityapi.db.session import SessionDep
from qualityapi.errors import problem_responses
from qualityapi.sla import engine as sla_engine
from qualityapi.sla.schemas import SubjectSlaRead
from qualityapi.sla.vocabulary import WarningLevel
from qualityapi.surveys import reads, repository, service, templates
from qualityapi.surveys.answers import Answers
from qualityapi.surveys.rules import RulesDep
from qualityapi.surveys.schemas import (
    AttemptCreate,
    LinkCreated,
    ResponseCreate,
    SurveyRead,
    SurveyStats,
    SurveyTemplateCreate,
    SurveyTemplateRead,
    SurveyTemplateSaved,
    SurveyTemplateUpdate,
    SurveyUpdate,
)
from qualityapi.surveys.sla import ADAPTER
from qualityapi.surveys.states import Channel, Status
from qualityapi.surveys.stats import stats
from qualityapi.timeline import service as timeline
from qualityapi.timeline.schemas import TimelineEventRead

router = APIRouter(prefix="/surveys", tags=["surveys"], route_class=ContractRoute)
templates_router = APIRouter(
    prefix="/survey-templates", tags=["survey-templates"], route_class=ContractRoute
)


# --- surveys -----------------------------------------------------------------------------


@router.get("")
async def list_surveys(
    session: SessionDep,
    _: ViewerDep,
    page: PageDep,
    clock: ClockDep,
    status_: Annotated[list[Status] | None, Query(alias="status")] = None,
    warning_level: Annotated[list[WarningLevel] | None, Query()] = None,
    work_order_id: Annotated[Id | None, Query()] = None,
    assignee_id: Annotated[Id | None, Query()] = None,
    dissatisfied: Annotated[bool | None, Query()] = None,
    created_from: Annotated[UtcDatetime | None, Query()] = None,
    created_to: Annotated[UtcDatetime | None, Query()] = None,
) -> Page[SurveyRead]:
    """Newest first. Repeat `status` or `warning_level` to match any of several."""
    check_period(created_from, created_to, start_name="created_from", end_name="created_to")
    f = repository.SurveyFilter(
        status=status_ or (),
        warning_level=warning_level or (),
        work_order_id=work_order_id,
        assignee_id=assignee_id,
        dissatisfied=dissatisfied,
        created_from=created_from,
        created_to=created_to,
    )
    rows, cursor = split_page(list(await repository.list_page(session, page, f)), page)
    return Page(items=await reads.read_many(session, rows, clock.now()), next_cursor=cursor)


@router.get("/stats")
async def get_survey_stats(
    session: SessionDep,
    _: ViewerDep,
    from_: Annotated[UtcDatetime | None, Query(alias="from")] = None,
    to: Annotated[UtcDatetime | None, Query()] = None,
) -> SurveyStats:
    """CSAT (answered with overall 4-5 ÷ answered) beside the response rate (answered ÷
    issued) and the unreached count, for the surveys issued in [`from`, `to`)."""
    check_period(from_, to)
    return await stats(session, start=from_, end=to)


@router.get("/{survey_id}", responses=problem_responses(404))
async def get_survey(
    survey_id: Id, session: SessionDep, _: ViewerDep, clock: ClockDep, response: Response
) -> SurveyRead:
    survey = await service.get(session, survey_id)
    set_etag(response, survey.version)
    return await reads.read_one(session, survey, clock.now())


@router.patch("/{survey_id}", responses=problem_responses(404, 409, 412))
async def update_survey(
    survey_id: Id,
    data: SurveyUpdate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> SurveyRead:
    """Set who makes the call (the clock's assignee) while the survey is pending."""
    survey = await service.get(session, survey_id)
    check_if_match(if_match, survey.version)
    survey = await service.update(session, survey, data, actor=principal, now=clock.now())
    set_etag(response, survey.version)
    return await reads.read_one(session, survey, clock.now())


@router.get("/{survey_id}/events", responses=problem_responses(400, 404))
async def list_survey_events(
    survey_id: Id, session: SessionDep, _: ViewerDep, page: SeqPageDep
) -> Page[TimelineEventRead]:
    """The full timeline, oldest first: issued, attempts, link, answers, warnings."""
    await service.get(session, survey_id)
    return await timeline.page(
        session, subject_type=service.SUBJECT, subject_id=survey_id, params=page
    )


@router.get("/{survey_id}/sla", responses=problem_responses(404))
async def get_survey_sla(
    survey_id: Id, session: SessionDep, _: ViewerDep, clock: ClockDep
) -> SubjectSlaRead:
    """The callback's clock: due 24 h after the resolution by default."""
    await service.get(session, survey_id)
    return await sla_engine.explain(session, ADAPTER, survey_id, clock.now())


@router.post(
    "/{survey_id}/attempts",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyRead,
    responses=problem_responses(404, 409, 412),
)
async def add_survey_attempt(
    survey_id: Id,
    data: AttemptCreate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> Any:
    """Record a call attempt. After `max_attempts` failed ones (no answer, wrong number)
    the survey ends `unreached`; `refused` ends it at once. Returns the survey."""

    async def add() -> SurveyRead:
        survey = await service.get(session, survey_id, lock=True)
        check_if_match(if_match, survey.version)
        now = clock.now()
        survey = await service.record_attempt(session, survey, data, actor=principal, now=now)
        set_etag(response, survey.version)
        return await reads.read_one(session, survey, now)

    return await idem.run(add, status_code=201, owner=principal)


@router.post(
    "/{survey_id}/responses",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyRead,
    responses=problem_responses(404, 409, 412),
)
async def add_survey_response(
    survey_id: Id,
    data: ResponseCreate,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    rules: RulesDep,
    idem: IdempotencyDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> Any:
    """Record the answers taken during the call (once per survey; a second is a 409).
    Emits `survey.completed`, and `survey.dissatisfied` for a low score or "not solved"."""

    async def add() -> SurveyRead:
        survey = await service.get(session, survey_id, lock=True)
        check_if_match(if_match, survey.version)
        now = clock.now()
        answers = Answers(
            overall=data.overall,
            solved=data.solved,
            nps=data.nps,
            ratings=data.ratings,
            comments=data.comments,
        )
        await service.respond(
            session,
            survey,
            answers,
            channel=Channel(data.channel),
            actor=principal,
            rules=rules,
            now=now,
        )
        set_etag(response, survey.version)
        return await reads.read_one(session, survey, now)

    return await idem.run(add, status_code=201, owner=principal)


@router.post(
    "/{survey_id}/link",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkCreated,
    responses=problem_responses(404, 409),
)
async def create_survey_link(
    survey_id: Id,
    request: Request,
    session: SessionDep,
    principal: AgentDep,
    clock: ClockDep,
    rules: RulesDep,
    idem: IdempotencyDep,
) -> Any:
    """A single-use answer link for the customer, valid 7 days by default. The URL is in
    this response only (the service keeps a hash); a new link replaces any earlier one.
    A repeat with the same `Idempotency-Key` issues nothing: it is a 409 (the first
    link stands; its token is not kept, so it cannot be sent again)."""
    survey = await service.get(session, survey_id)

    async def issue() -> LinkCreated:
        return await service.issue_link(
            session,
            survey,
            base_url=str(request.base_url),
            actor=principal,
            rules=rules,
            now=clock.now(),
        )

    return await idem.run(
        issue, status_code=201, owner=principal, secret=frozenset({"url", "token"})
    )


# --- templates ---------------------------------------------------------------------------


@templates_router.get("")
async def list_survey_templates(
    session: SessionDep,
    _: ViewerDep,
    page: PageDep,
    include_superseded: Annotated[bool, Query()] = False,
    family_id: Annotated[Id | None, Query()] = None,
) -> Page[SurveyTemplateRead]:
    """Newest first; current versions only unless `include_superseded`."""
    found = await repository.list_templates(
        session, page, include_superseded=include_superseded, family_id=family_id
    )
    rows, cursor = split_page(list(found), page)
    return Page(items=await templates.read_many(session, rows), next_cursor=cursor)


@templates_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyTemplateRead,
    responses=problem_responses(409),
)
async def create_survey_template(
    data: SurveyTemplateCreate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    async def create() -> SurveyTemplateRead:
        template = await templates.create(session, data, actor=principal, now=clock.now())
        response.headers["Location"] = f"/v1/survey-templates/{template.id}"
        set_etag(response, template.version)
        return await templates.read_one(session, template)

    return await idem.run(create, status_code=201, owner=principal)


@templates_router.get("/{template_id}", responses=problem_responses(404))
async def get_survey_template(
    template_id: Id, session: SessionDep, _: ViewerDep, response: Response
) -> SurveyTemplateRead:
    template = await templates.get(session, template_id)
    set_etag(response, template.version)
    return await templates.read_one(session, template)


_SAVE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **problem_responses(404, 409, 412),
    201: {
        "model": SurveyTemplateSaved,
        "description": "Surveys use the version sent, so the edit became a new version.",
    },
}


async def _save(
    template_id: Id,
    data: SurveyTemplateCreate | SurveyTemplateUpdate,
    *,
    put: bool,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: str | None,
) -> SurveyTemplateSaved:
    template = await templates.get(session, template_id)
    saved = await templates.save(
        session, template, data, put=put, if_match=if_match, actor=principal, now=clock.now()
    )
    if saved.outcome == "new_version":
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/v1/survey-templates/{saved.id}"
    set_etag(response, saved.version)
    return saved


@templates_router.put("/{template_id}", responses=_SAVE_RESPONSES)
async def replace_survey_template(
    template_id: Id,
    data: SurveyTemplateCreate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> SurveyTemplateSaved:
    """Replace the content. A version surveys use is kept as it is: the content becomes
    the next version (201, `outcome: new_version`); otherwise it is edited in place (200)."""
    return await _save(
        template_id,
        data,
        put=True,
        session=session,
        principal=principal,
        clock=clock,
        response=response,
        if_match=if_match,
    )


@templates_router.patch("/{template_id}", responses=_SAVE_RESPONSES)
async def update_survey_template(
    template_id: Id,
    data: SurveyTemplateUpdate,
    session: SessionDep,
    principal: SupervisorDep,
    clock: ClockDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> SurveyTemplateSaved:
    """Change some fields; the same versioning rule as PUT. Only the current version of
    a template can be edited (a superseded one is a 409)."""
    return await _save(
        template_id,
        data,
        put=False,
        session=session,
        principal=principal,
        clock=clock,
        response=response,
        if_match=if_match,
    )
