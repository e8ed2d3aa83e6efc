from __future__ import annotations

from typing import Any

import httpx

from qualityapi.auth.models import Role
from tests.conftest import Api

PROBLEM = "application/problem+json"


def work_order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Air conditioner leaking",
        "priority": "normal",
        "category": "hvac",
        "customer": {"name": "Wang Fang", "phone": "+86 138 0000 0000"},
        "location": "Building 3, room 402",
    }
    body.update(overrides)
    return body


async def create_work_order(api: Api, role: Role = Role.agent, **overrides: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/work-orders", json=work_order_body(**overrides), headers=api.auth(role)
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def act(
    api: Api, wo_id: str, action: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return await api.client.post(
        f"/v1/work-orders/{wo_id}/{action}",
        json=body,
        headers={**api.auth(Role.agent), **headers},
    )


async def create_staff(api: Api, name: str = "Zhang Wei", **extra: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/staff", json={"name": name, **extra}, headers=api.auth(Role.supervisor)
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert "Traceback" not in response.text
    return body
