"""Keyset pagination with opaque cursors: stable under concurrent inserts, O(page) per call."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from qualityapi.errors import BadRequest

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps({"t": self.created_at.isoformat(), "id": str(self.id)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            created_at = datetime.fromisoformat(data["t"])
            if created_at.tzinfo is None:
                raise ValueError("naive cursor")
            return cls(created_at=created_at, id=uuid.UUID(data["id"]))
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest("cursor is not valid: pass next_cursor from a previous page") from exc


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: Cursor | None


async def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=Cursor.decode(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(_page_params)]


S = TypeVar("S", bound=Select[Any])


def paginate_newest_first(
    stmt: S,
    params: PageParams,
    created_at: InstrumentedAttribute[datetime],
    id_: InstrumentedAttribute[uuid.UUID],
) -> S:
    """Newest first; fetches one extra row to know whether another page exists."""
    if params.cursor is not None:
        c = params.cursor
        stmt = stmt.where(
            or_(created_at < c.created_at, and_(created_at == c.created_at, id_ < c.id))
        )
    return stmt.order_by(created_at.desc(), id_.desc()).limit(params.limit + 1)


def split_page(rows: list[Any], params: PageParams) -> tuple[list[Any], str | None]:
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, Cursor(created_at=last.created_at, id=last.id).encode()


def encode_seq_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{last_id}".encode()).decode().rstrip("=")


def decode_seq_cursor(token: str | None) -> int | None:
    """Cursors for append-only logs ordered by an integer sequence."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode()
        kind, _, value = raw.partition(":")
        if kind != "seq":
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not valid: pass next_cursor from a previous page") from exc


@dataclass(frozen=True)
class SeqPageParams:
    limit: int
    # The last id seen; the repository continues after it in its own direction.
    cursor_id: int | None

    def split(self, rows: list[Any]) -> tuple[list[Any], str | None]:
        if len(rows) <= self.limit:
            return rows, None
        rows = rows[: self.limit]
        return rows, encode_seq_cursor(rows[-1].id)


async def _seq_page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> SeqPageParams:
    return SeqPageParams(limit=limit, cursor_id=decode_seq_cursor(cursor))


SeqPageDep = Annotated[SeqPageParams, Depends(_seq_page_params)]
