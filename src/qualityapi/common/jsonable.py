from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """The JSON form of a column value, as the API shows it (UTC timestamps with Z)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class ChangeSet:
    """Applies field changes to an object and remembers old → new for the timeline."""

    def __init__(self, target: object) -> None:
        self._target = target
        self.changes: dict[str, dict[str, Any]] = {}

    def set(self, field: str, value: Any) -> None:
        old = getattr(self._target, field)
        if old == value:
            return
        self.changes[field] = {"old": jsonable(old), "new": jsonable(value)}
        setattr(self._target, field, value)
