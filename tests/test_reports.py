"""Reports against hand-built data sets, on both databases, with the injected clock.

Every expected figure is worked out in the test from what the test itself did (which
order was met, breached, reopened...), never read back from the code under test.
"""

from __future__ import annotations

import csv
import io
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import event, func, select, text

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from qualityapi.complaints.models import Complaint
from qualityapi.reports import counts_repository, ledger_repository
from qualityapi.reports.ledger_repository import OutcomeRow
from qualityapi.reports.models import ClockOutcome, CountEvent, FirstResolution
from qualityapi.reports.router import wants_csv
from qualityapi.reports.service import daily_attainment, fold_pending
from qualityapi.sla.models import SlaClock
from qualityapi.sla.scanner import scan_once
from qualityapi.surveys.models import Survey, SurveyResponse
from qualityapi.work_orders.models import WorkOrder
from tests.conftest import START, Api, started_api
from tests.helpers import act, assert_problem, create_staff, create_work_order
from tests.test_complaints import RESOLVE, create_complaint
from tests.test_complaints import act as complaint_act
from tests.test_surveys import answer, answers, attempt, customer, surveys_of

H = timedelta(hours=1)
M = timedelta(minutes=1)


def z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def scan(api: Api) -> None:
    await scan_once(api.app.state.sessionmaker, api.clock.now())


async def fold(api: Api) -> int:
    return await fold_pending(api.app.state.sessionmaker)


