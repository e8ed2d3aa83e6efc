"""Bad input gets a problem+json answer, never HTML, never a trace, never a lost write."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.models import Role
from qualityapi.work_orders.models import WorkOrder
from tests.conftest import Api
from tests.helpers import assert_problem, create_work_order, work_order_body


async def test_bodies_that_cannot_be_read_are_malformed_json_problems(api: Api) -> None:
    # Not FastAPI's bare "There was an error parsing the body" (type http-error).
    cases = {
        b'{"title": "\xff\xfe"}': "not valid UTF-8",
        b"[" * 100_000 + b"]" * 100_000: "nests too deeply",
        b'{"title": ' + b"9" * 5000 + b"}": "too many digits",
    }
    for body, reason in cases.items():
        response = await api.client.post(
            "/v1/work-orders",
            content=body,
            headers={**api.auth(Role.agent), "Content-Type": "application/json"},
        )
        problem = assert_problem(response, 400)
        assert problem["type"].endswith("/malformed-json"), problem
        assert reason in problem["detail"] and problem["errors"][0]["loc"][0] == "body"


async def test_malformed_json_is_400(api: Api) -> None:
    response = await api.client.post(
        "/v1/work-orders",
        content=b'{"title": "x",',
        headers={**api.auth(Role.agent), "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


async def test_validation_errors_list_every_field(api: Api) -> None:
    response = await api.client.post(
        "/v1/work-orders",
        json={"priority": "whenever", "customer": {}, "surprise": 1},
        headers=api.auth(Role.agent),
    )
    body = assert_problem(response, 422)
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert {
        ("body", "title"),
        ("body", "priority"),
        ("body", "customer", "name"),
        ("body", "surprise"),
    } <= locs
    assert all(e["msg"] for e in body["errors"])


async def test_unknown_path_and_method_are_problems(api: Api) -> None:
    missing = assert_problem(await api.client.get("/v1/nothing-here", headers=api.auth()), 404)
    assert missing["detail"] == "no such path: GET /v1/nothing-here; every path is in /docs"
    wo = await create_work_order(api)
    typo = await api.client.post(f"/v1/work-orders/{wo['id']}/resolv", headers=api.auth())
    assert "no such path: POST" in assert_problem(typo, 404)["detail"]
    refused = await api.client.delete("/v1/work-orders", headers=api.auth())
    assert_problem(refused, 405)
    # Allow names every method of the path, not only the first route's (RFC 9110 15.5.6).
    assert refused.headers["allow"] == "GET, POST"
    assert "takes GET, POST" in refused.json()["detail"]
    keys = await api.client.put("/v1/api-keys", headers=api.auth())
    assert assert_problem(keys, 405) and keys.headers["allow"] == "GET, POST"


async def test_oversized_body_is_413_and_nothing_is_stored(api: Api) -> None:
    body = work_order_body(description="x" * 2_000_000)
    response = await api.client.post("/v1/work-orders", json=body, headers=api.auth(Role.agent))
    assert_problem(response, 413)
    listed = await api.client.get("/v1/work-orders", headers=api.auth())
    assert listed.json()["items"] == []


async def test_oversized_chunked_body_is_413(api: Api) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536

    response = await api.client.post(
        "/v1/work-orders",
        content=chunks(),
        headers={**api.auth(Role.agent), "Content-Type": "application/json"},
    )
    assert_problem(response, 413)


async def test_failed_commit_is_an_error_not_a_201(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session commits before the response is sent: a commit failure must surface."""

    async def broken_commit(self: AsyncSession) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(AsyncSession, "commit", broken_commit)
    response = await api.client.post(
        "/v1/work-orders", json=work_order_body(), headers=api.auth(Role.agent)
    )
    body = assert_problem(response, 500)
    assert "disk on fire" not in response.text
    assert body["detail"] == "an unexpected error occurred; it has been logged"
    monkeypatch.undo()
    async with api.app.state.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(WorkOrder))
    assert count == 0


