from __future__ import annotations

from qualityapi.auth.models import Role
from tests.conftest import Api
from tests.helpers import assert_problem, create_staff


async def test_team_with_escalation_contacts_and_audit(api: Api) -> None:
    supervisor = await create_staff(api, "Supervisor Sun", email="sun@example.com")
    manager = await create_staff(api, "Manager Ma")
    created = await api.client.post(
        "/v1/teams",
        json={
            "name": "Field service",
            "supervisor_id": supervisor["id"],
            "manager_id": manager["id"],
        },
        headers=api.auth(Role.supervisor),
    )
    assert created.status_code == 201
    team = created.json()
    assert team["supervisor_id"] == supervisor["id"] and team["manager_id"] == manager["id"]

    moved = await api.client.patch(
        f"/v1/staff/{supervisor['id']}",
        json={"team_id": team["id"]},
        headers={**api.auth(Role.supervisor), "If-Match": '"1"'},
    )
    assert moved.status_code == 200 and moved.json()["team_id"] == team["id"]
    members = await api.client.get("/v1/staff", params={"team_id": team["id"]}, headers=api.auth())
    assert [s["id"] for s in members.json()["items"]] == [supervisor["id"]]

    renamed = await api.client.patch(
        f"/v1/teams/{team['id']}",
        json={"name": "Field service north"},
        headers={**api.auth(Role.supervisor), "If-Match": team and '"1"'},
    )
    assert renamed.status_code == 200 and renamed.json()["version"] == 2
    audit = (
        await api.client.get(
            "/v1/audit-events", params={"resource_id": team["id"]}, headers=api.auth()
        )
    ).json()["items"]
    assert [e["action"] for e in audit] == ["team.updated", "team.created"]
    assert audit[0]["before"]["name"] == "Field service"
    assert audit[0]["after"]["name"] == "Field service north"
    assert audit[0]["actor_name"] == "test-supervisor"


async def test_team_references_and_names_are_checked(api: Api) -> None:
    missing = await api.client.post(
        "/v1/teams",
        json={"name": "A", "supervisor_id": "00000000-0000-4000-8000-000000000000"},
        headers=api.auth(Role.supervisor),
    )
    assert "supervisor_id" in assert_problem(missing, 422)["detail"]
    ok = await api.client.post("/v1/teams", json={"name": "A"}, headers=api.auth(Role.supervisor))
    assert ok.status_code == 201
    duplicate = await api.client.post(
        "/v1/teams", json={"name": "A"}, headers=api.auth(Role.supervisor)
    )
    assert_problem(duplicate, 409)
    bad_email = await api.client.post(
        "/v1/staff", json={"name": "X", "email": "not-an-email"}, headers=api.auth(Role.supervisor)
    )
    assert_problem(bad_email, 422)
    assert_problem(
        await api.client.post("/v1/staff", json={"name": "Y"}, headers=api.auth(Role.agent)), 403
    )
