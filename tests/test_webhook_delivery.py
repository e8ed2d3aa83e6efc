"""Delivery to a real receiver on loopback: the fault matrix, order, expiry, replay.

The service runs in-process on the real clock with its dispatcher on and second-scale
retry delays; the receiver is a real HTTP server (tests/support/receiver.py) and every
request it got is verified with the public ``standardwebhooks`` package.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from qualityapi.clock import FrozenClock, SystemClock
from qualityapi.events.models import OutboxMessage
from qualityapi.sla.scanner import scan_once
from qualityapi.webhooks import ssrf
from qualityapi.webhooks.dispatcher import Dispatcher
from qualityapi.webhooks.models import WebhookDelivery
from tests.conftest import START, Api, started_api
from tests.helpers import act, create_work_order
from tests.support.receiver import Received, Receiver, Reply, eventually
from tests.support.server import free_port
from tests.test_webhook_endpoints import LOOPBACK, register

LIVE = {
    "scheduler_enabled": True,
    "webhook_allowed_networks": ["127.0.0.0/8"],
    "webhook_retry_delays": [0.3, 0.3, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0],
    "webhook_connect_timeout_seconds": 0.5,
    # Generous: the receiver shares this process's GIL, and a loaded CI machine must not
    # turn a slow answer into a retry (the timeout test sets its own).
    "webhook_read_timeout_seconds": 3.0,
    "webhook_poll_seconds": 0.2,
    "webhook_lease_seconds": 10.0,
}


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Api]:
    async with started_api(database_url, SystemClock(), **LIVE) as running:
        yield running


async def message_ids(api: Api, type_prefix: str = "") -> list[str]:
    async with api.app.state.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.message_id, OutboxMessage.type).order_by(OutboxMessage.id)
        )
        return [m for m, t in rows.all() if t.startswith(type_prefix)]


async def attempts(api: Api, endpoint_id: str, **params: str) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"/v1/webhook-endpoints/{endpoint_id}/attempts", params=params, headers=api.auth()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled(api: Api, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's deliveries once none is pending (results are recorded just after
    the receiver answers, so a test that saw the request waits for the record)."""
    for _ in range(200):
        response = await api.client.get(
            f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=api.auth()
        )
        items: list[dict[str, Any]] = response.json()["items"]
        if items and all(d["status"] != "pending" for d in items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries still pending: {items}")


def first_arrivals(receiver: Receiver) -> list[Received]:
    """Accepted requests, a repeated id (a legitimate at-least-once retry) counted once."""
    seen: set[str] = set()
    firsts = []
    for r in receiver.delivered():
        if r.id not in seen:
            seen.add(r.id)
            firsts.append(r)
    return firsts


async def metric(api: Api, sample: str) -> float:
    text = (await api.client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_every_event_arrives_signed_with_its_id_in_order(live: Api) -> None:
    with Receiver() as receiver:
        endpoint = await register(live, receiver.url)
        wo = await create_work_order(live)
        staff = await live.client.post("/v1/staff", json={"name": "Li Lei"}, headers=live.auth())
        assert (await act(live, wo["id"], "assign", {"assignee_id": staff.json()["id"]})).is_success
        assert (await act(live, wo["id"], "respond")).is_success
        expected = await message_ids(live, "work_order.")
        await eventually(lambda: len(receiver.delivered()) >= len(expected), what="deliveries")
        receiver.verify_all(endpoint["secret"])
        got = first_arrivals(receiver)
        assert [r.id for r in got] == expected  # one subject: strictly in order
        assert [r.type for r in got] == [
            "work_order.created",
            "work_order.assigned",
            "work_order.status_changed",
            "work_order.status_changed",
        ]
        body = got[2].json
        assert body["data"]["previous_status"] == "open"
        assert body["data"]["work_order"]["number"] == wo["number"]
        assert {d["status"] for d in await settled(live, endpoint["id"])} == {"succeeded"}


async def test_subscription_filters_event_types(live: Api) -> None:
    with Receiver() as everything, Receiver() as changes:
        await register(live, everything.url)
        await register(live, changes.url, event_types=["work_order.status_changed"])
        wo = await create_work_order(live)
        assert (await act(live, wo["id"], "cancel", {"reason": "duplicate"})).is_success
        await eventually(lambda: len(changes.delivered()) == 1, what="status change")
        await eventually(lambda: len(everything.delivered()) == 2, what="both events")
        assert changes.delivered()[0].json["data"]["work_order"]["status"] == "cancelled"
        assert [r.type for r in everything.delivered()] == [
            "work_order.created",
            "work_order.status_changed",
        ]


async def test_500_then_200_is_retried_with_the_same_id(live: Api) -> None:
    failures_before = await metric(live, 'qualityapi_webhook_attempts_total{outcome="http_status"}')
    with Receiver() as receiver:
        receiver.plan.extend([Reply(500), Reply(502)])
        endpoint = await register(live, receiver.url)
        await create_work_order(live)
        await eventually(lambda: len(receiver.delivered()) == 1, what="delivery after 5xx")
        requests = receiver.snapshot()
        assert [r.answered for r in requests] == [500, 502, 200]
        assert len({r.id for r in requests}) == 1
        assert requests[0].id == (await message_ids(live))[0]
        receiver.verify_all(endpoint["secret"])
        await settled(live, endpoint["id"])
        log = await attempts(live, endpoint["id"])
        assert [(a["status_code"], a["error_class"]) for a in reversed(log)] == [
            (500, "http_status"),
            (502, "http_status"),
            (200, None),
        ]
        got = await live.client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=live.auth())
        assert got.json()["failing_since"] is None  # the success cleared it
    failures = await metric(live, 'qualityapi_webhook_attempts_total{outcome="http_status"}')
    assert failures - failures_before == 2


async def test_a_receiver_that_times_out_gets_the_message_again(database_url: str) -> None:
    settings = {**LIVE, "webhook_read_timeout_seconds": 0.5}
    async with started_api(database_url, SystemClock(), **settings) as live:
        with Receiver() as receiver:
            receiver.plan.append(Reply(200, delay=1.5))  # longer than the 0.5 s read timeout
            endpoint = await register(live, receiver.url)
            await create_work_order(live)
            await eventually(lambda: len(receiver.snapshot()) >= 2, what="retry after timeout")
            first, second = receiver.snapshot()[:2]
            assert first.id == second.id
            await settled(live, endpoint["id"])
            log = await attempts(live, endpoint["id"])
            assert log[-1]["error_class"] == "timeout"
            assert any(a["succeeded"] for a in log)


async def test_connection_refused_until_the_receiver_starts(live: Api) -> None:
    port = free_port()
    endpoint = await register(live, f"http://127.0.0.1:{port}/hooks")
    await create_work_order(live)
    failed: list[dict[str, Any]] = []

    async def refused() -> bool:
        failed[:] = await attempts(live, endpoint["id"], failed="true")
        return len(failed) >= 2

    for _ in range(100):
        if await refused():
            break
        await eventually(lambda: True, within=0.1)
    assert {a["error_class"] for a in failed} == {"connect_error"}
    with Receiver(port) as receiver:
        await eventually(lambda: len(receiver.delivered()) == 1, what="delivery after start")
        assert receiver.delivered()[0].id == (await message_ids(live))[0]
        receiver.verify_all(endpoint["secret"])


async def test_429_retry_after_is_honoured(live: Api) -> None:
    with Receiver() as receiver:
        receiver.plan.append(Reply(429, {"Retry-After": "2"}))
        await register(live, receiver.url)
        await create_work_order(live)
        await eventually(lambda: len(receiver.delivered()) == 1, what="delivery after 429")
        first, second = receiver.snapshot()
        assert first.id == second.id
        # The schedule here retries after 0.3 s; the receiver asked for 2 s.
        assert second.at - first.at >= 1.8


async def test_410_disables_the_endpoint_and_nothing_is_lost(live: Api) -> None:
    with Receiver() as gone, Receiver() as watcher:
        gone.plan.append(Reply(410))
        endpoint = await register(live, gone.url)
        await register(live, watcher.url, event_types=["webhook.endpoint_disabled"])
        await create_work_order(live)
        await eventually(lambda: len(watcher.delivered()) == 1, what="endpoint_disabled event")
        event = watcher.delivered()[0].json
        assert event["type"] == "webhook.endpoint_disabled"
        assert event["data"]["endpoint_id"] == endpoint["id"]
        assert "410" in event["data"]["reason"]
        path = f"/v1/webhook-endpoints/{endpoint['id']}"
        state = (await live.client.get(path, headers=live.auth())).json()
        assert state["enabled"] is False and "410" in state["disabled_reason"]
        pending = await live.client.get(
            f"{path}/deliveries", params={"status": "pending"}, headers=live.auth()
        )
        assert len(pending.json()["items"]) == 1  # waiting, not dropped
        assert len(gone.snapshot()) == 1
        # The receiver is back: enabling the endpoint sends what waited, same id.
        enabled = await live.client.patch(path, json={"enabled": True}, headers=live.auth())
        assert enabled.json()["disabled_reason"] is None
        await eventually(lambda: len(gone.delivered()) == 1, what="delivery after enabling")
        assert gone.delivered()[0].id == gone.snapshot()[0].id


async def test_an_endpoint_failing_for_the_configured_period_is_disabled(
    database_url: str,
) -> None:
    settings = {**LIVE, "webhook_disable_after_seconds": 1.0}
    async with started_api(database_url, SystemClock(), **settings) as live:
        with Receiver(default=Reply(500)) as broken, Receiver() as watcher:
            endpoint = await register(live, broken.url)
            await register(live, watcher.url, event_types=["webhook.endpoint_disabled"])
            await create_work_order(live)
            await eventually(lambda: len(watcher.delivered()) == 1, what="disabled event")
            data = watcher.delivered()[0].json["data"]
            assert data["endpoint_id"] == endpoint["id"]
            assert "every attempt failed since" in data["reason"]
            assert len(broken.snapshot()) >= 2


async def test_resend_and_replay_keep_the_original_ids(live: Api) -> None:
    with Receiver() as receiver:
        endpoint = await register(live, receiver.url)
        await create_work_order(live)
        await create_work_order(live)
        await eventually(lambda: len(receiver.delivered()) == 2, what="first deliveries")
        await settled(live, endpoint["id"])
        first_ids = [r.id for r in receiver.delivered()]
        path = f"/v1/webhook-endpoints/{endpoint['id']}"
        resent = await live.client.post(
            f"{path}/messages/{first_ids[0]}/resend", headers=live.auth()
        )
        assert resent.status_code == 202 and resent.json() == {"scheduled": 1}
        await eventually(lambda: len(receiver.delivered()) == 3, what="resend")
        assert receiver.delivered()[2].id == first_ids[0]
        await settled(live, endpoint["id"])
        replay = await live.client.post(
            f"{path}/replay", json={"since": "2000-01-01T00:00:00Z"}, headers=live.auth()
        )
        assert replay.json() == {"scheduled": 2}
        await eventually(lambda: len(receiver.delivered()) == 5, what="replay")
        assert sorted(r.id for r in receiver.delivered()[3:]) == sorted(first_ids)
        receiver.verify_all(endpoint["secret"])


async def test_replay_reaches_messages_written_before_the_endpoint_existed(live: Api) -> None:
    await create_work_order(live)
    with Receiver() as receiver:
        endpoint = await register(live, receiver.url)
        response = await live.client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/replay",
            json={"since": "2000-01-01T00:00:00+08:00"},
            headers=live.auth(),
        )
        assert response.json() == {"scheduled": 1}
        await eventually(lambda: len(receiver.delivered()) == 1, what="replayed delivery")
        assert receiver.delivered()[0].id == (await message_ids(live))[0]


