"""Every list follows api.md's convention: ``{"items", "next_cursor"}`` with ``limit`` and an
opaque ``cursor``, pages in the list's own order, with no item lost or repeated."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from qualityapi.auth.models import Role
from tests.conftest import Api
from tests.helpers import act, assert_problem, create_work_order

LISTS = [
    "/v1/sla-policies",
    "/v1/calendars",
    "/v1/checklist-templates",
    "/v1/api-keys",
    "/v1/webhook-event-types",
]


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
WEEKDAYS = {day: [{"start": "09:00", "end": "17:00"}] for day in _DAYS}


def _key(item: dict[str, Any]) -> str:
    return str(item.get("id") or item["type"])


async def _more(api: Api) -> None:
    """A few more rows for each list than the seeds, with ties in the sort keys."""
    for name in ("b-cal", "a-cal", "a-cal-2"):
        response = await api.client.post(
            "/v1/calendars",
            json={"name": name, "time_zone": "UTC", "working_hours": WEEKDAYS},
            headers=api.auth(),
        )
        assert response.status_code == 201, response.text
    always = next(
        c
        for c in (await api.client.get("/v1/calendars?limit=500", headers=api.auth())).json()[
            "items"
        ]
        if c["name"] == "24x7"
    )
    for name in ("p-one", "p-two", "p-three"):
        response = await api.client.post(
            "/v1/sla-policies",
            json={
                "name": name,
                "rank": 5,  # the same rank for all three: the name, then the id decide
                "match": {"categories": [name]},
                "calendar_id": always["id"],
                "targets": {"response": "PT1H"},
            },
            headers=api.auth(),
        )
        assert response.status_code == 201, response.text
    for name, items in (("visit", ["arrive"]), ("visit", ["arrive", "photo"]), ("audit", ["x"])):
        response = await api.client.post(
            "/v1/checklist-templates",
            json={"name": name, "items": [{"key": k, "label": k} for k in items]},
            headers=api.auth(Role.supervisor),
        )
        assert response.status_code == 201, response.text
    for n in range(3):
        response = await api.client.post(
            "/v1/api-keys", json={"name": f"k{n}", "role": "viewer"}, headers=api.auth()
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("path", LISTS)
async def test_lists_page_in_their_own_order_without_loss_or_repeat(api: Api, path: str) -> None:
    await _more(api)
    whole = await api.client.get(path, params={"limit": 500}, headers=api.auth())
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    expected = [_key(i) for i in body["items"]]
    assert len(expected) >= 4

    for size in (1, 3):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": size}
            if cursor:
                params["cursor"] = cursor
            response = await api.client.get(path, params=params, headers=api.auth())
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= size
            seen += [_key(i) for i in page["items"]]
            cursor = page["next_cursor"]
            pages += 1
            assert pages <= len(expected) + 1
            if cursor is None:
                break
        assert seen == expected, (size, path)

    default = (await api.client.get(path, headers=api.auth())).json()
    assert [_key(i) for i in default["items"]] == expected[:50]


@pytest.mark.parametrize("path", LISTS)
async def test_lists_refuse_a_bad_cursor_or_limit(api: Api, path: str) -> None:
    bad = await api.client.get(path, params={"cursor": "not-a-cursor"}, headers=api.auth())
    assert "cursor" in assert_problem(bad, 400)["detail"]
    for limit in (0, 501):
        response = await api.client.get(path, params={"limit": limit}, headers=api.auth())
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "limit"]


async def test_a_cursor_pages_only_the_list_that_gave_it(api: Api) -> None:
    first, second = await create_work_order(api), await create_work_order(api)
    for order in (first, second):  # two timeline entries each: created, responded
        assert (await act(api, order["id"], "respond")).status_code == 200

    async def cursor_of(path: str) -> str:
        page = await api.client.get(path, params={"limit": 1}, headers=api.auth())
        assert page.status_code == 200 and page.json()["next_cursor"], (path, page.text)
        return str(page.json()["next_cursor"])

    orders = await cursor_of("/v1/work-orders")
    events = await cursor_of(f"/v1/work-orders/{first['id']}/events")
    keys = await cursor_of("/v1/api-keys")
    for cursor, here in (
        (orders, "/v1/complaints"),
        (orders, "/v1/surveys"),
        (events, f"/v1/work-orders/{second['id']}/events"),  # another order's timeline
        (events, "/v1/audit-events"),
        (keys, "/v1/calendars"),
    ):
        refused = await api.client.get(here, params={"cursor": cursor}, headers=api.auth())
        assert "another list" in assert_problem(refused, 400)["detail"], here
    for cursor, home in (
        (orders, "/v1/work-orders"),
        (events, f"/v1/work-orders/{first['id']}/events"),
        (keys, "/v1/api-keys"),
    ):
        next_page = await api.client.get(home, params={"cursor": cursor}, headers=api.auth())
        assert next_page.status_code == 200 and next_page.json()["items"], home


def test_every_list_in_the_document_has_items_and_next_cursor() -> None:
    from qualityapi.main import create_app

    schema = create_app().openapi()
    components = schema["components"]["schemas"]
    bare = []
    for path, item in schema["paths"].items():
        get = item.get("get")
        if not path.startswith("/v1/") or get is None:
            continue
        content = get["responses"].get("200", {}).get("content", {})
        body = content.get("application/json", {}).get("schema", {})
        if body.get("type") == "array":
            bare.append(path)
        ref = body.get("$ref", "")
        if ref.startswith("#/components/schemas/Page"):
            props = components[ref.rsplit("/", 1)[-1]]["properties"]
            assert set(props) == {"items", "next_cursor"}, path
            names = {p["name"] for p in get.get("parameters", [])}
            assert {"limit", "cursor"} <= names, path
    assert bare == []


def _token(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


ANY_ID = "3f2b8c1e-9a4d-4c6e-8f10-2b7d5e9a1c34"


async def test_a_crafted_cursor_is_a_400_never_a_500(api: Api) -> None:
    """Cursors are opaque, not signed: whatever a client builds is checked, not run."""
    crafted = {
        "/v1/work-orders": [
            {"t": "0001-01-01T00:00:00+01:00", "id": ANY_ID},
            {"t": "9999-12-31T23:59:59-01:00", "id": ANY_ID},
            {"t": "2026-11-01T00:00:00", "id": ANY_ID},
        ],
        "/v1/api-keys": [
            {"k": [["t", "0001-01-01T00:00:00+01:00"], ["u", ANY_ID]]},
            {"k": [["s", "2026-11-01T00:00:00Z"], ["u", ANY_ID]]},
        ],
        "/v1/sla-policies": [
            {"k": [["s", "x"], ["i", 10**30], ["s", "y"], ["u", ANY_ID]]},
            {"k": [["s", "x"], ["s", "\u0000"], ["s", "y"], ["u", ANY_ID]]},
            {"k": [["s", "x"], ["i", True], ["s", "y"], ["u", ANY_ID]]},
        ],
        "/v1/calendars": [
            {"k": [["i", 1], ["i", 1], ["u", ANY_ID]]},
            {"k": [["b", "yes"], ["s", "a"], ["u", ANY_ID]]},
            {"k": [["s", "a"], ["i", 1]]},
        ],
    }
    for path, tokens in crafted.items():
        for data in tokens:
            response = await api.client.get(
                path, params={"cursor": _token(data)}, headers=api.auth()
            )
            assert "cursor" in assert_problem(response, 400)["detail"], (path, data)
    seq = base64.urlsafe_b64encode(b"seq:99999999999999999999999").decode().rstrip("=")
    response = await api.client.get("/v1/audit-events", params={"cursor": seq}, headers=api.auth())
    assert_problem(response, 400)
