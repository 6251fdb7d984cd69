"""The README's shell, run as written against a real ``mediastudio serve``: the curl walk-through
with stock tools only, the local webhook receiver it shows, and an access log that keeps the
signed URLs it served to itself."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from tests.e2e.server import (
    REPO_ROOT,
    ServerProcess,
    auth,
    base_env,
    client,
    free_port,
    wait_for,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl"),
]

README = (REPO_ROOT / "README.md").read_text()
DOCUMENTED = "http://127.0.0.1:8000"
# A plain `mediastudio serve` with the first-start bootstrap, as the README starts it.
PLAIN = {
    "MEDIASTUDIO_ENGINE_MODULES": None,
    "MEDIASTUDIO_DISABLED_ENGINES": None,
    "MEDIASTUDIO_BOOTSTRAP": None,
}


def sh_blocks(after: str) -> list[str]:
    """The ```sh blocks of the README section that starts with ``after``, dedented."""
    section = README.split(after, 1)[1].split("\n## ", 1)[0]
    return [textwrap.dedent(b) for b in re.findall(r"^ *```sh\n(.*?)^ *```", section, re.S | re.M)]


def bash(script: str, server: ServerProcess, cwd: Path) -> str:
    """Run README shell in bash, against this server and its data directory."""
    script = script.replace(DOCUMENTED, server.base_url).replace(
        ".venv/bin/mediastudio", f"{shlex.quote(sys.executable)} -m mediastudio"
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=base_env(server.data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{script}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def receiver_parts(port: int) -> tuple[str, str, str]:
    """(the receiver command, the allowlist it documents, the registration command), with the
    README's port 9000 replaced by ``port``."""
    block = sh_blocks("**A receiver on your own machine.**")[0]
    block = block.replace("9000", str(port))
    command = block.split("' &\n", 1)[0] + "'"
    allowed = re.search(r"MEDIASTUDIO_NET_ALLOW_HOSTS=(\S+) make run", block)
    assert allowed, block
    register = block.split("# in another terminal:\n", 1)[1]
    return command, allowed.group(1), register


async def test_the_readme_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    walkthrough = sh_blocks("## A walk-through with curl")[0]
    assert "uuidgen" not in README  # not installed on every machine
    steps_1_and_2, later = walkthrough.split("# 3.", 1)
    download = next(line for line in later.splitlines() if line.startswith("curl -s -o"))

    receiver_port = free_port()
    run_receiver, allowed, register = receiver_parts(receiver_port)
    receiver = subprocess.Popen(
        ["bash", "-c", run_receiver], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        server.start({**PLAIN, "MEDIASTUDIO_NET_ALLOW_HOSTS": allowed})
        # Steps 1 and 2 as written; then the key, for what follows.
        out = bash(steps_1_and_2 + '\necho\necho "KEY=$KEY"\n', server, tmp_path)
        job = json.loads(out.strip().splitlines()[0])
        key = out.strip().rsplit("KEY=", 1)[1]
        assert job["status"] == "queued" and job["sandbox"] is True

        endpoint = json.loads(bash(f"KEY={key}\n{register}", server, tmp_path))
        assert endpoint["url"] == f"http://127.0.0.1:{receiver_port}/hooks", endpoint
        assert endpoint["secret"].startswith("whsec_")

        async with client(server) as http:
            done = await wait_for(http, key, job["id"])
            assert done["status"] == "completed"
            second = await http.post(
                "/api/v1/generate/image", json={"prompt": "a kite"}, headers=auth(key)
            )
            assert second.status_code == 202, second.text
            second_id = second.json()["id"]
            await wait_for(http, key, second_id)
            deliveries_path = f"/api/v1/webhooks/{endpoint['id']}/deliveries"
            deadline = time.monotonic() + 30
            while True:
                rows = (await http.get(deliveries_path, headers=auth(key))).json()["data"]
                ended = all(row["status"] == "succeeded" for row in rows)
                if ended and second_id in {row["generation_id"] for row in rows}:
                    break
                assert time.monotonic() < deadline, rows
                await asyncio.sleep(0.1)

        # Step 4 as written, with the URL the job gave.
        url = done["output_url"]
        bash(re.sub(r'"http://[^"]*"', shlex.quote(url), download), server, tmp_path)
        image = Image.open(io.BytesIO((tmp_path / "bicycle.png").read_bytes()))
        assert image.format == "PNG"
    finally:
        receiver.terminate()
        printed, _ = receiver.communicate(timeout=10)

    received = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    # The first job may have ended after the endpoint was registered, the second surely did.
    assert second_id in [event["data"]["id"] for event in received]
    assert {event["data"]["id"] for event in received} <= {job["id"], second_id}

    log = server.current_log()
    signature = parse_qs(urlparse(url).query)["signature"][0]
    assert signature not in log
    served = [line for line in log.splitlines() if "GET /files/" in line]
    assert served and all("signature=[redacted]" in line for line in served), served