async def test_a_warning_whose_clock_was_met_expires_before_delivery(database_url: str) -> None:
    """Driven by an injected clock: the scanner warns, the order is answered, then the
    dispatcher runs. The warning is no longer true and is not sent; the rest is."""
    clock = FrozenClock(START)
    async with started_api(database_url, clock, **LOOPBACK) as api:
        settings = api.app.state.settings.model_copy(update=LIVE)
        with Receiver() as receiver:
            endpoint = await register(api, receiver.url)
            wo = await create_work_order(api, priority="urgent")
            clock.advance(timedelta(minutes=50))  # urgent: respond within 1 h; warned by now
            result = await scan_once(api.app.state.sessionmaker, clock.now())
            assert result.transitions >= 1
            assert (await act(api, wo["id"], "respond")).is_success
            dispatcher = Dispatcher(
                api.app.state.sessionmaker, clock, api.app.state.webhook_sender, settings
            )
            dispatcher.start()
            try:
                await eventually(
                    lambda: (
                        [r.type for r in receiver.delivered()]
                        == ["work_order.created", "work_order.status_changed"]
                    ),
                    what="deliveries without the warning",
                )
            finally:
                await dispatcher.stop()
            deliveries = await api.client.get(
                f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=api.auth()
            )
            by_type = {d["event_type"]: d["status"] for d in deliveries.json()["items"]}
            assert by_type["sla.warning"] == "expired"
            assert by_type["work_order.status_changed"] == "succeeded"


