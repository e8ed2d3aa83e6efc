"""The one place that mounts every domain router under /v1."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from qualityapi.audit.router import router as audit_router
from qualityapi.auth.router import router as keys_router
from qualityapi.complaints.actions import router as complaint_actions_router
from qualityapi.complaints.router import plans_router as improvement_plans_router
from qualityapi.complaints.router import router as complaints_router
from qualityapi.errors import problem_responses
from qualityapi.reports.router import router as reports_router
from qualityapi.sla.router import router as sla_router
from qualityapi.staff.router import router as staff_router
from qualityapi.surveys.router import router as surveys_router
from qualityapi.surveys.router import templates_router as survey_templates_router
from qualityapi.webhooks.router import router as webhooks_router
from qualityapi.webhooks.router import types_router as webhook_types_router
from qualityapi.work_orders.actions import router as work_order_actions_router
from qualityapi.work_orders.router import router as work_orders_router
from qualityapi.work_orders.router import templates_router

ROUTERS: tuple[APIRouter, ...] = (
    work_orders_router,
    work_order_actions_router,
    templates_router,
    complaints_router,
    complaint_actions_router,
    improvement_plans_router,
    surveys_router,
    survey_templates_router,
    sla_router,
    staff_router,
    webhooks_router,
    webhook_types_router,
    keys_router,
    audit_router,
    reports_router,
)


def mount_v1(app: FastAPI) -> None:
    # Each router directly on the app: one level of router nesting per request, not two.
    # Problems any /v1 route can return; routes add their own (404, 409, 412) on top.
    for router in ROUTERS:
        app.include_router(
            router, prefix="/v1", responses=problem_responses(400, 401, 403, 413, 422, 503)
        )
