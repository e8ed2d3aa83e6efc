"""Every event type a webhook endpoint can subscribe to, with the schema of its ``data``.

The OpenAPI document publishes each under ``webhooks`` (see ``webhooks.openapi``), so
integrators can generate types from ``openapi/openapi.json``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel, Field

from qualityapi.common.schemas import UtcDatetime
from qualityapi.sla import events as sla_events
from qualityapi.work_orders import events as wo_events

ENDPOINT_DISABLED = "webhook.endpoint_disabled"
PING = "webhook.ping"


class EndpointDisabledData(BaseModel):
    endpoint_id: uuid.UUID
    url: str
    reason: str
    disabled_at: UtcDatetime


class PingData(BaseModel):
    endpoint_id: uuid.UUID
    note: str = Field(examples=["test ping from qualityapi"])


@dataclass(frozen=True)
class EventType:
    summary: str
    data: type[BaseModel] | None


_WO = wo_events.WorkOrderEventData
_SLA = sla_events.SlaEventData

EVENT_TYPES: dict[str, EventType] = {
    wo_events.CREATED: EventType("A work order was created.", _WO),
    wo_events.ASSIGNED: EventType("A work order was assigned (or re-assigned).", _WO),
    wo_events.STATUS_CHANGED: EventType("A work order's status changed.", _WO),
    wo_events.RESOLVED: EventType("A work order was resolved.", _WO),
    wo_events.CLOSED: EventType("A work order was closed.", _WO),
    sla_events.WARNING: EventType("A clock turned yellow: the deadline is near.", _SLA),
    sla_events.BREACHED_EVENT: EventType("A clock turned red: the deadline passed.", _SLA),
    sla_events.ESCALATED: EventType("A breached clock reached the next escalation level.", _SLA),
    ENDPOINT_DISABLED: EventType(
        "The service disabled an endpoint (410 Gone, or failing too long).", EndpointDisabledData
    ),
    # Subscribable now; emitted once complaints and surveys land (their schemas then too).
    "complaint.created": EventType("A complaint was registered.", None),
    "complaint.status_changed": EventType("A complaint's status changed.", None),
    "survey.completed": EventType("A satisfaction survey was answered.", None),
    "survey.dissatisfied": EventType("A survey answer was below the satisfaction line.", None),
}
