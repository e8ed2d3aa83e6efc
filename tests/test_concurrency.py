"""Versions, If-Match, Idempotency-Key and numbers under concurrent creates."""

from __future__ import annotations

import asyncio

from qualityapi.auth.models import Role
from tests.conftest import Api
from tests.helpers import act, assert_problem, create_work_order, work_order_body


async def test_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    wo = await create_work_order(api)
    url = f"/v1/work-orders/{wo['id']}"
    first = await api.client.patch(
        url, json={"title": "First"}, headers={**api.auth(Role.agent), "If-Match": '"1"'}
    )
    assert first.status_code == 200
    second = await api.client.patch(
        url, json={"title": "Second"}, headers={**api.auth(Role.agent), "If-Match": '"1"'}
    )
    body = assert_problem(second, 412)
    assert '"2"' in body["detail"]
    assert (await api.client.get(url, headers=api.auth())).json()["title"] == "First"
    stale_action = await act(api, wo["id"], "respond", None, **{"If-Match": '"1"'})
    assert_problem(stale_action, 412)
    # If-Match compares strongly: a weak tag never matches (issue 13).
    weak_action = await act(api, wo["id"], "respond", None, **{"If-Match": 'W/"2"'})
    assert_problem(weak_action, 412)
    fresh_action = await act(api, wo["id"], "respond", None, **{"If-Match": '"2"'})
    assert fresh_action.status_code == 200


async def test_idempotency_key_replays_the_first_result(api: Api) -> None:
    headers = {**api.auth(Role.agent), "Idempotency-Key": "order-7781"}
    first = await api.client.post("/v1/work-orders", json=work_order_body(), headers=headers)
    again = await api.client.post("/v1/work-orders", json=work_order_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = await api.client.get("/v1/work-orders", headers=api.auth())
    assert len(listed.json()["items"]) == 1

    different = await api.client.post(
        "/v1/work-orders", json=work_order_body(title="Other"), headers=headers
    )
    assert "different request" in assert_problem(different, 422)["detail"]
    # Keys belong to the API key that sent them: another key may use the same string.
    other = await api.client.post(
        "/v1/work-orders",
        json=work_order_body(),
        headers={**api.auth(Role.supervisor), "Idempotency-Key": "order-7781"},
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_idempotent_action_is_not_applied_twice(api: Api) -> None:
    wo = await create_work_order(api)
    headers = {"Idempotency-Key": "respond-1"}
    first = await act(api, wo["id"], "respond", None, **headers)
    second = await act(api, wo["id"], "respond", None, **headers)
    assert first.status_code == second.status_code == 200
    assert second.json()["version"] == first.json()["version"] == 2


async def test_concurrent_creates_get_unique_consecutive_numbers(api: Api) -> None:
    async def create(i: int) -> str:
        response = await api.client.post(
            "/v1/work-orders",
            json=work_order_body(title=f"Burst {i}"),
            headers=api.auth(Role.agent),
        )
        assert response.status_code == 201, response.text
        number: str = response.json()["number"]
        return number

    numbers = await asyncio.gather(*(create(i) for i in range(40)))
    assert sorted(numbers) == [f"WO-2026-{n:06d}" for n in range(1, 41)]


async def test_concurrent_actions_on_one_order_apply_once(api: Api) -> None:
    wo = await create_work_order(api)
    responses = await asyncio.gather(*(act(api, wo["id"], "respond") for _ in range(6)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, [r.text for r in responses]
    assert set(codes) <= {200, 409}
    events = (await api.client.get(f"/v1/work-orders/{wo['id']}/events", headers=api.auth())).json()
    assert [e["type"] for e in events["items"]] == ["created", "responded"]
