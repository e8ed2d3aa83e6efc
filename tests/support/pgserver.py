"""A real, throwaway PostgreSQL server for tests and benchmarks.

Usage::

    with TemporaryPostgres() as pg:
        engine = create_async_engine(pg.url)

The server lives in a fresh temporary directory, listens on a free loopback port and is
tuned for speed over durability (fsync off): its data is meant to die with it.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = [
    "PostgresStartError",
    "PostgresUnavailable",
    "TemporaryPostgres",
    "find_pg_bin_dir",
]

DEFAULT_DATABASE = "qualityapi"
SUPERUSER = "postgres"
_START_ATTEMPTS = 3
_COMMAND_TIMEOUT_S = 120
_LOG_TAIL_LINES = 40
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_INSTALL_HINT = (
    "Install the server binaries (Debian/Ubuntu: `apt-get install postgresql`), "
    "or point QUALITYAPI_PG_BIN at a directory containing initdb and pg_ctl."
)
# Server settings trade durability for speed; the cluster is discarded after the run.
_SERVER_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
)


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL installation on this machine (callers may skip)."""


class PostgresStartError(RuntimeError):
    """PostgreSQL is installed but the throwaway server could not be set up."""


def _version_key(path: Path) -> tuple[int, ...]:
    # Directory names are versions ("15", "9.6"); compare numerically so 15 beats 9.6.
    try:
        return tuple(int(part) for part in path.parent.name.split("."))
    except ValueError:
        return (-1,)


def _has_server_binaries(path: Path) -> bool:
    return (path / "initdb").is_file() and (path / "pg_ctl").is_file()


