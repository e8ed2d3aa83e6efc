"""Command line: ``qualityapi serve|migrate|openapi|keys ...``."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, TypeVar

import structlog
import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from qualityapi.auth import service as keys_service
from qualityapi.auth.models import Role
from qualityapi.auth.principal import CLI_PRINCIPAL
from qualityapi.clock import SystemClock
from qualityapi.config import ConfigError, get_settings
from qualityapi.db import migrations
from qualityapi.db.engine import make_engine
from qualityapi.db.session import make_sessionmaker
from qualityapi.errors import AppError
from qualityapi.logs import configure_logging
from qualityapi.web import feed as board_feed

# No locals in crash reports: they would print settings, keys and database URLs.
app = typer.Typer(
    help="qualityapi: service-quality management.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


@app.callback()
def _settings_first() -> None:
    """Every command reads the settings: a configuration error is one line naming the
    variable (never its value), not a traceback."""
    try:
        get_settings()
    except ConfigError as exc:
        typer.echo(f"qualityapi: {exc}", err=True)
        raise typer.Exit(2) from None


def _in_session(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = get_settings()
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await fn(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command()
def migrate(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations (default: up to head)."""
    settings = get_settings()
    migrations.upgrade(settings.database_url, settings.migrations_dir, revision)
    typer.echo(f"database at {revision}: {_safe_url(settings.database_url)}")


@app.command()
def serve(
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate before serving.")
    ] = True,
) -> None:
    """Serve the API (host and port from QUALITYAPI_HOST / QUALITYAPI_PORT)."""
    settings = get_settings()
    # Before anything prints: in JSON mode the first line of the log is JSON too.
    configure_logging(settings.log_level, settings.log_format)
    if migrate_first:
        migrations.upgrade(settings.database_url, settings.migrations_dir)
    structlog.get_logger("qualityapi.cli").info(
        "serving",
        url=f"http://{settings.host}:{settings.port}",
        database=_safe_url(settings.database_url),
    )
    config = uvicorn.Config(
        "qualityapi.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # RequestContext writes one structured line per request
        # The app's logging set-up renders uvicorn's lines too (one format, JSON or text).
        log_config=None,
    )
    server = _Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # start-up failed; uvicorn has logged why


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before it shuts down, and a board stream never
    ends by itself: on SIGINT/SIGTERM the streams are told to end first.

    uvicorn re-raises the signals it caught once it has shut down, so that the process
    dies "by the signal" (status -15). For SIGTERM — how systemd, Kubernetes and
    ``docker stop`` ask for a stop — a clean shutdown is a success: exit 0, or a
    supervisor counts every deploy as a crash. SIGINT keeps the conventional re-raise.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        board_feed.close_all()
        super().handle_exit(sig, frame)
        captured: list[int] | None = getattr(self, "_captured_signals", None)
        if captured is not None and sig == signal.SIGTERM:
            captured[:] = [s for s in captured if s != signal.SIGTERM]


@app.command()
def demo(
    seed: Annotated[int | None, typer.Option(help="Same seed, same sample.")] = None,
) -> None:
    """Load a realistic sample (a month of history and today's open items) and say where
    to look. Migrates first; safe to run again (it then adds only today's items)."""
    from qualityapi import demo as sample

    settings = get_settings()
    migrations.upgrade(settings.database_url, settings.migrations_dir)
    typer.echo(f"demo data into {_safe_url(settings.database_url)}")
    quiet = settings.model_copy(update={"log_level": "warning"})
    summary = asyncio.run(
        sample.load(
            quiet, base_url=f"http://{settings.host}:{settings.port}", seed=seed, say=typer.echo
        )
    )
    typer.echo(sample.report(summary))


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) the OpenAPI document."""
    from qualityapi.main import create_app

    text = json.dumps(create_app().openapi(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    role: Annotated[Role, typer.Option(help="viewer, agent, supervisor or admin.")] = Role.agent,
) -> None:
    """Create a key and print it once."""

    async def run(session: AsyncSession) -> keys_service.CreatedKey:
        return await keys_service.create_key(
            session, name=name, role=role, actor=CLI_PRINCIPAL, at=SystemClock().now()
        )

    created = _in_session(run)
    typer.echo(f"id:   {created.key.id}\nrole: {created.key.role.value}\nkey:  {created.raw}")
    typer.echo("The key is shown once; it is stored only as a hash.", err=True)


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Show revoked keys too.")] = False,
) -> None:
    """List keys (never the keys themselves: they are stored as hashes)."""

    async def run(session: AsyncSession) -> list[str]:
        rows = await keys_service.list_keys(session, include_revoked=include_revoked)
        return [
            f"{k.id}  {k.prefix}…  {k.role.value:<10}  {k.name}"
            + (f"  revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
            for k in rows
        ]

    for line in _in_session(run):
        typer.echo(line)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Revoke a key by id."""

    async def run(session: AsyncSession) -> None:
        await keys_service.revoke_key(session, key_id, actor=CLI_PRINCIPAL, at=SystemClock().now())

    try:
        _in_session(run)
    except AppError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {key_id}")


def _safe_url(url: str) -> str:
    # Never print a password to a console or a log.
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"


if __name__ == "__main__":
    app()
