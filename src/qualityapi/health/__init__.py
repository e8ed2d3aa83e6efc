"""Liveness, readiness and metrics endpoints for operators and orchestrators."""
