"""The route class of every /v1 endpoint: authentication before bodies, strict JSON.

Two rules FastAPI's own route does not keep:

- **Authentication first.** FastAPI parses the body before it runs any dependency, so a
  malformed body sent without a key would get a 400 while a well-formed one gets a 401: an
  anonymous client could learn how bodies are checked. Here a body that fails to decode
  is answered only after the route's role check has passed (401 / 403 otherwise). The
  check runs on that error path alone; a request that decodes pays nothing extra.
- **Duplicate keys are an error.** ``{"priority": "normal", "priority": "urgent"}`` would
  otherwise silently keep the last value; it is a 422 naming the key.
- **Unknown query parameters are an error.** ``?stauts=open`` would otherwise be ignored
  and answer with every order as if unfiltered; it is a 422 naming the parameter and the
  ones the endpoint takes. (Only /v1: the HTML pages keep accepting tracking parameters.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

_bearer = HTTPBearer(auto_error=False)


class DuplicateKeyError(json.JSONDecodeError):
    """Raised while decoding; FastAPI turns a JSONDecodeError into its validation error,
    which `ContractRoute` then rewrites into a 422 naming ``key``."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}", "", 0)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            raw = await self.body()
            try:
                # One pass, as json.loads would do; the hook compares two lengths per object.
                self._json = json.loads(raw, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError:
                raise
            except UnicodeDecodeError as exc:
                # Otherwise FastAPI's bare 400 "error parsing the body": say what is wrong,
                # as a malformed-json problem like any other undecodable body.
                raise json.JSONDecodeError("the body is not valid UTF-8", "", exc.start) from exc
            # Position -1: the whole body, no character to point at.
            except RecursionError as exc:
                raise json.JSONDecodeError("the body nests too deeply", "", -1) from exc
            except ValueError as exc:  # Python reads at most 4,300 digits of an integer
                raise json.JSONDecodeError("a number has too many digits", "", -1) from exc
        return self._json


def _role_check(dependant: Dependant) -> Callable[..., Coroutine[Any, Any, Any]] | None:
    """The route's ``require_role`` dependency (it carries ``min_role``), if it has one."""
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if getattr(dep.call, "min_role", None) is not None:
            call: Callable[..., Coroutine[Any, Any, Any]] = dep.call  # type: ignore[assignment]
            return call
        stack.extend(dep.dependencies)
    return None


def _query_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter the route or any of its dependencies declares."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        dep = stack.pop()
        names.update(param.alias for param in dep.query_params)
        stack.extend(dep.dependencies)
    return frozenset(names)


def _unknown_query(request: Request, known: frozenset[str]) -> RequestValidationError | None:
    unknown = sorted({key for key in request.query_params if key not in known})
    if not unknown:
        return None
    takes = ", ".join(sorted(known)) if known else "no query parameters"
    return RequestValidationError(
        [
            {
                "type": "unknown_parameter",
                "loc": ("query", key),
                "msg": f"unknown query parameter {key!r}; this endpoint takes: {takes}",
            }
            for key in unknown
        ]
    )


class ContractRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        check = _role_check(self.dependant)
        known_query = _query_names(self.dependant)

        async def route_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            if request.scope["query_string"]:
                refused = _unknown_query(request, known_query)
                if refused is not None:
                    if check is not None:
                        # As for a malformed body: the 401 / 403 first, then the word on it.
                        await check(request=strict, credentials=await _bearer(strict))
                    raise refused
            try:
                return await handler(strict)
            except RequestValidationError as exc:
                errors = exc.errors()
                if not errors or errors[0].get("type") != "json_invalid":
                    raise
                if check is not None:
                    # Raises the 401 / 403 the request deserves before any word on its body.
                    await check(request=strict, credentials=await _bearer(strict))
                cause = exc.__cause__
                if isinstance(cause, DuplicateKeyError):
                    raise RequestValidationError(
                        [
                            {
                                "type": "duplicate_key",
                                "loc": ("body",),
                                "msg": f"the key {cause.key!r} appears more than once in an "
                                "object; send each key once",
                            }
                        ]
                    ) from cause
                raise

        return route_handler
