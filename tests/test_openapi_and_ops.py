"""The committed OpenAPI document, operations endpoints, offline docs."""

from __future__ import annotations

import json

from qualityapi.main import create_app
from tests.conftest import ROOT, Api


def test_committed_openapi_matches_the_live_schema() -> None:
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    live = create_app().openapi()
    assert committed == live, "openapi/openapi.json is stale: run `make openapi` and commit it"


def test_operation_ids_are_unique_and_every_error_is_a_problem() -> None:
    schema = create_app().openapi()
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for path, item in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in item.items():
            assert "401" in op["responses"], (method, path)
            assert "problem+json" in json.dumps(op["responses"]["401"]), (method, path)


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = (await api.client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["database"] == "ok"
    assert ready["revision"] == ready["head"]


async def test_metrics_count_requests(api: Api) -> None:
    await api.client.get("/v1/work-orders", headers=api.auth())
    text = (await api.client.get("/metrics")).text
    assert (
        'qualityapi_http_requests_total{handler="list_work_orders",method="GET",status="200"}'
        in text
    )


async def test_docs_render_without_internet(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        html = (await api.client.get(page)).text
        assert "cdn." not in html and "unpkg" not in html
        assets = [part.split('"')[0] for part in html.split('src="')[1:]]
        assets += [part.split('"')[0] for part in html.split('href="')[1:] if ".css" in part]
        local = [a for a in assets if a.startswith("/")]
        assert local, page
        for asset in local:
            response = await api.client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 1000, asset


async def test_request_id_is_echoed(api: Api) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert (await api.client.get("/healthz")).headers["x-request-id"]
