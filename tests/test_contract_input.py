"""What the API accepts as input: strict RFC 3339 instants in a stated range, canonical
UUIDs, JSON without duplicate keys, authentication before any word on a body, and errors
that name what to send."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn

from qualityapi.api import ROUTERS
from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from qualityapi.common.routing import ContractRoute
from qualityapi.common.schemas import INSTANT_RANGE
from qualityapi.main import create_app
from tests.conftest import START, Api, make_settings, started_api
from tests.helpers import assert_problem, create_staff, create_work_order, work_order_body
from tests.support.server import free_port

EXTREMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:30:00+01:00",  # 1969 in UTC
    "2200-01-01T00:00:00Z",
    "2199-12-31T23:30:00-01:00",  # 2200 in UTC
]

LOOSE = {
    "epoch number": 1_764_000_000,
    "epoch string": "1764000000",
    "space for T": "2026-11-21 09:30:00Z",
    "lower-case t and z": "2026-11-21t09:30:00z",
    "lower-case z": "2026-11-21T09:30:00z",
    "offset without colon": "2026-11-21T09:30:00+0530",
    "12-digit fraction": "2026-11-21T09:30:00.123456789012Z",
    "naive": "2026-11-21T09:30:00",
    "date only": "2026-11-21",
    "impossible date": "2026-02-30T09:30:00Z",
}

ACCEPTED = [
    "2026-11-01T09:30:00Z",
    "2026-11-01T17:30:00+08:00",
    "2026-11-01T04:00:00.5-05:30",
    "2026-11-01T09:30:00.123456Z",
]


def _field_error(problem: dict[str, Any], field: str) -> dict[str, Any]:
    found = [e for e in problem["errors"] if e["loc"][-1] == field]
    assert found, problem
    return found[0]


async def _send(api: Api, where: str, value: Any) -> tuple[httpx.Response, str]:
    """Sends ``value`` as the instant ``where`` names; returns the response and the field."""
    headers = api.auth(Role.admin)
    if where == "reported_at":
        body = work_order_body(priority="high", reported_at=value)
        return await api.client.post("/v1/work-orders", json=body, headers=headers), where
    if where in ("appointment_start", "appointment_end"):
        body = work_order_body(**{where: value})
        return await api.client.post("/v1/work-orders", json=body, headers=headers), where
    if where in ("created_from", "created_to"):
        response = await api.client.get("/v1/work-orders", params={where: value}, headers=headers)
        return response, where
    if where == "since":
        response = await api.client.get(
            "/v1/audit-events", params={"since": value}, headers=headers
        )
        return response, where
    if where == "start":
        body = {"subject": "work_order", "priority": "normal", "start": value}
        return (
            await api.client.post("/v1/sla-policies/preview", json=body, headers=headers),
            where,
        )
    if where == "occurred_at":
        wo = await create_work_order(api)
        response = await api.client.post(
            f"/v1/work-orders/{wo['id']}/logs",
            json={"action": "arrived", "occurred_at": value},
            headers=headers,
        )
        return response, where
    if where == "patch reported_at":
        wo = await create_work_order(api)
        response = await api.client.patch(
            f"/v1/work-orders/{wo['id']}", json={"reported_at": value}, headers=headers
        )
        return response, "reported_at"
    if where == "received_at":
        staff = await create_staff(api)
        body = {
            "channel": "phone",
            "severity": "general",
            "category": "billing",
            "customer": {"name": "Chen Jie"},
            "description": "Charged twice",
            "received_by": staff["id"],
            "received_at": value,
        }
        return await api.client.post("/v1/complaints", json=body, headers=headers), where
    raise AssertionError(where)


WHERE = [
    "reported_at",
    "appointment_start",
    "appointment_end",
    "created_from",
    "created_to",
    "since",
    "start",
    "occurred_at",
    "patch reported_at",
    "received_at",
]


@pytest.mark.parametrize("where", WHERE)
async def test_an_instant_out_of_range_is_a_422_naming_field_and_range(
    api: Api, where: str
) -> None:
    for value in EXTREMES:
        response, field = await _send(api, where, value)
        problem = assert_problem(response, 422)
        error = _field_error(problem, field)
        assert INSTANT_RANGE in error["msg"], (value, error)
        assert field in problem["detail"]
        assert response.headers["x-request-id"]


@pytest.mark.parametrize("where", ["reported_at", "created_from", "start", "occurred_at"])
async def test_loose_timestamps_are_refused_with_the_accepted_form(api: Api, where: str) -> None:
    for label, value in LOOSE.items():
        if where == "created_from" and isinstance(value, int):
            continue  # a query string has no numbers: covered by "epoch string"
        response, field = await _send(api, where, value)
        problem = assert_problem(response, 422)
        error = _field_error(problem, field)
        assert "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)" in error["msg"], (label, error)
    naive, _ = await _send(api, where, LOOSE["naive"])
    assert "no time zone" in naive.text


async def test_an_unencoded_plus_in_a_query_is_explained(api: Api) -> None:
    raw = "/v1/work-orders?created_from=2026-11-01T00:00:00+08:00"  # '+' decodes as ' '
    response = await api.client.get(raw, headers=api.auth())
    error = _field_error(assert_problem(response, 422), "created_from")
    assert "send it as %2B" in error["msg"]
    encoded = await api.client.get(
        "/v1/work-orders", params={"created_from": "2026-11-01T00:00:00+08:00"}, headers=api.auth()
    )
    assert encoded.status_code == 200


async def test_rfc3339_with_any_offset_is_accepted_and_given_back_in_utc(api: Api) -> None:
    for value in ACCEPTED:
        response = await api.client.post(
            "/v1/work-orders", json=work_order_body(reported_at=value), headers=api.auth()
        )
        assert response.status_code == 201, (value, response.text)
        assert response.json()["reported_at"].endswith("Z")
    edge = await api.client.get(
        "/v1/work-orders",
        params={"created_from": "1970-01-01T00:00:00Z", "created_to": "2199-12-31T23:59:59Z"},
        headers=api.auth(),
    )
    assert edge.status_code == 200
    assert len(edge.json()["items"]) == len(ACCEPTED)


async def test_only_canonical_uuids_are_accepted(api: Api) -> None:
    staff = await create_staff(api)
    wo = await create_work_order(api)
    canonical = staff["id"]
    for spelling in (
        "{" + canonical + "}",
        "urn:uuid:" + canonical,
        canonical.replace("-", ""),
        canonical[:-1],
    ):
        body = await api.client.post(
            "/v1/work-orders", json=work_order_body(assignee_id=spelling), headers=api.auth()
        )
        assert "canonical form" in _field_error(assert_problem(body, 422), "assignee_id")["msg"]
        query = await api.client.get(
            "/v1/work-orders", params={"assignee_id": spelling}, headers=api.auth()
        )
        assert "canonical form" in _field_error(assert_problem(query, 422), "assignee_id")["msg"]
        odd_id = wo["id"].replace("-", "") if "urn" not in spelling else "urn:uuid:" + wo["id"]
        path = await api.client.get(f"/v1/work-orders/{odd_id}", headers=api.auth())
        assert "canonical form" in _field_error(assert_problem(path, 422), "work_order_id")["msg"]
    upper = await api.client.get(f"/v1/work-orders/{wo['id'].upper()}", headers=api.auth())
    assert upper.status_code == 200


async def test_duplicate_json_keys_are_a_422_naming_the_key(api: Api) -> None:
    raw = (
        '{"title": "Leak", "priority": "normal", "priority": "urgent", '
        '"category": "hvac", "customer": {"name": "Wang"}}'
    )
    response = await api.client.post(
        "/v1/work-orders",
        content=raw,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert "'priority' appears more than once" in problem["errors"][0]["msg"]
    nested = raw.replace('"priority": "urgent", ', "").replace(
        '{"name": "Wang"}', '{"name": "Wang", "name": "Li"}'
    )
    response = await api.client.post(
        "/v1/work-orders",
        content=nested,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert "'name' appears more than once" in assert_problem(response, 422)["detail"]


async def test_authentication_comes_before_any_word_on_the_body(api: Api) -> None:
    json_type = {"Content-Type": "application/json"}
    for body in ('{"title": ', '{"a": 1, "a": 2}', "[1, 2"):
        anonymous = await api.client.post("/v1/work-orders", content=body, headers=json_type)
        assert_problem(anonymous, 401)
        wrong_key = await api.client.post(
            "/v1/work-orders",
            content=body,
            headers={**json_type, "Authorization": "Bearer qak_not_a_key_at_all_000000"},
        )
        assert_problem(wrong_key, 401)
        viewer = await api.client.post(
            "/v1/work-orders", content=body, headers={**json_type, **api.auth(Role.viewer)}
        )
        assert_problem(viewer, 403)
    agent = await api.client.post(
        "/v1/work-orders", content='{"title": ', headers={**json_type, **api.auth(Role.agent)}
    )
    malformed = assert_problem(agent, 400)
    assert malformed["type"].endswith("/malformed-json")
    assert malformed["errors"] == [
        {"loc": ["body", 10], "msg": "Expecting value at character 10", "type": "json_invalid"}
    ]
    # An action route (built by common.actions) and a PATCH behave the same.
    wo = await create_work_order(api)
    for method, path in (
        ("POST", f"/v1/work-orders/{wo['id']}/hold"),
        ("PATCH", f"/v1/work-orders/{wo['id']}"),
        ("POST", "/v1/sla-policies/preview"),
    ):
        anonymous = await api.client.request(method, path, content="{", headers=json_type)
        assert_problem(anonymous, 401)


async def test_an_unknown_query_parameter_is_a_422_naming_it_and_the_known_ones(
    api: Api,
) -> None:
    await create_work_order(api)
    typo = await api.client.get("/v1/work-orders?stauts=open&limit=5", headers=api.auth())
    problem = assert_problem(typo, 422)
    [error] = problem["errors"]
    assert error["loc"] == ["query", "stauts"]
    assert error["type"] == "unknown_parameter"
    # The parameters it takes are listed, those of dependencies (paging) included.
    assert "status" in error["msg"] and "limit" in error["msg"] and "cursor" in error["msg"]
    # Declared parameters, repeated or not, still work; one route with none says so.
    known = await api.client.get(
        "/v1/work-orders?status=open&status=assigned&limit=5", headers=api.auth()
    )
    assert known.status_code == 200, known.text
    wo = (await api.client.get("/v1/work-orders?limit=1", headers=api.auth())).json()["items"][0]
    none = await api.client.get(f"/v1/work-orders/{wo['id']}?x=1", headers=api.auth())
    assert "takes: no query parameters" in assert_problem(none, 422)["errors"][0]["msg"]
    # Authentication first: an anonymous client learns nothing about the parameters.
    assert_problem(await api.client.get("/v1/work-orders?stauts=open"), 401)


async def test_numbers_and_flags_are_taken_as_json_sends_them(api: Api) -> None:
    # pydantic's lax mode would store "5" as 5 and "false" (or 0) as false.
    staff = await create_staff(api)
    for body, field in (
        ({"active": "false"}, "active"),
        ({"active": 0}, "active"),
    ):
        response = await api.client.patch(
            f"/v1/staff/{staff['id']}", json=body, headers=api.auth(Role.supervisor)
        )
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", field], body
    policies = (await api.client.get("/v1/sla-policies", headers=api.auth())).json()["items"]
    for body in ({"rank": "5"}, {"rank": True}, {"enabled": 1}):
        response = await api.client.patch(
            f"/v1/sla-policies/{policies[0]['id']}", json=body, headers=api.auth()
        )
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", *body], body
    # The same values typed right are taken.
    fine = await api.client.patch(
        f"/v1/staff/{staff['id']}", json={"active": False}, headers=api.auth(Role.supervisor)
    )
    assert fine.status_code == 200 and fine.json()["active"] is False, fine.text


def test_every_v1_route_uses_the_contract_route_class() -> None:
    routes = [r for router in ROUTERS for r in router.routes]
    assert len(routes) > 50
    assert [getattr(r, "path", r) for r in routes if not isinstance(r, ContractRoute)] == []


async def test_an_action_without_its_body_names_the_required_fields(api: Api) -> None:
    wo = await create_work_order(api)
    for action in ("resolve", "close"):
        response = await api.client.post(
            f"/v1/work-orders/{wo['id']}/{action}", headers=api.auth(Role.agent)
        )
        assert response.status_code in (200, 409), response.text
    reopen = await api.client.post(
        f"/v1/work-orders/{wo['id']}/reopen", headers=api.auth(Role.agent)
    )
    problem = assert_problem(reopen, 422)
    assert problem["errors"] == [
        {
            "loc": ["body", "reason"],
            "msg": "Field required (no body was sent; required: reason)",
            "type": "missing",
        }
    ]
    assert "body.reason" in problem["detail"]
    assign = await api.client.post(
        f"/v1/work-orders/{wo['id']}/assign", headers=api.auth(Role.agent)
    )
    assert [e["loc"] for e in assert_problem(assign, 422)["errors"]] == [["body", "assignee_id"]]


async def test_an_unexpected_error_is_a_problem_with_the_request_id(api: Api) -> None:
    async def boom() -> None:
        raise RuntimeError("a bug")

    api.app.router.add_api_route("/v1/boom-for-test", boom, methods=["GET"])
    response = await api.client.get("/v1/boom-for-test", headers={"X-Request-ID": "req-500"})
    problem = assert_problem(response, 500)
    assert "a bug" not in response.text
    assert problem["type"].endswith("/internal-error")
    assert response.headers["x-request-id"] == "req-500"


async def test_the_ssrf_refusal_says_why_and_points_at_url(api: Api) -> None:
    response = await api.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:8080/x"}, headers=api.auth()
    )
    problem = assert_problem(response, 422)
    assert problem["detail"].startswith(
        "the URL's host 127.0.0.1 is a loopback address; webhook receivers must be publicly "
        "routable"
    )
    assert problem["errors"] == [
        {"loc": ["body", "url"], "msg": problem["detail"], "type": "url_refused"}
    ]
    named = await api.client.post(
        "/v1/webhook-endpoints", json={"url": "http://localhost:8080/x"}, headers=api.auth()
    )
    assert "host localhost resolves to" in assert_problem(named, 422)["detail"]


async def test_a_reused_idempotency_key_has_errors_naming_the_header(api: Api) -> None:
    headers = {**api.auth(Role.agent), "Idempotency-Key": "k-reused-1"}
    first = await api.client.post("/v1/work-orders", json=work_order_body(), headers=headers)
    assert first.status_code == 201
    other = await api.client.post(
        "/v1/work-orders", json=work_order_body(title="Another"), headers=headers
    )
    problem = assert_problem(other, 422)
    assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert "different request" in problem["errors"][0]["msg"]


async def test_webhook_ping_is_listed_and_subscribable(database_url: str) -> None:
    allow_loopback = {"webhook_allowed_networks": ["127.0.0.0/8"]}
    async with started_api(database_url, FrozenClock(START), **allow_loopback) as api:
        listed = await api.client.get("/v1/webhook-event-types", headers=api.auth(Role.viewer))
        types = {t["type"] for t in listed.json()["items"]}
        assert "webhook.ping" in types
        assert types == set(api.app.openapi()["webhooks"])
        created = await api.client.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/in", "event_types": ["webhook.ping"]},
            headers=api.auth(),
        )
        assert created.status_code == 201, created.text
        assert created.json()["event_types"] == ["webhook.ping"]


async def test_audit_actions_are_resource_dot_past_tense(database_url: str) -> None:
    allow_loopback = {"webhook_allowed_networks": ["127.0.0.0/8"]}
    async with started_api(database_url, FrozenClock(START), **allow_loopback) as api:
        key = await api.client.post(
            "/v1/api-keys", json={"name": "n", "role": "viewer"}, headers=api.auth()
        )
        await api.client.delete(f"/v1/api-keys/{key.json()['id']}", headers=api.auth())
        await create_staff(api)
        hook = await api.client.post(
            "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/in"}, headers=api.auth()
        )
        path = f"/v1/webhook-endpoints/{hook.json()['id']}"
        await api.client.patch(path, json={"description": "d"}, headers=api.auth())
        await api.client.post(f"{path}/rotate-secret", json={}, headers=api.auth())
        await api.client.delete(path, headers=api.auth())
        listed = await api.client.get("/v1/audit-events", headers=api.auth())
        events = listed.json()["items"]
    actions = {e["action"] for e in events}
    assert {"webhook_endpoint.created", "webhook_endpoint.deleted"} <= actions, actions
    for event in events:
        resource, _, happened = event["action"].partition(".")
        assert resource == event["resource_type"], event
        assert happened.endswith("ed"), event


def test_an_unexpected_error_keeps_the_connection_usable(database_url: str) -> None:
    """On a real server (uvicorn in a thread): the 500 carries X-Request-ID and the next
    request on the same keep-alive connection is answered (it used to be reset)."""

    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_app(make_settings(database_url))
    app.router.add_api_route("/v1/boom-for-test", boom, methods=["GET"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            failed = http.get("/v1/boom-for-test", headers={"X-Request-ID": "r-500"})
            assert_problem(failed, 500)
            assert failed.headers["x-request-id"] == "r-500"
            assert failed.headers.get("connection") != "close"
            assert http.get("/healthz").status_code == 200  # same connection
    finally:
        server.should_exit = True
        thread.join(10)
