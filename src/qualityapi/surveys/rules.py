"""The survey settings as the surveys code uses them.

Routes read them from the app that serves the request (``RulesDep``). Reactions run
inside another domain's transaction and get no request, so the composition root
installs the app's rules here as well (``configure``), as it registers adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from qualityapi.config import Settings


@dataclass(frozen=True)
class SurveyRules:
    max_failed_attempts: int = 3
    link_valid_for: timedelta = timedelta(days=7)
    throttle: timedelta = timedelta(days=30)
    dissatisfied_threshold: int = 2
    reopen_when_not_solved: bool = False
    link_base_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SurveyRules:
        base = settings.survey_link_base_url
        return cls(
            max_failed_attempts=settings.survey_max_failed_attempts,
            link_valid_for=timedelta(days=settings.survey_link_valid_days),
            throttle=timedelta(days=settings.survey_throttle_days),
            dissatisfied_threshold=settings.survey_dissatisfied_threshold,
            reopen_when_not_solved=settings.survey_reopen_when_not_solved,
            link_base_url=base.rstrip("/") if base else None,
        )


_current = SurveyRules()


def configure(settings: Settings) -> None:
    """Called once per app by ``main.create_app`` (the last app created wins, as with
    ``sla.subjects.register``)."""
    global _current
    _current = SurveyRules.from_settings(settings)


def current() -> SurveyRules:
    return _current


async def _rules(request: Request) -> SurveyRules:
    return SurveyRules.from_settings(request.app.state.settings)


RulesDep = Annotated[SurveyRules, Depends(_rules)]
