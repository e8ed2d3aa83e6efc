"""The per-process store behind ``sla.compiled``; here so that editing a calendar or a
policy can clear it without importing the matching machinery."""

from __future__ import annotations

from typing import Any

# engine id -> (expires at, monotonic; the compiled set)
entries: dict[int, tuple[float, Any]] = {}


def invalidate() -> None:
    entries.clear()
