"""Keys and roles: every route refuses a missing key (401) and a too-small role (403)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from fastapi.routing import APIRoute

from qualityapi.auth.dependencies import min_role_of
from qualityapi.auth.models import Role
from qualityapi.main import api_routes
from tests.conftest import ADMIN_KEY, ROOT, Api
from tests.helpers import assert_problem

PLACEHOLDER_ID = "3f1e9d2c-0000-4000-8000-000000000000"
LOWER = {Role.agent: Role.viewer, Role.supervisor: Role.agent, Role.admin: Role.supervisor}


def _v1_routes(api: Api) -> list[tuple[str, str, APIRoute]]:
    """(method, public path, route) for every documented route under /v1."""
    public = {
        op["operationId"]: path
        for path, item in api.app.openapi()["paths"].items()
        for op in item.values()
    }
    found = []
    for route in api_routes(api.app):
        path = public.get(route.name, "")
        if route.include_in_schema and path.startswith("/v1/"):
            found += [(method, path, route) for method in sorted(route.methods)]
    return found


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", PLACEHOLDER_ID, path)


async def _call(api: Api, method: str, path: str, headers: dict[str, str]) -> Any:
    return await api.client.request(method, _fill(path), headers=headers, json={})


async def test_every_v1_route_needs_a_key(api: Api) -> None:
    checked = 0
    for method, path, _route in _v1_routes(api):
        for headers in (
            {},
            {"Authorization": "Bearer qak_not_a_real_key"},
            {"Authorization": "Basic x"},
        ):
            response = await _call(api, method, path, headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
        checked += 1
    assert checked >= 25


async def test_every_route_refuses_the_role_just_below_its_own(api: Api) -> None:
    checked = 0
    for method, path, route in _v1_routes(api):
        role = min_role_of(route)
        assert role is not None, f"{method} {path} has no role requirement"
        if role is Role.viewer:
            continue
        response = await _call(api, method, path, api.auth(LOWER[role]))
        body = assert_problem(response, 403)
        assert role.value in body["detail"]
        checked += 1
    assert checked >= 15


async def test_roles_are_published_in_openapi(api: Api) -> None:
    schema = api.app.openapi()
    assert schema["paths"]["/v1/work-orders"]["post"]["x-required-role"] == "agent"
    assert schema["paths"]["/v1/work-orders"]["get"]["x-required-role"] == "viewer"
    assert schema["paths"]["/v1/api-keys"]["post"]["x-required-role"] == "admin"


async def test_key_life_cycle_through_the_api(api: Api) -> None:
    created = await api.client.post(
        "/v1/api-keys", json={"name": "helpdesk", "role": "agent"}, headers=api.auth()
    )
    assert created.status_code == 201
    raw = created.json()["key"]
    assert raw.startswith("qak_") and len(raw) > 40
    listed = (await api.client.get("/v1/api-keys", headers=api.auth())).json()["items"]
    assert all("key" not in k for k in listed)
    assert created.json()["id"] in {k["id"] for k in listed}

    mine = {"Authorization": f"Bearer {raw}"}
    assert (await api.client.get("/v1/work-orders", headers=mine)).status_code == 200
    revoked = await api.client.delete(f"/v1/api-keys/{created.json()['id']}", headers=api.auth())
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_problem(await api.client.get("/v1/work-orders", headers=mine), 401)

    audit = (
        await api.client.get(
            "/v1/audit-events", params={"resource_type": "api_key"}, headers=api.auth()
        )
    ).json()["items"]
    actions = [(e["action"], e["resource_id"]) for e in audit]
    assert ("api_key.revoked", created.json()["id"]) in actions
    assert ("api_key.created", created.json()["id"]) in actions


async def test_keys_are_stored_hashed(api: Api) -> None:
    from sqlalchemy import text

    async with api.app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT key_hash, prefix FROM api_keys"))).all()
    stored = " ".join(f"{h} {p}" for h, p in rows)
    for raw in api.keys.values():
        assert raw not in stored


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUALITYAPI_DATABASE_URL": url}
    env.pop("QUALITYAPI_BOOTSTRAP_ADMIN_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "qualityapi", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


async def test_cli_creates_lists_and_revokes_keys(api: Api) -> None:
    created = _cli(api.database_url, "keys", "create", "--name", "ops-cli", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    raw = re.search(r"key:\s+(\S+)", created.stdout)
    key_id = re.search(r"id:\s+(\S+)", created.stdout)
    assert raw and key_id
    headers = {"Authorization": f"Bearer {raw.group(1)}"}
    assert (await api.client.get("/v1/work-orders", headers=headers)).status_code == 200

    listed = _cli(api.database_url, "keys", "list")
    assert "ops-cli" in listed.stdout and raw.group(1) not in listed.stdout
    revoked = _cli(api.database_url, "keys", "revoke", key_id.group(1))
    assert revoked.returncode == 0, revoked.stderr
    api.app.state.auth_cache.clear()  # another process revoked it: this one's cache is stale
    assert_problem(await api.client.get("/v1/work-orders", headers=headers), 401)
    missing = _cli(api.database_url, "keys", "revoke", PLACEHOLDER_ID)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


async def test_bootstrap_key_is_admin(api: Api) -> None:
    response = await api.client.get(
        "/v1/api-keys", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert response.status_code == 200
    names = {k["name"]: k["role"] for k in response.json()["items"]}
    assert names["bootstrap-admin"] == "admin"
