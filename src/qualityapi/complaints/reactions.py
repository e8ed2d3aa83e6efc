"""What complaints do when other domains' events happen (wired in ``main.create_app``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth.principal import SYSTEM_PRINCIPAL
from qualityapi.complaints import service
from qualityapi.complaints.models import Channel, Severity
from qualityapi.complaints.schemas import ComplaintCreate
from qualityapi.staff import repository as staff
from qualityapi.work_orders import repository as work_orders
from qualityapi.work_orders.schemas import Customer

# Set from the settings at the composition root.
OPEN_FROM_DISSATISFIED_SURVEY = False


def configure(*, open_from_dissatisfied_survey: bool) -> None:
    global OPEN_FROM_DISSATISFIED_SURVEY
    OPEN_FROM_DISSATISFIED_SURVEY = open_from_dissatisfied_survey


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def open_for_dissatisfied_survey(
    session: AsyncSession, payload: Mapping[str, Any], at: datetime
) -> None:
    """A low score or "not solved" opens a complaint linked to the work order, when enabled.

    The complaint is about the order's assignee (the service they gave) and owned by the
    order's team supervisor, if there is one: nobody took the call, so nobody is its
    first-contact receiver.
    """
    if not OPEN_FROM_DISSATISFIED_SURVEY:
        return
    data = payload.get("data", {})
    order_id = _uuid(data.get("work_order_id"))
    order = await work_orders.get_values(session, order_id) if order_id else None
    owner = subject = None
    if order is not None:
        subject = order["assignee_id"]
        team = await staff.get_team(session, order["team_id"]) if order["team_id"] else None
        owner = team.supervisor_id if team is not None else None
    reasons = [str(r) for r in data.get("reasons") or []]
    comment = data.get("comment")
    description = "Dissatisfied survey answer" + (f": {'; '.join(reasons)}" if reasons else "")
    if comment:
        description += f". The customer wrote: {comment}"
    customer = data.get("customer") or {}
    fields: dict[str, Any] = {
        "channel": Channel.platform,
        "severity": Severity.general,
        "category": order["category"] if order is not None else None,
        "customer": Customer.model_construct(
            name=str(customer.get("name") or "unknown"),
            phone=customer.get("phone"),
            email=customer.get("email"),
            address=customer.get("address"),
        ),
        "location": order["location"] if order is not None else None,
        "description": description[:10_000],
        "expected_outcome": None,
        "received_at": at,
        "received_by": None,
        "work_order_id": order_id if order is not None else None,
        "subject_staff_id": subject,
    }
    await service.create(
        session,
        ComplaintCreate.model_construct(**fields),
        actor=SYSTEM_PRINCIPAL,
        now=at,
        source_survey_id=_uuid(data.get("survey_id")),
        owner_id=owner,
    )
