"""Optimistic concurrency over HTTP: ``version`` ↔ ``ETag``, ``If-Match`` → 412 when stale."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from qualityapi.errors import PreconditionFailed


def etag_for(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)


IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="ETag from a previous read; the write fails with 412 if the resource changed.",
    ),
]


def check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None:
        return
    current = etag_for(version)
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(
        f"If-Match {if_match} does not match the current version {current}; "
        "fetch the resource again and retry"
    )
