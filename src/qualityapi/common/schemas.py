"""Schema building blocks shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, field_validator


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Input: any offset, never naive (a 422 that says so). Output: UTC with a trailing Z.
UtcDatetime = Annotated[
    AwareDatetime, PlainSerializer(_utc_z, return_type=str, when_used="json-unless-none")
]

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
