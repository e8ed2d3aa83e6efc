"""structlog set-up: one line per event, JSON for machines or aligned text for people.

Everything goes through the same renderer: the service's own events and the standard
library's loggers (uvicorn, APScheduler, SQLAlchemy warnings, tracebacks), so that in JSON
mode every line of the log is one JSON object.
"""

from __future__ import annotations

import logging
import sys

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# Libraries that talk at INFO about routine work (APScheduler: four lines per scanner
# pass) are kept to warnings unless the whole service logs at debug.
_QUIET = ("apscheduler", "httpx", "httpcore", "asyncio")


def configure_logging(level: str, fmt: str) -> None:
    numeric = _LEVELS.get(level, logging.INFO)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            timestamper,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own handlers print plain text; let its records reach ours instead.
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        # A level uvicorn set (its own log_level when embedded) would silently drop them.
        logger.setLevel(logging.NOTSET)
    # RequestContext writes the one line per request (with its id, route and status);
    # uvicorn's access line would be a second, less useful one, paid for on every request.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    for name in _QUIET:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
