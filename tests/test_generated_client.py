"""A real generated client: ``openapi-python-client`` builds a typed package from the
committed ``openapi/openapi.json``; a small help-desk program written against it
(tests/support/client_program.py) passes ``mypy --strict`` together with the package and
runs against a live server on each database.

Generation is offline (the generator reads the file; no network). About 10 s in all:
generation ~2 s and mypy ~5 s once, then a server start and the program per database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, ROOT
from tests.support.server import running_server

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
GENERATOR = BIN / "openapi-python-client"
PROGRAM = ROOT / "tests" / "support" / "client_program.py"

# The generator's own client.py forwards ``*args`` to httpx's __exit__, which mypy --strict
# rejects (arg-type) whatever the document says; everything else is checked strictly.
MYPY_INI = """\
[mypy]
strict = True
[mypy-qualityapi_client.client]
disable_error_code = arg-type
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not GENERATOR.exists():
        pytest.fail("openapi-python-client is missing: pip install -e '.[dev]'")
    where = tmp_path_factory.mktemp("client")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(ROOT / "openapi" / "openapi.json"),
            "--output-path",
            str(where / "qualityapi_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        cwd=where,
        timeout=120,
        check=False,
        # No ruff on PATH: the generator skips formatting, which changes nothing typed.
        env={k: v for k, v in os.environ.items() if k != "PATH"} | {"PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every operation and schema made it: the generator drops what it cannot type.
    for sign in ("WARNING parsing", "Unable to parse", "Unable to process", "will not be"):
        assert sign not in output, output
    shutil.copy(PROGRAM, where / "client_program.py")
    (where / "mypy.ini").write_text(MYPY_INI, encoding="utf-8")
    return where


def test_the_program_and_the_generated_client_pass_mypy_strict(generated: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--cache-dir",
            str(generated / ".mypy_cache"),
            "client_program.py",
            "qualityapi_client",
        ],
        capture_output=True,
        text=True,
        cwd=generated,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_program_runs_against_a_live_server(database_url: str, generated: Path) -> None:
    env = {
        "QUALITYAPI_DATABASE_URL": database_url,
        "QUALITYAPI_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "QUALITYAPI_LOG_LEVEL": "warning",
    }
    with running_server(env) as (base, _):
        result = subprocess.run(
            [sys.executable, "client_program.py", base, ADMIN_KEY],
            capture_output=True,
            text=True,
            cwd=generated,
            env={**os.environ, "PYTHONPATH": str(generated)},
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("created WO-") and "(open, blue)" in lines[0], lines
    assert lines[1].startswith("walked to closed at "), lines
    assert lines[2].startswith("sla by high: ") and "response=met" in lines[2], lines
    assert lines[3].startswith("paged ") and "policies page of 2" in lines[3], lines
    assert lines[4].startswith("409 ") and "allowed reopen" in lines[4], lines
    assert lines[5] == "422 Request validation failed: body.title", lines
