"""Calendars, SLA policies and the preview, through HTTP on both databases."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from qualityapi.auth.models import Role
from tests.conftest import Api
from tests.helpers import assert_problem, create_staff


async def _by_name(api: Api, path: str) -> dict[str, Any]:
    items = (await api.client.get(path, headers=api.auth())).json()["items"]
    return {item["name"]: item for item in items}


async def _preview(api: Api, **body: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/sla-policies/preview", json=body, headers=api.auth(Role.viewer)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _deadlines(preview: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    return {d["target"]: (d["due_at"], d["warn_at"]) for d in preview["deadlines"]}


async def test_first_start_creates_the_default_calendars_and_policies(api: Api) -> None:
    cals = await _by_name(api, "/v1/calendars")
    assert set(cals) == {"24x7", "business"}
    assert cals["24x7"]["builtin"] is True
    business = cals["business"]
    assert business["time_zone"] == "Asia/Shanghai"
    assert business["holidays"] == {"country": "CN", "subdivision": None}
    assert business["working_hours"]["monday"] == [
        {"start": "09:00", "end": "12:00"},
        {"start": "13:30", "end": "18:00"},
    ]
    assert "saturday" not in business["working_hours"]
    policies = await _by_name(api, "/v1/sla-policies")
    by_subject: dict[str, set[str]] = {}
    for name, policy in policies.items():
        by_subject.setdefault(policy["subject"], set()).add(name)
    # Each registered kind brings its own defaults (sla.policies.seed_subject_defaults).
    assert by_subject["work_order"] == {"urgent", "high", "normal"}
    assert by_subject["complaint"] == {"complaint simple", "complaint general", "complaint major"}
    assert len(by_subject["survey_callback"]) == 1
    assert policies["urgent"]["targets"] == {
        "response": {"duration": "PT1H", "working_days": None, "until": None, "calendar_id": None},
        "arrival": {"duration": "PT4H", "working_days": None, "until": None, "calendar_id": None},
    }
    assert policies["urgent"]["calendar_id"] == cals["24x7"]["id"]
    assert policies["high"]["targets"]["arrival"]["until"] == "appointment_end"
    assert policies["normal"]["targets"]["resolution"]["calendar_id"] == cals["24x7"]["id"]
    assert [lvl["level"] for lvl in policies["normal"]["escalation"]] == [1, 2]


async def test_preview_of_the_default_policies(api: Api) -> None:
    # urgent, on a public holiday: 24x7 -> +1h and +4h, yellow at 80%.
    urgent = await _preview(api, priority="urgent", start="2026-10-01T10:00:00Z")
    assert urgent["policy_name"] == "urgent"
    assert _deadlines(urgent) == {
        "response": ("2026-10-01T11:00:00Z", "2026-10-01T10:48:00Z"),
        "arrival": ("2026-10-01T14:00:00Z", "2026-10-01T13:12:00Z"),
    }
    # high, Friday 9 Oct 17:00 Shanghai: 1h on Friday, then the working Saturday 10 Oct.
    high = await _preview(
        api,
        priority="high",
        start="2026-10-09T17:00:00+08:00",
        appointment_end="2026-10-12T06:00:00Z",
    )
    assert _deadlines(high)["response"][0] == "2026-10-10T02:00:00Z"
    # Working time to the appointment end (Mon 12 Oct 14:00 local): Fri 1h + Sat 7.5h +
    # Mon 3.5h = 12h; 80% = 9h36m -> Mon 09:00 + 1h06m = 10:06 local = 02:06Z.
    assert _deadlines(high)["arrival"] == ("2026-10-12T06:00:00Z", "2026-10-12T02:06:00Z")
    # normal, Monday 11:00 Shanghai: 4 business hours across lunch; 24 plain hours.
    normal = await _preview(api, priority="normal", start="2026-11-02T03:00:00Z")
    assert _deadlines(normal) == {
        "response": ("2026-11-02T08:30:00Z", "2026-11-02T07:42:00Z"),
        "resolution": ("2026-11-03T03:00:00Z", "2026-11-02T22:12:00Z"),
    }
    nothing = await _preview(api, priority="whenever", start="2026-11-02T03:00:00Z")
    assert nothing == {"policy_id": None, "policy_name": None, "deadlines": []}


async def test_editing_the_business_calendar_changes_the_preview(api: Api) -> None:
    cals = await _by_name(api, "/v1/calendars")
    business = cals["business"]
    response = await api.client.patch(
        f"/v1/calendars/{business['id']}",
        json={"working_hours": {"monday": [{"start": "08:00", "end": "20:00"}]}},
        headers={**api.auth(), "If-Match": f'"{business["version"]}"'},
    )
    assert response.status_code == 200, response.text
    normal = await _preview(api, priority="normal", start="2026-11-02T03:00:00Z")
    # Monday now 08:00-20:00 local: 11:00 + 4h = 15:00 local = 07:00Z.
    assert _deadlines(normal)["response"][0] == "2026-11-02T07:00:00Z"
    audit = (
        await api.client.get(
            "/v1/audit-events", params={"resource_type": "calendar"}, headers=api.auth()
        )
    ).json()
    assert audit["items"][0]["action"] == "calendar.updated"


async def test_builtin_calendar_is_read_only(api: Api) -> None:
    always = (await _by_name(api, "/v1/calendars"))["24x7"]
    response = await api.client.patch(
        f"/v1/calendars/{always['id']}", json={"time_zone": "Asia/Tokyo"}, headers=api.auth()
    )
    assert "built in" in assert_problem(response, 409)["detail"]


async def test_calendar_validation(api: Api) -> None:
    for body, needle in [
        ({"name": "x", "time_zone": "Mars/Olympus"}, "time zone"),
        ({"name": "x", "time_zone": "localtime"}, "time zone"),
        ({"name": "x", "time_zone": "UTC", "holidays": {"country": "ZZ"}}, "ZZ"),
        ({"name": "x", "time_zone": "UTC", "working_hours": {"funday": []}}, "funday"),
        (
            {
                "name": "x",
                "time_zone": "UTC",
                "working_hours": {"monday": [{"start": "9am", "end": "17:00"}]},
            },
            "pattern",
        ),
        ({"name": "x", "time_zone": "UTC"}, "working time"),
    ]:
        response = await api.client.post("/v1/calendars", json=body, headers=api.auth())
        problem = assert_problem(response, 422)
        assert needle.lower() in response.text.lower(), (body, problem)


async def test_policy_create_validate_and_match_by_rank(api: Api) -> None:
    cals = await _by_name(api, "/v1/calendars")
    engineer = await create_staff(api)
    body = {
        "name": "lift entrapment",
        "rank": 1,
        "match": {"priorities": ["urgent"], "categories": ["lift"]},
        "calendar_id": cals["24x7"]["id"],
        "targets": {
            "arrival": "PT5M",
            "resolution": {"working_days": 1, "calendar_id": cals["business"]["id"]},
        },
        "warning": {"lead": "PT2M"},
        "escalation": [
            {
                "level": 1,
                "after": "PT0S",
                "notify": [{"role": "staff", "staff_id": engineer["id"]}],
            },
            {"level": 2, "after": "PT10M", "notify": [{"role": "team_manager"}]},
        ],
    }
    created = await api.client.post("/v1/sla-policies", json=body, headers=api.auth())
    assert created.status_code == 201, created.text
    assert created.json()["targets"]["arrival"]["duration"] == "PT5M"
    preview = await _preview(api, priority="urgent", category="lift", start="2026-11-02T01:00:00Z")
    assert preview["policy_name"] == "lift entrapment"
    assert _deadlines(preview)["arrival"] == ("2026-11-02T01:05:00Z", "2026-11-02T01:03:00Z")
    # Day 0 is Monday 2 Nov; the first working day after it is Tue 3rd, ending 18:00 local.
    assert _deadlines(preview)["resolution"][0] == "2026-11-03T10:00:00Z"
    other = await _preview(api, priority="urgent", category="hvac", start="2026-11-02T01:00:00Z")
    assert other["policy_name"] == "urgent"

    bad_bodies = [
        ({**body, "name": "a", "targets": {"response": "PT0S"}}, "positive"),
        ({**body, "name": "b", "targets": {"response": "PT1.5S"}}, "second granularity"),
        ({**body, "name": "c", "targets": {"callback": "PT1H"}}, "no target callback"),
        (
            {**body, "name": "d", "targets": {"response": {"duration": "PT1H", "working_days": 2}}},
            "exactly one",
        ),
        (
            {
                **body,
                "name": "e",
                "escalation": [{"level": 2, "after": "PT0S", "notify": [{"role": "assignee"}]}],
            },
            "numbered",
        ),
        (
            {
                **body,
                "name": "f",
                "escalation": [{"level": 1, "after": "PT0S", "notify": [{"role": "staff"}]}],
            },
            "staff_id",
        ),
        ({**body, "name": "g", "calendar_id": "00000000-0000-4000-8000-000000000000"}, "calendar"),
    ]
    for bad, needle in bad_bodies:
        response = await api.client.post("/v1/sla-policies", json=bad, headers=api.auth())
        assert_problem(response, 422)
        assert needle in response.text, (bad["name"], response.text)
    assert_problem(await api.client.post("/v1/sla-policies", json=body, headers=api.auth()), 409)


async def test_policy_update_and_disable(api: Api) -> None:
    urgent = (await _by_name(api, "/v1/sla-policies"))["urgent"]
    response = await api.client.patch(
        f"/v1/sla-policies/{urgent['id']}",
        json={"targets": {"response": "PT30M"}},
        headers={**api.auth(), "If-Match": f'"{urgent["version"]}"'},
    )
    assert response.status_code == 200, response.text
    preview = await _preview(api, priority="urgent", start="2026-11-02T01:00:00Z")
    assert _deadlines(preview) == {"response": ("2026-11-02T01:30:00Z", "2026-11-02T01:24:00Z")}
    stale = await api.client.patch(
        f"/v1/sla-policies/{urgent['id']}",
        json={"enabled": False},
        headers={**api.auth(), "If-Match": f'"{urgent["version"]}"'},
    )
    assert_problem(stale, 412)
    disabled = await api.client.patch(
        f"/v1/sla-policies/{urgent['id']}", json={"enabled": False}, headers=api.auth()
    )
    assert disabled.status_code == 200
    assert (await _preview(api, priority="urgent", start="2026-11-02T01:00:00Z"))[
        "policy_id"
    ] is None
    assert_problem(
        await api.client.patch(
            f"/v1/sla-policies/{urgent['id']}",
            json={"enabled": True},
            headers=api.auth(Role.supervisor),
        ),
        403,
    )


async def _create_calendar(api: Api, name: str, **body: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/calendars", json={"name": name, **body}, headers=api.auth()
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FULL_DAY = [{"start": "00:00", "end": "00:00"}]
SPLIT_DAY = [{"start": "00:00", "end": "22:00"}, {"start": "22:00", "end": "00:00"}]


async def test_calendar_contradictions_are_rejected_by_name(api: Api) -> None:
    def hours(**days: list[tuple[str, str]]) -> dict[str, Any]:
        return {d: [{"start": s, "end": e} for s, e in iv] for d, iv in days.items()}

    cases: list[tuple[dict[str, Any], list[str]]] = [
        (
            {
                "working_hours": hours(monday=[("09:00", "17:00")]),
                "closed_days": ["2026-12-26", "2026-12-25", "2026-12-31"],
                "extra_working_days": ["2026-12-25", "2026-12-26", "2026-12-27"],
            },
            ["2026-12-25, 2026-12-26", "closed_days", "extra_working_days"],
        ),
        (
            {"working_hours": hours(monday=[("09:00", "12:00"), ("11:00", "13:00")])},
            ["monday", "09:00-12:00 overlaps 11:00-13:00"],
        ),
        (
            {"working_hours": hours(friday=[("13:00", "14:00"), ("00:00", "00:00")])},
            ["friday", "00:00-00:00 overlaps 13:00-14:00"],
        ),
        # Overnight into the next weekday, Sunday into Monday included.
        (
            {"working_hours": hours(sunday=[("22:00", "06:00")], monday=[("05:00", "07:00")])},
            ["sunday", "22:00-06:00 runs into monday's 05:00-07:00"],
        ),
        (
            {"working_hours": hours(tuesday=[("09:00", "09:00")], wednesday=[("08:00", "10:00")])},
            ["tuesday", "09:00-09:00 runs into wednesday's 08:00-10:00"],
        ),
    ]
    for extra, needles in cases:
        response = await api.client.post(
            "/v1/calendars", json={"name": "x", "time_zone": "UTC", **extra}, headers=api.auth()
        )
        detail = assert_problem(response, 422)["detail"]
        for needle in needles:
            assert needle in detail, (extra, detail)
    # Intervals that only meet are fine: the day and the night shifts of a 24x7 site.
    await _create_calendar(
        api,
        "meeting",
        time_zone="UTC",
        working_hours=hours(
            monday=[("06:00", "22:00"), ("22:00", "06:00")], tuesday=[("06:00", "14:00")]
        ),
    )
    # An edit that creates a contradiction is refused the same way.
    business = (await _by_name(api, "/v1/calendars"))["business"]
    response = await api.client.patch(
        f"/v1/calendars/{business['id']}",
        json={"closed_days": ["2026-12-28"], "extra_working_days": ["2026-12-28"]},
        headers=api.auth(),
    )
    assert "2026-12-28" in assert_problem(response, 422)["detail"]


async def _policy_on(api: Api, calendar_id: str, name: str) -> None:
    response = await api.client.post(
        "/v1/sla-policies",
        json={
            "name": name,
            "rank": 1,
            "match": {"priorities": [name]},
            "calendar_id": calendar_id,
            "targets": {"response": "PT1H", "arrival": {"working_days": 2}, "resolution": "P30D"},
        },
        headers=api.auth(),
    )
    assert response.status_code == 201, response.text


async def test_preview_on_pathological_calendars(api: Api) -> None:
    # Each is open (nearly) every minute; none may stall the process or answer 500.
    calendars = {
        "all-day-closed-past": {
            "time_zone": "UTC",
            "working_hours": dict.fromkeys(DAYS, FULL_DAY),
            "closed_days": ["2020-01-01"],
        },
        "all-day-closed-future": {
            "time_zone": "UTC",
            "working_hours": dict.fromkeys(DAYS, FULL_DAY),
            "closed_days": ["2026-11-04"],
        },
        "split": {"time_zone": "Asia/Shanghai", "working_hours": dict.fromkeys(DAYS, SPLIT_DAY)},
        "split-closed": {
            "time_zone": "Asia/Shanghai",
            "working_hours": dict.fromkeys(DAYS, SPLIT_DAY),
            "closed_days": ["2026-11-04"],
        },
    }
    for name, body in calendars.items():
        cal = await _create_calendar(api, name, **body)
        await _policy_on(api, cal["id"], name)
    start = "2026-11-02T01:00:00Z"
    # 80% of 1 h is 48 min; 80% of 30 days is 24 days. Two working days after Monday
    # Nov 2 are Tue 3 and Wed 4, or Thu 5 when Wed 4 is closed; warned at 80% of the
    # working time up to then (71 h either way -> 56 h 48 min).
    open_every_day = {
        "response": ("2026-11-02T02:00:00Z", "2026-11-02T01:48:00Z"),
        "arrival": ("2026-11-05T00:00:00Z", "2026-11-04T09:48:00Z"),
        "resolution": ("2026-12-02T01:00:00Z", "2026-11-26T01:00:00Z"),
    }
    assert _deadlines(await _preview(api, priority="all-day-closed-past", start=start)) == (
        open_every_day
    )
    closed_future = {
        "response": ("2026-11-02T02:00:00Z", "2026-11-02T01:48:00Z"),
        "arrival": ("2026-11-06T00:00:00Z", "2026-11-05T09:48:00Z"),
        "resolution": ("2026-12-03T01:00:00Z", "2026-11-27T01:00:00Z"),
    }
    assert _deadlines(await _preview(api, priority="all-day-closed-future", start=start)) == (
        closed_future
    )
    # Shanghai days end at 16:00Z; Nov 4 local is Nov 3 16:00Z to Nov 4 16:00Z.
    split = _deadlines(await _preview(api, priority="split", start=start))
    assert split["response"] == open_every_day["response"]
    assert split["arrival"][0] == "2026-11-04T16:00:00Z"
    assert split["resolution"] == open_every_day["resolution"]
    split_closed = _deadlines(await _preview(api, priority="split-closed", start=start))
    assert split_closed["arrival"][0] == "2026-11-05T16:00:00Z"
    assert split_closed["resolution"] == closed_future["resolution"]


async def test_preview_answers_422_when_no_deadline_exists(api: Api) -> None:
    # One hour on Mondays, but every Monday closed for the next 19 years.
    mondays = [f"{date(2026, 11, 2) + timedelta(weeks=w)}" for w in range(1000)]
    cal = await _create_calendar(
        api,
        "sparse",
        time_zone="UTC",
        working_hours={"monday": [{"start": "09:00", "end": "10:00"}]},
        closed_days=mondays,
    )
    await _policy_on(api, cal["id"], "sparse")
    response = await api.client.post(
        "/v1/sla-policies/preview",
        json={"priority": "sparse", "start": "2026-11-02T01:00:00Z"},
        headers=api.auth(Role.viewer),
    )
    detail = assert_problem(response, 422)["detail"]
    # Every target fails alike; which one is named first follows the stored target order,
    # which PostgreSQL's JSONB does not keep.
    assert re.match(r"targets\.(response|arrival|resolution) on calendar 'sparse': ", detail)
    assert "no working time within 1098 days after 2026-11-02" in detail


async def test_preview_far_in_time(api: Api) -> None:
    # Instants outside 1970..2199 are refused as input (common.schemas.INSTANT_RANGE).
    for body, needle in [
        (
            {"priority": "urgent", "start": "9999-12-31T23:30:00Z"},
            "body.start: timestamp out of range: accepted are 1970-01-01T00:00:00Z to 2199",
        ),
        (
            {"priority": "urgent", "start": "0001-01-01T00:00:00Z"},
            "body.start: timestamp out of range",
        ),
        (
            {
                "priority": "high",
                "start": "2026-11-02T01:00:00Z",
                "appointment_end": "2199-12-31T00:00:00Z",
            },
            "targets.arrival on calendar 'business': working time is counted over at most 1098",
        ),
    ]:
        response = await api.client.post(
            "/v1/sla-policies/preview", json=body, headers=api.auth(Role.viewer)
        )
        assert needle in assert_problem(response, 422)["detail"], body
    # Far but representable: Monday 4 Jan 2100 11:00 Shanghai + 4 h across lunch.
    normal = await _preview(api, priority="normal", start="2100-01-04T03:00:00Z")
    assert _deadlines(normal)["response"][0] == "2100-01-04T08:30:00Z"
    assert _deadlines(normal)["resolution"][0] == "2100-01-05T03:00:00Z"
    # The last instant accepted: every deadline from it is still representable.
    last = await _preview(api, priority="normal", start="2199-12-31T23:59:59Z")
    assert all(due and due.startswith("22") for due, _ in _deadlines(last).values())


async def test_policy_durations_are_bounded(api: Api) -> None:
    cal_id = (await _by_name(api, "/v1/calendars"))["24x7"]["id"]
    base = {"name": "long", "calendar_id": cal_id, "targets": {"response": "PT1H"}}
    for extra, needle in [
        ({"targets": {"response": "P367D"}}, "duration must be at most 366 days"),
        ({"warning": {"lead": "P400D"}}, "lead must be at most 366 days"),
        (
            {"escalation": [{"level": 1, "after": "P1000D", "notify": [{"role": "assignee"}]}]},
            "after must be at most 366 days",
        ),
        ({"targets": {"response": "P99999999999D"}}, "duration"),
    ]:
        response = await api.client.post(
            "/v1/sla-policies", json={**base, **extra}, headers=api.auth()
        )
        assert_problem(response, 422)
        assert needle in response.text, extra
    ok = await api.client.post(
        "/v1/sla-policies", json={**base, "targets": {"response": "P366D"}}, headers=api.auth()
    )
    assert ok.status_code == 201, ok.text


async def test_a_preview_for_a_kind_that_does_not_exist_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/v1/sla-policies/preview",
        json={"subject": "workorder", "priority": "urgent", "start": "2026-11-02T01:00:00Z"},
        headers=api.auth(Role.viewer),
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "subject"]
    assert "work_order" in body["errors"][0]["msg"]
