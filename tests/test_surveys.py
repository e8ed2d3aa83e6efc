"""Satisfaction callbacks and surveys, through HTTP on both databases, with an injected clock.

Resolving a work order issues a callback with its own clock (24 h on the 24x7 calendar);
attempts, answers by phone or through the customer's single-use link, the throttle,
CSAT beside the response rate, versioned templates, and ``survey.dissatisfied`` at a
real webhook receiver.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select, text

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock, SystemClock
from qualityapi.events.models import OutboxMessage
from qualityapi.sla.scanner import scan_once
from qualityapi.surveys.templates import seed_default
from tests.conftest import START, Api, started_api
from tests.helpers import act, assert_problem, create_staff, create_work_order
from tests.support.receiver import Receiver, eventually
from tests.test_webhook_delivery import LIVE
from tests.test_webhook_endpoints import register

_phones = itertools.count(1)


def customer(**overrides: Any) -> dict[str, Any]:
    """A customer nobody surveyed yet (the throttle keys on phone and e-mail)."""
    n = next(_phones)
    body = {"name": "Wang Fang", "phone": f"+86 139 {n:04d} 0000", "email": f"c{n}@example.com"}
    body.update(overrides)
    return body


async def resolved_order(api: Api, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("customer", customer())
    wo = await create_work_order(api, **overrides)
    assert (await act(api, wo["id"], "respond")).status_code == 200
    resolved = await act(api, wo["id"], "resolve", {"resolution": "replaced the seal"})
    assert resolved.status_code == 200, resolved.text
    data: dict[str, Any] = resolved.json()
    return data


async def surveys_of(api: Api, work_order_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(
        "/v1/surveys", params={"work_order_id": work_order_id}, headers=api.auth(Role.viewer)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def survey_for(api: Api, **overrides: Any) -> dict[str, Any]:
    wo = await resolved_order(api, **overrides)
    [survey] = await surveys_of(api, wo["id"])
    return survey


async def get_survey(api: Api, survey_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/surveys/{survey_id}", headers=api.auth(Role.viewer))
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    data: dict[str, Any] = response.json()
    return data


async def attempt(api: Api, survey_id: str, outcome: str, **extra: Any) -> httpx.Response:
    return await api.client.post(
        f"/v1/surveys/{survey_id}/attempts",
        json={"outcome": outcome, **extra},
        headers=api.auth(Role.agent),
    )


async def answer(api: Api, survey_id: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await api.client.post(
        f"/v1/surveys/{survey_id}/responses", json=body, headers={**api.auth(Role.agent), **headers}
    )


GOOD: dict[str, Any] = {
    "overall": 5,
    "solved": True,
    "ratings": {"timeliness": 5, "attitude": 4, "quality": 5},
    "comments": {"suggestions": "Quick and tidy"},
}


def answers(**overrides: Any) -> dict[str, Any]:
    return {**GOOD, **overrides}


async def link_for(api: Api, survey_id: str) -> dict[str, Any]:
    response = await api.client.post(f"/v1/surveys/{survey_id}/link", headers=api.auth(Role.agent))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def page_path(link: dict[str, Any]) -> str:
    url: str = link["url"]
    return "/s/" + url.rsplit("/s/", 1)[1]


async def outbox(api: Api, prefix: str = "") -> list[dict[str, Any]]:
    async with api.app.state.sessionmaker() as session:
        rows = await session.execute(select(OutboxMessage.payload).order_by(OutboxMessage.id))
        return [p for p in rows.scalars() if p["type"].startswith(prefix)]


async def scan(api: Api) -> int:
    return (await scan_once(api.app.state.sessionmaker, api.clock.now())).transitions


def form(**fields: str) -> dict[str, str]:
    base = {
        "overall": "4",
        "solved": "yes",
        "rating.timeliness": "4",
        "rating.attitude": "5",
        "rating.quality": "4",
        "comment.suggestions": "Thanks",
    }
    base.update(fields)
    return base


# --- the callback and its clock --------------------------------------------------------


async def test_first_start_creates_one_default_template(api: Api) -> None:
    listed = await api.client.get("/v1/survey-templates", headers=api.auth(Role.viewer))
    assert listed.status_code == 200, listed.text
    [template] = listed.json()["items"]
    assert template["is_default"] is True and template["version"] == 1
    assert template["status"] == "current" and template["in_use"] is False
    kinds = [q["kind"] for q in template["questions"]]
    assert kinds.count("overall") == 1 and "solved" in kinds
    assert kinds.count("rating") == 3 and "text" in kinds
    assert len(template["scale_labels"]) == 5
    # A second start (or a second replica) adds nothing.
    assert await seed_default(api.app.state.sessionmaker, api.clock) is False
    again = await api.client.get("/v1/survey-templates", headers=api.auth(Role.viewer))
    assert [t["id"] for t in again.json()["items"]] == [template["id"]]
    policies = (await api.client.get("/v1/sla-policies", headers=api.auth())).json()["items"]
    [policy] = [p for p in policies if p["subject"] == "survey_callback"]
    assert policy["targets"]["callback"]["duration"] == "P1D"  # 24 h
    assert policy["warning"]["percent"] == 80
    assert [lvl["level"] for lvl in policy["escalation"]] == [1, 2]


async def test_resolving_issues_a_callback_that_turns_yellow_then_red(api: Api) -> None:
    team_lead = await create_staff(api, "Zhao Lei")
    team = await api.client.post(
        "/v1/teams",
        json={"name": "Facilities", "supervisor_id": team_lead["id"]},
        headers=api.auth(Role.supervisor),
    )
    wo = await resolved_order(api, team_id=team.json()["id"])
    [survey] = await surveys_of(api, wo["id"])
    assert survey["status"] == "pending"
    assert survey["number"].startswith("SV-2026-")
    assert survey["work_order_number"] == wo["number"]
    assert survey["warning_level"] == "blue"
    assert survey["allowed_actions"] == ["attempt", "respond", "link", "update"]
    assert survey["max_attempts"] == 3 and survey["attempts"] == []
    [clock] = survey["sla"]
    assert clock["target"] == "callback"
    assert clock["due_at"] == "2026-11-03T01:00:00Z"  # 24 plain hours after the resolution
    assert clock["warn_at"] == "2026-11-02T20:12:00Z"  # 80 % of them
    explained = (
        await api.client.get(f"/v1/surveys/{survey['id']}/sla", headers=api.auth(Role.viewer))
    ).json()
    assert explained["subject_type"] == "survey_callback"
    assert explained["policy_name"] == "survey callback"
    assert explained["clocks"][0]["calendar_name"] == "24x7"

    api.clock.advance(timedelta(hours=19))
    assert await scan(api) == 0
    api.clock.advance(timedelta(minutes=12))
    assert await scan(api) == 1
    assert (await get_survey(api, survey["id"]))["warning_level"] == "yellow"
    api.clock.advance(timedelta(minutes=4 * 60 + 48))
    assert await scan(api) == 2  # breached, and the ladder's first level
    red = await get_survey(api, survey["id"])
    assert red["warning_level"] == "red"
    sent = await outbox(api, "sla.")
    assert [(m["type"], m["data"]["subject"]["type"]) for m in sent] == [
        ("sla.warning", "survey_callback"),
        ("sla.breached", "survey_callback"),
        ("sla.escalated", "survey_callback"),
    ]
    assert sent[1]["data"]["subject"]["number"] == survey["number"]
    notified = {n["role"]: n["staff_id"] for n in sent[2]["data"]["notified"]}
    assert notified["team_supervisor"] == team_lead["id"]
    board = (
        await api.client.get(
            "/v1/board", params={"subject_type": "survey_callback"}, headers=api.auth(Role.viewer)
        )
    ).json()
    assert [i["id"] for i in board["items"]["red"]] == [survey["id"]]

    # Answered late: no longer red, and the missed deadline stays missed.
    done = await answer(api, survey["id"], GOOD)
    assert done.status_code == 201, done.text
    assert done.json()["warning_level"] == "none"
    assert done.json()["sla"][0]["state"] == "breached"
    timeline = (
        await api.client.get(f"/v1/surveys/{survey['id']}/events", headers=api.auth(Role.viewer))
    ).json()["items"]
    types = [e["type"] for e in timeline]
    assert types[0] == "created"
    assert {"sla_warning", "sla_breached", "responded", "warning_level_changed"} <= set(types)


async def test_three_unanswered_attempts_end_unreached(api: Api) -> None:
    survey = await survey_for(api)
    first = await attempt(api, survey["id"], "no_answer", note="rang 10 times")
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["failed_attempts"]) == ("pending", 1)
    reached = await attempt(api, survey["id"], "reached", note="asked to call back later")
    assert (reached.json()["status"], reached.json()["failed_attempts"]) == ("pending", 1)
    second = await attempt(api, survey["id"], "wrong_number")
    assert (second.json()["status"], second.json()["failed_attempts"]) == ("pending", 2)
    third = await attempt(api, survey["id"], "no_answer")
    body = third.json()
    assert body["status"] == "unreached"
    assert body["warning_level"] == "none"
    assert body["sla"][0]["state"] == "cancelled"
    assert body["ended_at"] == "2026-11-02T01:00:00Z"
    assert [a["outcome"] for a in body["attempts"]] == [
        "no_answer",
        "reached",
        "wrong_number",
        "no_answer",
    ]
    assert body["attempts"][0]["note"] == "rang 10 times"
    assert body["attempts"][0]["agent_name"] == "test-agent"
    assert body["allowed_actions"] == []
    refused = assert_problem(await attempt(api, survey["id"], "no_answer"), 409)
    assert refused["current_status"] == "unreached"
    # The one problem type for a disallowed action, as for work orders and complaints.
    assert refused["type"].endswith("/invalid-transition") and refused["allowed_actions"] == []
    assert_problem(await answer(api, survey["id"], GOOD), 409)
    stats = (await api.client.get("/v1/surveys/stats", headers=api.auth(Role.viewer))).json()
    assert (stats["issued"], stats["unreached"], stats["answered"]) == (1, 1, 0)
    assert stats["csat"] == {"value": None, "numerator": 0, "denominator": 0}
    assert stats["response_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}

    other = await survey_for(api)
    declined = await attempt(api, other["id"], "refused")
    assert declined.json()["status"] == "refused"
    assert declined.json()["sla"][0]["state"] == "met"  # the customer was reached


async def test_attempts_check_time_role_and_version(api: Api) -> None:
    survey = await survey_for(api)
    future = (START + timedelta(hours=1)).isoformat()
    assert_problem(await attempt(api, survey["id"], "no_answer", attempted_at=future), 422)
    viewer = await api.client.post(
        f"/v1/surveys/{survey['id']}/attempts",
        json={"outcome": "no_answer"},
        headers=api.auth(Role.viewer),
    )
    assert_problem(viewer, 403)
    stale = await api.client.post(
        f"/v1/surveys/{survey['id']}/attempts",
        json={"outcome": "no_answer"},
        headers={**api.auth(Role.agent), "If-Match": '"99"'},
    )
    assert_problem(stale, 412)
    assert_problem(await attempt(api, survey["id"], "busy"), 422)
    missing = await api.client.get(
        "/v1/surveys/3f1e9d2c-0000-4000-8000-000000000000", headers=api.auth(Role.viewer)
    )
    assert_problem(missing, 404)


# --- answers ---------------------------------------------------------------------------


async def test_answers_are_checked_against_the_template_and_recorded_once(api: Api) -> None:
    survey = await survey_for(api)
    assert_problem(await answer(api, survey["id"], answers(overall=6)), 422)
    # Numbers and flags as JSON sends them: true is no score of 1, "4" no 4, "no" no false.
    for wrong in (
        {"overall": True},
        {"overall": "4"},
        {"overall": 4.0},
        {"solved": "false"},
        {"solved": 0},
        {"ratings": {**GOOD["ratings"], "quality": True}},
    ):
        refused = assert_problem(await answer(api, survey["id"], answers(**wrong)), 422)
        assert refused["errors"][0]["loc"][:2] == ["body", next(iter(wrong))], (wrong, refused)
    assert (await get_survey(api, survey["id"]))["status"] == "pending"
    unknown = assert_problem(
        await answer(api, survey["id"], answers(ratings={**GOOD["ratings"], "price": 3})), 422
    )
    assert "ratings.price" in unknown["detail"]
    missing = assert_problem(await answer(api, survey["id"], answers(ratings={"quality": 5})), 422)
    assert "ratings.timeliness" in missing["detail"]
    assert_problem(await answer(api, survey["id"], answers(nps=9)), 422)  # not asked
    assert_problem(await answer(api, survey["id"], answers(solved=None)), 422)

    key = {"Idempotency-Key": "answer-1"}
    first = await answer(api, survey["id"], GOOD, **key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "completed"
    assert body["response"]["overall"] == 5
    assert body["response"]["channel"] == "phone"
    assert body["response"]["dissatisfied"] is False and body["response"]["reasons"] == []
    assert body["response"]["recorded_by"] == "test-agent"
    assert body["sla"][0]["state"] == "met"
    replay = await answer(api, survey["id"], GOOD, **key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == body
    second = assert_problem(await answer(api, survey["id"], GOOD), 409)
    assert second["current_status"] == "completed"
    completed = await outbox(api, "survey.")
    assert [m["type"] for m in completed] == ["survey.completed"]
    data = completed[0]["data"]
    assert data["survey_id"] == survey["id"] and data["overall"] == 5
    assert data["comment"] == "Quick and tidy" and data["dissatisfied"] is False
    assert "customer" not in data


async def test_a_low_score_or_not_solved_is_dissatisfied(api: Api) -> None:
    low = await survey_for(api)
    assert (await answer(api, low["id"], answers(overall=2))).status_code == 201
    unsolved = await survey_for(api)
    assert (await answer(api, unsolved["id"], answers(overall=4, solved=False))).status_code == 201
    fine = await survey_for(api)
    assert (await answer(api, fine["id"], answers(overall=3))).status_code == 201
    sent = await outbox(api, "survey.dissatisfied")
    assert [(m["data"]["survey_id"], m["data"]["reasons"]) for m in sent] == [
        (low["id"], ["low_score"]),
        (unsolved["id"], ["not_solved"]),
    ]
    assert sent[0]["data"]["customer"] == {
        "name": "Wang Fang",
        "phone": low["customer"]["phone"],
        "email": low["customer"]["email"],
    }
    # Without the setting, "not solved" leaves the work order resolved.
    wo = await api.client.get(
        f"/v1/work-orders/{unsolved['work_order_id']}", headers=api.auth(Role.viewer)
    )
    assert wo.json()["status"] == "resolved"
    listed = await api.client.get(
        "/v1/surveys", params={"dissatisfied": "true"}, headers=api.auth(Role.viewer)
    )
    assert {s["id"] for s in listed.json()["items"]} == {low["id"], unsolved["id"]}


async def test_not_solved_reopens_the_order_when_enabled(database_url: str) -> None:
    settings = {"survey_reopen_when_not_solved": True}
    async with started_api(database_url, FrozenClock(START), **settings) as api:
        survey = await survey_for(api)
        done = await answer(api, survey["id"], answers(overall=4, solved=False))
        assert done.status_code == 201, done.text
        assert done.json()["status"] == "completed"  # not withdrawn by its own reopen
        wo = (
            await api.client.get(
                f"/v1/work-orders/{survey['work_order_id']}", headers=api.auth(Role.viewer)
            )
        ).json()
        assert (wo["status"], wo["reopen_count"]) == ("in_progress", 1)
        events = (
            await api.client.get(
                f"/v1/work-orders/{wo['id']}/events", headers=api.auth(Role.viewer)
            )
        ).json()["items"]
        [reopened] = [e for e in events if e["type"] == "reopened"]
        assert reopened["actor_name"] == "system"
        assert survey["number"] in reopened["note"]
        # Its next resolution issues a new callback.
        api.clock.advance(timedelta(hours=2))
        assert (await act(api, wo["id"], "resolve")).status_code == 200
        assert [s["status"] for s in await surveys_of(api, wo["id"])] == ["pending", "completed"]


# --- the customer's link ---------------------------------------------------------------


async def test_the_link_shows_on_get_and_records_once_on_post(api: Api) -> None:
    survey = await survey_for(api)
    viewer = await api.client.post(
        f"/v1/surveys/{survey['id']}/link", headers=api.auth(Role.viewer)
    )
    assert_problem(viewer, 403)
    link = await link_for(api, survey["id"])
    assert link["url"].startswith("http://test/s/")
    assert link["expires_at"] == "2026-11-09T01:00:00Z"  # 7 days
    async with api.app.state.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT token_hash FROM survey_links"))).scalars().all()
    assert stored == [hashlib.sha256(link["token"].encode()).hexdigest()]
    path = page_path(link)

    # Link scanners open it (twice, and ask with HEAD): nothing is recorded.
    head = await api.client.head(path)
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html")
    for _ in range(2):
        shown = await api.client.get(path)
        assert shown.status_code == 200, shown.text
        assert shown.headers["content-type"].startswith("text/html")
        assert shown.headers["cache-control"] == "no-store"
        assert shown.headers["referrer-policy"] == "no-referrer"
        assert "Was your problem solved?" in shown.text and "<form" in shown.text
        for private in ("Wang Fang", survey["number"], survey["work_order_number"], "@example"):
            assert private not in shown.text
        assert "http://" not in shown.text and "https://" not in shown.text  # no CDN
    untouched = await get_survey(api, survey["id"])
    assert untouched["status"] == "pending" and untouched["response"] is None
    assert untouched["link"]["state"] == "active"
    assert await outbox(api, "survey.") == []

    incomplete = await api.client.post(path, data=form(overall=""))
    assert incomplete.status_code == 422
    assert "Please answer this question" in incomplete.text
    # A forged form with an answer twice is asked again, not "the last one wins".
    doubled = await api.client.post(
        path,
        content=urlencode([*form().items(), ("overall", "1")]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert doubled.status_code == 422 and "Please give one answer" in doubled.text
    assert (await get_survey(api, survey["id"]))["status"] == "pending"

    recorded = await api.client.post(path, data=form(**{"comment.suggestions": "Très bien"}))
    assert recorded.status_code == 200, recorded.text
    assert "Thank you" in recorded.text
    done = await get_survey(api, survey["id"])
    assert done["status"] == "completed"
    assert done["link"]["state"] == "used"
    assert done["response"]["channel"] == "link"
    assert done["response"]["recorded_by"] == "customer (answer link)"
    assert done["response"]["ratings"] == {"timeliness": 4, "attitude": 5, "quality": 4}
    assert done["response"]["comments"] == {"suggestions": "Très bien"}

    again = await api.client.post(path, data=form(overall="1"))
    assert again.status_code == 409
    assert "already been answered" in again.text
    assert (await api.client.get(path)).status_code == 409
    assert (await get_survey(api, survey["id"]))["response"]["overall"] == 4
    assert [m["type"] for m in await outbox(api, "survey.")] == ["survey.completed"]


async def test_a_link_request_repeated_with_its_idempotency_key_issues_nothing(api: Api) -> None:
    survey = await survey_for(api)
    url = f"/v1/surveys/{survey['id']}/link"
    headers = {**api.auth(Role.agent), "Idempotency-Key": "link-once"}
    first = await api.client.post(url, headers=headers)
    assert first.status_code == 201, first.text
    # A retry after a lost answer: the link already sent to the customer keeps working.
    repeat = await api.client.post(url, headers=headers)
    assert "already succeeded" in assert_problem(repeat, 409)["detail"]
    assert (await api.client.get(page_path(first.json()))).status_code == 200
    async with api.app.state.engine.connect() as conn:
        links = (await conn.execute(text("SELECT count(*) FROM survey_links"))).scalar_one()
        kept = (await conn.execute(text("SELECT response_body FROM idempotency_keys"))).all()
    assert links == 1
    assert first.json()["token"] not in str(kept)  # the token is never stored
    # Without the key (or with a new one) a new link replaces it, as documented.
    second = await api.client.post(url, headers={**api.auth(Role.agent), "Idempotency-Key": "2"})
    assert second.status_code == 201, second.text
    assert (await api.client.get(page_path(first.json()))).status_code == 410


async def test_expired_replaced_and_unknown_links_are_refused(api: Api) -> None:
    survey = await survey_for(api)
    old = await link_for(api, survey["id"])
    new = await link_for(api, survey["id"])
    replaced = await api.client.get(page_path(old))
    assert replaced.status_code == 410 and "newer link" in replaced.text
    # Both made at the same (frozen) instant: the survey shows the one that works.
    assert old["expires_at"] == new["expires_at"]
    assert (await get_survey(api, survey["id"]))["link"]["state"] == "active"
    assert (await api.client.post(page_path(old), data=form())).status_code == 410

    api.clock.advance(timedelta(days=7, seconds=1))
    expired = await api.client.get(page_path(new))
    assert expired.status_code == 410 and "expired" in expired.text
    assert (await api.client.post(page_path(new), data=form())).status_code == 410
    assert (await get_survey(api, survey["id"]))["status"] == "pending"

    for path in ("/s/" + "x" * 43, "/s/short", "/s/%2e%2e"):
        unknown = await api.client.get(path)
        assert unknown.status_code == 404, path
        assert unknown.headers["content-type"].startswith("text/html")
    schema = api.app.openapi()
    assert not any(p.startswith("/s/") for p in schema["paths"])

    # A survey answered by phone meanwhile: its link's one use is gone.
    phoned = await survey_for(api)
    link = await link_for(api, phoned["id"])
    assert (await answer(api, phoned["id"], GOOD)).status_code == 201
    assert (await api.client.post(page_path(link), data=form())).status_code == 409
    assert_problem(
        await api.client.post(f"/v1/surveys/{phoned['id']}/link", headers=api.auth(Role.agent)),
        409,
    )


async def test_two_submissions_at_once_record_one_answer(api: Api) -> None:
    survey = await survey_for(api)
    path = page_path(await link_for(api, survey["id"]))
    first, second = await asyncio.gather(
        api.client.post(path, data=form()), api.client.post(path, data=form())
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert [m["type"] for m in await outbox(api, "survey.")] == ["survey.completed"]
    async with api.app.state.engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM survey_responses"))
    assert count == 1


# --- reopen, throttle ------------------------------------------------------------------


async def test_reopening_the_order_cancels_the_pending_survey(api: Api) -> None:
    wo = await resolved_order(api)
    [first] = await surveys_of(api, wo["id"])
    link = await link_for(api, first["id"])
    assert (await act(api, wo["id"], "reopen", {"reason": "leaking again"})).status_code == 200
    cancelled = await get_survey(api, first["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "the work order was reopened"
    assert cancelled["warning_level"] == "none"
    assert cancelled["sla"][0]["state"] == "cancelled"
    assert (await api.client.get(page_path(link))).status_code == 410
    api.clock.advance(timedelta(hours=30))
    await scan(api)  # the reopened order's own clocks move; a cancelled callback never does
    assert [
        m for m in await outbox(api, "sla.") if m["data"]["subject"]["type"] != "work_order"
    ] == []

    assert (await act(api, wo["id"], "resolve")).status_code == 200
    second, again_first = await surveys_of(api, wo["id"])
    assert again_first["id"] == first["id"]
    assert second["status"] == "pending"  # not throttled by its own order's survey
    assert second["sla"][0]["due_at"] == "2026-11-04T07:00:00Z"


async def test_a_customer_is_not_surveyed_again_within_30_days(api: Api) -> None:
    first = await survey_for(api, customer=customer(phone="+86 138 1234 5678", email=None))
    same_phone = await survey_for(api, customer=customer(phone="86-138-1234-5678", email=None))
    assert same_phone["status"] == "skipped"
    assert first["number"] in same_phone["skip_reason"]
    assert "30 days" in same_phone["skip_reason"]
    assert same_phone["warning_level"] == "none" and same_phone["sla"] == []
    assert same_phone["template_id"] is None and same_phone["allowed_actions"] == []
    explained = await api.client.get(
        f"/v1/surveys/{same_phone['id']}/sla", headers=api.auth(Role.viewer)
    )
    assert explained.json()["clocks"] == []

    by_mail = await survey_for(api, customer=customer(email="Li@Example.com"))
    same_mail = await survey_for(api, customer=customer(email="li@example.com"))
    assert (by_mail["status"], same_mail["status"]) == ("pending", "skipped")

    api.clock.advance(timedelta(days=30, seconds=1))
    later = await survey_for(api, customer=customer(phone="+86 138 1234 5678"))
    assert later["status"] == "pending"
    stats = (await api.client.get("/v1/surveys/stats", headers=api.auth(Role.viewer))).json()
    assert (stats["issued"], stats["skipped"]) == (3, 2)


async def test_attempts_throttle_and_link_are_settings(database_url: str) -> None:
    settings = {
        "survey_throttle_days": 0,
        "survey_max_failed_attempts": 1,
        "survey_link_valid_days": 1,
        "survey_link_base_url": "https://feedback.example.com/",
    }
    async with started_api(database_url, FrozenClock(START), **settings) as api:
        same = customer()
        first = await survey_for(api, customer=same)
        second = await survey_for(api, customer=same)
        assert (first["status"], second["status"]) == ("pending", "pending")
        assert first["max_attempts"] == 1
        link = await link_for(api, first["id"])
        assert link["url"] == f"https://feedback.example.com/s/{link['token']}"
        assert link["expires_at"] == "2026-11-03T01:00:00Z"
        assert (await attempt(api, first["id"], "no_answer")).json()["status"] == "unreached"
        assert (await api.client.get(page_path(link))).status_code == 410  # closed


# --- CSAT ------------------------------------------------------------------------------


async def test_csat_is_reported_beside_the_response_rate_and_unreached(api: Api) -> None:
    scores = [5, 4, 2]
    for score in scores:
        survey = await survey_for(api)
        assert (await answer(api, survey["id"], answers(overall=score))).status_code == 201
    unreached = await survey_for(api)
    for _ in range(3):
        await attempt(api, unreached["id"], "no_answer")
    await survey_for(api)  # pending
    withdrawn = await resolved_order(api)
    await act(api, withdrawn["id"], "reopen", {"reason": "not fixed"})

    response = await api.client.get("/v1/surveys/stats", headers=api.auth(Role.viewer))
    assert response.status_code == 200, response.text
    stats = response.json()
    counts = {k: stats[k] for k in ("issued", "answered", "satisfied", "dissatisfied")}
    assert counts == {"issued": 5, "answered": 3, "satisfied": 2, "dissatisfied": 1}
    assert (stats["unreached"], stats["pending"], stats["cancelled"]) == (1, 1, 1)
    assert stats["csat"] == {"value": 0.6667, "numerator": 2, "denominator": 3}
    assert stats["response_rate"] == {"value": 0.6, "numerator": 3, "denominator": 5}
    assert stats["definitions"]["csat"]["formula"] == "satisfied / answered"
    assert "4 or 5" in stats["definitions"]["csat"]["numerator"]

    window = {"from": "2026-11-02T02:00:00Z", "to": "2026-12-01T00:00:00Z"}
    later = (
        await api.client.get("/v1/surveys/stats", params=window, headers=api.auth(Role.viewer))
    ).json()
    assert later["issued"] == 0 and later["csat"]["value"] is None
    assert later["period_start"] == window["from"]
    backwards = {"from": window["to"], "to": window["from"]}
    assert_problem(
        await api.client.get("/v1/surveys/stats", params=backwards, headers=api.auth(Role.viewer)),
        422,
    )


# --- templates -------------------------------------------------------------------------

NPS_TEMPLATE: dict[str, Any] = {
    "name": "Short callback with NPS",
    "questions": [
        {"key": "overall", "kind": "overall", "text": "How satisfied are you overall?"},
        {"key": "fixed", "kind": "solved", "text": "Is it fixed?"},
        {"key": "recommend", "kind": "nps", "text": "Would you recommend us (0-10)?"},
        {"key": "notes", "kind": "text", "text": "Anything else?"},
    ],
}


async def test_a_used_template_is_never_edited_in_place(api: Api) -> None:
    sup = api.auth(Role.supervisor)
    assert_problem(
        await api.client.post(
            "/v1/survey-templates", json=NPS_TEMPLATE, headers=api.auth(Role.agent)
        ),
        403,
    )
    for broken in (
        {**NPS_TEMPLATE, "questions": NPS_TEMPLATE["questions"][1:]},  # no overall
        {**NPS_TEMPLATE, "questions": NPS_TEMPLATE["questions"] * 2},  # duplicate keys
        {**NPS_TEMPLATE, "scale_labels": ["bad", "good"]},
    ):
        assert_problem(await api.client.post("/v1/survey-templates", json=broken, headers=sup), 422)
    created = await api.client.post("/v1/survey-templates", json=NPS_TEMPLATE, headers=sup)
    assert created.status_code == 201, created.text
    template = created.json()
    assert (template["version"], template["is_default"], template["in_use"]) == (1, False, False)
    assert [q["required"] for q in template["questions"]] == [True, True, True, False]
    url = f"/v1/survey-templates/{template['id']}"

    # Unused: edited in place (the same id, the next version).
    renamed = await api.client.patch(
        url, json={"name": "NPS callback", "is_default": True}, headers={**sup, "If-Match": '"1"'}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["outcome"] == "edited_in_place"
    assert (renamed.json()["id"], renamed.json()["version"]) == (template["id"], 2)
    assert renamed.headers["etag"] == '"2"'
    stale = await api.client.patch(url, json={"name": "x"}, headers={**sup, "If-Match": '"1"'})
    assert_problem(stale, 412)
    listed = (await api.client.get("/v1/survey-templates", headers=sup)).json()["items"]
    assert [t["id"] for t in listed if t["is_default"]] == [template["id"]]

    # Now a survey uses it: its questions are frozen.
    survey = await survey_for(api)
    assert (survey["template_id"], survey["template_version"]) == (template["id"], 2)
    link = await link_for(api, survey["id"])
    questions: list[dict[str, Any]] = NPS_TEMPLATE["questions"]
    reworded = [{**questions[0], "text": "Overall, happy?"}, *questions[1:]]
    edited = await api.client.patch(url, json={"questions": reworded}, headers=sup)
    assert edited.status_code == 201, edited.text
    successor = edited.json()
    assert successor["outcome"] == "new_version"
    assert successor["replaced"] == {"id": template["id"], "version": 2}
    assert "used by surveys" in successor["detail"]
    assert successor["id"] != template["id"] and successor["version"] == 3
    assert successor["family_id"] == template["id"]
    assert successor["supersedes_id"] == template["id"]
    assert successor["is_default"] is True and successor["name"] == "NPS callback"
    assert edited.headers["location"] == f"/v1/survey-templates/{successor['id']}"
    kept = (await api.client.get(url, headers=sup)).json()
    assert (kept["status"], kept["in_use"], kept["is_default"]) == ("superseded", True, False)
    assert kept["questions"][0]["text"] == "How satisfied are you overall?"
    assert kept["superseded_by_id"] == successor["id"]
    conflict = assert_problem(await api.client.patch(url, json={"name": "y"}, headers=sup), 409)
    assert "superseded" in conflict["detail"]
    # The customer still sees the questions of the version the survey was issued with.
    shown = await api.client.get(page_path(link))
    assert "How satisfied are you overall?" in shown.text and "Overall, happy?" not in shown.text
    submitted = await api.client.post(
        page_path(link), data={"overall": "3", "solved": "yes", "nps": "9"}
    )
    assert submitted.status_code == 200, submitted.text
    assert (await get_survey(api, survey["id"]))["response"]["nps"] == 9

    # The successor is unused: a PUT edits it in place; the default cannot be switched off.
    put = await api.client.put(
        f"/v1/survey-templates/{successor['id']}", json=NPS_TEMPLATE, headers=sup
    )
    assert put.status_code == 200, put.text
    assert (put.json()["outcome"], put.json()["version"]) == ("edited_in_place", 4)
    assert put.json()["is_default"] is True
    off = await api.client.patch(
        f"/v1/survey-templates/{successor['id']}", json={"is_default": False}, headers=sup
    )
    assert_problem(off, 422)
    every = await api.client.get(
        "/v1/survey-templates",
        params={"include_superseded": "true", "family_id": template["id"]},
        headers=sup,
    )
    assert sorted((t["version"], t["status"]) for t in every.json()["items"]) == [
        (2, "superseded"),
        (4, "current"),
    ]
    audit = (
        await api.client.get(
            "/v1/audit-events", params={"resource_type": "survey_template"}, headers=api.auth()
        )
    ).json()["items"]
    actions = [(e["action"], e["resource_id"]) for e in audit]
    assert ("survey_template.created", template["id"]) in actions
    assert ("survey_template.updated", template["id"]) in actions
    assert ("survey_template.versioned", successor["id"]) in actions


async def test_assigning_the_caller_puts_them_on_the_clock(api: Api) -> None:
    caller = await create_staff(api, "Sun Mei")
    survey = await survey_for(api)
    patched = await api.client.patch(
        f"/v1/surveys/{survey['id']}",
        json={"assignee_id": caller["id"]},
        headers={**api.auth(Role.agent), "If-Match": f'"{survey["version"]}"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["assignee_id"] == caller["id"]
    assert patched.json()["version"] == survey["version"] + 1
    missing = await api.client.patch(
        f"/v1/surveys/{survey['id']}",
        json={"assignee_id": "3f1e9d2c-0000-4000-8000-000000000000"},
        headers=api.auth(Role.agent),
    )
    assert_problem(missing, 422)
    api.clock.advance(timedelta(hours=20))
    assert await scan(api) == 1
    [warning] = await outbox(api, "sla.warning")
    assert warning["data"]["assignee_id"] == caller["id"]


# --- survey.dissatisfied at a real receiver --------------------------------------------


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Api]:
    settings = {**LIVE, "complaint_from_dissatisfied_survey": True}
    async with started_api(database_url, SystemClock(), **settings) as running:
        yield running


async def test_a_dissatisfied_answer_reaches_a_real_receiver(live: Api) -> None:
    with Receiver() as receiver:
        endpoint = await register(live, receiver.url, event_types=["survey.dissatisfied"])
        survey = await survey_for(live, customer=customer(name="Chen Jing"))
        response = await answer(
            live,
            survey["id"],
            answers(overall=1, solved=False, comments={"suggestions": "Late and rude"}),
        )
        assert response.status_code == 201, response.text
        await eventually(lambda: len(receiver.delivered()) == 1, what="survey.dissatisfied")
        receiver.verify_all(endpoint["secret"])
        [got] = receiver.delivered()
        assert got.type == "survey.dissatisfied"
        data = got.json["data"]
        assert data["survey_id"] == survey["id"]
        assert data["work_order_id"] == survey["work_order_id"]
        assert data["customer"] == {
            "name": "Chen Jing",
            "phone": survey["customer"]["phone"],
            "email": survey["customer"]["email"],
        }
        assert (data["overall"], data["solved"]) == (1, False)
        assert data["comment"] == "Late and rude"
        assert data["reasons"] == ["low_score", "not_solved"]
    # The complaints domain's reaction opened a complaint linked to the order.
    complaints = await live.client.get(
        "/v1/complaints",
        params={"work_order_id": survey["work_order_id"]},
        headers=live.auth(Role.viewer),
    )
    assert complaints.status_code == 200, complaints.text
    [complaint] = complaints.json()["items"]
    assert complaint["source_survey_id"] == survey["id"]