class SwitchableResolver(ssrf.Resolver):
    """DNS as the test says: ``hooks.test`` resolves to whatever ``answer`` is now."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def resolve(self, host: str, port: int) -> list[ssrf.IpAddress]:
        assert host == "hooks.test"
        return [ipaddress.ip_address(self.answer)]


async def test_ssrf_guard_checks_again_at_send_time_and_connects_to_the_checked_address(
    live: Api,
) -> None:
    sender = live.app.state.webhook_sender
    resolver = SwitchableResolver("127.0.0.1")
    sender.resolver = resolver
    with Receiver() as receiver:
        # ``hooks.test`` exists only in this resolver: a second lookup by the HTTP client
        # would fail, so a delivery proves the connection went to the checked address.
        endpoint = await register(live, f"http://hooks.test:{receiver.port}/hooks")
        resolver.answer = "10.1.2.3"  # DNS now points inside a network nobody allowed
        await create_work_order(live)
        refused: list[dict[str, Any]] = []

        async def poll() -> bool:
            refused[:] = await attempts(live, endpoint["id"], failed="true")
            return bool(refused)

        for _ in range(100):
            if await poll():
                break
            await eventually(lambda: True, within=0.1)
        assert refused[0]["error_class"] == "ssrf_refused"
        assert "10.1.2.3" in refused[0]["error"]
        assert receiver.snapshot() == []
        resolver.answer = "127.0.0.1"
        await eventually(lambda: len(receiver.delivered()) == 1, what="delivery via checked IP")
        assert receiver.delivered()[0].headers["host"] == f"hooks.test:{receiver.port}"
        receiver.verify_all(endpoint["secret"])


async def test_subjects_go_in_parallel_up_to_the_endpoint_limit(database_url: str) -> None:
    settings = {**LIVE, "webhook_endpoint_concurrency": 3}
    async with started_api(database_url, SystemClock(), **settings) as live:
        # A second per answer: the twelve creates come faster than that however loaded the
        # machine is, so more than three subjects are always waiting.
        with Receiver(default=Reply(200, delay=1.0)) as receiver:
            await register(live, receiver.url)
            for _ in range(12):
                await create_work_order(live)
            await eventually(lambda: len(receiver.delivered()) >= 12, what="12 deliveries")
            # Twelve subjects, a second each: in parallel, but never more than three at once.
            assert receiver.max_concurrent == 3


async def test_a_send_cut_short_by_shutdown_gives_its_lease_back(database_url: str) -> None:
    """Found: a send cancelled at the end of the grace period kept its lease for the whole
    lease time (60 s): another replica could not send it for a minute."""
    clock = SystemClock()
    async with started_api(database_url, clock, **LOOPBACK) as api:
        settings = api.app.state.settings.model_copy(
            update={**LIVE, "scheduler_enabled": False, "webhook_read_timeout_seconds": 30.0}
        )
        with Receiver() as receiver:
            receiver.plan.append(Reply(200, delay=10.0))  # answers long after the grace
            await register(api, receiver.url)
            await create_work_order(api)
            dispatcher = Dispatcher(
                api.app.state.sessionmaker, clock, api.app.state.webhook_sender, settings
            )
            dispatcher.start()
            try:
                await eventually(lambda: bool(dispatcher._sends), what="a send in flight")
                await asyncio.sleep(0.3)  # the request is out; the receiver sits on it
            finally:
                await dispatcher.stop(grace=0.1)
        async with api.app.state.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(
                        WebhookDelivery.claim_token,
                        WebhookDelivery.next_attempt_at,
                        WebhookDelivery.status,
                    )
                )
            ).all()
        assert [r.status for r in rows] == ["pending"]
        assert [r.claim_token for r in rows] == [None]
        assert rows[0].next_attempt_at <= datetime.now(UTC)
