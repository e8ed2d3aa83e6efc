"""Validates webhook bodies against their schema in the generated OpenAPI document's
``webhooks`` section (issue 13: every body a test receives must match what we publish).

The document is generated from a fresh app (what ``GET /openapi.json`` serves and
``openapi/openapi.json`` commits); ``$ref``s resolve against its ``components``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

from qualityapi.config import Settings
from qualityapi.main import create_app


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", scheduler_enabled=False)
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


@lru_cache(maxsize=64)
def _validator(event_type: str) -> Draft202012Validator:
    doc = document()
    webhooks = doc.get("webhooks", {})
    if event_type not in webhooks:
        raise AssertionError(f"event type {event_type!r} is not in the document's webhooks")
    body = webhooks[event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # The body schema with the document's components beside it: "#/components/..." refs
    # then resolve within this one schema.
    schema = {**body, "components": doc.get("components", {})}
    return Draft202012Validator(schema)


def validate_body(body: dict[str, Any]) -> None:
    """Raises AssertionError naming every mismatch of one webhook body."""
    validator = _validator(str(body.get("type")))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]
        raise AssertionError(
            f"{body.get('type')} body does not match its schema:\n  " + "\n  ".join(lines[:10])
        )
