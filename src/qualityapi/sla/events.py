"""The ``sla.*`` events: their types, whom each stage notifies, and the payload schema
(the scanner writes them; webhooks publish the schema)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.common.schemas import UtcDatetime
from qualityapi.sla import compiled
from qualityapi.sla.subjects import Contact, Description, with_contact_details
from qualityapi.sla.vocabulary import BREACHED, WARNED

if TYPE_CHECKING:
    from qualityapi.sla.compiled import Rung

WARNING = "sla.warning"
BREACHED_EVENT = "sla.breached"
ESCALATED = "sla.escalated"


def event_of(stage: int) -> tuple[str, str]:
    """(webhook event type, timeline entry type) of reaching ``stage``."""
    if stage == WARNED:
        return WARNING, "sla_warning"
    if stage == BREACHED:
        return BREACHED_EVENT, "sla_breached"
    return ESCALATED, "sla_escalated"


_NOBODY = Contact(None, "nobody holds this role for the subject")


def named_staff(policies: compiled.CompiledSet) -> set[uuid.UUID]:
    """Every staff member some escalation ladder calls by id (role ``staff``)."""
    found: set[uuid.UUID] = set()
    for policy in policies.by_id.values():
        for rung in policy.ladder:
            for notify in rung.notify:
                for one in (notify, *notify.fallback):
                    if one.staff_id is not None:
                        found.add(one.staff_id)
    return found


async def with_contacts(
    session: AsyncSession, described: Mapping[uuid.UUID, Description]
) -> dict[uuid.UUID, Description]:
    """For adapters' ``describe_many``: names and contact fields of everyone the ``sla.*``
    events may notify (the subject's people and the ladders' named staff), one query."""
    policies = await compiled.current(session)
    return await with_contact_details(session, described, named_staff(policies))


def _contact(role: str, staff_id: uuid.UUID | None, described: Description | None) -> Contact:
    if role == "staff":
        if described is not None and staff_id is not None and staff_id in described.directory:
            return described.directory[staff_id]
        return Contact(staff_id)
    if described is None:
        return Contact(None, "the subject could not be read")
    return described.people.get(role, _NOBODY)


def notified_for(
    ladder: Sequence[Rung] | None, stage: int, described: Description | None
) -> list[dict[str, Any]]:
    """Whom the stage notifies: a warning the assignee; a breach the ladder's level 1, and
    level n its own list. A role nobody holds is listed with the reason, followed by its
    fallbacks (in the policy's order) until one of them is somebody."""
    if ladder is None or stage < BREACHED:
        contact = _contact("assignee", None, described)
        return [_entry("assignee", contact)]
    index = max(0, stage - BREACHED - 1)
    if index >= len(ladder):
        return []
    entries: list[dict[str, Any]] = []
    for notify in ladder[index].notify:
        contact = _contact(notify.role, notify.staff_id, described)
        entries.append(_entry(notify.role, contact))
        if contact.staff_id is not None:
            continue
        for fallback in notify.fallback:
            instead = _contact(fallback.role, fallback.staff_id, described)
            entries.append(_entry(fallback.role, instead, instead_of=notify.role))
            if instead.staff_id is not None:
                break
    return entries


def _entry(role: str, contact: Contact, instead_of: str | None = None) -> dict[str, Any]:
    return {
        "role": role,
        "staff_id": None if contact.staff_id is None else str(contact.staff_id),
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "reason": contact.reason if contact.staff_id is None else None,
        "instead_of": instead_of,
    }


class SubjectRef(BaseModel):
    type: str = Field(examples=["work_order"])
    id: uuid.UUID
    number: str | None = Field(default=None, examples=["WO-2026-000123"])
    title: str | None = Field(default=None, examples=["Air conditioner leaking"])


class Notified(BaseModel):
    role: Literal["assignee", "team_supervisor", "team_manager", "staff"]
    staff_id: uuid.UUID | None = Field(description="Null when nobody holds the role.")
    name: str | None = Field(default=None, examples=["Zhang Wei"], description="The person's name.")
    email: str | None = Field(default=None, description="Their e-mail, if on record.")
    phone: str | None = Field(default=None, description="Their phone, if on record.")
    reason: str | None = Field(
        default=None, description="Why nobody was notified for this role (null when notified)."
    )
    instead_of: str | None = Field(
        default=None, description="The role this entry stands in for (a policy's fallback)."
    )


class Extension(BaseModel):
    at: UtcDatetime
    from_: UtcDatetime = Field(alias="from")
    to: UtcDatetime
    reason: str


class SlaEventData(BaseModel):
    """``data`` of ``sla.warning`` (to yellow), ``sla.breached`` (to red) and
    ``sla.escalated`` (each level of the ladder)."""

    subject: SubjectRef
    target: str = Field(
        examples=["response"], description="The clock: one of the subject kind's targets."
    )
    due_at: UtcDatetime | None
    original_due_at: UtcDatetime | None = Field(
        default=None, description="The deadline before any extension (equal to due_at if none)."
    )
    extensions: list[Extension] = Field(default_factory=list)
    warning_level: Literal["yellow", "red"]
    escalation_level: int = Field(ge=0, description="0 for warning and breach; n for level n.")
    notified: list[Notified]
    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="Who answers for the subject now (a work order's assignee, a "
        "complaint's owner); null when nobody.",
    )
    clock_id: uuid.UUID
