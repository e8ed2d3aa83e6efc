"""``qualityapi demo``: a realistic sample in the configured database.

Everything goes through the service's own API (in process, on an httpx ASGI transport),
so numbers, clocks, levels, escalations, surveys, timeline entries and outbox events are
the real ones. A controllable clock plays a month of history: each order, complaint and
callback is acted on at its own simulated instant, and the SLA scanner runs at those
instants too, so warnings and breaches happen when they would have.

The history is written in one database transaction (each API call a savepoint inside
it): a server already running on the same database (``make run``) sees none of it until
it is complete, so its scanner, which runs on the real clock, never breaches a
historical clock the simulation is about to meet. Then come the open items of today, on
the real clock and in the open: some red, some yellow, many blue, and a few lift
entrapments with five-minute targets that a watcher sees turn yellow and red.

Run twice, it adds only a fresh set of today's items (the history is there already).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qualityapi.auth import service as keys_service
from qualityapi.auth.models import Role
from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.clock import FrozenClock
from qualityapi.config import Settings
from qualityapi.sla.scanner import scan_once

SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORY_DAYS = 30
MARKER_TEAM = "Demo · Mechanical & Lifts"

TEAMS: dict[str, dict[str, Any]] = {
    MARKER_TEAM: {
        "supervisor": "Zhou Min",
        "manager": "Guo Jian",
        "staff": ["Li Na", "Wang Lei", "Sun Hao"],
        "categories": ["lift", "hvac"],
    },
    "Demo · Plumbing & Electrical": {
        "supervisor": "Chen Jing",
        "manager": "Huang Bo",
        "staff": ["Zhao Yun", "Liu Yang", "Xu Fei"],
        "categories": ["plumbing", "electrical"],
    },
    "Demo · IT & Network": {
        "supervisor": "Ma Lin",
        "manager": None,  # a team without a manager: escalations fall back (and say so)
        "staff": ["He Tao", "Lin Xue"],
        "categories": ["network", "access-control"],
    },
    "Demo · Front Desk": {
        "supervisor": "Tang Li",
        "manager": "Feng Qi",
        "staff": ["Wu Dan", "Qian Yu"],
        "categories": ["cleaning", "billing"],
    },
}

TITLES: dict[str, list[str]] = {
    "lift": ["Lift stops between floors", "Lift door does not close", "Lift button panel dead"],
    "hvac": ["Air conditioner leaking", "No heating in meeting room", "AC unit very noisy"],
    "plumbing": ["Toilet blocked", "Water leak under the sink", "No hot water on floor 6"],
    "electrical": ["Power socket sparks", "Corridor lights out", "Breaker trips repeatedly"],
    "network": ["Wi-Fi down in the lobby", "Printer offline", "VPN drops every hour"],
    "access-control": ["Badge reader rejects cards", "Car park barrier stuck open"],
    "cleaning": ["Spill in the canteen", "Rubbish not collected", "Windows need cleaning"],
    "billing": ["Invoice shows wrong amount", "Charged twice for parking"],
}
ENTRAPMENT = ["Passenger trapped in lift", "Lift stuck with people inside"]
LOCATIONS = ["Tower A", "Tower B", "Building 3", "Car park", "Lobby", "Canteen", "Block C"]
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu"]
GIVEN = ["Fang", "Wei", "Min", "Jie", "Lei", "Yan", "Qiang", "Hui", "Ping", "Na"]

# Lift entrapment: respond in 5 minutes, on site in 30 (a rescue, around the clock).
LIFT_POLICY = {
    "name": "Demo · lift entrapment",
    "rank": 1,
    "match": {"categories": ["lift-entrapment"]},
    "targets": {"response": "PT5M", "arrival": "PT30M"},
    "warning": {"percent": 80},
}

Step = Callable[[], Awaitable[None]]


@dataclass
class Summary:
    base_url: str
    key: str
    history_loaded: bool
    work_orders: int = 0
    complaints: int = 0
    surveys: int = 0
    watch: list[str] = field(default_factory=list)
    board: dict[str, int] = field(default_factory=dict)
    # The month with the most of the history in it (its middle day's), for the report line.
    busiest_month: str = ""


class Loader:
    def __init__(self, client: httpx.AsyncClient, clock: FrozenClock, rng: random.Random) -> None:
        self.client = client
        self.clock = clock
        self.rng = rng
        self.teams: dict[str, dict[str, Any]] = {}  # category -> {"team_id", "staff": [ids]}
        self.officers: list[str] = []
        self.queue: list[tuple[datetime, int, Step]] = []
        self.seq = itertools.count()
        self.phones = itertools.count(int(clock.now().timestamp()) % 10_000_000)
        self.counts = {"work_orders": 0, "complaints": 0, "surveys": 0}
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None

    # --- HTTP ---------------------------------------------------------------------------

    async def call(self, method: str, path: str, body: Any = None, ok: bool = True) -> Any:
        response = await self.client.request(method, path, json=body)
        if ok and response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    async def soft(self, method: str, path: str, body: Any = None) -> Any:
        """An action a state may no longer allow (a scanner or an earlier step got there
        first): a 409 is not a failure of the demo."""
        response = await self.client.request(method, path, json=body)
        if response.status_code == 409:
            return None
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    # --- people -------------------------------------------------------------------------

    async def existing_teams(self) -> dict[str, Any]:
        teams = await self.call("GET", "/v1/teams")
        items = teams if isinstance(teams, list) else teams.get("items", [])
        return {t["name"]: t for t in items}

    async def people(self) -> None:
        found = await self.existing_teams()
        staff_list = await self.call("GET", "/v1/staff?limit=500")
        staff_by_name = {s["name"]: s for s in staff_list["items"]}

        async def person(name: str, team_id: str | None, title: str) -> str:
            if name in staff_by_name:
                return str(staff_by_name[name]["id"])
            body: dict[str, Any] = {"name": name, "title": title}
            if team_id:
                body["team_id"] = team_id
            created = await self.call("POST", "/v1/staff", body)
            staff_by_name[name] = created
            return str(created["id"])

        for name, spec in TEAMS.items():
            team = found.get(name) or await self.call("POST", "/v1/teams", {"name": name})
            supervisor = await person(spec["supervisor"], team["id"], "Supervisor")
            manager = (
                await person(spec["manager"], team["id"], "Manager") if spec["manager"] else None
            )
            await self.call(
                "PATCH",
                f"/v1/teams/{team['id']}",
                {"supervisor_id": supervisor, "manager_id": manager},
            )
            members = [await person(n, team["id"], "Engineer") for n in spec["staff"]]
            for category in spec["categories"]:
                self.teams[category] = {"team_id": team["id"], "staff": members}
            if name == MARKER_TEAM:
                self.teams["lift-entrapment"] = {"team_id": team["id"], "staff": members}
        self.officers = [
            await person(n, None, "Quality officer") for n in ("Officer Wu", "Officer Deng")
        ]

    async def policies(self) -> None:
        # One page holds every policy and calendar a demo database has (at most 500 each).
        existing = await self.call("GET", "/v1/sla-policies?limit=500")
        if any(p["name"] == LIFT_POLICY["name"] for p in existing["items"]):
            return
        calendars = await self.call("GET", "/v1/calendars?limit=500")
        always = next(c for c in calendars["items"] if c["name"] == "24x7")
        await self.call("POST", "/v1/sla-policies", {**LIFT_POLICY, "calendar_id": always["id"]})

    # --- the simulation ---------------------------------------------------------------

    def at(self, when: datetime, step: Step) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), step))

    async def run(self, until: datetime) -> None:
        """Every step in time order, the scanner at each step's instant first."""
        assert self.sessionmaker is not None
        while self.queue and self.queue[0][0] <= until:
            when, _, step = heapq.heappop(self.queue)
            self.clock.set(max(when, self.clock.now()))
            await scan_once(self.sessionmaker, self.clock.now())
            await step()
        self.clock.set(until)
        await scan_once(self.sessionmaker, until)
        self.queue.clear()

    def customer(self) -> dict[str, Any]:
        # A different phone for everyone: the survey throttle keys on it.
        n = next(self.phones)
        name = f"{self.rng.choice(SURNAMES)} {self.rng.choice(GIVEN)}"
        return {"name": name, "phone": f"+86 139 {n // 10_000 % 10_000:04d} {n % 10_000:04d}"}

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    async def new_order(
        self, category: str, priority: str, reported_at: datetime, *, assign: bool = True
    ) -> dict[str, Any]:
        team = self.teams[category]
        body: dict[str, Any] = {
            "title": self.rng.choice(TITLES.get(category, ENTRAPMENT)),
            "category": category,
            "priority": priority,
            "customer": self.customer(),
            "location": f"{self.rng.choice(LOCATIONS)}, floor {self.rng.randint(1, 20)}",
            "reported_at": reported_at.isoformat(),
            "team_id": team["team_id"],
        }
        if priority == "high":
            start = reported_at + timedelta(hours=self.rng.choice([2, 3, 4]))
            body["appointment_start"] = start.isoformat()
            body["appointment_end"] = (start + timedelta(hours=2)).isoformat()
        if assign:
            body["assignee_id"] = self.rng.choice(team["staff"])
        self.counts["work_orders"] += 1
        created: dict[str, Any] = await self.call("POST", "/v1/work-orders", body)
        return created

    def history_order(self, start: datetime) -> None:
        """One order's life: reported, assigned, responded, on site, resolved, closed;
        mostly on time, sometimes late, now and then reopened or cancelled."""
        rng = self.rng
        category = rng.choice(list(TITLES))
        priority = rng.choices(["urgent", "high", "normal"], [2, 3, 5])[0]
        late = rng.random() < 0.12
        state: dict[str, Any] = {}

        async def report() -> None:
            wo = await self.new_order(category, priority, start, assign=False)
            state["id"] = wo["id"]
            self.at(self.clock.now() + self.minutes(2, 15), assign)

        async def assign() -> None:
            team = self.teams[category]
            await self.soft(
                "POST",
                f"/v1/work-orders/{state['id']}/assign",
                {"assignee_id": rng.choice(team["staff"]), "team_id": team["team_id"]},
            )
            if rng.random() < 0.03:
                self.at(self.clock.now() + self.minutes(5, 30), cancel)
                return
            delay = {"urgent": (5, 40), "high": (10, 90), "normal": (20, 200)}[priority]
            wait = self.minutes(*delay) * (4 if late else 1)
            self.at(self.clock.now() + wait, respond)

        async def cancel() -> None:
            await self.soft(
                "POST", f"/v1/work-orders/{state['id']}/cancel", {"reason": "Duplicate report"}
            )

        async def respond() -> None:
            await self.soft("POST", f"/v1/work-orders/{state['id']}/respond", {})
            self.at(self.clock.now() + self.minutes(15, 120) * (3 if late else 1), arrive)

        async def arrive() -> None:
            await self.soft("POST", f"/v1/work-orders/{state['id']}/arrive", {})
            self.at(self.clock.now() + self.minutes(20, 240), resolve)

        async def resolve() -> None:
            done = await self.soft(
                "POST",
                f"/v1/work-orders/{state['id']}/resolve",
                {"resolution": "Fixed on site and tested with the customer"},
            )
            if done is None:
                return
            self.at(self.clock.now() + self.minutes(30, 600), callback)
            if rng.random() < 0.06:
                self.at(self.clock.now() + timedelta(days=rng.uniform(0.5, 3)), reopen)
            else:
                self.at(self.clock.now() + timedelta(days=rng.uniform(1, 3)), close)

        async def reopen() -> None:
            await self.soft(
                "POST",
                f"/v1/work-orders/{state['id']}/reopen",
                {"reason": "The fault came back"},
            )
            self.at(self.clock.now() + self.minutes(20, 90), respond)

        async def close() -> None:
            await self.soft("POST", f"/v1/work-orders/{state['id']}/close", {})

        async def callback() -> None:
            surveys = await self.call("GET", f"/v1/surveys?work_order_id={state['id']}")
            pending = [s for s in surveys["items"] if s["status"] == "pending"]
            if not pending:
                return
            survey = pending[0]
            self.counts["surveys"] += 1
            await self.play_callback(survey["id"])

        self.at(start, report)

    async def play_callback(self, survey_id: str) -> None:
        rng = self.rng
        fate = rng.choices(["answered", "unreached", "refused"], [78, 16, 6])[0]
        path = f"/v1/surveys/{survey_id}"
        if fate == "unreached":
            for _ in range(3):
                got = await self.soft("POST", f"{path}/attempts", {"outcome": "no_answer"})
                if got is None or got["status"] != "pending":
                    return
                self.clock.advance(self.minutes(30, 120))
            return
        if fate == "refused":
            await self.soft("POST", f"{path}/attempts", {"outcome": "refused"})
            return
        await self.soft("POST", f"{path}/attempts", {"outcome": "reached"})
        overall = rng.choices([5, 4, 3, 2, 1], [55, 25, 9, 6, 5])[0]
        await self.soft(
            "POST",
            f"{path}/responses",
            {
                "overall": overall,
                "solved": overall >= 3 or rng.random() < 0.3,
                "ratings": {
                    "timeliness": max(1, overall - rng.randint(0, 1)),
                    "attitude": min(5, overall + rng.randint(0, 1)),
                    "quality": overall,
                },
                "comments": {"suggestions": "Thank you" if overall >= 4 else "Took too long"},
            },
        )

    def history_complaint(self, start: datetime) -> None:
        rng = self.rng
        severity = rng.choices(["simple", "general", "major"], [5, 4, 1])[0]
        # A few categories and places recur, so high-frequency problems show up.
        category = rng.choices(["billing", "cleaning", "lift", "hvac", "network"], [4, 3, 2, 2, 1])[
            0
        ]
        state: dict[str, Any] = {}

        async def receive() -> None:
            self.counts["complaints"] += 1
            c = await self.call(
                "POST",
                "/v1/complaints",
                {
                    "channel": rng.choice(["phone", "web", "wechat", "email", "in_person"]),
                    "severity": severity,
                    "category": category,
                    "customer": self.customer(),
                    "location": rng.choice(LOCATIONS),
                    "description": f"Unhappy about {category}: it took several calls",
                    "expected_outcome": "An apology and a fix this week",
                    "received_at": start.isoformat(),
                    "received_by": rng.choice(self.officers),
                },
            )
            state["id"] = c["id"]
            self.at(self.clock.now() + self.minutes(5, 100), acknowledge)

        async def acknowledge() -> None:
            await self.soft("POST", f"/v1/complaints/{state['id']}/acknowledge", {})
            # Simple ones within the hour, general ones the same day, major ones in days;
            # now and then one takes too long.
            hours = {"simple": (0.2, 0.9), "general": (0.5, 5), "major": (20, 150)}[severity]
            slow = 4 if rng.random() < 0.15 else 1
            self.at(self.clock.now() + timedelta(hours=rng.uniform(*hours) * slow), resolve)

        async def resolve() -> None:
            upheld = rng.random() < 0.6
            await self.soft(
                "POST",
                f"/v1/complaints/{state['id']}/resolve",
                {
                    "resolution": "Explained, apologised and fixed the cause",
                    "upheld": upheld,
                    "root_cause": "A handover between shifts was missed",
                    "corrective_action": "Shift handover checklist now includes open calls",
                    "decision": {"text": "We apologise and fixed it", "channel": "phone"},
                },
            )
            self.at(self.clock.now() + timedelta(hours=rng.uniform(2, 72)), callback)

        async def callback() -> None:
            reached = rng.random() < 0.85
            body: dict[str, Any] = {"result": "reached" if reached else "not_reached"}
            if reached:
                body["accepted"] = rng.random() < 0.9
            else:
                body["attempts"] = 3
            await self.soft("POST", f"/v1/complaints/{state['id']}/callback", body)
            self.at(self.clock.now() + self.minutes(10, 120), close)

        async def close() -> None:
            await self.soft("POST", f"/v1/complaints/{state['id']}/close", {})

        self.at(start, receive)

    def plan_history(self, first_day: datetime, days: int) -> None:
        rng = self.rng
        for d in range(days):
            day = (first_day + timedelta(days=d)).astimezone(SHANGHAI)
            base = day.replace(hour=0, minute=0, second=0, microsecond=0)
            weekend = base.weekday() >= 5
            for _ in range(rng.randint(3, 5) if weekend else rng.randint(8, 12)):
                # Mostly in working hours, some in the evening and at night.
                hour = rng.choices(
                    [rng.uniform(8, 18), rng.uniform(18, 23), rng.uniform(0, 8)], [8, 2, 1]
                )[0]
                self.history_order((base + timedelta(hours=hour)).astimezone(UTC))
            for _ in range(rng.choice([0, 1, 1, 2])):
                self.history_complaint((base + timedelta(hours=rng.uniform(9, 17))).astimezone(UTC))

    # --- today, on the real clock ------------------------------------------------------

    async def today(self, now: datetime) -> list[str]:
        """Open items at every level now, and the ones to watch in the next minutes."""
        rng = self.rng
        self.clock.set(now)

        def ago(minutes: float) -> datetime:
            return now - timedelta(minutes=minutes)

        categories = [c for c in TITLES if c != "lift"]
        # Red: urgent ones nobody responded to within the hour; old normal ones unresolved.
        for m in rng.sample(range(70, 600), 8):
            await self.new_order(rng.choice(categories), "urgent", ago(m))
        for h in rng.sample(range(26, 72), 5):
            wo = await self.new_order(rng.choice(categories), "normal", ago(h * 60))
            await self.soft("POST", f"/v1/work-orders/{wo['id']}/respond", {})
        # Yellow now, red within minutes: urgent ones reported 49-57 minutes ago (1 h, 24x7).
        for m in (49, 51, 53, 55, 57):
            await self.new_order(rng.choice(categories), "urgent", ago(m))
        # Blue: the day's ordinary work.
        for _ in range(40):
            priority = rng.choices(["urgent", "high", "normal"], [1, 3, 6])[0]
            reported = ago(rng.uniform(1, 40 if priority == "urgent" else 180))
            wo = await self.new_order(rng.choice(categories), priority, reported)
            if rng.random() < 0.4:
                await self.soft("POST", f"/v1/work-orders/{wo['id']}/respond", {})
        # Callbacks due today: resolved 4-30 hours ago, not called yet (24 h, yellow at 80 %).
        # Each step at its own time, in order: reported, responded half an hour later,
        # resolved an hour after that.
        for h in (4, 8, 12, 20, 21, 22, 26, 28, 30):
            self.clock.set(ago(h * 60 + 90))
            wo = await self.new_order(rng.choice(categories), "normal", ago(h * 60 + 90))
            self.clock.set(ago(h * 60 + 60))
            await self.soft("POST", f"/v1/work-orders/{wo['id']}/respond", {})
            self.clock.set(ago(h * 60))
            await self.soft(
                "POST", f"/v1/work-orders/{wo['id']}/resolve", {"resolution": "Replaced the part"}
            )
            self.counts["surveys"] += 1
        self.clock.set(now)
        # Complaints still open: some not even acknowledged in time.
        for m in (20, 150, 300, 60 * 26):
            self.counts["complaints"] += 1
            await self.call(
                "POST",
                "/v1/complaints",
                {
                    "channel": "phone",
                    "severity": rng.choice(["simple", "general"]),
                    "category": rng.choice(["billing", "cleaning", "lift"]),
                    "customer": self.customer(),
                    "description": "Nobody called back about my repair",
                    "received_at": ago(m).isoformat(),
                    "received_by": rng.choice(self.officers),
                },
            )
        # To watch: lift entrapments (respond within 5 min; yellow at 4): red in 0.5-4.5 min.
        watch = []
        for seconds_ago in (270, 210, 150, 90, 30):
            wo = await self.new_order(
                "lift-entrapment", "urgent", now - timedelta(seconds=seconds_ago)
            )
            watch.append(wo["number"])
        assert self.sessionmaker is not None
        await scan_once(self.sessionmaker, now)
        return watch


