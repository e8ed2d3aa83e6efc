"""The one seam between the SLA engine and the things that have clocks.

A subject kind (work orders, complaints, survey callbacks, ...) implements
``SubjectAdapter`` in its own domain package and registers it once at the composition
root (``main.create_app``). The engine then gives it clocks, levels, escalations, ``sla.*``
events, the board and re-plans after policy or calendar edits, with no code of its own
in ``sla/``: the adapter says *what* (its targets, what each action does to a clock,
where its level is shown), the engine does *how*.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.sla.vocabulary import Op
from qualityapi.staff import repository as staff_repository

# In an action map: every target not named on its own.
EVERY = "*"


@dataclass(frozen=True)
class SubjectFacts:
    """What the engine reads of one subject to match a policy and plan its clocks."""

    id: uuid.UUID
    priority: str | None
    category: str | None
    started_at: datetime
    appointment_end: datetime | None = None
    on_hold: bool = False
    # Finished subjects (resolved, closed, cancelled) start no new clocks on a re-plan.
    finished: bool = False


@dataclass(frozen=True)
class Contact:
    """Whom a role means for one subject; ``reason`` says why nobody, when nobody."""

    staff_id: uuid.UUID | None
    reason: str | None = None
    # Filled by ``with_contact_details``: who to call, without a second request.
    name: str | None = None
    email: str | None = None
    phone: str | None = None


def team_contacts(
    team_id: uuid.UUID | None,
    team_name: str | None,
    supervisor_id: uuid.UUID | None,
    manager_id: uuid.UUID | None,
    *,
    no_team: str,
) -> dict[str, Contact]:
    """The ``team_supervisor`` and ``team_manager`` roles of a subject handled by a team,
    each with the reason when nobody holds it."""
    if team_id is None:
        return {"team_supervisor": Contact(None, no_team), "team_manager": Contact(None, no_team)}
    return {
        "team_supervisor": Contact(
            supervisor_id, None if supervisor_id else f"team {team_name!r} has no supervisor"
        ),
        "team_manager": Contact(
            manager_id, None if manager_id else f"team {team_name!r} has no manager"
        ),
    }


@dataclass(frozen=True)
class Description:
    """A subject as ``sla.*`` events and the timeline show it."""

    number: str | None
    title: str | None
    # role ("assignee", "team_supervisor", "team_manager", ...) -> contact
    people: Mapping[str, Contact] = field(default_factory=dict)
    # Staff that escalation ladders name directly (role "staff"), with their details.
    directory: Mapping[uuid.UUID, Contact] = field(default_factory=dict)


@dataclass(frozen=True)
class LevelStore:
    """Where a subject shows what the engine derives, and what the board lists.

    Column names of ``table``. The engine writes ``level`` and ``summary`` (never the
    subject's ``version``: that counts client-visible edits, so a level the scanner moves
    does not make a client's ETag stale), and reads ``number``, ``title``,
    ``status``, ``since`` (the board's oldest-first order) and ``assignee`` of the subjects
    whose ``status`` is one of ``open_statuses``.
    """

    table: Table
    open_statuses: frozenset[str]
    id: str = "id"
    level: str = "warning_level"
    summary: str = "sla"
    number: str = "number"
    title: str | None = "title"  # None: the kind has no title column
    status: str = "status"
    since: str = "created_at"
    # The staff id the board names as the item's assignee (a table without this column,
    # or None: the kind has none).
    assignee: str | None = "assignee_id"
    # The team the board names beside it (same rule: no such column, no team).
    team: str | None = "team_id"


class SubjectAdapter(Protocol):
    """What a subject kind tells the engine. See ``work_orders.sla`` for the model."""

    @property
    def kind(self) -> str:
        """The ``subject_type`` of its clocks and events, e.g. ``work_order``."""

    @property
    def targets(self) -> tuple[str, ...]:
        """The clocks a policy for this kind may set, e.g. response, resolution."""

    @property
    def actions(self) -> Mapping[str, Mapping[str, Op]]:
        """action -> {target or ``EVERY``: op}: what each of its actions does to clocks.

        An action not listed leaves the clocks alone; a target named explicitly wins
        over ``EVERY``."""

    @property
    def replan_fields(self) -> Collection[str]:
        """Fields whose change re-matches the policy and re-plans every clock."""

    @property
    def store(self) -> LevelStore: ...

    @property
    def default_policies(self) -> Sequence[Mapping[str, Any]]:
        """Policies created when no policy of this kind exists yet (first start, or the
        first start after the kind was added). Like ``SlaPolicyCreate`` but calendars are
        named: ``"calendar": "business"`` (and per target ``{"calendar": "24x7"}``);
        ``warning`` defaults to 80 %, ``escalation`` to ``sla.policies.DEFAULT_LADDER``."""

    async def describe_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, Description]:
        """One query per page of ids; missing subjects are left out."""

    async def facts_many(
        self, session: AsyncSession, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, SubjectFacts]:
        """For re-plans the engine starts itself (policy and calendar edits)."""


async def with_contact_details(
    session: AsyncSession,
    described: Mapping[uuid.UUID, Description],
    named: Iterable[uuid.UUID] = (),
) -> dict[uuid.UUID, Description]:
    """The descriptions with each contact's name, e-mail and phone, and a ``directory`` of
    the ``named`` staff (those ladders call by id): one query for all of them. For
    adapters' ``describe_many`` (through ``sla.events.with_contacts``)."""
    directory_ids = set(named)
    ids = {c.staff_id for d in described.values() for c in d.people.values() if c.staff_id}
    found = await staff_repository.contacts_of(session, ids | directory_ids)
    if not found:
        return dict(described)
    directory = {
        i: Contact(i, name=row.name, email=row.email, phone=row.phone)
        for i, row in found.items()
        if i in directory_ids
    }

    def detailed(contact: Contact) -> Contact:
        row = found.get(contact.staff_id) if contact.staff_id else None
        if row is None:
            return contact
        return replace(contact, name=row.name, email=row.email, phone=row.phone)

    return {
        key: replace(
            d, people={role: detailed(c) for role, c in d.people.items()}, directory=directory
        )
        for key, d in described.items()
    }


def ops_for(adapter: SubjectAdapter, action: str, target: str) -> Op | None:
    table = adapter.actions.get(action, {})
    return table.get(target, table.get(EVERY))


class UnknownSubject(LookupError):
    pass


_registry: dict[str, SubjectAdapter] = {}


def register(adapter: SubjectAdapter) -> None:
    """Once per kind at the composition root; registering the same kind again replaces it
    (each app instance registers its own, tests create many)."""
    _registry[adapter.kind] = adapter


def get(kind: str) -> SubjectAdapter:
    try:
        return _registry[kind]
    except KeyError:
        raise UnknownSubject(f"no subject kind {kind!r} is registered") from None


def find(kind: str) -> SubjectAdapter | None:
    return _registry.get(kind)


def kinds() -> tuple[str, ...]:
    return tuple(_registry)


def unregister(kind: str) -> None:
    """For tests that add a kind of their own."""
    _registry.pop(kind, None)
