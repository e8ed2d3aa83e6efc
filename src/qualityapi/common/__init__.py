"""Pieces shared by every domain: schema types, pagination, concurrency and idempotency."""
