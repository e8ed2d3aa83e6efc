"""/metrics after some activity: what an on-call dashboard and its alerts read."""

from __future__ import annotations

import platform
import re
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from qualityapi.clock import FrozenClock
from qualityapi.scheduler.jobs import SlaScanJob
from tests.conftest import START, Api, started_api
from tests.helpers import create_work_order
from tests.test_webhook_endpoints import register


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


NIL_ID = "00000000-0000-0000-0000-000000000000"


async def _scrape(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    return _samples(response.text)


async def test_metrics_after_activity(database_url: str) -> None:
    settings = {"webhook_allowed_networks": ["127.0.0.0/8"], "metrics_outbox_refresh_seconds": 0}
    async with started_api(database_url, FrozenClock(START), **settings) as api:
        before = await _scrape(api)
        await register(api, "http://127.0.0.1:9/in")  # a subscriber: messages wait for it
        order = await create_work_order(api, priority="urgent")
        got = await api.client.get(f"/v1/work-orders/{order['id']}", headers=api.auth())
        assert got.status_code == 200
        # An id no order can have (the nil UUID): changing one digit of the real id
        # could give the same id back whenever that digit already was the new one.
        missing = await api.client.get(f"/v1/work-orders/{NIL_ID}", headers=api.auth())
        assert missing.status_code == 404

        # A day later the scanner finds the order's clocks breached.
        api.clock.advance(timedelta(days=1))
        job = SlaScanJob(api.app.state.sessionmaker, api.clock, safety_interval=1, batch=500)
        await job.run()

        response = await api.client.get("/metrics")
        text, after = response.text, _samples(response.text)

    # Latency by route *template* and status: the raw id never becomes a label.
    template = "/v1/work-orders/{work_order_id}"
    hist = "qualityapi_http_request_duration_seconds_count"
    for status in ("200", "404"):
        grew = _value(after, hist, route=template, method="GET", status=status) - _value(
            before, hist, route=template, method="GET", status=status
        )
        assert grew == 1, status
    assert order["id"] not in text
    # The scanner: passes timed, due clocks counted, transitions by stage.
    assert _value(after, "qualityapi_sla_scan_duration_seconds_count") > _value(
        before, "qualityapi_sla_scan_duration_seconds_count"
    )
    assert _value(after, "qualityapi_sla_scan_due_clocks_total") > _value(
        before, "qualityapi_sla_scan_due_clocks_total"
    )
    for stage in ("warning", "breached"):
        assert _value(after, "qualityapi_sla_transitions_total", stage=stage) > _value(
            before, "qualityapi_sla_transitions_total", stage=stage
        ), stage
    # The outbox: the dispatcher is off here, so every message waits; the oldest was
    # written when the order was created, a day ago on the injected clock.
    assert _value(after, "qualityapi_outbox_unrouted_messages") >= 3
    assert _value(after, "qualityapi_outbox_oldest_undelivered_age_seconds") == 86400
    assert _value(after, "qualityapi_webhook_pending_deliveries") == 0
    assert _value(after, "qualityapi_database_up") == 1
    assert ("qualityapi_db_pool_connections_in_use", frozenset()) in after
    build = [ls for (n, ls) in after if n == "qualityapi_build_info"]
    assert build and ("python", platform.python_version()) in build[0]
    assert re.search(r'qualityapi_build_info\{[^}]*version="', text)
    # Webhook attempts by outcome exist as a family (no attempt was made in this test).
    assert "# TYPE qualityapi_webhook_attempts_total counter" in text
