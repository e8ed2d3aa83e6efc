from __future__ import annotations

import uuid
from dataclasses import dataclass

from qualityapi.auth.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key (or the CLI, which acts with no key)."""

    key_id: uuid.UUID | None
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return self.role.rank >= role.rank


CLI_PRINCIPAL = Principal(key_id=None, name="cli", role=Role.admin)
SYSTEM_PRINCIPAL = Principal(key_id=None, name="system", role=Role.admin)
