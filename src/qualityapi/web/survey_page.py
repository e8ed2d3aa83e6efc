"""``/s/{token}``: the customer's single-use answer page. No API key; outside /v1 and the
OpenAPI document.

``GET`` only shows the questions and never writes anything, so e-mail link scanners and
previews cannot answer; only the form's explicit ``POST`` records, and only once. The
page shows nothing but the questions: no order, no name, no staff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from qualityapi.common.dependencies import ClockDep
from qualityapi.db.session import SessionDep
from qualityapi.errors import Conflict
from qualityapi.surveys import links, repository, service, templates
from qualityapi.surveys.answers import Answers, problems
from qualityapi.surveys.links import Refusal
from qualityapi.surveys.models import SurveyTemplate
from qualityapi.surveys.rules import RulesDep
from qualityapi.surveys.states import Channel
from qualityapi.web.rendering import page

router = APIRouter(include_in_schema=False)

HEADING = "Your feedback (您的反馈)"
_REFUSED: dict[Refusal, tuple[str, str]] = {
    Refusal.unknown: (
        "Link not found (链接无效)",
        "This survey link is not valid. Please check that it was copied completely.",
    ),
    Refusal.used: (
        "Already answered (已提交)",
        "This survey has already been answered. Thank you: there is nothing more to do.",
    ),
    Refusal.expired: ("Link expired (链接已过期)", "This survey link has expired."),
    Refusal.replaced: (
        "Link replaced (链接已失效)",
        "A newer link was sent for this survey; please use that one.",
    ),
    Refusal.closed: ("Survey closed (调查已结束)", "This survey is closed."),
}
_SCORE_KINDS = {"overall": (1, 5), "rating": (1, 5), "nps": (0, 10)}


def _refused(refusal: Refusal) -> HTMLResponse:
    heading, message = _REFUSED[refusal]
    return page(
        "survey_message.html",
        links.Verdict(refusal).status_code,
        heading=heading,
        message=message,
    )


def field_of(question: Mapping[str, Any]) -> str:
    kind, key = question["kind"], question["key"]
    if kind in ("overall", "solved", "nps"):
        return str(kind)
    return f"{'rating' if kind == 'rating' else 'comment'}.{key}"


def _form(
    template: SurveyTemplate,
    status_code: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> HTMLResponse:
    questions = [{**q, "field": field_of(q)} for q in template.questions]
    return page(
        "survey_form.html",
        status_code,
        heading=HEADING,
        questions=questions,
        scale=template.scale_labels,
        values=values or {},
        errors=errors or {},
    )


def parse(
    questions: list[dict[str, Any]], values: Mapping[str, str]
) -> tuple[Answers | None, dict[str, str]]:
    """The form's answers, or what to ask again (field -> message)."""
    errors: dict[str, str] = {}
    scores: dict[str, int | None] = {}
    ratings: dict[str, int] = {}
    comments: dict[str, str] = {}
    solved: bool | None = None
    for q in questions:
        field = field_of(q)
        raw = values.get(field, "").strip()
        kind = q["kind"]
        if not raw:
            if q["required"]:
                errors[field] = "Please answer this question. (请回答此问题)"
            continue
        if kind in _SCORE_KINDS:
            low, high = _SCORE_KINDS[kind]
            if not raw.isdigit() or not low <= int(raw) <= high:
                errors[field] = f"Please choose {low} to {high}."
                continue
            if kind == "rating":
                ratings[q["key"]] = int(raw)
            else:
                scores[kind] = int(raw)
        elif kind == "solved":
            if raw not in ("yes", "no"):
                errors[field] = "Please choose yes or no."
                continue
            solved = raw == "yes"
        elif len(raw) > 2000:
            errors[field] = "Please keep this under 2000 characters."
        elif "\x00" not in raw:
            comments[q["key"]] = raw
    overall = scores.get("overall")
    if errors or overall is None:
        return None, errors or {"overall": "Please answer this question. (请回答此问题)"}
    answers = Answers(
        overall=overall, solved=solved, nps=scores.get("nps"), ratings=ratings, comments=comments
    )
    leftover = problems(questions, answers)
    if leftover:
        return None, {"overall": "; ".join(leftover.values())}
    return answers, {}


# HEAD too: mail and chat link scanners ask with it, and showing the form records nothing.
@router.api_route("/s/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def survey_page(token: str, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    link, survey = await service.find_by_token(session, token)
    verdict = links.verdict(link, survey, clock.now())
    if verdict.refusal is not None or survey is None or survey.template_id is None:
        return _refused(verdict.refusal or Refusal.closed)
    return _form(await templates.get(session, survey.template_id))


@router.post("/s/{token}", response_class=HTMLResponse)
async def submit_survey_page(
    token: str, request: Request, session: SessionDep, clock: ClockDep, rules: RulesDep
) -> HTMLResponse:
    now = clock.now()
    link, survey = await service.find_by_token(session, token)
    verdict = links.verdict(link, survey, now)
    if verdict.refusal is not None or link is None or survey is None or not survey.template_id:
        return _refused(verdict.refusal or Refusal.closed)
    template = await templates.get(session, survey.template_id)
    try:
        form = await request.form()
    except HTTPException:
        # A malformed body: this page answers in HTML, not with the API's problem+json.
        return page(
            "survey_message.html",
            400,
            heading=HEADING,
            message="The answers could not be read. Please go back and submit the form again.",
        )
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    # A field sent twice (overall=1&overall=5, which no browser sends from this form) is
    # asked again, never "the last one wins".
    asked = {field_of(q) for q in template.questions}
    twice = {k for k in asked if len(form.getlist(k)) > 1}
    answers, errors = parse(template.questions, values)
    if twice:
        answers = None
        errors = {**errors, **dict.fromkeys(twice, "Please give one answer. (请只选择一个答案)")}
    if answers is None:
        return _form(template, 422, values, errors)
    # Whoever marks the link used first records; a second submission, even a concurrent
    # one, finds it used (and the answers' unique key backs this up).
    if not await repository.use_link(session, link.id, now):
        return _refused(Refusal.used)
    try:
        await service.respond(
            session,
            survey,
            answers,
            channel=Channel.link,
            actor=service.CUSTOMER,
            rules=rules,
            now=now,
        )
    except (IntegrityError, Conflict):
        await session.rollback()
        return _refused(Refusal.used)
    return page(
        "survey_message.html",
        heading="Thank you (感谢您的反馈)",
        message="Your answers have been recorded. Thank you for helping us improve.",
    )
