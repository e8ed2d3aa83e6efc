"""In JSON mode every log line is one JSON object: the service's and the libraries'."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from qualityapi.logs import configure_logging


def test_json_mode_renders_library_lines_and_tracebacks_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    try:
        logging.getLogger("uvicorn.error").warning("Started server process")
        logging.getLogger("apscheduler.scheduler").info("Running job")  # routine: dropped
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        structlog.get_logger("qualityapi.test").warning("own_event", detail=1)
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        parsed = [json.loads(line) for line in lines]  # fails on any plain-text line
        events = [p["event"] for p in parsed]
        assert "Started server process" in events
        assert "Running job" not in events
        crash = next(p for p in parsed if p["event"] == "Exception in ASGI application")
        assert "ValueError: boom" in crash["exception"]
        assert {"event": "own_event", "detail": 1}.items() <= parsed[-1].items()
    finally:
        configure_logging("warning", "console")
