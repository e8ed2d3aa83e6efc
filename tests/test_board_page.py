"""The landing page, the board page and its assets, the board's change stream and chart
(no browser: tests/browser/ drives the page itself). Both databases."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from qualityapi.auth.models import Role
from qualityapi.clock import FrozenClock
from tests.conftest import START, Api, started_api
from tests.helpers import act, assert_problem, create_staff, create_work_order
from tests.test_complaints import create_complaint

# A stream that ends after 1 s, with a heartbeat every 0.2 s and a feed polling every 0.1 s.
FAST_STREAM: dict[str, object] = {
    "board_stream_max_seconds": 1,
    "board_stream_heartbeat_seconds": 0.2,
    "board_stream_poll_seconds": 0.1,
}


@pytest.fixture
async def fast(database_url: str) -> AsyncIterator[Api]:
    async with started_api(database_url, FrozenClock(START), **FAST_STREAM) as running:
        yield running


@pytest.fixture
async def roomy(database_url: str) -> AsyncIterator[Api]:
    """The fast stream, lasting 2 s: room for a slow first read on a loaded machine before
    what the test counts (heartbeats, a change) has to happen."""
    settings = {**FAST_STREAM, "board_stream_max_seconds": 2}
    async with started_api(database_url, FrozenClock(START), **settings) as running:
        yield running


def frames(text: str) -> list[dict[str, Any]]:
    """The stream's frames: {"comment": ...} or {"id", "event", "data", "retry"}."""
    out: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        if not block:
            continue
        frame: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                frame["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                frame[name] = value
        out.append(frame)
    return out


def boards(text: str) -> list[dict[str, Any]]:
    return [f for f in frames(text) if f.get("event") == "board"]


async def listening(api: Api) -> None:
    """Until the stream started in a task has subscribed and read its first board
    (bounded)."""
    feed = api.app.state.board_feed
    for _ in range(500):
        if feed.clients and feed.latest is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the stream never subscribed")


async def stream(api: Api, **headers: str) -> httpx.Response:
    # httpx's ASGI transport returns once the app has sent the whole (here: 1 s) stream.
    return await api.client.get(
        "/v1/board/stream", headers={**api.auth(Role.viewer), **headers}, timeout=30
    )


# --- pages and assets -----------------------------------------------------------------


async def test_landing_page_links_the_board_and_the_docs(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = set(re.findall(r'href="([^"]+)"', response.text))
    assert {"/board", "/board?kiosk=1", "/docs", "/redoc"} <= links
    # No outside asset: every href and src is a path on this server.
    assert all(link.startswith("/") for link in links), links
    # Uptime checks ask with HEAD: the same answer, no body.
    for path in ("/", "/board", "/static/board.js"):
        head = await api.client.head(path)
        assert head.status_code == 200, path
        assert head.headers["content-type"].startswith(("text/html", "text/javascript")), path


async def test_board_page_is_a_shell_with_local_assets_only(api: Api) -> None:
    await create_work_order(api, title="Secret title that needs a key")
    response = await api.client.get("/board")
    assert response.status_code == 200
    html = response.text
    # The page itself carries no data: without a key there is nothing to see.
    assert "Secret title" not in html and "WO-" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/board.js?v=" in " ".join(assets)
    assert all(a.startswith("/") for a in assets), assets
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert 'id="key-form"' in html and 'id="column-red"' in html
    assert "within 2 s" in html  # the latency the page states (and the browser test holds)
    assert 'class="board-page"' in html and 'id="controls"' in html


async def test_kiosk_mode_has_large_type_and_no_controls(api: Api) -> None:
    html = (await api.client.get("/board?kiosk=1")).text
    assert 'class="board-page kiosk"' in html
    assert 'id="controls"' not in html and "forget-key" not in html


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("board.js", "text/javascript"),
        ("board.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_assets_are_served_by_the_service(
    api: Api, name: str, content_type: str
) -> None:
    response = await api.client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 100
    assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in response.text


async def test_unknown_assets_and_paths_outside_static_are_404(api: Api) -> None:
    for path in ("/static/nope.js", "/static/..%2Fboard.py", "/static/board.html"):
        assert_problem(await api.client.get(path), 404)


async def test_pages_are_not_in_the_openapi_document(api: Api) -> None:
    paths = api.app.openapi()["paths"]
    for path in ("/", "/board", "/static/{name}", "/v1/board/stream", "/v1/board/attainment.svg"):
        assert path not in paths


# --- the board JSON names the assignee ------------------------------------------------


async def test_board_items_name_their_assignee(api: Api) -> None:
    engineer = await create_staff(api, "Li Na")
    officer = await create_staff(api, "Officer Wu")
    wo = await create_work_order(api, title="Lift stuck")
    assert (await act(api, wo["id"], "assign", {"assignee_id": engineer["id"]})).status_code == 200
    unassigned = await create_work_order(api, title="Door squeaks")
    complaint = await create_complaint(api, officer["id"], description="Rude on the phone " * 20)
    board = (await api.client.get("/v1/board", headers=api.auth(Role.viewer))).json()
    items = {i["id"]: i for i in board["items"]["blue"]}
    assert items[wo["id"]]["assignee"] == {"id": engineer["id"], "name": "Li Na"}
    assert items[unassigned["id"]]["assignee"] is None
    # A complaint's assignee is its owner (first-contact responsibility).
    assert items[complaint["id"]]["assignee"] == {"id": officer["id"], "name": "Officer Wu"}
    # Its card shows the start of what the customer said (a complaint has no title).
    assert items[complaint["id"]]["title"] == ("Rude on the phone " * 20)[:120]
    assert items[wo["id"]]["title"] == "Lift stuck"


async def test_the_board_says_when_the_server_computed_it(api: Api) -> None:
    # Pages count down from this instant, not from the browser's own (maybe wrong) clock.
    clock = api.app.state.clock
    clock.advance(timedelta(minutes=7, seconds=3))
    board = (await api.client.get("/v1/board", headers=api.auth(Role.viewer))).json()
    assert board["generated_at"] == (START + timedelta(minutes=7, seconds=3)).isoformat().replace(
        "+00:00", "Z"
    )


# --- the stream -----------------------------------------------------------------------


async def test_stream_refuses_without_a_valid_key(fast: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer qak_not_a_real_key"}):
        response = await fast.client.get("/v1/board/stream", headers=headers)
        assert_problem(response, 401)
        assert "data:" not in response.text


async def test_stream_sends_the_board_then_heartbeats_with_sse_headers(roomy: Api) -> None:
    await create_work_order(roomy, title="Lift stuck")
    response = await stream(roomy)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    got = frames(response.text)
    assert got[0] == {"retry": "1000"}
    sent = boards(response.text)
    assert len(sent) == 1  # nothing changed during the stream: one board, then heartbeats
    board = json.loads(sent[0]["data"])
    assert board["counts"]["blue"] == 1
    assert board["items"]["blue"][0]["title"] == "Lift stuck"
    assert re.fullmatch(r"[0-9a-f]{20}", sent[0]["id"])
    heartbeats = [f for f in got if f.get("comment") == "heartbeat"]
    assert len(heartbeats) >= 2


async def test_last_event_id_resumes_without_resending_an_unchanged_board(fast: Api) -> None:
    await create_work_order(fast)
    first = boards((await stream(fast)).text)[0]
    again = await stream(fast, **{"Last-Event-ID": first["id"]})
    # The page already has this board: only heartbeats until something changes.
    assert boards(again.text) == []
    assert any(f.get("comment") == "heartbeat" for f in frames(again.text))
    # A board the page has not seen is sent at once.
    stale = await stream(fast, **{"Last-Event-ID": "0" * 20})
    assert [b["id"] for b in boards(stale.text)] == [first["id"]]


async def test_time_passing_alone_is_no_change_to_push(fast: Api) -> None:
    # The snapshot's id leaves generated_at out: a board that only got older is not resent,
    # and the one sent carries the time of the read that found it.
    await create_work_order(fast, title="Lift stuck")

    async def later() -> None:
        await listening(fast)
        for _ in range(5):
            await asyncio.sleep(0.1)
            fast.app.state.clock.advance(timedelta(seconds=1))

    response, _ = await asyncio.gather(stream(fast), later())
    sent = boards(response.text)
    assert len(sent) == 1, response.text
    # Read when the stream subscribed (before or while the clock moved): one of those instants.
    instants = {(START + timedelta(seconds=k)).isoformat().replace("+00:00", "Z") for k in range(6)}
    assert json.loads(sent[0]["data"])["generated_at"] in instants


async def test_a_change_is_pushed_on_an_open_stream(roomy: Api) -> None:
    first = await create_work_order(roomy, title="First")

    async def later() -> None:
        await listening(roomy)  # the first board is read: the next one is a change
        await create_work_order(roomy, title="Second")

    response, _ = await asyncio.gather(stream(roomy), later())
    sent = boards(response.text)
    assert len(sent) == 2, response.text
    titles = [sorted(i["title"] for i in json.loads(b["data"])["items"]["blue"]) for b in sent]
    assert titles == [["First"], ["First", "Second"]]
    assert sent[0]["id"] != sent[1]["id"]
    assert first["warning_level"] == "blue"


async def test_stream_ends_when_the_feed_closes(database_url: str) -> None:
    long_lived = {**FAST_STREAM, "board_stream_max_seconds": 600}
    async with started_api(database_url, FrozenClock(START), **long_lived) as api:
        task = asyncio.create_task(stream(api))
        await listening(api)
        api.app.state.board_feed.close()  # what `qualityapi serve` does on SIGTERM
        response = await asyncio.wait_for(task, 10)
        assert response.status_code == 200
        # The close may come before the first board was computed (CI saw it): ending the
        # stream is what matters here; the first board is covered by the tests above.
        assert len(boards(response.text)) <= 1
        assert response.text.startswith("retry: 1000")
        assert api.app.state.board_feed.clients == 0
        # A closed feed (shutting down) takes no new streams.
        assert_problem(await stream(api), 503)


async def test_streams_beyond_the_limit_get_503(database_url: str) -> None:
    async with started_api(
        database_url, FrozenClock(START), **FAST_STREAM, board_stream_max_clients=1
    ) as api:
        task = asyncio.create_task(stream(api))
        await listening(api)
        refused = await stream(api)
        assert_problem(refused, 503)
        assert refused.headers["retry-after"] == "5"
        assert (await task).status_code == 200


# --- the chart ------------------------------------------------------------------------


async def test_attainment_chart_needs_a_key_and_is_an_svg(api: Api) -> None:
    assert_problem(await api.client.get("/v1/board/attainment.svg"), 401)
    response = await api.client.get("/v1/board/attainment.svg", headers=api.auth(Role.viewer))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = response.text
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "last 30 days" in svg and "goal 95 %" in svg
    assert "<script" not in svg
    assert svg.count('class="day') == 30


async def test_attainment_chart_draws_the_reports_daily_figures(api: Api) -> None:
    from qualityapi.reports.service import fold_pending
    from qualityapi.sla.scanner import scan_once

    met = await create_work_order(api, priority="urgent", title="Met in time")
    await create_work_order(api, priority="urgent", title="Left to breach")
    assert (await act(api, met["id"], "respond")).status_code == 200
    api.clock.advance(timedelta(hours=5))  # urgent: respond 1 h, on site 4 h (24x7)
    await scan_once(api.app.state.sessionmaker, api.clock.now())
    await fold_pending(api.app.state.sessionmaker)
    svg = (await api.client.get("/v1/board/attainment.svg", headers=api.auth(Role.viewer))).text
    # Today: the met response, and the two arrivals and one response that were missed.
    assert "25 % (1 of 4 met)" in svg, svg[:400]
    assert svg.count('fill="#c62828"') == 1  # one red bar: today, under the goal
