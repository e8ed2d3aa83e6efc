"""Retention: old delivery logs, outbox messages and idempotency keys are deleted."""
