"""The red / yellow / blue board: open subjects of every registered kind by level."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.schemas import UtcDatetime
from qualityapi.sla import repository, subjects
from qualityapi.sla.schemas import ClockSummary
from qualityapi.sla.vocabulary import LEVEL_MEANING, WarningLevel

Level = Literal["red", "yellow", "blue", "none"]
LEVELS: tuple[Level, ...] = ("red", "yellow", "blue", "none")


class Assignee(BaseModel):
    id: uuid.UUID
    name: str | None = Field(description="Null when the staff record is gone.")


class TeamRef(BaseModel):
    id: uuid.UUID
    name: str | None = Field(description="Null when the team is gone.")


class BoardItem(BaseModel):
    subject_type: str = Field(examples=["work_order"])
    id: uuid.UUID
    number: str | None
    title: str | None
    status: str
    warning_level: WarningLevel
    warning_level_meaning: str = Field(
        examples=["deadline passed"], description="What the level means, in words."
    )
    since: UtcDatetime = Field(description="When its clocks started (e.g. reported_at).")
    next_due_at: UtcDatetime | None = Field(
        description="The earliest deadline among its running clocks."
    )
    sla: list[ClockSummary] = Field(description="Its clocks: target, state, due_at, warn_at.")
    assignee: Assignee | None = Field(
        default=None,
        description="Who has it now (a complaint's owner); null when nobody does.",
    )
    team: TeamRef | None = Field(
        default=None, description="Its team with the team's name; null when none."
    )


class Board(BaseModel):
    generated_at: UtcDatetime = Field(
        description=(
            "The server's time when this board was computed. Count deadlines down from it "
            "(plus the time elapsed since it arrived), not from the client's own clock, "
            "which may be minutes off on a wall screen."
        )
    )
    counts: dict[Level, int] = Field(description="Open items per warning level.")
    by_subject: dict[str, dict[Level, int]] = Field(
        description="The same counts per kind of subject."
    )
    items: dict[Level, list[BoardItem]] = Field(
        description="The oldest open items of each level (most urgent first), up to `limit`."
    )


def _next_due(summary: list[dict[str, Any]], level: str) -> datetime | None:
    # A clock met late keeps the state "breached" in the summary; only on a red item can
    # a breached clock still be open, so elsewhere its past deadline is not the next one.
    states = ("running", "breached") if level == "red" else ("running",)
    dues = [
        datetime.fromisoformat(c["due_at"].replace("Z", "+00:00"))
        for c in summary
        if c.get("due_at") and c.get("state") in states
    ]
    return min(dues, default=None)


async def board(
    session: AsyncSession, *, kinds: tuple[str, ...], limit: int, now: datetime
) -> Board:
    stores = tuple((kind, subjects.get(kind).store) for kind in kinds)
    found = await repository.board_counts(session, stores)
    by_subject: dict[str, dict[Level, int]] = {
        kind: {lv: found.get((kind, lv), 0) for lv in LEVELS} for kind in kinds
    }
    counts: dict[Level, int] = {lv: sum(c[lv] for c in by_subject.values()) for lv in LEVELS}
    wanted = [(kind, store, lv) for kind, store in stores for lv in LEVELS if found.get((kind, lv))]
    items: dict[Level, list[BoardItem]] = {level: [] for level in LEVELS}
    rows = await repository.board_items(session, wanted, limit)
    # Each kind's oldest; the oldest of all kinds together are kept.
    rows.sort(key=lambda r: (r["since"], str(r["id"])))
    for row in rows:
        lv: Level = row["level"]
        if len(items[lv]) < limit:
            items[lv].append(_item(row))
    return Board(generated_at=now, counts=counts, by_subject=by_subject, items=items)


def _item(row: dict[str, Any]) -> BoardItem:
    level = WarningLevel(row["level"])
    return BoardItem(
        subject_type=row["kind"],
        id=row["id"],
        number=row["number"],
        title=row["title"],
        status=row["status"],
        warning_level=level,
        warning_level_meaning=LEVEL_MEANING[level],
        since=row["since"],
        next_due_at=_next_due(row["sla"] or [], level.value),
        sla=[ClockSummary.model_validate(c) for c in row["sla"] or []],
        assignee=(
            None
            if row["assignee_id"] is None
            else Assignee(id=row["assignee_id"], name=row["assignee_name"])
        ),
        team=None if row["team_id"] is None else TeamRef(id=row["team_id"], name=row["team_name"]),
    )
