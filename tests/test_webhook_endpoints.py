"""Webhook endpoints through the API: registration, SSRF refusal, secrets, rotation, ping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from tests.conftest import START, Api, started_api
from tests.helpers import assert_problem
from tests.support.receiver import Receiver

LOOPBACK = {"webhook_allowed_networks": ["127.0.0.0/8"]}


@pytest.fixture
async def hooks_api(database_url: str) -> AsyncIterator[Api]:
    async with started_api(database_url, FrozenClock(START), **LOOPBACK) as running:
        yield running


async def register(api: Api, url: str, **extra: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/webhook-endpoints", json={"url": url, **extra}, headers=api.auth()
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_secret_is_shown_once_and_never_audited(hooks_api: Api) -> None:
    created = await register(
        hooks_api, "http://127.0.0.1:9/in", event_types=["sla.breached", "sla.warning"]
    )
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["sla.breached", "sla.warning"]
    got = await hooks_api.client.get(
        f"/v1/webhook-endpoints/{created['id']}", headers=hooks_api.auth()
    )
    assert got.status_code == 200 and "secret" not in got.json()
    assert got.headers["etag"] == '"1"'
    listed = await hooks_api.client.get("/v1/webhook-endpoints", headers=hooks_api.auth())
    assert [e["id"] for e in listed.json()["items"]] == [created["id"]]
    audit = await hooks_api.client.get(
        "/v1/audit-events", params={"resource_type": "webhook_endpoint"}, headers=hooks_api.auth()
    )
    assert audit.json()["items"][0]["action"] == "webhook_endpoint.created"
    assert created["secret"] not in audit.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "http and https"),
        ({"url": "http://10.1.2.3/x"}, "private"),
        ({"url": "http://169.254.169.254/latest"}, "metadata"),
        ({"url": "http://no-such-host.invalid/x"}, "does not resolve"),
        ({"url": "http://127.0.0.1:9/", "event_types": ["sla.exploded"]}, "unknown event types"),
        ({"url": "http://127.0.0.1:9/", "secret": "whsec_x"}, "secret"),
    ],
)
async def test_bad_registrations_get_a_422_that_says_why(
    hooks_api: Api, body: dict[str, Any], fragment: str
) -> None:
    response = await hooks_api.client.post(
        "/v1/webhook-endpoints", json=body, headers=hooks_api.auth()
    )
    problem = assert_problem(response, 422)
    assert fragment in response.text, problem


async def test_loopback_is_refused_unless_an_operator_allows_it(api: Api) -> None:
    response = await api.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:8080/x"}, headers=api.auth()
    )
    assert "loopback" in assert_problem(response, 422)["detail"]


async def test_webhook_endpoints_are_for_admins(hooks_api: Api) -> None:
    response = await hooks_api.client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/"},
        headers=hooks_api.auth(Role.supervisor),
    )
    assert_problem(response, 403)
    types = await hooks_api.client.get(
        "/v1/webhook-event-types", headers=hooks_api.auth(Role.viewer)
    )
    names = {t["type"]: t["emitted"] for t in types.json()["items"]}
    assert names["sla.breached"] is True and names["complaint.created"] is True
    assert "webhook.endpoint_disabled" in names


async def test_update_with_if_match_and_delete(hooks_api: Api) -> None:
    created = await register(hooks_api, "http://127.0.0.1:9/in")
    path = f"/v1/webhook-endpoints/{created['id']}"
    stale = await hooks_api.client.patch(
        path, json={"enabled": False}, headers={**hooks_api.auth(), "If-Match": '"7"'}
    )
    assert_problem(stale, 412)
    changed = await hooks_api.client.patch(
        path,
        json={"enabled": False, "description": "paused for maintenance"},
        headers={**hooks_api.auth(), "If-Match": '"1"'},
    )
    assert changed.status_code == 200
    assert changed.json()["enabled"] is False and changed.json()["version"] == 2
    refused = await hooks_api.client.patch(
        path, json={"url": "http://192.168.0.10/in"}, headers=hooks_api.auth()
    )
    assert_problem(refused, 422)
    null = await hooks_api.client.patch(path, json={"enabled": None}, headers=hooks_api.auth())
    assert_problem(null, 422)
    deleted = await hooks_api.client.delete(path, headers=hooks_api.auth())
    assert deleted.status_code == 204
    assert_problem(await hooks_api.client.get(path, headers=hooks_api.auth()), 404)


async def test_ping_is_signed_logged_and_rotation_signs_with_both_secrets(hooks_api: Api) -> None:
    with Receiver() as receiver:
        created = await register(hooks_api, receiver.url)
        path = f"/v1/webhook-endpoints/{created['id']}"
        ping = await hooks_api.client.post(f"{path}/ping", headers=hooks_api.auth())
        assert ping.status_code == 200, ping.text
        assert ping.json()["succeeded"] is True and ping.json()["status_code"] == 200
        rotated = await hooks_api.client.post(
            f"{path}/rotate-secret", json={"overlap_seconds": 3600}, headers=hooks_api.auth()
        )
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret != created["secret"]
        await hooks_api.client.post(f"{path}/ping", headers=hooks_api.auth())
        first, second = receiver.snapshot()
        assert first.type == second.type == "webhook.ping"
        assert first.id == ping.json()["message_id"]
        receiver.verify_all(created["secret"])  # the old secret verifies both pings
        receiver.requests.pop(0)
        receiver.verify_all(new_secret)  # the new one verifies the ping after rotation
        assert len(second.headers["webhook-signature"].split(" ")) == 2
        got = await hooks_api.client.get(path, headers=hooks_api.auth())
        assert got.json()["secret_rotation_ends_at"] == "2026-11-02T02:00:00Z"
        log = await hooks_api.client.get(f"{path}/attempts", headers=hooks_api.auth())
        assert [a["event_type"] for a in log.json()["items"]] == ["webhook.ping"] * 2
        assert all(a["succeeded"] and a["status_code"] == 200 for a in log.json()["items"])
        # A ping is not stored: resending it says so, and what to do instead.
        again = await hooks_api.client.post(
            f"{path}/messages/{ping.json()['message_id']}/resend", headers=hooks_api.auth()
        )
        assert "send a new one" in assert_problem(again, 409)["detail"]
        assert len(receiver.snapshot()) == 1  # the second ping only (the first was popped)


async def test_ping_to_a_dead_port_reports_the_failure(hooks_api: Api) -> None:
    with Receiver() as receiver:
        url = receiver.url
    created = await register(hooks_api, url)
    ping = await hooks_api.client.post(
        f"/v1/webhook-endpoints/{created['id']}/ping", headers=hooks_api.auth()
    )
    assert ping.status_code == 200
    assert ping.json()["succeeded"] is False
    assert ping.json()["error_class"] == "connect_error"
    failed = await hooks_api.client.get(
        f"/v1/webhook-endpoints/{created['id']}/attempts",
        params={"failed": "true"},
        headers=hooks_api.auth(),
    )
    assert failed.json()["items"][0]["error_class"] == "connect_error"


async def test_unknown_endpoint_and_message_are_404(hooks_api: Api) -> None:
    missing = "/v1/webhook-endpoints/00000000-0000-0000-0000-000000000000"
    assert_problem(
        await hooks_api.client.get(f"{missing}/deliveries", headers=hooks_api.auth()), 404
    )
    created = await register(hooks_api, "http://127.0.0.1:9/in")
    response = await hooks_api.client.post(
        f"/v1/webhook-endpoints/{created['id']}/messages/msg_nope/resend", headers=hooks_api.auth()
    )
    assert_problem(response, 404)
