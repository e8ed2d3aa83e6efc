"""High-frequency problems (高频问题, 001 §3.1): a stated rule, no guessing.

Complaints with the same category, and separately the same location or the same customer
(phone digits, else e-mail), reaching ``threshold`` within the last ``window_days`` days
(by ``received_at``) raise a flag: an improvement plan record (one open plan per problem)
and a ``complaint.high_frequency`` event when the plan is created. Later complaints of the
same problem update the open plan's count; once a plan is done, a new crossing opens a
new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.complaints import events, repository
from qualityapi.complaints.models import Complaint, Dimension, ImprovementPlan, PlanStatus


@dataclass(frozen=True)
class Rule:
    threshold: int = 3
    window_days: int = 30


# Set from the settings at the composition root (main.create_app).
RULE = Rule()


def configure(rule: Rule) -> None:
    global RULE
    RULE = rule


def keys_of(c: Complaint) -> list[tuple[Dimension, str]]:
    keys = [
        (Dimension.category, c.category),
        (Dimension.location, c.location),
        (Dimension.customer, c.customer_key),
    ]
    return [(d, k) for d, k in keys if k]


async def check(session: AsyncSession, c: Complaint, now: datetime) -> list[ImprovementPlan]:
    """Applies the rule to the problems ``c`` belongs to; returns the plans it opened."""
    rule = RULE
    since = now - timedelta(days=rule.window_days)
    opened = []
    for dimension, key in keys_of(c):
        ids = await repository.recent_with_same(session, dimension, key, since)
        if len(ids) < rule.threshold:
            continue
        await repository.lock_problem(session, dimension, key)
        plan = await repository.open_plan(session, dimension, key)
        if plan is not None:
            plan.complaint_count = len(ids)
            plan.complaint_ids = [str(i) for i in ids]
            plan.updated_at = now
            continue
        plan = ImprovementPlan(
            dimension=dimension,
            key=key,
            complaint_count=len(ids),
            complaint_ids=[str(i) for i in ids],
            window_days=rule.window_days,
            threshold=rule.threshold,
            flagged_at=now,
            status=PlanStatus.open,
            created_at=now,
            updated_at=now,
        )
        session.add(plan)
        await session.flush()
        await events.high_frequency(session, plan, now)
        opened.append(plan)
    return opened
