"""Imports every model so ``Base.metadata`` is complete (Alembic and the drift test use it)."""

from qualityapi.audit.models import AuditEvent
from qualityapi.auth.models import ApiKey
from qualityapi.common.idempotency import IdempotencyRecord
from qualityapi.complaints.models import Complaint, CorrectiveAction, ImprovementPlan
from qualityapi.db.base import Base
from qualityapi.events.models import OutboxMessage
from qualityapi.reports.models import (
    ClockOutcome,
    CountDaily,
    CountEvent,
    FirstResolution,
    SlaDaily,
    SlaHourly,
)
from qualityapi.sla.models import Calendar, SlaClock, SlaPolicy, SlaReplan, SlaTransition
from qualityapi.staff.models import ErrorRecord, Staff, Team
from qualityapi.surveys.models import (
    Survey,
    SurveyAttempt,
    SurveyLink,
    SurveyResponse,
    SurveyTemplate,
)
from qualityapi.timeline.models import TimelineEvent
from qualityapi.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from qualityapi.work_orders.models import (
    ChecklistTemplate,
    NumberSequence,
    WorkOrder,
    WorkOrderChecklist,
    WorkOrderLog,
)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Calendar",
    "ChecklistTemplate",
    "ClockOutcome",
    "Complaint",
    "CorrectiveAction",
    "CountDaily",
    "CountEvent",
    "ErrorRecord",
    "FirstResolution",
    "IdempotencyRecord",
    "ImprovementPlan",
    "NumberSequence",
    "OutboxMessage",
    "SlaClock",
    "SlaDaily",
    "SlaHourly",
    "SlaPolicy",
    "SlaReplan",
    "SlaTransition",
    "Staff",
    "Survey",
    "SurveyAttempt",
    "SurveyLink",
    "SurveyResponse",
    "SurveyTemplate",
    "Team",
    "TimelineEvent",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkOrder",
    "WorkOrderChecklist",
    "WorkOrderLog",
]
