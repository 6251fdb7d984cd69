"""deploy/compose.yaml stays in step with the code: every MEDIASTUDIO_* variable it sets is a real
setting (a field of Settings, or of the nested model ``__`` leads to), every MediaStudio service
runs a real ``mediastudio`` command with real options, and the stack has what docs/deployment.md
says it has. No docker here: the file is read as YAML (``docker compose config`` checks the rest
where docker compose is installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic import BaseModel

from mediastudio.cli.main import app
from mediastudio.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MEDIASTUDIO_SERVICES = {"migrate", "api", "worker-cpu", "worker-gpu"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _setting_exists(variable: str) -> bool:
    """``MEDIASTUDIO_A__B`` names field ``a`` of Settings, then field ``b`` of its model (any
    key of a dict field, e.g. a plan's name, is allowed)."""
    parts = variable.removeprefix("MEDIASTUDIO_").lower().split("__")
    model: Any = Settings
    for part in parts:
        if model is None:  # inside a dict: names are free
            model = None
            continue
        fields = model.model_fields
        if part not in fields:
            return False
        annotation = fields[part].annotation
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_model else None
    return True


def test_every_mediastudio_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    seen = set()
    for name, service in compose["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith("MEDIASTUDIO_"):
                seen.add(variable)
                assert _setting_exists(variable), f"{name}: {variable} is not a setting"
    # The ones the stack cannot work without are there.
    assert {
        "MEDIASTUDIO_DATABASE_URL",
        "MEDIASTUDIO_BROKER_URL",
        "MEDIASTUDIO_REDIS_URL",
        "MEDIASTUDIO_STORAGE_URL",
        "MEDIASTUDIO_SECRET_KEY",
    } <= seen


def test_the_checker_refuses_what_is_not_a_setting() -> None:
    assert _setting_exists("MEDIASTUDIO_STORAGE__ENDPOINT_URL")
    assert _setting_exists("MEDIASTUDIO_PLANS__FREE__RATE_LIMIT")
    assert not _setting_exists("MEDIASTUDIO_STORAGE__ENDPOINT")
    assert not _setting_exists("MEDIASTUDIO_MAX_UPLOAD_BYTES")


def test_every_service_runs_a_real_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert MEDIASTUDIO_SERVICES | {"lb", "postgres", "redis", "rabbitmq", "s3"} <= set(services)
    cli = typer.main.get_command(app)
    commands = cli.commands  # type: ignore[attr-defined]  # a group: the app has subcommands
    for name in MEDIASTUDIO_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        subcommand, *args = service["command"]
        command = commands.get(subcommand)
        assert command is not None, f"{name}: mediastudio {subcommand} does not exist"
        options = {opt for param in command.params for opt in param.opts}
        for arg in args:
            if arg.startswith("--"):
                assert arg in options, f"{name}: mediastudio {subcommand} has no {arg}"
    # Two API replicas serving the API only, behind the load balancer; workers for cpu and gpu.
    assert services["api"]["deploy"]["replicas"] == 2
    assert "--no-workers" in services["api"]["command"]
    pools = {
        services[n]["command"][services[n]["command"].index("--pools") + 1]
        for n in services
        if n.startswith("worker-")
    }
    assert {pool for names in pools for pool in names.split(",")} >= {"cpu", "gpu"}
    assert services["s3"]["image"].startswith("chrislusf/seaweedfs")
    assert (
        services["s3"]["command"][:2] == ["server", "-dir=/data"]
        and "-s3" in services["s3"]["command"]
    )
    # Nothing migrates concurrently: API and workers wait for the one-shot migration.
    for name in MEDIASTUDIO_SERVICES - {"migrate"}:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_the_load_balancer_does_not_buffer_event_streams(compose: dict[str, Any]) -> None:
    nginx = compose["configs"]["nginx"]["content"]
    for directive in ("proxy_buffering off;", "proxy_read_timeout 1h;", "proxy_http_version 1.1;"):
        assert directive in nginx


def test_the_image_installs_the_distributed_extras() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "pip install '.[postgres,redis,s3,distributed]'" in dockerfile
    assert 'ENTRYPOINT ["mediastudio"]' in dockerfile
