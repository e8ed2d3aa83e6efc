"""The committed OpenAPI document, operations endpoints, offline docs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _walk(node: object, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def test_every_error_response_declares_the_problem_schema_as_problem_json() -> None:
    schema = create_app().openapi()
    missing = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for code, response in op["responses"].items():
                if code[0] not in "45":
                    continue
                content = response.get("content", {})
                if content != {"application/problem+json": {"schema": PROBLEM_REF}}:
                    missing.append(f"{method.upper()} {path} {code}: {json.dumps(content)}")
    assert missing == []
    # Problem is never documented as application/json, the type no error is sent as.
    for where, node in _walk(schema["paths"]):
        if node.get("schema") == PROBLEM_REF:
            assert where.endswith("/application/problem+json"), where
    assert "HTTPValidationError" not in json.dumps(schema["paths"])


def test_every_timestamp_in_the_document_has_format_date_time() -> None:
    schema = create_app().openapi()
    names = ("_at", "_from", "_to", "since", "start", "timestamp", "_end", "_start")
    untyped = []
    for where, node in _walk(schema):
        for name, prop in (node.get("properties") or {}).items():
            if not isinstance(prop, dict) or not name.endswith(names):
                continue
            options = prop.get("anyOf", [prop])
            # A string with a pattern is something else (a time of day "09:00").
            if any(
                o.get("type") == "string" and not {"format", "pattern"} & set(o) for o in options
            ):
                untyped.append(f"{where}/{name}")
        if node.get("in") == "query" and str(node.get("name", "")).endswith(names):
            options = node["schema"].get("anyOf", [node["schema"]])
            if any(o.get("type") == "string" and "format" not in o for o in options):
                untyped.append(f"{where} ({node['name']})")
    assert untyped == []
    read = schema["components"]["schemas"]["WorkOrderRead"]["properties"]
    assert read["created_at"] == {"type": "string", "format": "date-time", "title": "Created At"}


def test_the_problem_schema_validates_what_the_server_sends() -> None:
    problem = create_app().openapi()["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert "errors" in problem["properties"]


def test_every_id_parameter_has_format_uuid() -> None:
    schema = create_app().openapi()
    loose = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                if not param["name"].endswith("_id") or param["name"] in (
                    "message_id",
                    "resource_id",
                ):
                    continue
                options = param["schema"].get("anyOf", [param["schema"]])
                if any(o.get("type") == "string" and o.get("format") != "uuid" for o in options):
                    loose.append(f"{method.upper()} {path} {param['name']}")
    assert loose == []