async def ok(api: Api, wo_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    response = await act(api, wo_id, action, body)
    assert response.status_code == 200, response.text


async def sla_report(api: Api, start: datetime, end: datetime, **params: str) -> dict[str, Any]:
    response = await api.client.get(
        "/v1/reports/sla",
        params={"from": z(start), "to": z(end), **params},
        headers=api.auth(Role.viewer),
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def by_target(rows: list[dict[str, Any]], **group: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows of one group, keyed (subject type, target)."""
    return {
        (r["subject_type"], r["target"]): r
        for r in rows
        if all(r["group"].get(k) == v for k, v in group.items())
    }


def counts(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return row["met"], row["breached"], row["cancelled"], row["running"]


# --- SLA attainment --------------------------------------------------------------------


async def test_attainment_counts_met_breached_late_cancelled_and_running_apart(api: Api) -> None:
    t0 = START
    a = await create_work_order(api, priority="urgent")
    b = await create_work_order(api, priority="urgent")
    c = await create_work_order(api, priority="urgent")
    d = await create_work_order(api, priority="urgent")
    f = await create_work_order(api, priority="normal")
    api.clock.set(t0 + 10 * M)
    await ok(api, d["id"], "cancel", {"reason": "duplicate"})
    api.clock.set(t0 + 30 * M)
    await ok(api, a["id"], "respond")
    # B answers 5 minutes late, before the scanner has looked: still a breach, at the deadline.
    api.clock.set(t0 + 65 * M)
    await ok(api, b["id"], "respond")
    api.clock.set(t0 + 70 * M)
    await scan(api)  # C breaches (at its deadline, t0 + 1 h)
    api.clock.set(t0 + 80 * M)
    await ok(api, c["id"], "respond")  # late: it stays breached
    api.clock.set(t0 + 90 * M)
    await ok(api, f["id"], "respond")
    e = await create_work_order(api, priority="urgent")  # running at the report
    api.clock.set(t0 + 2 * H)
    await ok(api, a["id"], "arrive")

    report = await sla_report(api, t0, t0 + 24 * H)
    totals = by_target(report["totals"])
    assert counts(totals[("work_order", "response")]) == (2, 2, 1, 1)  # A F | B C | D | E
    assert totals[("work_order", "response")]["attainment"] == {
        "value": 0.5,
        "numerator": 2,
        "denominator": 4,
        "goal": 0.95,
        "meets_goal": False,
    }
    assert counts(totals[("work_order", "arrival")]) == (1, 0, 1, 3)  # A | - | D | B C E
    assert counts(totals[("work_order", "resolution")]) == (0, 0, 0, 1)  # F's, running
    assert report["definition"]["formula"] == "met / (met + breached)"
    assert report["definition"]["version"] == 1
    assert "calendar" in report["definition"]["calendar"]

    grouped = await sla_report(api, t0, t0 + 24 * H, group_by="priority")
    urgent = by_target(grouped["rows"], priority="urgent")
    normal = by_target(grouped["rows"], priority="normal")
    assert counts(urgent[("work_order", "response")]) == (1, 2, 1, 1)
    assert counts(normal[("work_order", "response")]) == (1, 0, 0, 0)
    assert grouped["totals"] == report["totals"]

    # The breaches of B and C happened at t0 + 1 h: a period ending then has none of them.
    early = by_target((await sla_report(api, t0, t0 + H))["totals"])
    assert counts(early[("work_order", "response")])[:3] == (1, 0, 1)
    # The same figures once the outcomes are folded into the sums.
    assert await fold(api) > 0
    assert await sla_report(api, t0, t0 + 24 * H) == {**report, "data": report["data"]}
    assert e["id"]


async def test_group_by_team_and_assignee_names_them(api: Api) -> None:
    team = await api.client.post(
        "/v1/teams", json={"name": "Facilities"}, headers=api.auth(Role.supervisor)
    )
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    li = await create_staff(api, "Li Na", team_id=team_id)
    wang = await create_staff(api, "Wang Lei", team_id=team_id)
    one = await create_work_order(api, priority="urgent", assignee_id=li["id"], team_id=team_id)
    two = await create_work_order(api, priority="urgent", assignee_id=wang["id"], team_id=team_id)
    api.clock.advance(20 * M)
    await ok(api, one["id"], "respond")
    api.clock.advance(60 * M)
    await scan(api)  # two's response breaches
    await fold(api)
    report = await sla_report(
        api, START, START + 24 * H, group_by="team,assignee", subject_type="work_order"
    )
    rows = {
        (r["group"]["assignee_name"], r["target"]): r
        for r in report["rows"]
        if r["target"] == "response"
    }
    assert counts(rows[("Li Na", "response")]) == (1, 0, 0, 0)
    assert counts(rows[("Wang Lei", "response")]) == (0, 1, 0, 0)
    assert {r["group"]["team_name"] for r in report["rows"]} == {"Facilities"}
    assert rows[("Li Na", "response")]["group"]["assignee_id"] == li["id"]
    assert report["group_by"] == ["team", "assignee"]
    assert two["id"]
    # As CSV: the same rows and totals, one line each, the numbers as in the JSON.
    as_csv = await api.client.get(
        "/v1/reports/sla",
        params={"from": z(START), "to": z(START + 24 * H), "group_by": "team,assignee"},
        headers={**api.auth(Role.viewer), "Accept": "text/csv"},
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "sla-report-" in as_csv.headers["content-disposition"]
    assert as_csv.headers["vary"] == "Accept"
    json_again = await api.client.get(
        "/v1/reports/sla",
        params={"from": z(START), "to": z(START + 24 * H)},
        headers={**api.auth(Role.viewer), "Accept": "text/csv;q=0.1, application/json"},
    )
    assert json_again.headers["content-type"] == "application/json"
    assert json_again.headers["vary"] == "Accept"  # caches keep the two apart
    lines = parse_csv(as_csv.text)
    expected = [("row", r) for r in report["rows"]] + [("total", r) for r in report["totals"]]
    assert len(lines) == len(expected)
    for line, (scope, r) in zip(lines, expected, strict=True):
        value = r["attainment"]["value"]
        assert (line["scope"], line["subject_type"], line["target"]) == (
            scope,
            r["subject_type"],
            r["target"],
        )
        assert line["assignee_name"] == (r["group"]["assignee_name"] or "")
        assert line["team_id"] == (r["group"]["team_id"] or "")
        assert [int(line[k]) for k in ("met", "breached", "cancelled", "running")] == [
            r[k] for k in ("met", "breached", "cancelled", "running")
        ]
        assert (float(line["attainment"]) if line["attainment"] else None) == value
        assert (line["start"], line["end"]) == (report["start"], report["end"])


async def test_bad_report_parameters_are_a_clear_422(api: Api) -> None:
    base = {"from": z(START), "to": z(START + H)}
    for params in (
        {**base, "group_by": "priority,team,category"},
        {**base, "group_by": "colour"},
        {**base, "group_by": "team,team"},
        {"from": z(START + H), "to": z(START)},
    ):
        response = await api.client.get(
            "/v1/reports/sla", params=params, headers=api.auth(Role.viewer)
        )
        assert_problem(response, 422)
    for params in (
        {"month": "2026-13"},
        {"month": "Oct"},
        {"month": "2026-10", "tz": "Mars/Base"},
        {"month": "2026-10", "tz": "localtime"},
    ):
        response = await api.client.get(
            "/v1/reports/monthly", params=params, headers=api.auth(Role.viewer)
        )
        assert_problem(response, 422)


async def test_the_sla_report_without_a_period_is_the_last_30_days(api: Api) -> None:
    for params in ({}, {"group_by": "priority"}):
        response = await api.client.get(
            "/v1/reports/sla", params=params, headers=api.auth(Role.viewer)
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["start"], report["end"]) == (z(START - timedelta(days=30)), z(START))
    until = await api.client.get(
        "/v1/reports/sla", params={"to": z(START - H)}, headers=api.auth(Role.viewer)
    )
    assert until.json()["start"] == z(START - H - timedelta(days=30))
    # Never before the first instant the API accepts.
    early = await api.client.get(
        "/v1/reports/sla", params={"to": "1970-01-02T00:00:00Z"}, headers=api.auth(Role.viewer)
    )
    assert early.json()["start"] == "1970-01-01T00:00:00Z", early.text


async def test_the_monthly_report_without_a_month_is_this_month_so_far(api: Api) -> None:
    # 17:30 on 31 October in UTC is already 1 November in Shanghai (the calendar's zone).
    api.clock.set(datetime(2026, 10, 31, 17, 30, tzinfo=UTC))
    for params, month in (({}, "2026-11"), ({"tz": "Europe/London"}, "2026-10")):
        response = await api.client.get(
            "/v1/reports/monthly", params=params, headers=api.auth(Role.viewer)
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["month"], report["final"]) == (month, False)
        named = await api.client.get(
            "/v1/reports/monthly", params={**params, "month": month}, headers=api.auth(Role.viewer)
        )
        assert named.json()["start"] == report["start"]


async def test_the_ledger_triggers_exist_at_head(api: Api) -> None:
    query = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if api.backend == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    async with api.app.state.sessionmaker() as session:
        names = set((await session.execute(text(query))).scalars())
    assert {
        "report_clock_decided",
        "report_clock_inserted_decided",
        "report_work_order_created",
        "report_work_order_resolved",
        "report_work_order_reopened",
        "report_complaint_created",
        "report_survey_issued",
        "report_survey_status",
        "report_survey_answered",
    } <= names


def parse_csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


# --- the monthly report -----------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hh: int, mm: int = 0, month: int = 10) -> datetime:
    """An October 2026 wall time in Shanghai, as UTC."""
    return datetime(2026, month, day, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def nth_working_day_end(day: date, n: int) -> datetime:
    """18:00 Shanghai on the Nth working day after ``day``: the holidays library's own CN
    calendar (public holidays off, substituted working weekends on), as the business
    calendar has it."""
    table = holidays.country_holidays("CN", years=range(day.year, day.year + 2))
    worked = set(table.weekend_workdays)
    while n:
        day += timedelta(days=1)
        if day in worked or (day.weekday() < 5 and day not in table):
            n -= 1
    return datetime.combine(day, time(18), tzinfo=SHANGHAI).astimezone(UTC)


def nearest_rank_minutes(values: list[timedelta], p: float) -> int:
    """The p-th percentile (nearest rank) rounded up to the whole minute, in seconds."""
    ordered = sorted(values)
    picked = ordered[math.ceil(p * len(ordered)) - 1]
    return math.ceil(picked.total_seconds() / 60) * 60


async def monthly(api: Api, month: str = "2026-10", **headers: str) -> Any:
    response = await api.client.get(
        "/v1/reports/monthly",
        params={"month": month},
        headers={**api.auth(Role.viewer), **headers},
    )
    assert response.status_code == 200, response.text
    return response


async def staff_member(api: Api, name: str, team_id: str) -> str:
    return str((await create_staff(api, name, team_id=team_id))["id"])


async def team(api: Api, name: str) -> str:
    response = await api.client.post(
        "/v1/teams", json={"name": name}, headers=api.auth(Role.supervisor)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class Book:
    """What the test did, to work the expected figures out from."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.orders: dict[str, dict[str, Any]] = {}
        self.times: dict[str, dict[str, datetime]] = {}

    async def order(self, name: str, at: datetime, **fields: Any) -> str:
        self.api.clock.set(at)
        fields.setdefault("customer", customer())
        wo = await create_work_order(self.api, **fields)
        self.orders[name] = wo
        self.times[name] = {"reported": at}
        return str(wo["id"])

    async def do(self, name: str, action: str, at: datetime, body: Any = None) -> None:
        self.api.clock.set(at)
        await ok(self.api, self.orders[name]["id"], action, body)
        milestone = {"respond": "responded", "arrive": "arrived", "resolve": "resolved"}
        if action in milestone:
            self.times[name].setdefault(milestone[action], at)

    def step(self, a: str, b: str) -> list[timedelta]:
        return [t[b] - t[a] for t in self.times.values() if a in t and b in t]


async def october(api: Api) -> tuple[Book, dict[str, str]]:
    """The hand-built month (README "Reports" explains each figure)."""
    book = Book(api)
    api.clock.set(local(12, 8))
    t1, t2 = await team(api, "Facilities"), await team(api, "Installations")
    s1 = await staff_member(api, "Li Na", t1)
    s2 = await staff_member(api, "Wang Lei", t1)
    s3 = await staff_member(api, "Zhao Min", t2)
    fix = {"resolution": "done"}
    await book.order("O1", local(12, 9), category="hvac", assignee_id=s1)
    await book.order("O2", local(12, 10), category="hvac", assignee_id=s1)
    await book.order("O3", local(12, 11), category="plumbing", assignee_id=s1)
    await book.do("O3", "assign", local(12, 11, 10), {"assignee_id": s2})
    await book.do("O1", "respond", local(12, 9, 30))
    await book.do("O2", "respond", local(12, 10, 20))
    await book.do("O1", "resolve", local(12, 11), fix)
    await book.do("O2", "arrive", local(12, 11))
    await book.do("O3", "respond", local(12, 11, 30))
    await book.do("O3", "resolve", local(12, 14), fix)
    await book.order("O4", local(13, 9), category="installation", assignee_id=s3)
    await book.do("O4", "respond", local(13, 9, 5))
    await book.do("O2", "resolve", local(13, 9, 50), fix)
    await book.do("O4", "arrive", local(13, 10))
    await book.do("O4", "resolve", local(13, 12), fix)
    # O6 has nobody on it and answers half an hour after its 4 business hours.
    await book.order("O6", local(14, 9), category="hvac")
    await book.do("O6", "respond", local(14, 15))
    await book.do("O6", "resolve", local(14, 16), fix)
    # O2 comes back within its reopen window; the second response is late.
    await book.do("O2", "reopen", local(15, 10), {"reason": "leaks again"})
    await book.do("O2", "resolve", local(16, 9), fix)
    await book.order("O5", local(20, 9), priority="urgent", category="electrical", assignee_id=s2)
    await book.do("O5", "respond", local(20, 9, 20))
    await book.do("O5", "arrive", local(20, 12))
    await book.do("O5", "resolve", local(20, 12, 30), fix)
    await book.order("O7", local(28, 9), category="hvac", assignee_id=s3)
    return book, {"s1": s1, "s2": s2, "s3": s3}


async def surveys_and_complaints(api: Api, book: Book, people: dict[str, str]) -> None:
    async def survey(order: str, status: str = "pending") -> str:
        found = [
            s for s in await surveys_of(api, book.orders[order]["id"]) if s["status"] == status
        ]
        return str(found[0]["id"])

    api.clock.set(local(12, 15))
    assert (await answer(api, await survey("O1"), answers(overall=5))).status_code == 201
    api.clock.set(local(12, 16))
    assert (await answer(api, await survey("O3"), answers(overall=2))).status_code == 201
    unreached = await survey("O4")
    for hour in (13, 14, 15):
        api.clock.set(local(13, hour))
        assert (await attempt(api, unreached, "no_answer")).status_code == 201
    api.clock.set(local(21, 10))
    assert (await answer(api, await survey("O5"), answers(overall=4))).status_code == 201

    officer = people["s1"]
    api.clock.set(local(14, 9))
    c1 = await create_complaint(
        api, officer, category="noise", location="Tower 1", customer=customer()
    )
    api.clock.set(local(14, 9, 30))
    assert (await complaint_act(api, c1["id"], "acknowledge")).status_code == 200
    api.clock.set(local(14, 11))
    assert (await complaint_act(api, c1["id"], "resolve", RESOLVE)).status_code == 200
    api.clock.set(local(14, 12))
    called = await complaint_act(api, c1["id"], "callback", {"result": "reached", "accepted": True})
    assert called.status_code == 200, called.text
    api.clock.set(local(14, 13))
    assert (await complaint_act(api, c1["id"], "close")).status_code == 200
    api.clock.set(local(15, 9))
    c2 = await create_complaint(
        api, officer, category="noise", location="Tower 2", customer=customer()
    )
    api.clock.set(local(15, 10))
    assert (await complaint_act(api, c2["id"], "acknowledge")).status_code == 200
    api.clock.set(local(16, 9))
    await create_complaint(api, officer, category="noise", location="Tower 3", customer=customer())

    for day in (20, 21, 22):
        api.clock.set(local(day, 17))
        response = await api.client.post(
            f"/v1/staff/{people['s3']}/error-records",
            json={"category": "late_arrival", "description": "arrived 40 min late"},
            headers=api.auth(Role.supervisor),
        )
        assert response.status_code == 201, response.text


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """What a closed month must repeat: everything but when it was made, what it read,
    and the figures stated "as of now" (clocks still running, today's flags and plans)."""
    kept = {
        k: v
        for k, v in report.items()
        if k not in ("data", "final", "retraining", "high_frequency_problems")
    }
    kept["sla"] = [{k: v for k, v in t.items() if k != "running"} for t in report["sla"]]
    kept["retraining"] = [
        {k: v for k, v in r.items() if k != "flagged_now"} for r in report["retraining"]
    ]
    kept["high_frequency_problems"] = [
        {k: v for k, v in p.items() if k not in ("complaint_count", "status")}
        for p in report["high_frequency_problems"]
    ]
    kept["first_contact_resolution"] = {
        k: v for k, v in report["first_contact_resolution"].items() if k != "window_open"
    }
    return kept


def kpi_of(report: dict[str, Any], subject_type: str, target: str) -> dict[str, Any]:
    [found] = [
        t for t in report["sla"] if (t["subject_type"], t["target"]) == (subject_type, target)
    ]
    return found


async def test_the_monthly_report_of_a_hand_built_month(database_url: str) -> None:
    clock = FrozenClock(local(12, 8))
    async with started_api(
        database_url, clock, report_fcr_excluded_categories=["installation"]
    ) as api:
        book, people = await october(api)
        await surveys_and_complaints(api, book, people)

        # Oct 21, 10:30: O1, O4 and O5 are first-contact so far, their windows still open.
        api.clock.set(local(21, 10, 30))
        early = (await monthly(api)).json()
        fcr = early["first_contact_resolution"]
        assert (fcr["gross"]["numerator"], fcr["gross"]["denominator"]) == (3, 6)
        windows = {
            name: nth_working_day_end(book.times[name]["resolved"].astimezone(SHANGHAI).date(), 7)
            for name in ("O1", "O4", "O5")
        }
        assert fcr["window_open"] == sum(1 for w in windows.values() if w > api.clock.now())
        assert early["final"] is False
        await fold(api)  # some outcomes folded in, later ones not: the report is the same

        # The scanner runs at the month's end: O7's clocks, two callbacks and two
        # complaints are past their deadlines.
        api.clock.set(local(31, 23))
        await scan(api)
        api.clock.set(local(9, 10, month=11))
        response = await monthly(api)
        report = response.json()

        assert report["month"] == "2026-10" and report["time_zone"] == "Asia/Shanghai"
        assert (report["start"], report["end"]) == (z(local(1, 0)), z(local(1, 0, month=11)))
        v = report["volumes"]
        assert (v["work_orders"], v["previous"], v["change"], v["complaints"]) == (7, 0, 7, 3)
        assert {c["key"]: c["count"] for c in v["by_priority"]} == {"normal": 6, "urgent": 1}
        assert [(c["key"], c["count"]) for c in report["top_categories"]] == [
            ("hvac", 4),
            ("electrical", 1),
            ("installation", 1),
            ("plumbing", 1),
        ]
        assert report["top_categories"][0]["share"] == round(4 / 7, 4)

        expected_sla = {
            # met, breached, cancelled: O1 O2 O3 O4 O5 | O2's second cycle, O6, O7 | -
            ("work_order", "response"): (5, 3, 0),
            ("work_order", "arrival"): (1, 0, 0),  # O5 (urgent)
            # O1, both cycles of O2, O3, O4, O6 | O7
            ("work_order", "resolution"): (6, 1, 0),
            # O1 O3 O5 answered | O2's second and O6's pending | O2's first withdrawn, O4 unreached
            ("survey_callback", "callback"): (3, 2, 2),
            ("complaint", "acknowledge"): (2, 1, 0),
            ("complaint", "resolution"): (1, 2, 0),
            ("complaint", "feedback"): (1, 0, 0),
        }
        got = {
            (t["subject_type"], t["target"]): (t["met"], t["breached"], t["cancelled"])
            for t in report["sla"]
        }
        assert got == expected_sla
        response_kpi = kpi_of(report, "work_order", "response")["attainment"]
        assert (response_kpi["value"], response_kpi["numerator"], response_kpi["denominator"]) == (
            0.625,
            5,
            8,
        )
        assert response_kpi["meets_goal"] is False and response_kpi["goal"] == 0.95
        assert response_kpi["definition"]["formula"] == "met / (met + breached)"
        assert kpi_of(report, "complaint", "feedback")["running"] == 2  # C2, C3

        fcr = report["first_contact_resolution"]
        assert (fcr["gross"]["numerator"], fcr["gross"]["denominator"]) == (3, 6)  # O1 O4 O5
        assert (fcr["net"]["numerator"], fcr["net"]["denominator"]) == (2, 5)  # no installation
        assert (fcr["gross"]["value"], fcr["net"]["value"]) == (0.5, 0.4)
        assert fcr["resolved"] == 6 and fcr["reopened_within_window"] == 1  # O2
        assert fcr["by_first_assignee"] == 4  # O1 O2 O4 O5 (O3 was reassigned, O6 had nobody)
        assert fcr["window_open"] == 0 and fcr["excluded_categories"] == ["installation"]
        assert "7th working day" in fcr["gross"]["definition"]["numerator"]
        assert fcr["gross"]["definition"]["calendar"].startswith("business (Asia/Shanghai)")

        sat = report["satisfaction"]
        assert (sat["issued"], sat["answered"], sat["unreached"], sat["cancelled"]) == (6, 3, 1, 1)
        # The same figures as the surveys' own statistics for the month.
        stats = await api.client.get(
            "/v1/surveys/stats",
            params={"from": report["start"], "to": report["end"]},
            headers=api.auth(Role.viewer),
        )
        for name in ("issued", "answered", "satisfied", "dissatisfied", "unreached", "pending"):
            assert sat[name] == stats.json()[name], name
        assert sat["csat"]["numerator"] == stats.json()["csat"]["numerator"]
        assert (sat["csat"]["numerator"], sat["csat"]["denominator"]) == (2, 3)
        assert sat["csat"]["value"] == 0.6667 and sat["csat"]["meets_goal"] is False
        assert (sat["response_rate"]["value"], sat["response_rate"]["goal"]) == (0.5, None)

        comp = report["complaints"]
        assert comp["received"] == 3
        assert (comp["rate"]["numerator"], comp["rate"]["denominator"]) == (3, 7)
        assert comp["rate"]["value"] == round(300 / 7, 4) and comp["rate"]["unit"] == "per_100"
        assert (comp["rate"]["goal"], comp["rate"]["goal_rule"]) == (1.0, "below")
        assert comp["rate"]["meets_goal"] is False
        assert (comp["on_time_closure"]["value"], comp["on_time_closure"]["numerator"]) == (1.0, 1)

        steps = {s["step"]: s for s in report["slowest_steps"]}
        for name, (a, b) in {
            "reported_to_responded": ("reported", "responded"),
            "responded_to_arrived": ("responded", "arrived"),
            "arrived_to_resolved": ("arrived", "resolved"),
            "reported_to_resolved": ("reported", "resolved"),
        }.items():
            durations = book.step(a, b)
            assert steps[name]["orders"] == len(durations), name
            assert steps[name]["median_seconds"] == nearest_rank_minutes(durations, 0.5), name
            assert steps[name]["p90_seconds"] == nearest_rank_minutes(durations, 0.9), name
        p90s = [s["p90_seconds"] for s in report["slowest_steps"]]
        assert p90s == sorted(p90s, reverse=True)

        [flag] = report["retraining"]
        assert (flag["staff_id"], flag["name"], flag["flagged_at_month_end"]) == (
            people["s3"],
            "Zhao Min",
            True,
        )
        assert flag["flagged_in_month_at"] == z(local(22, 17)) and flag["flagged_now"] is True
        [problem] = report["high_frequency_problems"]
        assert (problem["dimension"], problem["key"], problem["flagged_at"]) == (
            "category",
            "noise",
            z(local(16, 9)),
        )
        changes = {(c["kpi"], c["target"]): c for c in report["changes"]}
        assert changes[("work_orders", None)]["change"] == 7.0
        assert changes[("first_contact_resolution", None)]["previous_value"] is None
        assert report["data"]["generated_at"] == z(api.clock.now())
        assert report["data"]["last_clock_outcome_id"] >= sum(sum(v) for v in expected_sla.values())

        # The CSV carries the very same numbers.
        as_csv = await monthly(api, Accept="text/csv")
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert 'filename="quality-report-2026-10.csv"' in as_csv.headers["content-disposition"]
        assert_csv_matches(as_csv.text, report)

        # November: O5 reopens after its window, O7 is answered and resolved late, a new
        # order arrives, the rollup job folds everything. October stays as it was.
        await book.do("O5", "reopen", local(10, 9, month=11), {"reason": "tripped again"})
        await book.do("O7", "respond", local(10, 10, month=11))
        await book.do("O7", "resolve", local(10, 11, month=11), {"resolution": "done"})
        await book.order("N1", local(10, 12, month=11), priority="urgent", category="hvac")
        await book.do("N1", "respond", local(10, 12, 30, month=11))
        await fold(api)
        api.clock.set(local(20, 9, month=11))
        again = (await monthly(api)).json()
        assert figures(again) == figures(report)
        assert again["final"] is True
        assert again["data"]["last_clock_outcome_id"] > report["data"]["last_clock_outcome_id"]


def assert_csv_matches(body: str, report: dict[str, Any]) -> None:
    rows = parse_csv(body)
    kpis = {(r["section"], r["subject_type"], r["target"], r["key"]): r for r in rows}

    def same(row: dict[str, str], k: dict[str, Any]) -> None:
        for name in ("value", "numerator", "denominator", "goal", "previous_value", "change"):
            expected = "" if k[name] is None else str(k[name])
            assert row[name] == expected, (row, name)
        assert row["meets_goal"] == (
            "" if k["meets_goal"] is None else str(k["meets_goal"]).lower()
        )

    for t in report["sla"]:
        same(
            kpis[("sla_attainment", t["subject_type"], t["target"], "sla_attainment")],
            t["attainment"],
        )
        for name in ("met", "breached", "cancelled", "running"):
            row = kpis[("sla_counts", t["subject_type"], t["target"], name)]
            assert row["value"] == str(t[name])
    fcr = report["first_contact_resolution"]
    same(kpis[("first_contact_resolution", "", "", "first_contact_resolution")], fcr["gross"])
    same(kpis[("first_contact_resolution", "", "", "first_contact_resolution_net")], fcr["net"])
    sat = report["satisfaction"]
    same(kpis[("satisfaction", "", "", "csat")], sat["csat"])
    same(kpis[("satisfaction", "", "", "response_rate")], sat["response_rate"])
    assert kpis[("satisfaction_counts", "", "", "unreached")]["value"] == str(sat["unreached"])
    same(kpis[("complaints", "", "", "complaint_rate")], report["complaints"]["rate"])
    same(
        kpis[("complaints", "", "", "on_time_complaint_closure")],
        report["complaints"]["on_time_closure"],
    )
    assert kpis[("volumes", "", "", "work_orders")]["value"] == str(
        report["volumes"]["work_orders"]
    )
    for c in report["volumes"]["by_category"]:
        assert kpis[("volumes_by_category", "", "", c["key"] or "")]["value"] == str(c["count"])
    for s in report["slowest_steps"]:
        for name in ("orders", "median_seconds", "p90_seconds"):
            row = kpis[("slowest_steps", "", "", f"{s['step']}:{name}")]
            assert row["value"] == ("" if s[name] is None else str(s[name]))
    generated = kpis[("report", "", "", "generated_at")]["value"]
    assert generated == report["data"]["generated_at"]
    assert kpis[("report", "", "", "month")]["value"] == report["month"]
    # One meaning per column: a KPI's unit, a volume's share.
    assert kpis[("satisfaction", "", "", "csat")]["unit"] == sat["csat"]["unit"]
    for c in report["volumes"]["by_priority"]:
        row = kpis[("volumes_by_priority", "", "", c["key"])]
        assert row["share"] == ("" if c["share"] is None else str(c["share"])) and not row["unit"]
    for c in report["top_categories"]:
        row = kpis[("top_categories", "", "", c["key"] or "")]
        assert row["share"] == ("" if c["share"] is None else str(c["share"])), row
    for cp in report["volumes"]["by_category_priority"]:
        key = f"{cp['category'] or ''}:{cp['priority']}"
        assert kpis[("volumes_by_category_priority", "", "", key)]["value"] == str(cp["count"])


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        ("", False),
        ("text/csv", True),
        ("TEXT/CSV", True),
        ("text/csv; charset=utf-8", True),
        ("application/json", False),
        ("*/*", False),
        ("text/csv;q=0.1, application/json", False),
        ("application/json;q=0.5, text/csv", True),
        ("text/csv, application/json", False),  # a tie: JSON, the default
        ("text/csv, */*;q=0.8", True),
        ("text/*", True),
        ("text/csv;q=0", False),
        ("text/csv;q=abc", False),
        ("application/xml", False),
    ],
)
def test_csv_is_given_when_the_client_prefers_it(accept: str, csv: bool) -> None:
    assert wants_csv(accept) is csv


# --- the sums against the raw rows ----------------------------------------------------------

CATEGORIES = ("hvac", "plumbing", "electrical")
GROUPINGS = [(), ("priority",), ("team",), ("category", "assignee"), ("priority", "team")]


@dataclass
class OrderLog:
    """What the simulation did to one order, to check its first resolution against."""

    reported: datetime
    assignees: list[str | None]
    responded: datetime | None = None
    arrived: datetime | None = None
    resolved: datetime | None = None
    by_first_assignee: bool | None = None
    reopened: datetime | None = None
    category: str | None = None


class Simulation:
    """Random work orders, complaints and survey callbacks over a week: responses in time
    and late, breaches seen by the scanner and closes after the deadline it never saw,
    reopens, cancels, reassignments, holds, answers and unreached callbacks, and an SLA
    policy edit half-way; folds now and then."""

    def __init__(self, api: Api, rng: random.Random, staff: list[tuple[str, str]]) -> None:
        self.api, self.rng, self.staff = api, rng, staff
        self.orders: dict[str, dict[str, Any]] = {}
        self.log: dict[str, OrderLog] = {}
        self.complaints: dict[str, dict[str, Any]] = {}
        self.edited_at: datetime | None = None

    async def new_order(self) -> None:
        person = self.rng.choice([*self.staff, None])
        fields: dict[str, Any] = {
            "priority": self.rng.choice(["urgent", "normal", "normal", "high"]),
            "category": self.rng.choice(CATEGORIES),
            "customer": customer(),
        }
        if fields["priority"] == "high" and self.rng.random() < 0.7:
            fields["appointment_end"] = z(self.api.clock.now() + self.rng.randint(1, 30) * H)
        if person is not None:
            fields["assignee_id"], fields["team_id"] = person
        wo = await create_work_order(self.api, **fields)
        self.orders[wo["id"]] = wo
        self.log[wo["id"]] = OrderLog(
            reported=self.api.clock.now(),
            assignees=[person[0] if person else None],
            category=fields["category"],
        )

    def record(self, wo_id: str, action: str, body: dict[str, Any] | None) -> None:
        log, now = self.log[wo_id], self.api.clock.now()
        if action == "assign" and body is not None and body["assignee_id"] != log.assignees[-1]:
            log.assignees.append(body["assignee_id"])
        elif action == "respond":
            log.responded = now
        elif action == "arrive":
            log.arrived = now
        elif action == "resolve" and log.resolved is None:
            log.resolved = now
            given = [a for a in log.assignees if a is not None]
            log.by_first_assignee = len(given) == 1 and log.assignees[-1] == given[0]
        elif action == "reopen" and log.reopened is None:
            log.reopened = now

    async def order_action(self) -> None:
        if not self.orders:
            return
        wo = self.orders[self.rng.choice(list(self.orders))]
        choices = [a for a in wo["allowed_actions"] if a != "close"]
        action = self.rng.choice(choices) if choices else None
        if action is None:
            return
        body: dict[str, Any] | None = None
        if action == "assign":
            person = self.rng.choice(self.staff)
            body = {"assignee_id": person[0], "team_id": person[1]}
        elif action == "resolve":
            body = {"resolution": "done"}
        elif action in ("reopen", "cancel", "hold"):
            body = {"reason": "simulated"}
        response = await act(self.api, wo["id"], action, body)
        assert response.status_code == 200, response.text
        self.orders[wo["id"]] = response.json()
        self.record(wo["id"], action, body)

    async def callback(self) -> None:
        """A call on one pending survey callback: an answer, or a failed attempt."""
        listed = await self.api.client.get(
            "/v1/surveys", params={"status": "pending"}, headers=self.api.auth(Role.viewer)
        )
        pending = listed.json()["items"]
        if not pending:
            return
        survey = self.rng.choice(sorted(pending, key=lambda x: x["number"]))
        if self.rng.random() < 0.5:
            score = self.rng.randint(1, 5)
            response = await answer(self.api, survey["id"], answers(overall=score))
        else:
            response = await attempt(self.api, survey["id"], "no_answer")
        assert response.status_code == 201, response.text

    async def complaint(self) -> None:
        if not self.complaints or self.rng.random() < 0.4:
            officer = self.rng.choice(self.staff)[0]
            c = await create_complaint(
                self.api,
                officer,
                severity=self.rng.choice(["simple", "general", "major"]),
                category=self.rng.choice(CATEGORIES),
                location=f"Block {self.rng.randint(1, 999)}",
                customer=customer(),
            )
            self.complaints[c["id"]] = c
            return
        c = self.complaints[self.rng.choice(list(self.complaints))]
        allowed = [
            a
            for a in c["allowed_actions"]
            if a in ("acknowledge", "resolve", "callback", "close", "reopen")
        ]
        if not allowed:
            return
        action = self.rng.choice(allowed)
        body = {
            "resolve": RESOLVE,
            "callback": {"result": "reached", "accepted": True},
            "reopen": {"reason": "simulated"},
        }.get(action)
        response = await complaint_act(self.api, c["id"], action, body)
        assert response.status_code == 200, response.text
        self.complaints[c["id"]] = response.json()

    async def edit_policy(self) -> None:
        # At least one urgent arrival is running when the edit lands.
        wo = await create_work_order(self.api, priority="urgent", customer=customer())
        self.orders[wo["id"]] = wo
        self.log[wo["id"]] = OrderLog(reported=self.api.clock.now(), assignees=[None])
        listed = await self.api.client.get("/v1/sla-policies", headers=self.api.auth())
        policies = listed.json()["items"]
        urgent = next(p for p in policies if p["name"] == "urgent")
        # A shorter response target, and no arrival target any more: running arrivals are
        # cancelled by the re-plan, running responses may now be late.
        response = await self.api.client.patch(
            f"/v1/sla-policies/{urgent['id']}",
            json={"targets": {"response": "PT40M"}},
            headers=self.api.auth(),
        )
        assert response.status_code == 200, response.text
        self.edited_at = self.api.clock.now()

    async def run(self, steps: int) -> None:
        for i in range(steps):
            self.api.clock.advance(self.rng.randint(5, 100) * M)
            roll = self.rng.random()
            if roll < 0.3:
                await self.new_order()
            elif roll < 0.7:
                await self.order_action()
            elif roll < 0.78:
                await self.complaint()
            elif roll < 0.85:
                await self.callback()
            elif roll < 0.95:
                await scan(self.api)
            else:
                await fold(self.api)
            if i == steps // 2 and self.edited_at is None:
                await self.edit_policy()
                await scan(self.api)


def key_of(dim: str, value: Any) -> Any:
    if dim in ("team", "assignee"):
        return uuid.UUID(str(value)) if value else None
    return value or None


async def ledger_rows(api: Api) -> list[Any]:
    async with api.app.state.sessionmaker() as session:
        return list((await session.execute(select(ClockOutcome))).scalars())


def recount(
    rows: list[Any], lo: datetime, hi: datetime, dims: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """The test's own count over the raw ledger rows."""
    attr = {
        "priority": "priority",
        "category": "category",
        "team": "team_id",
        "assignee": "assignee_id",
    }
    out: dict[tuple[Any, ...], list[int]] = {}
    for r in rows:
        if not lo <= r.decided_at < hi:
            continue
        key = (r.subject_type, r.target, *(key_of(d, getattr(r, attr[d])) for d in dims))
        slot = out.setdefault(key, [0, 0, 0])
        slot[("met", "breached", "cancelled").index(r.outcome)] += 1
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def as_found(
    found: list[OutcomeRow], dims: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    out = {}
    for r in found:
        if (r.met, r.breached, r.cancelled) == (0, 0, 0):
            continue
        keys = tuple(key_of(d, k) for d, k in zip(dims, r.keys, strict=False))
        out[(r.subject_type, r.target, *keys)] = (r.met, r.breached, r.cancelled)
    return out


async def check_ledger_against_clocks(api: Api, rows: list[Any]) -> dict[str, int]:
    """Every decided cycle of every clock is in the ledger, classified by the rules:
    current cycles from ``sla_clocks``; earlier cycles of reopened clocks must be there
    too (a cycle is only restarted once it was decided)."""
    async with api.app.state.sessionmaker() as session:
        clocks = list((await session.execute(select(SlaClock))).scalars())
    ledger = {(r.clock_id, r.cycle): r for r in rows}
    seen = {"checked": 0, "late closes": 0, "earlier cycles": 0}
    for c in clocks:
        for cycle in range(1, c.cycle):
            assert (c.id, cycle) in ledger, (c.target, c.cycle)
            seen["earlier cycles"] += 1
        late = c.met_at is not None and c.due_at is not None and c.met_at > c.due_at
        # Met after the deadline before the scanner saw it: a breach all the same.
        seen["late closes"] += late and c.breached_at is None
        if c.breached_at is not None or late:
            expected = ("breached", c.breached_at or c.due_at)
        elif c.met_at is not None:
            expected = ("met", c.met_at)
        elif c.state == "cancelled":
            expected = ("cancelled", c.updated_at)
        else:
            assert (c.id, c.cycle) not in ledger
            continue
        row = ledger[(c.id, c.cycle)]
        assert (row.outcome, row.decided_at) == expected, (c.target, c.state)
        seen["checked"] += 1
    return seen


async def test_sums_match_the_raw_rows_on_random_days(api: Api) -> None:
    rng = random.Random(20261102)
    t1, t2 = await team(api, "North"), await team(api, "South")
    staff = [(await staff_member(api, f"Staff {i}", t), t) for i, t in enumerate((t1, t1, t2, t2))]
    sim = Simulation(api, rng, staff)
    await sim.run(160)
    await fold(api)
    await sim.run(40)  # and some outcomes left unfolded
    last_order = await create_work_order(api, priority="urgent")
    await ok(api, last_order["id"], "respond")

    assert await first_resolution_differences(api, sim) == []
    async with api.app.state.sessionmaker() as session:
        kinds = dict(
            (
                await session.execute(
                    select(CountEvent.kind, func.count())
                    .where(CountEvent.n < 0)
                    .group_by(CountEvent.kind)
                )
            ).all()
        )
        answers_given = await session.scalar(
            select(func.count()).select_from(CountEvent).where(CountEvent.kind == "survey.answer")
        )
    assert kinds.get("survey.status", 0) > 0 and (answers_given or 0) > 0  # status changes, answers
    rows = await ledger_rows(api)
    seen = await check_ledger_against_clocks(api, rows)
    assert seen["checked"] > 50 and seen["late closes"] > 0 and seen["earlier cycles"] > 0
    # The policy edit's re-plan (by the scanner, at once) cancelled running urgent arrivals.
    assert any(
        (r.target, r.outcome, r.decided_at) == ("arrival", "cancelled", sim.edited_at) for r in rows
    )
    outcomes = {r.outcome for r in rows}
    assert outcomes == {"met", "breached", "cancelled"}
    assert any(not r.rolled for r in rows) and any(r.rolled for r in rows)
    first, last = min(r.decided_at for r in rows), max(r.decided_at for r in rows)

    differences = []
    for _ in range(12):
        day = first.date() + timedelta(days=rng.randint(0, (last - first).days))
        kind = rng.choice(["local day", "utc day", "odd span"])
        if kind == "local day":
            lo = datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)
            hi = lo + 24 * H
        elif kind == "utc day":
            lo = datetime.combine(day, time.min, tzinfo=UTC)
            hi = lo + 24 * H
        else:
            lo = datetime.combine(day, time(7, 13), tzinfo=UTC)
            hi = lo + rng.randint(1, 60) * H + 17 * M
        dims = rng.choice(GROUPINGS)
        expected = recount(rows, lo, hi, dims)
        for ledger_only in (False, True):
            async with api.app.state.sessionmaker() as session:
                found = await ledger_repository.outcome_counts(
                    session, boundaries=[lo, hi], dims=dims, ledger_only=ledger_only
                )
            if as_found(found, dims) != expected:
                differences.append((kind, lo, hi, dims, ledger_only))
        # Through the API: the totals (summed from the groups when grouped) against the
        # test's own ungrouped count.
        grouping = ",".join(dims) or None
        report = await sla_report(api, lo, hi, **({"group_by": grouping} if grouping else {}))
        got = {
            (t["subject_type"], t["target"]): (t["met"], t["breached"], t["cancelled"])
            for t in report["totals"]
            if (t["met"], t["breached"], t["cancelled"]) != (0, 0, 0)
        }
        if got != recount(rows, lo, hi, ()):
            differences.append((kind, lo, hi, "http", dims))
        # The count ledger against the tables themselves, for the same period.
        if await count_differences(api, lo, hi):
            differences.append((kind, lo, hi, "counts", await count_differences(api, lo, hi)))
    # The board's chart: the same counts per local day.
    days = (api.clock.now() - first).days + 2
    async with api.app.state.sessionmaker() as session:
        chart = await daily_attainment(session, days=days, tz="Asia/Shanghai", now=api.clock.now())
    for d in chart:
        lo = datetime.combine(d.date, time.min, tzinfo=SHANGHAI).astimezone(UTC)
        day_counts = recount(rows, lo, lo + 24 * H, ())
        met = sum(v[0] for v in day_counts.values())
        breached = sum(v[1] for v in day_counts.values())
        if (d.met, d.breached) != (met, breached):
            differences.append(("chart", d.date))
    assert differences == []


def ceil_minutes(a: datetime | None, b: datetime | None) -> int | None:
    if a is None or b is None or b < a:
        return None
    return math.ceil(round((b - a).total_seconds()) / 60)


async def first_resolution_differences(api: Api, sim: Simulation) -> list[Any]:
    """The first-resolution rows against what the simulation did to each order."""
    async with api.app.state.sessionmaker() as session:
        found = {
            str(r.work_order_id): r
            for r in (await session.execute(select(FirstResolution))).scalars()
        }
    differences = []
    for wo_id, log in sim.log.items():
        row = found.pop(wo_id, None)
        if log.resolved is None:
            if row is not None:
                differences.append(("unexpected", wo_id))
            continue
        expected = (
            log.resolved,
            log.by_first_assignee,
            log.reopened,
            log.category,
            ceil_minutes(log.reported, log.responded),
            ceil_minutes(log.responded, log.arrived),
            ceil_minutes(log.arrived, log.resolved),
            ceil_minutes(log.reported, log.resolved),
        )
        got = None
        if row is not None:
            got = (
                row.resolved_at,
                row.by_first_assignee,
                row.reopened_at,
                row.category,
                row.reported_to_responded,
                row.responded_to_arrived,
                row.arrived_to_resolved,
                row.reported_to_resolved,
            )
        if got != expected:
            differences.append((wo_id, expected, got))
    assert sum(1 for log in sim.log.values() if log.resolved and log.reopened) > 0
    return differences + [("orphan", k) for k in found]


async def count_differences(api: Api, lo: datetime, hi: datetime) -> dict[str, Any]:
    """The count ledger's figures for [lo, hi) against the test's own queries of the
    tables (orders and complaints created then; surveys issued then, by status now, and
    their answers), and the surveys' own stats endpoint."""
    async with api.app.state.sessionmaker() as session:
        tallied = await counts_repository.counts(
            session,
            kinds=(
                "work_order.created",
                "complaint.created",
                "survey.status",
                "survey.answer",
                "resolution.first",
            ),
            boundaries=[lo, hi],
        )
        wo, cp, sv, sr = WorkOrder, Complaint, Survey, SurveyResponse
        orders = await session.execute(
            select(wo.priority, wo.category, func.count())
            .where(wo.created_at >= lo, wo.created_at < hi)
            .group_by(wo.priority, wo.category)
        )
        complaints = await session.scalar(
            select(func.count()).select_from(cp).where(cp.created_at >= lo, cp.created_at < hi)
        )
        statuses = await session.execute(
            select(sv.status, func.count())
            .where(sv.created_at >= lo, sv.created_at < hi)
            .group_by(sv.status)
        )
        answered = (
            await session.execute(
                select(sr.overall, sr.dissatisfied)
                .join(sv, sv.id == sr.survey_id)
                .where(sv.created_at >= lo, sv.created_at < hi)
            )
        ).all()
        firsts = await session.execute(
            select(FirstResolution.category, FirstResolution.by_first_assignee, func.count())
            .where(FirstResolution.resolved_at >= lo, FirstResolution.resolved_at < hi)
            .group_by(FirstResolution.category, FirstResolution.by_first_assignee)
        )
    expected: dict[tuple[str, str, str], int] = {}
    for category, by_first, n in firsts:
        expected[("resolution.first", category or "", "by_first_assignee" if by_first else "")] = n
    for priority, category, n in orders:
        expected[("work_order.created", priority.value, category or "")] = n
    if complaints:
        expected[("complaint.created", "", "")] = complaints
    for status, n in statuses:
        expected[("survey.status", status.value, "")] = n
    for overall, dissatisfied in answered:
        key = (
            "survey.answer",
            "satisfied" if overall >= 4 else "",
            "dissatisfied" if dissatisfied else "",
        )
        expected[key] = expected.get(key, 0) + 1
    got = {(r.kind, r.key1, r.key2): r.n for r in tallied if r.n}
    stats = await api.client.get(
        "/v1/surveys/stats", params={"from": z(lo), "to": z(hi)}, headers=api.auth(Role.viewer)
    )
    issued = sum(
        n
        for (k, status, _), n in got.items()
        if k == "survey.status" and status in ("pending", "completed", "unreached", "refused")
    )
    answers_n = sum(n for (k, _, _), n in got.items() if k == "survey.answer")
    problems: dict[str, Any] = {}
    if got != expected:
        problems["ledger"] = (got, expected)
    if (stats.json()["issued"], stats.json()["answered"]) != (issued, answers_n):
        problems["stats"] = (stats.json(), issued, answers_n)
    return problems


async def test_a_months_edge_days_are_read_from_the_count_index_alone(api: Api) -> None:
    # A Shanghai month starts at 16:00 UTC: its partial UTC days at each edge are read
    # from the count events themselves. Their index carries the keys and n (migration
    # 0012), so those rows cost no table look-up: at 1,000,000 orders that read was 20 ms
    # of the monthly report on SQLite (6.5 ms per edge), 2.6 ms from the index alone.
    if api.app.state.engine.dialect.name != "sqlite":
        return  # PostgreSQL's plan follows its statistics; SQLite's is fixed by the schema
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    engine = api.app.state.engine.sync_engine
    place = ZoneInfo("Asia/Shanghai")
    bounds = [
        datetime(2026, 9, 30, 16, tzinfo=UTC),
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
    ]
    assert bounds[1].astimezone(place).hour == 0
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with api.app.state.sessionmaker() as session:
            await counts_repository.counts(
                session, kinds=(counts_repository.WORK_ORDER_CREATED,), boundaries=bounds
            )
            statement, params = captured[-1]
            conn = await session.connection()
            explained = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(params))
            plan = [str(row[-1]) for row in explained]
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    edge_reads = [p for p in plan if "report_count_events" in p and "unrolled" not in p]
    assert edge_reads, plan
    assert all(
        "USING COVERING INDEX ix_report_count_events_kind_at_keys" in p for p in edge_reads
    ), plan