async def test_nul_characters_are_a_clear_422(api: Api) -> None:
    response = await api.client.post(
        "/v1/checklist-templates",
        json={"name": "x", "items": [{"key": "a", "label": "bad\u0000label"}]},
        headers=api.auth(Role.supervisor),
    )
    body = assert_problem(response, 422)
    assert "NUL" in body["errors"][0]["msg"]
    filtered = await api.client.get(
        "/v1/work-orders", params={"category": "a\u0000b"}, headers=api.auth()
    )
    assert "NUL" in assert_problem(filtered, 400)["detail"]


async def test_concurrent_template_versions_never_500(api: Api) -> None:
    import asyncio

    async def create() -> int:
        response = await api.client.post(
            "/v1/checklist-templates",
            json={"name": "site-survey", "items": [{"key": "a", "label": "A"}]},
            headers=api.auth(Role.supervisor),
        )
        return response.status_code

    codes = await asyncio.gather(*(create() for _ in range(5)))
    assert set(codes) <= {201, 409} and 201 in codes


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("message", "sqlstate"),
    [
        ("deadlock detected", "40P01"),
        ("could not serialize access", "40001"),
        ("database is locked", None),  # SQLite's busy timeout ran out
    ],
)
async def test_a_deadlock_or_lock_timeout_is_a_retryable_503(
    api: Api, monkeypatch: pytest.MonkeyPatch, message: str, sqlstate: str | None
) -> None:
    """E.g. the SLA scanner and a request locking an order and its clocks in opposite
    order: the database rolls one back. The client is told to retry, not that we broke."""

    async def rolled_back(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, _DriverError(message, sqlstate))

    monkeypatch.setattr(AsyncSession, "commit", rolled_back)
    response = await api.client.post(
        "/v1/work-orders", json=work_order_body(), headers=api.auth(Role.agent)
    )
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert "retry" in body["detail"]
    monkeypatch.undo()
    async with api.app.state.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(WorkOrder))
    assert count == 0


# Refused by a business rule after the schema let it through: the problem still lists the
# field in errors[], as a schema error does, so a form can show the reason beside it.
@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        (
            "POST",
            "/v1/work-orders",
            work_order_body(reported_at="2999-01-01T00:00:00Z"),
            ["body", "reported_at"],
        ),
        (
            "POST",
            "/v1/work-orders",
            work_order_body(assignee_id="00000000-0000-0000-0000-000000000000"),
            ["body", "assignee_id"],
        ),
        ("GET", "/v1/reports/sla?group_by=weather", None, ["query", "group_by"]),
        # A mistyped kind would match nothing: an empty report that looks true.
        ("GET", "/v1/reports/sla?subject_type=workorder", None, ["query", "subject_type"]),
        ("GET", "/v1/board?subject_type=workorder", None, ["query", "subject_type"]),
        # Swapped bounds would list nothing, an answer that looks true.
        (
            "GET",
            "/v1/work-orders?created_from=2026-11-02T00:00:00Z&created_to=2026-11-01T00:00:00Z",
            None,
            ["query", "created_to"],
        ),
        (
            "GET",
            "/v1/complaints?received_from=2026-11-02T00:00:00Z&received_to=2026-11-01T00:00:00Z",
            None,
            ["query", "received_to"],
        ),
        (
            "GET",
            "/v1/surveys?created_from=2026-11-02T00:00:00Z&created_to=2026-11-02T00:00:00Z",
            None,
            ["query", "created_to"],
        ),
        (
            "GET",
            "/v1/reports/sla?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            None,
            ["query", "to"],
        ),
    ],
)
async def test_a_rule_refusing_a_field_names_it_in_errors(
    api: Api, method: str, path: str, body: dict[str, object] | None, loc: list[str]
) -> None:
    response = await api.client.request(method, path, json=body, headers=api.auth(Role.admin))
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == loc, problem
    assert problem["errors"][0]["msg"] and problem["errors"][0]["msg"] in problem["detail"]


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
async def test_a_json_body_without_its_content_type_says_so(
    api: Api, content_type: str | None
) -> None:
    headers = api.auth(Role.agent)
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = b'{"title": "x", "customer": {"name": "c"}}'
    response = await api.client.post("/v1/work-orders", content=body, headers=headers)
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {
            "loc": ["body"],
            "msg": "the body must be JSON sent with Content-Type: application/json "
            f"(Content-Type was {content_type or 'none'!r})",
            "type": "content_type",
        }
    ]
    assert "Content-Type: application/json" in problem["detail"]
