"""Schema building blocks shared by every domain."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from qualityapi.errors import Unprocessable


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# The one accepted spelling of an instant: RFC 3339's date-time with an upper-case T and Z
# and an offset with a colon; at most microseconds (what every database here stores).
INSTANT_FORM = "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)"
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
# A query string's unencoded "+08:00" reaches the server as " 08:00".
_PLUS_AS_SPACE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)? \d{2}:\d{2}", re.ASCII)
# Every instant a client sends lies in these years: the longest deadline walk (3 years of
# calendar, see sla/calendar.py) then stays far inside datetime's and the databases' range,
# so no arithmetic on client input can overflow into a 500.
INSTANT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
INSTANT_RANGE = "1970-01-01T00:00:00Z to 2199-12-31T23:59:59.999999Z"


_NAIVE = "timestamp has no time zone: a timezone offset (Z or ±HH:MM) is required"


def _instant_error(what: str) -> PydanticCustomError:
    return PydanticCustomError(
        "rfc3339_datetime",
        "{what}: send an RFC 3339 timestamp {form}, e.g. 2026-11-21T09:30:00Z",
        {"what": what, "form": INSTANT_FORM},
    )


def _range_error() -> PydanticCustomError:
    return PydanticCustomError(
        "datetime_range",
        "timestamp out of range: accepted are {range} (UTC)",
        {"range": INSTANT_RANGE},
    )


def parse_instant(value: Any) -> datetime:
    """A client's instant: strict RFC 3339 text inside `INSTANT_MIN`..`INSTANT_MAX`.

    Python callers may pass aware datetimes (trusted: read from the database or built by
    code); anything else a client can send (epoch numbers, a space for ``T``, ``+0530``,
    nanoseconds, a naive time) is refused with the accepted form in the message.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _instant_error(_NAIVE)
        return value
    if not isinstance(value, str):
        raise _instant_error("timestamp must be a string, not a number")
    if _INSTANT.fullmatch(value) is None:
        if value[:1].isdigit() and len(value) >= 19 and _INSTANT.fullmatch(value + "Z"):
            raise _instant_error(_NAIVE)
        if _PLUS_AS_SPACE.fullmatch(value):
            raise _instant_error(
                "timestamp's '+' arrived as a space: in a query string send it as %2B"
            )
        raise _instant_error("timestamp is not in the accepted form")
    # Checked on the local year first: converting year 1 (or 9999) with an offset would
    # overflow datetime itself.
    if not INSTANT_MIN.year <= int(value[:4]) <= INSTANT_MAX.year:
        raise _range_error()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:  # e.g. 2026-02-30 or 25:00
        raise _instant_error(f"timestamp is not a valid date and time ({exc})") from exc
    if not INSTANT_MIN <= parsed <= INSTANT_MAX:
        raise _range_error()
    return parsed


# Input: strict RFC 3339 with an offset (see `parse_instant`). Output: UTC with a trailing Z.
UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(parse_instant),
    PlainSerializer(_utc_z, return_type=str, when_used="json-unless-none"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)


def check_period(
    start: datetime | None, end: datetime | None, *, start_name: str = "from", end_name: str = "to"
) -> None:
    """A period [start, end) that ends before it starts is a client's slip (swapped bounds),
    not an empty answer: a list or report that says nothing would look true."""
    if start is not None and end is not None and end <= start:
        raise Unprocessable(f"{end_name}: must be after {start_name}")


def parse_id(value: Any) -> Any:
    """Only the canonical hyphenated spelling (no braces, ``urn:uuid:``, no bare hex)."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or _UUID.fullmatch(value) is None:
        raise PydanticCustomError(
            "uuid_canonical",
            "send a UUID in its canonical form 8-4-4-4-12, "
            "e.g. 3f2b8c1e-9a4d-4c6e-8f10-2b7d5e9a1c34",
        )
    return uuid.UUID(value)


# Every id a client sends (body, path or query).
Id = Annotated[
    uuid.UUID,
    BeforeValidator(parse_id),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]


def _offer_no_null(schema: dict[str, Any]) -> None:
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept


# A PATCH field that may be left out or changed but not cleared (the service answers a
# null with a 422): typed ``X | None`` so that leaving it out is possible, with ``null``
# kept out of the document so that generated clients do not offer it.
NotNull = Field(json_schema_extra=_offer_no_null)

# JSON numbers and booleans taken as sent: pydantic's lax mode would turn `true` into a
# score of 1, "4" into 4 and "yes" into true, and a front end's bug into a dissatisfied
# customer. Every input model's numbers and flags use these.
StrictInt = Annotated[int, Strict()]
StrictFloat = Annotated[float, Strict()]
StrictBool = Annotated[bool, Strict()]

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=10_000)]


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


class InputModel(BaseModel):
    # Unknown fields are an error: a typo in a field name must not be silently dropped.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # PostgreSQL cannot store NUL in text; say so instead of failing at the database.
    _refuse_nul = field_validator("*", mode="after")(_no_nul)


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= to get the next page; null on the last page."
    )
