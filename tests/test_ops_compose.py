"""compose.yaml and the container's first-start banner, checked by review in code (no
Docker engine here): the replicas run the entrypoint the multi-process tests run, with
settings this version knows, and the banner names nothing that only exists inside."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from qualityapi.bootstrap import cli_command, first_key_banner, public_url
from qualityapi.config import Settings
from tests.conftest import ROOT


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


def _resolved(env: dict[str, str]) -> dict[str, str]:
    # ${VAR:?message} and ${VAR:-default} as compose would with VAR set to a test value.
    def sub(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        return rest if op == ":-" else f"test-{name.lower()}-0123456789"

    return {k: re.sub(r"\$\{(\w+)(:[?-])([^}]*)\}", sub, str(v)) for k, v in env.items()}


def test_two_replicas_on_postgresql_with_health_checks() -> None:
    services = _compose()["services"]
    replicas = [s for name, s in services.items() if name.startswith("api-")]
    assert len(replicas) == 2
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["qualityapi", "migrate"]
    ports = set()
    for replica in replicas:
        # The console script runs the same code as `python -m qualityapi serve` in
        # tests/test_replicas.py; migrations ran once, before.
        assert replica["command"] == ["qualityapi", "serve", "--no-migrate"]
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(replica["healthcheck"]["test"])
        ports.update(replica["ports"])
    assert len(ports) == 2


def test_every_setting_in_compose_is_known_and_valid() -> None:
    env = _resolved(_compose()["services"]["api-1"]["environment"])
    fields = {f"QUALITYAPI_{name.upper()}" for name in Settings.model_fields}
    unknown = [k for k in env if k.startswith("QUALITYAPI_") and k not in fields]
    assert not unknown  # a typo here would be ignored silently (extra="ignore")
    values = {k.removeprefix("QUALITYAPI_").lower(): v for k, v in env.items()}
    settings = Settings(**values)  # type: ignore[arg-type]
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.scheduler_enabled and settings.log_format == "json"
    assert settings.cors_origins == []


def test_the_banner_in_a_container_names_a_browsable_url_and_the_command_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "qualityapi"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin")  # as in the image
    banner = first_key_banner("qak_example", public_url("0.0.0.0", 8000))
    assert "0.0.0.0" not in banner and ".venv" not in banner
    assert "http://localhost:8000/board" in banner
    assert " qualityapi keys create" in banner
    assert cli_command() == "qualityapi"
    assert public_url("::", 8000) == "http://localhost:8000"
    assert public_url("10.1.2.3", 8080) == "http://10.1.2.3:8080"
