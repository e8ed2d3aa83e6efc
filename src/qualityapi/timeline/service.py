"""A subject's timeline as the API lists it (``GET /{resource}/{id}/events``).

Entries store ids and stage numbers (what happened, exactly); the list shows people's and
teams' names and what a stage or level means beside them (``old_label``/``new_label``),
looked up once per page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.pagination import SeqPageParams
from qualityapi.common.schemas import Page
from qualityapi.sla.vocabulary import LEVEL_MEANING, WarningLevel, stage_label
from qualityapi.staff import repository as staff
from qualityapi.timeline import repository
from qualityapi.timeline.models import TimelineEvent
from qualityapi.timeline.schemas import TimelineEventRead

# Fields that hold a staff member's id / a team's id, across subject kinds.
STAFF_FIELDS = frozenset(
    {
        "assignee_id",
        "first_assignee_id",
        "owner_id",
        "pending_owner_id",
        "received_by",
        "subject_staff_id",
        "supervisor_id",
        "manager_id",
    }
)
TEAM_FIELDS = frozenset({"team_id"})


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _ids(entries: Iterable[TimelineEvent], fields: frozenset[str]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for entry in entries:
        for name, change in (entry.changes or {}).items():
            if name in fields and isinstance(change, Mapping):
                found.update(i for i in (_uuid(change.get("old")), _uuid(change.get("new"))) if i)
    return found


def _level_label(value: Any) -> str | None:
    try:
        level = WarningLevel(value)
    except ValueError:
        return None
    return f"{level.value}: {LEVEL_MEANING[level]}"


def label(
    name: str,
    value: Any,
    people: Mapping[uuid.UUID, str],
    teams: Mapping[uuid.UUID, str],
) -> str | None:
    """What ``value`` of field ``name`` means to a person (pure; None: nothing to add)."""
    if value is None:
        return None
    if name == "stage":
        return stage_label(value) if isinstance(value, int) else None
    if name == "warning_level":
        return _level_label(value)
    key = _uuid(value)
    if key is None:
        return None
    if name in STAFF_FIELDS:
        return people.get(key)
    if name in TEAM_FIELDS:
        return teams.get(key)
    return None


def labelled(
    changes: Mapping[str, Any], people: Mapping[uuid.UUID, str], teams: Mapping[uuid.UUID, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, change in changes.items():
        if not isinstance(change, Mapping):
            out[name] = change
            continue
        item = dict(change)
        old = label(name, change.get("old"), people, teams)
        new = label(name, change.get("new"), people, teams)
        if old is not None:
            item["old_label"] = old
        if new is not None:
            item["new_label"] = new
        out[name] = item
    return out


async def page(
    session: AsyncSession, *, subject_type: str, subject_id: uuid.UUID, params: SeqPageParams
) -> Page[TimelineEventRead]:
    """Oldest first, ``params.limit`` at a time."""
    found = await repository.list_for(
        session,
        subject_type=subject_type,
        subject_id=subject_id,
        after_id=params.cursor_id,
        limit=params.limit,
    )
    rows, cursor = params.split(list(found))
    people, teams = await staff.names_of(session, _ids(rows, STAFF_FIELDS), _ids(rows, TEAM_FIELDS))
    items = [
        TimelineEventRead.model_validate(
            {
                "id": e.id,
                "type": e.type,
                "created_at": e.created_at,
                "actor_id": e.actor_id,
                "actor_name": e.actor_name,
                "changes": labelled(e.changes or {}, people, teams),
                "note": e.note,
            }
        )
        for e in rows
    ]
    return Page(items=items, next_cursor=cursor)
