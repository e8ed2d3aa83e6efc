"""Keyset pagination with opaque cursors: stable under concurrent inserts, O(page) per call."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy import ColumnElement, Select, and_, literal, or_
from sqlalchemy.orm import InstrumentedAttribute

from qualityapi.common.schemas import INSTANT_MAX, INSTANT_MIN
from qualityapi.errors import BadRequest

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_BIGINT = 2**63
_REFUSED = "cursor is not valid: pass next_cursor from a previous page"
_ELSEWHERE = "cursor is from another list: pass next_cursor from a previous page of this list"


def list_key(request: Request) -> str:
    """Which list a cursor belongs to: a short digest of the list's path (ids included, so
    one order's timeline cursor does not page another's). A cursor carries it; one from
    another list is refused instead of paging this list from a position it never had."""
    return format(zlib.crc32(request.url.path.encode()), "08x")


def _same_list(data: Any, key: str) -> None:
    # Cursors written before lists were named carry none: still accepted.
    found = data.get("l") if isinstance(data, dict) else None
    if found is not None and found != key:
        raise BadRequest(_ELSEWHERE)


def _b64(raw: dict[str, Any]) -> str:
    text = json.dumps(raw, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))


def _instant(text: str) -> datetime:
    """A cursor's instant: aware and inside the accepted range. A cursor is opaque but
    not signed, so a crafted one must be refused here, not overflow in the database."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None or not INSTANT_MIN.year <= value.year <= INSTANT_MAX.year:
        raise ValueError("cursor instant")
    if not INSTANT_MIN <= value <= INSTANT_MAX:
        raise ValueError("cursor instant")
    return value


def _int(value: Any) -> int:
    if type(value) is not int or not -_BIGINT <= value < _BIGINT:
        raise ValueError("cursor integer")
    return value


def _text(value: Any) -> str:
    if type(value) is not str or len(value) > 1000 or "\x00" in value:
        raise ValueError("cursor text")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError("cursor flag")
    return value


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self, key: str = "") -> str:
        return _b64({"t": self.created_at.isoformat(), "id": str(self.id), "l": key})

    @classmethod
    def decode(cls, token: str, key: str = "") -> Cursor:
        try:
            data = _unb64(token)
            cursor = cls(created_at=_instant(data["t"]), id=uuid.UUID(data["id"]))
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest(_REFUSED) from exc
        _same_list(data, key)
        return cursor


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: Cursor | None
    list_key: str = ""


async def _page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    key = list_key(request)
    return PageParams(
        limit=limit, cursor=Cursor.decode(cursor, key) if cursor else None, list_key=key
    )


PageDep = Annotated[PageParams, Depends(_page_params)]


S = TypeVar("S", bound=Select[Any])
R = TypeVar("R")


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
    return rows, Cursor(created_at=last.created_at, id=last.id).encode(params.list_key)


def encode_seq_cursor(last_id: int, key: str = "") -> str:
    raw = f"seq:{last_id}:{key}" if key else f"seq:{last_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_seq_cursor(token: str | None, key: str = "") -> int | None:
    """Cursors for append-only logs ordered by an integer sequence."""
    if token is None:
        return None
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()).decode()
        kind, _, rest = raw.partition(":")
        value, _, found = rest.partition(":")
        if kind != "seq" or not 0 <= int(value) < _BIGINT:
            raise ValueError(kind)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(_REFUSED) from exc
    _same_list({"l": found or None}, key)
    return int(value)


@dataclass(frozen=True)
class SeqPageParams:
    limit: int
    # The last id seen; the repository continues after it in its own direction.
    cursor_id: int | None
    list_key: str = ""

    def split(self, rows: list[Any]) -> tuple[list[Any], str | None]:
        if len(rows) <= self.limit:
            return rows, None
        rows = rows[: self.limit]
        return rows, encode_seq_cursor(rows[-1].id, self.list_key)


async def _seq_page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> SeqPageParams:
    key = list_key(request)
    return SeqPageParams(limit=limit, cursor_id=decode_seq_cursor(cursor, key), list_key=key)


