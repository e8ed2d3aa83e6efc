"""Answers checked against the template version the customer was asked. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answers:
    """One survey's answers. ``overall``, ``solved`` and ``nps`` answer the template's
    question of that kind (whatever its key); ratings and comments are by question key."""

    overall: int
    solved: bool | None = None
    nps: int | None = None
    ratings: Mapping[str, int] = field(default_factory=dict)
    comments: Mapping[str, str] = field(default_factory=dict)


def problems(questions: list[dict[str, Any]], answers: Answers) -> dict[str, str]:
    """{field: what is wrong} (empty when the answers fit the template)."""
    found: dict[str, str] = {}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for q in questions:
        by_kind.setdefault(q["kind"], []).append(q)
    singles: tuple[tuple[str, object], ...] = (("solved", answers.solved), ("nps", answers.nps))
    for kind, value in singles:
        asked = by_kind.get(kind)
        if not asked and value is not None:
            found[kind] = "this survey does not ask it"
        elif asked and asked[0]["required"] and value is None:
            found[kind] = "an answer is required"
    for kind, given, name in (
        ("rating", answers.ratings, "ratings"),
        ("text", answers.comments, "comments"),
    ):
        keys = {q["key"]: q for q in by_kind.get(kind, [])}
        for key in given:
            if key not in keys:
                known = ", ".join(sorted(keys)) or "none"
                found[f"{name}.{key}"] = f"no such question (this survey's: {known})"
        for key, q in keys.items():
            value = given.get(key)
            empty = value is None or (isinstance(value, str) and not value.strip())
            if q["required"] and empty:
                found[f"{name}.{key}"] = "an answer is required"
    return found


def reasons(answers: Answers, *, threshold: int) -> list[str]:
    """Why an answer is dissatisfied: a low overall score, or the problem not solved."""
    found = []
    if answers.overall <= threshold:
        found.append("low_score")
    if answers.solved is False:
        found.append("not_solved")
    return found
