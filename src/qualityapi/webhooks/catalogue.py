"""Every event type a webhook endpoint can subscribe to, with the schema of its ``data``.

The OpenAPI document publishes each under ``webhooks`` (see ``webhooks.openapi``), so
integrators can generate types from ``openapi/openapi.json``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel, Field

from qualityapi.common.schemas import UtcDatetime
from qualityapi.complaints import events as cp_events
from qualityapi.sla import events as sla_events
from qualityapi.staff import schemas as staff_schemas
from qualityapi.surveys import events as sv_events
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
    wo_events.UPDATED: EventType(
        "A work order was edited (PATCH): `changes` has each field's old and new value; "
        "`deadlines` the new deadlines when the edit re-planned the clocks.",
        _WO,
    ),
    wo_events.ARRIVED: EventType("The engineer arrived on site.", _WO),
    sla_events.WARNING: EventType("A clock turned yellow: the deadline is near.", _SLA),
    sla_events.BREACHED_EVENT: EventType("A clock turned red: the deadline passed.", _SLA),
    sla_events.ESCALATED: EventType("A breached clock reached the next escalation level.", _SLA),
    ENDPOINT_DISABLED: EventType(
        "The service disabled an endpoint (410 Gone, or failing too long).", EndpointDisabledData
    ),
    # Subscribable now; emitted once complaints and surveys land (their schemas then too).
    cp_events.CREATED: EventType("A complaint was registered.", cp_events.ComplaintEventData),
    cp_events.STATUS_CHANGED: EventType(
        "A complaint's status changed (and on every resolve, with `upheld`).",
        cp_events.ComplaintEventData,
    ),
    cp_events.HIGH_FREQUENCY: EventType(
        "Complaints of one category, location or customer reached the recurrence threshold: "
        "an improvement plan was opened.",
        cp_events.HighFrequencyData,
    ),
    sv_events.COMPLETED: EventType(
        "A satisfaction survey was answered (by phone or through the customer's link).",
        sv_events.SurveyCompletedData,
    ),
    sv_events.DISSATISFIED: EventType(
        "A survey answer was below the satisfaction line (overall at or below 2 by default) "
        "or said the problem was not solved.",
        sv_events.SurveyDissatisfiedData,
    ),
    staff_schemas.RETRAINING_REQUIRED: EventType(
        "A staff member reached the error-record rule and needs retraining.",
        staff_schemas.RetrainingRequiredData,
    ),
}