async def load(
    settings: Settings,
    *,
    base_url: str,
    now: datetime | None = None,
    seed: int | None = None,
    days: int = HISTORY_DAYS,
    say: Callable[[str], None] = print,
) -> Summary:
    """Loads the sample through the API of an app made here (its own scanner driven by the
    simulated clock; the scheduler off)."""
    from qualityapi.main import create_app  # the composition root registers every subject

    real_now = now or datetime.now(UTC)
    rng = random.Random(seed)  # noqa: S311 (sample data, not secrets)
    clock = FrozenClock(real_now - timedelta(days=days))
    app = create_app(settings.model_copy(update={"scheduler_enabled": False}), clock=clock)
    async with app.router.lifespan_context(app):
        sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        async with sessionmaker() as session:
            created = await keys_service.create_key(
                session, name="demo", role=Role.admin, actor=SYSTEM_PRINCIPAL, at=clock.now()
            )
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {created.raw}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://demo", headers=headers, timeout=60
        ) as client:
            loader = Loader(client, clock, rng)
            loader.sessionmaker = sessionmaker
            history = MARKER_TEAM not in await loader.existing_teams()
            if history:
                say(f"Loading {days} days of history (one transaction; under a minute)...")
                async with app.state.engine.connect() as conn:
                    await conn.begin()
                    # Every session of the app works inside this one transaction: each
                    # request's commit is a savepoint, nothing is visible until the end.
                    inner = async_sessionmaker(
                        bind=conn,
                        expire_on_commit=False,
                        autoflush=False,
                        join_transaction_mode="create_savepoint",
                    )
                    app.state.sessionmaker = loader.sessionmaker = inner
                    try:
                        await loader.people()
                        await loader.policies()
                        loader.plan_history(clock.now(), days)
                        # Stop a little before now: today's open items come next, for real.
                        await loader.run(real_now - timedelta(hours=1))
                        await conn.commit()
                    finally:
                        app.state.sessionmaker = loader.sessionmaker = sessionmaker
            else:
                say("The demo history is there already; adding a fresh set of today's items.")
                await loader.people()
                await loader.policies()
            say("Adding today's open items...")
            watch = await loader.today(datetime.now(UTC) if now is None else real_now)
            board = (await client.get("/v1/board?limit=0")).json()
    return Summary(
        base_url=base_url,
        key=created.raw,
        history_loaded=history,
        work_orders=loader.counts["work_orders"],
        complaints=loader.counts["complaints"],
        surveys=loader.counts["surveys"],
        watch=watch,
        board={k: int(v) for k, v in board["counts"].items()},
        busiest_month=(real_now - timedelta(days=days / 2)).astimezone(SHANGHAI).strftime("%Y-%m"),
    )


def report(summary: Summary) -> str:
    base = summary.base_url
    counts = summary.board
    curl = f"curl -H 'Authorization: Bearer {summary.key}'"
    return "\n".join(
        [
            "",
            "=" * 78,
            f" qualityapi demo: {summary.work_orders} work orders, {summary.complaints} "
            f"complaints, {summary.surveys} callbacks added.",
            f" On the board now: {counts.get('red', 0)} red, {counts.get('yellow', 0)} yellow, "
            f"{counts.get('blue', 0)} blue.",
            "",
            " An admin API key for the demo (shown once; paste it when the board asks):",
            f"   {summary.key}",
            "",
            f" Board:       {base}/board        (wall screen: {base}/board?kiosk=1)",
            f" API docs:    {base}/docs   and {base}/redoc",
            f" Reports:     {curl} '{base}/v1/reports/monthly?month={summary.busiest_month}'",
            "              (without ?month=: this month so far; add -H 'Accept: text/csv' for CSV)",
            f" Board JSON:  {curl} {base}/v1/board",
            "",
            " Watch these lift entrapments turn yellow, then red, in the next minutes:",
            "   " + ", ".join(summary.watch),
            " (the board updates by itself while `make run` serves this database)",
            "=" * 78,
            "",
        ]
    )
