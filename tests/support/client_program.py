"""A help-desk integration written only against the client generated from
``openapi/openapi.json`` (package ``qualityapi_client``; see tests/test_generated_client.py).

It is type-checked with ``mypy --strict`` together with the generated package, then run
against a live server: ``python client_program.py <base_url> <api_key>``. It prints one
line per step and exits non-zero at the first surprise.
"""

from __future__ import annotations

import sys
import uuid

from qualityapi_client import AuthenticatedClient
from qualityapi_client.api.sla_policies import list_sla_policies
from qualityapi_client.api.staff import create_staff
from qualityapi_client.api.work_order_actions import (
    arrive_work_order,
    assign_work_order,
    close_work_order,
    resolve_work_order,
    respond_work_order,
)
from qualityapi_client.api.work_orders import (
    create_work_order,
    get_work_order_sla,
    list_work_orders,
)
from qualityapi_client.models import (
    ActionNote,
    AssignAction,
    Customer,
    Priority,
    Problem,
    ResolveAction,
    StaffCreate,
    StaffRead,
    WorkOrderCreate,
    WorkOrderRead,
    WorkOrderStatus,
)
from qualityapi_client.types import UNSET, Unset


def step(text: str) -> None:
    print(text, flush=True)


def order(value: WorkOrderRead | Problem | None) -> WorkOrderRead:
    if not isinstance(value, WorkOrderRead):
        raise SystemExit(f"expected a work order, got {value!r}")
    return value


def run(base_url: str, key: str) -> None:
    with AuthenticatedClient(base_url=base_url, token=key) as client:
        staff = create_staff.sync(client=client, body=StaffCreate(name="Engineer Li"))
        if not isinstance(staff, StaffRead):
            raise SystemExit(f"staff: {staff!r}")

        created = create_work_order.sync_detailed(
            client=client,
            body=WorkOrderCreate(
                title="Lift stuck between floors",
                customer=Customer(name="Zhao Lei", phone="+86 138 0000 0001"),
                priority=Priority.HIGH,
                category="lift",
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        wo = order(created.parsed)
        if created.status_code != 201 or "location" not in created.headers:
            raise SystemExit(f"create: {created.status_code} {created.headers}")
        step(f"created {wo.number} ({wo.status.value}, {wo.warning_level.value})")

        etag = created.headers["etag"]
        assigned = assign_work_order.sync_detailed(
            wo.id, client=client, body=AssignAction(assignee_id=staff.id), if_match=etag
        )
        wo = order(assigned.parsed)
        wo = order(respond_work_order.sync(wo.id, client=client, body=ActionNote(note="on it")))
        wo = order(arrive_work_order.sync(wo.id, client=client))
        wo = order(
            resolve_work_order.sync(
                wo.id, client=client, body=ResolveAction(resolution="Reset the controller")
            )
        )
        wo = order(close_work_order.sync(wo.id, client=client))
        if wo.status is not WorkOrderStatus.CLOSED or wo.closed_at is None:
            raise SystemExit(f"walk: {wo.status}")
        step(f"walked to {wo.status.value} at {wo.closed_at.isoformat()}")

        sla = get_work_order_sla.sync(wo.id, client=client)
        if isinstance(sla, Problem) or sla is None:
            raise SystemExit(f"sla: {sla!r}")
        states = sorted(f"{c.target}={c.state.value}" for c in sla.clocks)
        step(f"sla by {sla.policy_name}: {', '.join(states)}")

        # Every list pages the same way: items and next_cursor, passed back as cursor.
        seen: list[uuid.UUID] = []
        cursor: str | Unset = UNSET
        while True:
            page = list_work_orders.sync(client=client, limit=1, cursor=cursor)
            if page is None or isinstance(page, Problem):
                raise SystemExit(f"list: {page!r}")
            seen += [item.id for item in page.items]
            if not isinstance(page.next_cursor, str):
                break
            cursor = page.next_cursor
        policies = list_sla_policies.sync(client=client, limit=2)
        if policies is None or isinstance(policies, Problem) or not policies.items:
            raise SystemExit(f"policies: {policies!r}")
        step(f"paged {len(seen)} work orders one by one; policies page of {len(policies.items)}")

        # A problem is a typed value too: the 409 says what is allowed instead.
        refused = assign_work_order.sync_detailed(
            wo.id, client=client, body=AssignAction(assignee_id=staff.id)
        )
        problem = refused.parsed
        if refused.status_code != 409 or not isinstance(problem, Problem):
            raise SystemExit(f"expected a 409 problem, got {refused.status_code}")
        allowed = problem.allowed_actions if isinstance(problem.allowed_actions, list) else []
        step(f"409 {problem.title}: allowed {', '.join(allowed)}")

        invalid = create_work_order.sync_detailed(
            client=client, body=WorkOrderCreate(title="", customer=Customer(name="X"))
        )
        problem = invalid.parsed
        if invalid.status_code != 422 or not isinstance(problem, Problem):
            raise SystemExit(f"expected a 422 problem, got {invalid.status_code}")
        fields = [".".join(map(str, e.loc)) for e in problem.errors or []]
        step(f"422 {problem.title}: {', '.join(fields)}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