def find_pg_bin_dir() -> Path:
    """Locate initdb/pg_ctl: $QUALITYAPI_PG_BIN, newest /usr/lib/postgresql/*/bin, pg_config."""
    configured = os.environ.get("QUALITYAPI_PG_BIN")
    if configured:
        path = Path(configured)
        if not _has_server_binaries(path):
            raise PostgresUnavailable(
                f"QUALITYAPI_PG_BIN={configured!r} has no initdb/pg_ctl. {_INSTALL_HINT}"
            )
        return path

    debian_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key)
    for path in reversed(debian_dirs):
        if _has_server_binaries(path):
            return path

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_server_binaries(Path(out)):
            return Path(out)

    raise PostgresUnavailable(f"No PostgreSQL server binaries found. {_INSTALL_HINT}")


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(server log unavailable: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _child_env() -> dict[str, str]:
    # Inherited PG* variables (PGDATA, PGPORT, PGHOST, ...) would silently redirect the
    # client tools to some other cluster; LC_ALL=C avoids warnings about missing locales.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


class TemporaryPostgres:
    """A PostgreSQL cluster in a temp dir, started on enter and destroyed on exit."""

    def __init__(self, database: str = DEFAULT_DATABASE, bin_dir: Path | None = None) -> None:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"invalid database name: {database!r}")
        self._database = database
        self._bin_dir = bin_dir
        self._root: Path | None = None
        self._port: int | None = None
        self._server_running = False
        self._cleaned_up = False
        self._run_as: pwd.struct_passwd | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            raise RuntimeError("TemporaryPostgres is not started")
        return self._bin_dir

    @property
    def port(self) -> int:
        if self._port is None or not self._server_running:
            raise RuntimeError("TemporaryPostgres is not started")
        return self._port

    @property
    def url(self) -> str:
        """SQLAlchemy async URL of the default database."""
        return self.url_for(self._database)

    @property
    def dsn(self) -> str:
        """libpq/asyncpg DSN of the default database (no SQLAlchemy driver prefix)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{self._database}"

    @property
    def log_path(self) -> Path:
        return self._paths()[2]

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create another database on this server and return its SQLAlchemy URL."""
        if not _IDENTIFIER.match(name):
            raise ValueError(f"invalid database name: {name!r}")
        self._createdb(name)
        return self.url_for(name)

    def start(self) -> TemporaryPostgres:
        if self._root is not None:
            raise RuntimeError("TemporaryPostgres can only be started once")
        if self._bin_dir is None:
            self._bin_dir = find_pg_bin_dir()
        self._run_as = self._server_user()
        self._root = Path(tempfile.mkdtemp(prefix="qualityapi-pg-"))
        # Registered before anything can start, so even a half-built server gets reaped.
        atexit.register(self._cleanup)
        try:
            self._prepare_dirs()
            self._initdb()
            self._start_server()
            self._createdb(self._database)
        except BaseException:
            self.close()
            raise
        return self

    def stop(self) -> None:
        """An outage: a fast shutdown (committed data kept); ``resume`` brings the server
        back on the same port, as a restarted database would be."""
        data_dir, _, _ = self._paths()
        result = self._run([self._tool("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"])
        if result.returncode != 0:
            raise PostgresStartError(f"pg_ctl stop failed:\n{result.stdout.strip()}")
        self._server_running = False

    def resume(self) -> None:
        data_dir, sock_dir, log_path = self._paths()
        assert self._port is not None, "resume() after stop() only"
        options = [f"-p {self._port}", f"-k {shlex.quote(str(sock_dir))}"]
        options += [f"-c {setting}" for setting in _SERVER_SETTINGS]
        result = self._run(
            [
                self._tool("pg_ctl"), "-w", "-t", "60", "-D", str(data_dir),
                "-l", str(log_path), "-o", " ".join(options), "start",
            ]
        )  # fmt: skip
        if result.returncode != 0:
            raise PostgresStartError(f"pg_ctl start failed:\n{result.stdout.strip()}")
        self._server_running = True

    def close(self) -> None:
        atexit.unregister(self._cleanup)
        self._cleanup()

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _paths(self) -> tuple[Path, Path, Path]:
        if self._root is None:
            raise RuntimeError("TemporaryPostgres is not started")
        return self._root / "data", self._root / "sock", self._root / "server.log"

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        # postgres refuses to run as root, so root hands the cluster to the postgres user.
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                f"Running as root needs a '{SUPERUSER}' system user to own the server. "
                f"{_INSTALL_HINT}"
            ) from None

    def _prepare_dirs(self) -> None:
        assert self._root is not None
        _, sock_dir, _ = self._paths()
        sock_dir.mkdir()
        if self._run_as is None:
            return
        self._check_traversable(self._root.parent)
        for path in (self._root, sock_dir):
            path.chmod(0o755)
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _check_traversable(self, directory: Path) -> None:
        assert self._run_as is not None
        for path in (directory, *directory.parents):
            st = path.stat()
            if st.st_uid == self._run_as.pw_uid or st.st_mode & stat.S_IXOTH:
                continue
            raise PostgresStartError(
                f"{path} is not traversable by the '{SUPERUSER}' user, so it cannot reach "
                f"the temporary cluster; set TMPDIR to a world-traversable directory (/tmp)."
            )

    def _wrap(self, cmd: list[str]) -> list[str]:
        if self._run_as is None:
            return cmd
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", SUPERUSER, "--", *cmd]
        su = shutil.which("su") or "su"
        return [su, SUPERUSER, "-s", "/bin/sh", "-c", shlex.join(cmd)]

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        assert self._root is not None
        # Output goes to a file, not a pipe: a daemon that inherited the pipe would keep
        # it open and make us wait for EOF until the server exits.
        with tempfile.TemporaryFile(mode="w+") as out:
            proc = subprocess.run(
                self._wrap(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._root,  # the server user may not be able to enter our cwd
                env=_child_env(),
                timeout=_COMMAND_TIMEOUT_S,
                check=False,
            )
            out.seek(0)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), None)

    def _tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _initdb(self) -> None:
        data_dir, _, _ = self._paths()
        result = self._run(
            [
                self._tool("initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        if result.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {result.returncode}):\n{result.stdout.strip()}"
            )

    def _start_server(self) -> None:
        data_dir, sock_dir, log_path = self._paths()
        last_output = ""
        for _ in range(_START_ATTEMPTS):
            # The port can be taken between probing and binding; a new one usually works.
            port = _free_loopback_port()
            options = [f"-p {port}", f"-k {shlex.quote(str(sock_dir))}"]
            options += [f"-c {setting}" for setting in _SERVER_SETTINGS]
            result = self._run(
                [
                    self._tool("pg_ctl"),
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(data_dir),
                    "-l",
                    str(log_path),
                    "-o",
                    " ".join(options),
                    "start",
                ]
            )
            if result.returncode == 0:
                self._port = port
                self._server_running = True
                return
            last_output = result.stdout.strip()
            self._stop_server()
        raise PostgresStartError(
            f"PostgreSQL did not start after {_START_ATTEMPTS} attempts.\n"
            f"pg_ctl said:\n{last_output}\n"
            f"--- tail of {log_path} ---\n{_tail(log_path)}"
        )

    def _createdb(self, name: str) -> None:
        result = self._run(
            [
                self._tool("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                name,
            ]
        )
        if result.returncode != 0:
            raise PostgresStartError(
                f"createdb {name} failed (exit {result.returncode}):\n{result.stdout.strip()}\n"
                f"--- tail of server log ---\n{_tail(self.log_path)}"
            )

    def _stop_server(self) -> None:
        data_dir, _, _ = self._paths()
        if not (data_dir / "postmaster.pid").exists():
            self._server_running = False
            return
        try:
            stopped = (
                self._run(
                    [self._tool("pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"]
                ).returncode
                == 0
            )
        except (OSError, subprocess.SubprocessError):
            stopped = False
        if not stopped:
            self._kill_postmaster(data_dir / "postmaster.pid")
        self._server_running = False

    @staticmethod
    def _kill_postmaster(pid_file: Path) -> None:
        # Last resort when pg_ctl itself fails: SIGQUIT is PostgreSQL's immediate shutdown.
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            pass

    def _cleanup(self) -> None:
        if self._cleaned_up or self._root is None:
            return
        self._cleaned_up = True
        try:
            self._stop_server()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


def _main() -> int:
    with TemporaryPostgres() as pg:
        print(f"url:     {pg.url}")
        print(f"bin_dir: {pg.bin_dir}")
        extra_url = pg.create_database("qualityapi_extra")
        print(f"extra:   {extra_url}")
        psql = pg.bin_dir / "psql"
        result = subprocess.run(
            [str(psql), "-X", "-A", "-t", "-d", pg.dsn, "-c", "SELECT version()"],
            capture_output=True,
            text=True,
            check=False,
            env=_child_env(),
            timeout=60,
        )
        print(f"psql:    {result.stdout.strip() or result.stderr.strip()}")
        return result.returncode


if __name__ == "__main__":
    raise SystemExit(_main())