SeqPageDep = Annotated[SeqPageParams, Depends(_seq_page_params)]


# --- keyset pages in a list's own order --------------------------------------------------
# Configuration lists (policies by rank, calendars by name, ...) keep the order that means
# something to their readers; the cursor holds the last row's sort key, tagged by type so
# it decodes without knowing the columns.

_TAGS: dict[str, Callable[[Any], Any]] = {
    "s": _text,
    "i": _int,
    "b": _bool,
    "u": lambda v: uuid.UUID(_text(v)),
    "t": lambda v: _instant(_text(v)),
}


def _tag(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, str):
        return ["s", value]
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def encode_key_cursor(key: Sequence[Any], list_key: str = "") -> str:
    return _b64({"k": [_tag(v) for v in key], "l": list_key})


def decode_key_cursor(token: str, list_key: str = "") -> tuple[Any, ...]:
    try:
        data = _unb64(token)
        after = tuple(_TAGS[tag](value) for tag, value in data["k"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(_REFUSED) from exc
    _same_list(data, list_key)
    return after


@dataclass(frozen=True)
class KeyPageParams:
    limit: int
    # The sort key of the last item of the previous page.
    after: tuple[Any, ...] | None
    list_key: str = ""

    def split(
        self, rows: Sequence[R], key: Callable[[R], Sequence[Any]]
    ) -> tuple[list[R], str | None]:
        """The page (``rows`` fetched with one extra) and the cursor to the next one."""
        if len(rows) <= self.limit:
            return list(rows), None
        page = list(rows[: self.limit])
        return page, encode_key_cursor(key(page[-1]), self.list_key)

    def of_sequence(
        self, items: Sequence[R], key: Callable[[R], Sequence[Any]]
    ) -> tuple[list[R], str | None]:
        """A page of a list held in memory (e.g. the event-type catalogue), in its order."""
        start = 0
        if self.after is not None:
            keys = [tuple(key(item)) for item in items]
            start = keys.index(self.after) + 1 if self.after in keys else len(items)
        return self.split(items[start : start + self.limit + 1], key)


async def _key_page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> KeyPageParams:
    key = list_key(request)
    after = decode_key_cursor(cursor, key) if cursor else None
    return KeyPageParams(limit=limit, after=after, list_key=key)


KeyPageDep = Annotated[KeyPageParams, Depends(_key_page_params)]


def _fits(column: InstrumentedAttribute[Any], value: Any) -> bool:
    # A cursor of another list (or a crafted one) must not compare text with a number.
    try:
        expected = column.type.python_type
        if expected is object:  # a TypeDecorator (e.g. UtcDateTime): ask what it wraps
            expected = column.type.impl_instance.python_type
    except (NotImplementedError, AttributeError):
        return True
    if isinstance(value, bool) and expected is not bool:
        return False
    return isinstance(value, expected)


def paginate_by_key(
    stmt: S,
    params: KeyPageParams,
    order: Sequence[tuple[InstrumentedAttribute[Any], bool]],
) -> S:
    """Ordered by ``order`` ((column, descending?), ..., unique last: the id), continuing
    after the cursor's key; fetches one extra row to know whether another page exists."""
    if params.after is not None:
        if len(params.after) != len(order) or not all(
            _fits(column, value) for (column, _), value in zip(order, params.after, strict=True)
        ):
            raise BadRequest("cursor is not valid: pass next_cursor from a previous page")
        branches: list[ColumnElement[bool]] = []
        for i, (column, descending) in enumerate(order):
            # Bound as literals of the column's type: SQLAlchemy refuses `column < True`.
            value = literal(params.after[i], column.type)
            beyond = column < value if descending else column > value
            equal = [
                c == literal(v, c.type)
                for (c, _), v in zip(order[:i], params.after[:i], strict=True)
            ]
            branches.append(and_(*equal, beyond))
        stmt = stmt.where(or_(*branches))
    ordering = [c.desc() if descending else c.asc() for c, descending in order]
    return stmt.order_by(*ordering).limit(params.limit + 1)
