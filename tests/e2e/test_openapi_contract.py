"""The OpenAPI document is a contract: schemathesis runs over all of it against a real server.

A real ``mediastudio serve`` (the built-in engines and the sandbox, as a fresh install has them)
and a sandbox key; schemathesis's own CLI reads ``/openapi.json``, sends what the document
allows (and, in fuzzing, what it forbids) to every operation, and checks that no answer is a
5xx, every status is documented and every body matches its documented schema (SSE events
included). It also fails on its "schema validation mismatch" warning: an operation that
refused every body the document says is valid. Nothing here names an operation, so routes
added later are covered as they are.

The run is bounded (few examples per operation, derandomized, no example database) to stay
reproducible; it is still the suite's longest test (conftest.py's LONGEST_FIRST starts it first),
so the widest body, creating a generation, is fuzzed without the coverage phase (docs/api.md).
The only values given rather than drawn are webhook URLs (contract_hooks.py says why).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.contract_hooks import ALLOW_HOSTS
from tests.e2e.server import ServerProcess, base_env

pytestmark = pytest.mark.e2e

# A budget for a broken run to fail in: 2 minutes on a quiet machine, over 7 on a loaded one.
RUN_TIMEOUT_S = 900.0
CHECKS = ("not_a_server_error", "status_code_conformance", "response_schema_conformance")
HOOKS = Path(__file__).with_name("contract_hooks.py")
GENERATIONS_PATH = "/api/v1/generations"
GENERATIONS_EXAMPLES = 20


def config(seed: int = 1, examples: int = 5) -> str:
    """The run's ``schemathesis.toml``."""
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    return f"""
hooks = "{HOOKS}"
seed = {seed}
# The first event of a stream is read and checked: the account stream never ends by itself,
# nor does a queued job's.
max-stream-events = 1
request-timeout = 20

[generation]
max-examples = {examples}
deterministic = true
database = "none"
no-shrink = true

[checks]
enabled = false
{checks}

[warnings]
fail-on = ["validation_mismatch", "unsupported_regex", "unresolvable_reference"]

# The coverage phase walks every keyword's boundaries; in its negative half that is thousands
# of requests, which fuzzing samples instead.
[phases.coverage.generation]
mode = "positive"

# Creating a generation is the widest body of the document (`anyOf` one branch per catalog
# model, each with its own input schema): the coverage phase's walk over every branch's
# keywords was most of the run (docs/api.md). Fuzzing still draws its bodies, more of them.
[[operations]]
include-path = "{GENERATIONS_PATH}"
include-method = "POST"
phases.coverage.enabled = false
phases.fuzzing.generation.max-examples = {GENERATIONS_EXAMPLES}
"""


def start(server: ServerProcess) -> str:
    """The built-in engines and the sandbox, and a sandbox key of an account whose plan has no
    limits: a 429, or a 400 for the 21st webhook endpoint, would test a limit, not the document.
    No workers: jobs stay queued, which the document allows, and the run does not share the
    CPU with encoding placeholder media of the sizes it draws (what jobs produce, and the final
    event of a stream, are checked against the document in tests/api/test_openapi.py)."""
    email = "contract@example.com"
    server.create_account(email, credits=1_000_000, plan="unlimited")
    env = {
        "MEDIASTUDIO_ENGINE_MODULES": "[]",
        "MEDIASTUDIO_DISABLED_ENGINES": "[]",
        "MEDIASTUDIO_WORKERS_CPU": "0",
        "MEDIASTUDIO_WORKERS_GPU": "0",
        "MEDIASTUDIO_WORKERS_IO": "0",
        "MEDIASTUDIO_WORKERS_REMOTE": "0",
        "MEDIASTUDIO_NET_ALLOW_HOSTS": ALLOW_HOSTS,
        "MEDIASTUDIO_WEBHOOK_MAX_ENDPOINTS": "10000",
    }
    server.start(env, wait=False)
    key = server.create_key(email, name="contract", test=True)[1]
    server.wait_ready()
    return key


def test_every_operation_keeps_the_documented_contract(
    server: ServerProcess, tmp_path: Path
) -> None:
    key = start(server)
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(config())
    command = [
        sys.executable,
        "-c",
        "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file",
        str(config_file),
        "--no-color",
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
    ]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        env={**base_env(server.data_dir), "COLUMNS": "120"},
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "Schema validation mismatch" not in report, report
    assert "Tested: " in report and " passed" in report, report
