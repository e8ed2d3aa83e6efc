"""Work orders through HTTP, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

from qualityapi.auth.models import Role
from tests.conftest import START, Api
from tests.helpers import act, assert_problem, create_staff, create_work_order


async def test_create_returns_the_resource_with_number_etag_and_location(api: Api) -> None:
    response = await api.client.post(
        "/v1/work-orders",
        json={"title": "Lift stuck", "priority": "urgent", "customer": {"name": "Li"}},
        headers=api.auth(Role.agent),
    )
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"WO-2026-\d{6}", body["number"])
    assert body["status"] == "open"
    # The default urgent policy starts two clocks on a 24x7 calendar: respond 1 h, arrive 4 h.
    assert body["warning_level"] == "blue"
    assert body["sla"] == [
        {
            "target": "response",
            "state": "running",
            "due_at": "2026-11-02T02:00:00Z",
            "warn_at": "2026-11-02T01:48:00Z",
        },
        {
            "target": "arrival",
            "state": "running",
            "due_at": "2026-11-02T05:00:00Z",
            "warn_at": "2026-11-02T04:12:00Z",
        },
    ]
    assert body["reported_at"] == "2026-11-02T01:00:00Z"
    assert body["version"] == 1
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/work-orders/{body['id']}"
    fetched = await api.client.get(response.headers["location"], headers=api.auth(Role.viewer))
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_numbers_count_up_within_a_year(api: Api) -> None:
    first = await create_work_order(api)
    second = await create_work_order(api)
    assert first["number"] == "WO-2026-000001"
    assert second["number"] == "WO-2026-000002"
    api.clock.set(START.replace(year=2027))
    assert (await create_work_order(api))["number"] == "WO-2027-000001"


async def test_reported_at_may_be_in_the_past_with_any_offset(api: Api) -> None:
    wo = await create_work_order(api, reported_at="2026-11-02T07:30:00+08:00")
    assert wo["reported_at"] == "2026-11-01T23:30:00Z"
    assert wo["created_at"] == "2026-11-02T01:00:00Z"


async def test_reported_at_in_the_future_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/v1/work-orders",
        json={"title": "x", "customer": {"name": "c"}, "reported_at": "2026-11-03T00:00:00Z"},
        headers=api.auth(Role.agent),
    )
    assert "future" in assert_problem(response, 422)["detail"]


async def test_naive_timestamp_is_a_422_that_says_why(api: Api) -> None:
    response = await api.client.post(
        "/v1/work-orders",
        json={"title": "x", "customer": {"name": "c"}, "reported_at": "2026-11-01T10:00:00"},
        headers=api.auth(Role.agent),
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "reported_at"]
    assert "time zone" in body["errors"][0]["msg"]


async def test_a_blank_resolution_is_no_resolution(api: Api) -> None:
    # A form's empty text box is sent as "" or spaces: it is stored as absent, so reports
    # and exports show no resolution rather than an empty one.
    for text, stored in (("   ", None), ("", None), (" fixed the valve ", "fixed the valve")):
        wo = await create_work_order(api)
        assert (await act(api, wo["id"], "respond")).status_code == 200
        response = await act(api, wo["id"], "resolve", {"resolution": text})
        assert response.status_code == 200, response.text
        assert response.json()["resolution"] == stored


async def test_full_life_cycle_with_timeline(api: Api) -> None:
    engineer = await create_staff(api)
    wo = await create_work_order(api)
    steps = [
        ("assign", {"assignee_id": engineer["id"]}, "assigned"),
        ("respond", None, "in_progress"),
        ("arrive", {"note": "on site"}, "in_progress"),
        ("hold", {"reason": "waiting for a spare part"}, "on_hold"),
        ("resume", None, "in_progress"),
        ("resolve", {"resolution": "replaced the pump"}, "resolved"),
        ("close", None, "closed"),
        ("reopen", {"reason": "leaking again"}, "in_progress"),
        ("resolve", None, "resolved"),
    ]
    for i, (action, body, status) in enumerate(steps):
        api.clock.advance(timedelta(minutes=10))
        response = await act(api, wo["id"], action, body)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["status"] == status
        assert response.json()["version"] == i + 2
    final = response.json()
    assert final["assignee_id"] == engineer["id"]
    assert final["responded_at"] == "2026-11-02T01:20:00Z"
    assert final["arrived_at"] == "2026-11-02T01:30:00Z"
    assert final["resolved_at"] == "2026-11-02T02:30:00Z"
    assert final["closed_at"] is None
    assert final["reopen_count"] == 1

    events = (
        await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth(Role.viewer))
    ).json()["items"]
    levels = [
        {k: e["changes"]["warning_level"][k] for k in ("old", "new")}
        for e in events
        if e["type"] == "warning_level_changed"
    ]
    # Resolving meets the clocks (none), reopening restarts resolution (blue), and again.
    assert levels == [
        {"old": "blue", "new": "none"},
        {"old": "none", "new": "blue"},
        {"old": "blue", "new": "none"},
    ]
    events = [e for e in events if e["type"] != "warning_level_changed"]
    assert [e["type"] for e in events] == [
        "created",
        "assigned",
        "responded",
        "arrived",
        "held",
        "resumed",
        "resolved",
        "closed",
        "reopened",
        "resolved",
    ]
    held = events[4]
    assert held["changes"]["status"] == {"old": "in_progress", "new": "on_hold"}
    assert held["note"] == "waiting for a spare part"
    assert held["actor_name"] == "test-agent"
    assert held["created_at"] == "2026-11-02T01:40:00Z"


async def test_disallowed_action_is_409_naming_status_and_allowed_actions(api: Api) -> None:
    wo = await create_work_order(api)
    response = await act(api, wo["id"], "resolve")
    body = assert_problem(response, 409)
    assert body["current_status"] == "open"
    assert body["allowed_actions"] == ["assign", "respond", "cancel"]
    assert "open" in body["detail"] and "resolve" in body["detail"]
    unchanged = await api.client.get(f"/v1/work-orders/{wo['id']}", headers=api.auth())
    assert unchanged.json()["version"] == 1


async def test_cancelled_order_refuses_everything(api: Api) -> None:
    wo = await create_work_order(api)
    assert (await act(api, wo["id"], "cancel", {"reason": "duplicate"})).status_code == 200
    body = assert_problem(await act(api, wo["id"], "reopen", {"reason": "x"}), 409)
    assert body["allowed_actions"] == []


async def test_action_body_is_validated(api: Api) -> None:
    wo = await create_work_order(api)
    assert_problem(await act(api, wo["id"], "cancel"), 422)
    assert_problem(await act(api, wo["id"], "assign", {"assignee_id": "not-a-uuid"}), 422)
    missing = await act(
        api, wo["id"], "assign", {"assignee_id": "00000000-0000-0000-0000-000000000001"}
    )
    assert "does not exist" in assert_problem(missing, 422)["detail"]


async def test_create_with_assignee_starts_assigned(api: Api) -> None:
    engineer = await create_staff(api)
    wo = await create_work_order(api, assignee_id=engineer["id"])
    assert wo["status"] == "assigned"
    assert wo["allowed_actions"] == ["assign", "respond", "hold", "cancel"]


async def test_patch_records_old_and_new(api: Api) -> None:
    wo = await create_work_order(api)
    response = await api.client.patch(
        f"/v1/work-orders/{wo['id']}",
        json={"priority": "urgent", "title": "Leak in server room"},
        headers={**api.auth(Role.agent), "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert response.json()["priority"] == "urgent"
    assert response.headers["etag"] == '"2"'
    events = (await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth())).json()
    assert events["items"][-1]["changes"]["priority"] == {"old": "normal", "new": "urgent"}
    assert_problem(
        await api.client.patch(
            f"/v1/work-orders/{wo['id']}", json={"status": "closed"}, headers=api.auth(Role.agent)
        ),
        422,
    )
    assert_problem(
        await api.client.patch(
            f"/v1/work-orders/{wo['id']}",
            json={
                "appointment_start": "2026-11-03T10:00:00Z",
                "appointment_end": "2026-11-03T09:00:00Z",
            },
            headers=api.auth(Role.agent),
        ),
        422,
    )


async def test_patch_takes_null_exactly_where_the_document_offers_it(api: Api) -> None:
    # A front end generates its types from the OpenAPI document: a field it may clear is
    # nullable there, and a field that can only be changed is not.
    schema = api.app.openapi()["components"]["schemas"]["WorkOrderUpdate"]["properties"]

    def nullable(prop: dict[str, object]) -> bool:
        return {"type": "null"} in prop.get("anyOf", [])  # type: ignore[operator]

    offered = {name for name, prop in schema.items() if nullable(prop)}
    assert {"description", "category", "location", "appointment_start"} <= offered
    assert not {"title", "priority", "customer", "reported_at"} & offered
    wo = await create_work_order(api)
    for name in schema:
        response = await api.client.patch(
            f"/v1/work-orders/{wo['id']}", json={name: None}, headers=api.auth(Role.agent)
        )
        if name in offered:
            assert response.status_code == 200, (name, response.text)
            assert response.json()[name] is None
        else:
            assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", name]


async def test_list_filters_and_cursor_pagination(api: Api) -> None:
    created = []
    for i in range(7):
        api.clock.advance(timedelta(minutes=1))
        created.append(
            await create_work_order(
                api, priority="urgent" if i % 2 else "normal", category=f"c{i % 3}"
            )
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/v1/work-orders", params=params, headers=api.auth())).json()
        seen += [wo["id"] for wo in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [wo["id"] for wo in reversed(created)]

    urgent = await api.client.get(
        "/v1/work-orders", params={"priority": "urgent"}, headers=api.auth()
    )
    assert {wo["id"] for wo in urgent.json()["items"]} == {wo["id"] for wo in created[1::2]}
    both = await api.client.get(
        "/v1/work-orders", params=[("category", "c0"), ("priority", "normal")], headers=api.auth()
    )
    assert {wo["id"] for wo in both.json()["items"]} == {created[0]["id"], created[6]["id"]}
    window = await api.client.get(
        "/v1/work-orders",
        params={"created_from": "2026-11-02T01:02:00Z", "created_to": "2026-11-02T01:04:00Z"},
        headers=api.auth(),
    )
    assert [wo["id"] for wo in window.json()["items"]] == [created[2]["id"], created[1]["id"]]
    statuses = await api.client.get(
        "/v1/work-orders", params=[("status", "assigned"), ("status", "closed")], headers=api.auth()
    )
    assert statuses.json()["items"] == []
    assert_problem(
        await api.client.get("/v1/work-orders", params={"cursor": "garbage!"}, headers=api.auth()),
        400,
    )
    assert_problem(
        await api.client.get("/v1/work-orders", params={"limit": 501}, headers=api.auth()), 422
    )


async def test_unknown_work_order_is_404(api: Api) -> None:
    response = await api.client.get(
        "/v1/work-orders/6b0b8a5e-0000-4000-8000-000000000000", headers=api.auth()
    )
    assert "does not exist" in assert_problem(response, 404)["detail"]
    assert_problem(await api.client.get("/v1/work-orders/not-a-uuid", headers=api.auth()), 422)


async def test_service_logs(api: Api) -> None:
    wo = await create_work_order(api)
    response = await api.client.post(
        f"/v1/work-orders/{wo['id']}/logs",
        json={"place": "Room 402", "action": "Replaced valve", "customer_feedback": "happy"},
        headers=api.auth(Role.agent),
    )
    assert response.status_code == 201
    assert response.json()["occurred_at"] == "2026-11-02T01:00:00Z"
    logs = (await api.client.get(f"/v1/work-orders/{wo['id']}/logs", headers=api.auth())).json()
    assert [entry["action"] for entry in logs["items"]] == ["Replaced valve"]
    events = (await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth())).json()
    assert events["items"][-1]["type"] == "log_added"


async def test_a_service_log_is_dated_within_the_orders_life(api: Api) -> None:
    wo = await create_work_order(api, reported_at="2026-11-01T20:00:00Z")
    url = f"/v1/work-orders/{wo['id']}/logs"
    for occurred_at, reason in (
        ("2199-01-01T00:00:00Z", "future"),
        ("2026-11-01T19:59:00Z", "before the work order was reported"),
    ):
        body = {"place": "Room 402", "action": "Replaced valve", "occurred_at": occurred_at}
        response = await api.client.post(url, json=body, headers=api.auth(Role.agent))
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"] == ["body", "occurred_at"]
        assert reason in problem["detail"]
    # The first minute of the order, and a clock a little behind the client's, are fine.
    for occurred_at in ("2026-11-01T20:00:00Z", "2026-11-02T01:03:00Z"):
        body = {"place": "Room 402", "action": "Replaced valve", "occurred_at": occurred_at}
        response = await api.client.post(url, json=body, headers=api.auth(Role.agent))
        assert response.status_code == 201, response.text
    logs = (await api.client.get(url, headers=api.auth())).json()["items"]
    assert len(logs) == 2


async def test_work_is_given_only_to_active_staff(api: Api) -> None:
    gone = await create_staff(api, "Left Last Year", active=False)
    here = await create_staff(api, "Li Na")
    refused = await api.client.post(
        "/v1/work-orders",
        json={"title": "x", "customer": {"name": "c"}, "assignee_id": gone["id"]},
        headers=api.auth(Role.agent),
    )
    problem = assert_problem(refused, 422)
    assert problem["errors"][0]["loc"] == ["body", "assignee_id"]
    assert "inactive" in problem["detail"]
    wo = await create_work_order(api, assignee_id=here["id"])
    assign = await act(api, wo["id"], "assign", {"assignee_id": gone["id"]})
    assert "inactive" in assert_problem(assign, 422)["detail"]
    current = (await api.client.get(f"/v1/work-orders/{wo['id']}", headers=api.auth())).json()
    assert current["assignee_id"] == here["id"]


async def test_checklist_follows_template_and_is_versioned(api: Api) -> None:
    wo = await create_work_order(api)
    url = f"/v1/work-orders/{wo['id']}/checklist"
    fresh = await api.client.get(url, headers=api.auth())
    assert fresh.status_code == 200
    keys = [i["key"] for i in fresh.json()["items"]]
    assert keys == [
        "identity_verified",
        "environment_checked",
        "tools_complete",
        "service_items_done",
        "customer_signoff",
    ]
    assert fresh.json()["complete"] is False
    assert fresh.headers["etag"] == '"0"'

    saved = await api.client.put(
        url,
        json={"items": [{"key": "identity_verified", "done": True}]},
        headers={**api.auth(Role.agent), "If-Match": '"0"'},
    )
    assert saved.status_code == 200
    item = saved.json()["items"][0]
    assert item["done"] is True and item["done_by"] == "test-agent"
    assert item["done_at"] == "2026-11-02T01:00:00Z"
    stale = await api.client.put(
        url,
        json={"items": [{"key": "tools_complete", "done": True}]},
        headers={**api.auth(Role.agent), "If-Match": '"0"'},
    )
    assert_problem(stale, 412)
    unknown = await api.client.put(
        url, json={"items": [{"key": "nope", "done": True}]}, headers=api.auth(Role.agent)
    )
    assert "nope" in assert_problem(unknown, 422)["detail"]

    # A new template version does not change a checklist already saved against version 1.
    created = await api.client.post(
        "/v1/checklist-templates",
        json={"name": "default", "items": [{"key": "photo_taken", "label": "Photo taken"}]},
        headers=api.auth(Role.supervisor),
    )
    assert created.status_code == 201 and created.json()["version"] == 2
    again = (await api.client.get(url, headers=api.auth())).json()
    assert again["template_version"] == 1
    other = await create_work_order(api)
    other_list = (
        await api.client.get(f"/v1/work-orders/{other['id']}/checklist", headers=api.auth())
    ).json()
    assert [i["key"] for i in other_list["items"]] == ["photo_taken"]
