"""Query parameters shared by every route that filters by kind of SLA subject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from qualityapi.errors import Unprocessable
from qualityapi.sla import subjects


async def _subject_type(
    subject_type: Annotated[
        str | None,
        Query(
            max_length=20,
            description="Only this kind of subject: work_order, complaint or survey.",
            examples=["work_order"],
        ),
    ] = None,
) -> str | None:
    # A mistyped kind would otherwise match nothing and answer an empty, plausible 200.
    if subject_type is not None and subjects.find(subject_type) is None:
        known = ", ".join(subjects.kinds())
        raise Unprocessable(f"subject_type: no kind {subject_type!r}; use one of {known}")
    return subject_type


SubjectTypeDep = Annotated[str | None, Depends(_subject_type)]
