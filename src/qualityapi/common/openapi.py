"""Schema names a generated client can use.

When two domains have a class of the same name (``Status`` of work orders and of surveys,
``Change`` of the timeline and of reports), FastAPI keys them by their full module path
(``qualityapi__work_orders__states__Status``) but leaves both titled ``Status``; client
generators name classes by title, collide, and drop every schema and operation that uses
them. Each such schema is renamed after its domain (``WorkOrderStatus``, ``SurveyStatus``),
key and title alike, with every ``$ref`` following.
"""

from __future__ import annotations

import json
from typing import Any

_PREFIX = "qualityapi__"
_REF = "#/components/schemas/"


def _domain_name(key: str) -> str:
    # qualityapi__work_orders__states__Status -> WorkOrderStatus
    parts = key[len(_PREFIX) :].split("__")
    domain, name = parts[0], parts[-1]
    camel = "".join(word.capitalize() for word in domain.split("_"))
    if camel.endswith("s") and not camel.endswith("ss"):
        camel = camel[:-1]
    return camel + name if not name.startswith(camel) else name


def unique_schema_names(schema: dict[str, Any]) -> dict[str, Any]:
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    taken = {k for k in components if not k.startswith(_PREFIX)}
    renames: dict[str, str] = {}
    for key in sorted(components):
        if not key.startswith(_PREFIX):
            continue
        new = _domain_name(key)
        if new in taken:  # still ambiguous: the module decides
            new = "".join(p.capitalize() for p in key[len(_PREFIX) :].replace("__", "_").split("_"))
        taken.add(new)
        renames[key] = new
    if not renames:
        return schema
    text = json.dumps(schema)
    for old, new in renames.items():
        text = text.replace(f'"{_REF}{old}"', f'"{_REF}{new}"')
    renamed: dict[str, Any] = json.loads(text)
    schemas = renamed["components"]["schemas"]
    for old, new in renames.items():
        body = schemas.pop(old)
        body["title"] = new
        schemas[new] = body
    renamed["components"]["schemas"] = dict(sorted(schemas.items()))
    return renamed


def plain_optional_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional body (``requestBody.required`` false) is documented as its model alone.

    FastAPI writes ``anyOf: [Model, null]`` for ``body: Model | None = None``; the absence
    of a body is already what ``required: false`` says, and generators turn the extra
    ``null`` into a "no body" value they then try to serialise.
    """
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody")
            if not isinstance(body, dict) or body.get("required"):
                continue
            for media in body.get("content", {}).values():
                options = media.get("schema", {}).get("anyOf")
                if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
                    [model] = [o for o in options if o != {"type": "null"}]
                    media["schema"] = model
    return schema
