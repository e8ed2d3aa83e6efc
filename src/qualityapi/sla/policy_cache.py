"""The per-process store behind ``sla.compiled``; here so that editing a calendar or a
policy can clear it without importing the matching machinery."""

from __future__ import annotations

from typing import Any

# (engine id, subject) -> (expires at, monotonic; compiled candidates)
entries: dict[tuple[int, Any], tuple[float, list[Any]]] = {}


def invalidate() -> None:
    entries.clear()
