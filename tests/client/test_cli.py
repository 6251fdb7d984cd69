"""The client commands of ``mediastudio`` (generate, run, jobs, login) as a user runs them: real
processes against a real ``mediastudio serve`` with a sandbox key, and one run in a real terminal
(tmux) where the progress bar must be drawn. docs/cli.md's examples run here too."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from mediastudio.cli.main import app
from tests.client.conftest import Served
from tests.e2e.server import REPO_ROOT

pytestmark = pytest.mark.e2e

CLI_TIMEOUT_S = 90
REQUEST_ID = re.compile(r"\(request req_\w+\)")


def base_env(home: Path) -> dict[str, str]:
    """No MEDIASTUDIO_* of the caller's, and a config home of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASTUDIO_")}
    env.update({"XDG_CONFIG_HOME": str(home / "config"), "COLUMNS": "200", "NO_COLOR": "1"})
    return env


class Cli:
    """Runs ``mediastudio …``: in this process (typer's runner, stdout and stderr apart: the same
    code without a second interpreter's start-up per command) or, with :meth:`process`, as a
    real process."""

    def __init__(self, served: Served, cwd: Path) -> None:
        self.cwd = cwd
        self.env = base_env(cwd)
        self.env.update({"MEDIASTUDIO_API_KEY": served.key, "MEDIASTUDIO_URL": served.url})

    def __call__(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        wanted = env if env is not None else self.env
        # The runner sets these for the call and restores them after; None removes one.
        changes: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("MEDIASTUDIO_")
        }
        changes.update(
            {
                name: value
                for name, value in wanted.items()
                if name.startswith(("MEDIASTUDIO_", "XDG_"))
            }
        )
        previous = Path.cwd()
        os.chdir(self.cwd)
        try:
            result = CliRunner().invoke(app, list(args), env=changes)
        finally:
            os.chdir(previous)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback is a bug, never a CLI outcome
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    def process(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "mediastudio", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result


@pytest.fixture
def cli(served: Served, tmp_path: Path) -> Cli:
    return Cli(served, tmp_path)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# generate -----------------------------------------------------------------------------------


def test_json_is_the_job_and_its_files_and_a_directory_gets_the_job_id(cli: Cli) -> None:
    # A real process: its stdout must hold the JSON document and nothing else.
    speech = json.loads(ok(cli.process("generate", "speech", "Hi.", "-o", "hi.wav", "--json")))

    assert speech["status"] == "completed" and speech["type"] == "speech"
    assert speech["files"] == ["hi.wav"]
    with wave.open(str(cli.cwd / "hi.wav")) as audio:
        assert audio.getnframes() > 0

    (cli.cwd / "clips").mkdir()
    stdout = ok(
        cli("run", "builtin/espeak", "--input", "text=Hello there", "-o", "clips", "--json")
    )
    document = json.loads(stdout)  # nothing but the JSON on stdout
    assert document["model"] == "builtin/espeak" and document["input"]["text"] == "Hello there"
    [path] = document["files"]
    assert Path(path).parent == Path("clips") and Path(path).stem == document["id"]
    assert (cli.cwd / path).stat().st_size > 0


def test_several_outputs_are_numbered(cli: Cli) -> None:
    stdout = ok(cli("generate", "image", "tiles", "--num-outputs", "2", "-o", "tile.png"))

    assert stdout.split() == ["tile.png", "tile-2.png"]
    for name in ("tile.png", "tile-2.png"):
        with Image.open(cli.cwd / name) as image:
            assert image.format == "PNG"


def test_a_tool_takes_its_fields_as_inputs(cli: Cli) -> None:
    source = json.loads(ok(cli("generate", "image", "a cat", "--format", "png", "--json")))
    fields = json.dumps({"image_url": source["outputs"][0]["url"]})

    stdout = ok(
        cli("generate", "transform", "--input-json", fields, "-i", "transformation=grayscale")
    )

    [name] = stdout.split()
    with Image.open(cli.cwd / name) as image:
        assert image.width > 0
    assert name.startswith("gen_")  # no -o: the job's id, in the current directory

    malformed = cli("generate", "transform", "-i", "no-equals-sign")
    assert malformed.returncode == 2 and "key=value" in malformed.stderr


# --no-wait and jobs -------------------------------------------------------------------------


def test_no_wait_then_jobs_get_list_cancel_and_wait(cli: Cli) -> None:
    job_id = ok(cli("generate", "image", "a slow lighthouse [slow:30]", "--no-wait")).strip()
    assert re.fullmatch(r"gen_\w+", job_id)

    listed = json.loads(ok(cli("jobs", "list", "--limit", "50", "--json")))
    assert job_id in [job["id"] for job in listed]

    assert ok(cli("jobs", "cancel", job_id)).strip() == f"{job_id} cancelled"
    assert "status    cancelled" in ok(cli("jobs", "get", job_id))

    waited = cli("jobs", "wait", job_id)
    assert waited.returncode == 1 and waited.stdout == ""
    assert "cancelled" in waited.stderr


def test_a_wait_past_its_timeout_exits_124_naming_the_job(cli: Cli) -> None:
    timed = cli("generate", "image", "a late lighthouse [slow:30]", "--timeout", "1", "--json")

    assert timed.returncode == 124
    error = json.loads(timed.stdout)["error"]
    assert error["code"] == "timeout"
    match = re.search(r"gen_\w+", error["message"])
    assert match, error
    # The job kept running: it is still there to cancel.
    assert ok(cli("jobs", "cancel", match.group())).strip() == f"{match.group()} cancelled"


def test_a_failed_job_exits_1_and_retry_runs_it_again(cli: Cli) -> None:
    failed = cli("generate", "image", "a crash [fail:provider_error]", "--json")

    assert failed.returncode == 1
    document = json.loads(failed.stdout)
    assert document["status"] == "failed" and document["files"] == []
    assert "provider_error" in failed.stderr

    # The magic prompt fails again: the retry ran (a new attempt) and reports the same way.
    retried = cli("jobs", "retry", document["id"], "--json")
    assert retried.returncode == 1
    again = json.loads(retried.stdout)
    assert again["id"] == document["id"] and again["status"] == "failed"
    assert len(again["attempts"]) > len(document["attempts"]) or again["attempts"] == []


def test_ctrl_c_stops_the_waiting_not_the_job(cli: Cli) -> None:
    """SIGINT while the bar waits: exit 130 with one line saying the job goes on (no
    traceback), and the job does go on to completion."""
    prompt = f"an interrupted lighthouse {uuid.uuid4().hex[:8]} [slow:3]"
    waiting = subprocess.Popen(
        [sys.executable, "-m", "mediastudio", "generate", "image", prompt, "-o", "out.png"],
        cwd=cli.cwd,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts the tests in the background ignores SIGINT, and Python keeps an
        # ignored SIGINT ignored: the CLI gets Ctrl-C's default, as it does in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        job_id = None
        deadline = time.monotonic() + CLI_TIMEOUT_S
        while job_id is None and time.monotonic() < deadline:
            listed = json.loads(ok(cli("jobs", "list", "--limit", "50", "--json")))
            job_id = next((job["id"] for job in listed if job["prompt"] == prompt), None)
            time.sleep(0.1)
        assert job_id is not None, "the job never appeared"
        waiting.send_signal(signal.SIGINT)
        _, stderr = waiting.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        waiting.kill()
    assert waiting.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted; a job already submitted keeps running" in stderr
    assert not (cli.cwd / "out.png").exists()
    # The job was left running: it completes, and its file can still be had.
    waited = json.loads(ok(cli("jobs", "wait", job_id, "--json")))
    assert waited["status"] == "completed"


# errors -------------------------------------------------------------------------------------


def test_api_errors_are_one_line_with_code_and_request_id(cli: Cli) -> None:
    invalid = cli("generate", "image", "x", "--width", "5")
    assert invalid.returncode == 1 and invalid.stdout == ""
    assert "invalid_request" in invalid.stderr or "validation" in invalid.stderr
    assert REQUEST_ID.search(invalid.stderr), invalid.stderr

    missing = cli("jobs", "get", "gen_doesnotexist", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["error"]["request_id"].startswith("req_")

    env = {**cli.env, "MEDIASTUDIO_API_KEY": "ms_test_" + "x" * 40}
    denied = cli("jobs", "list", env=env)
    assert denied.returncode == 1 and "invalid_api_key" in denied.stderr

    nowhere = cli("jobs", "list", env={**cli.env, "MEDIASTUDIO_URL": "http://127.0.0.1:9"})
    assert nowhere.returncode == 1 and "Could not reach" in nowhere.stderr

    no_key = {k: v for k, v in cli.env.items() if k != "MEDIASTUDIO_API_KEY"}
    keyless = cli("jobs", "list", env=no_key)
    assert keyless.returncode == 1 and "mediastudio login" in keyless.stderr


# login --------------------------------------------------------------------------------------


def test_login_verifies_and_saves_the_key_for_the_other_commands(cli: Cli, served: Served) -> None:
    bare = base_env(cli.cwd)
    config = cli.cwd / "config" / "mediastudio" / "config.toml"

    refused = cli("login", "--api-key", "ms_test_" + "y" * 40, "--url", served.url, env=bare)
    assert refused.returncode == 1 and "invalid_api_key" in refused.stderr
    assert not config.exists()

    stdout = ok(cli("login", "--api-key", served.key, "--url", served.url, env=bare))
    assert stdout.strip() == str(config)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert served.key in config.read_text()

    # No key or URL in the environment: both come from the saved file.
    assert isinstance(json.loads(ok(cli("jobs", "list", "--json", env=bare))), list)


# startup cost -------------------------------------------------------------------------------


def test_client_commands_import_neither_the_server_nor_the_sdk_for_help() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from mediastudio.cli.main import app\n"
        "result = CliRunner().invoke(app, ['generate', 'image', '--help'])\n"
        "assert result.exit_code == 0 and '--aspect-ratio' in result.output, result.output\n"
        "heavy = ('fastapi', 'sqlalchemy', 'uvicorn', 'mediastudio.app', 'mediastudio.engines',"
        " 'mediastudio.client', 'httpx')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


# docs/cli.md --------------------------------------------------------------------------------

COMMAND = re.compile(r"```console\n(.*?)```", re.DOTALL)


def test_the_cli_page_examples_run(cli: Cli) -> None:
    """Every ``$ `` line of docs/cli.md's console blocks, in order, in one shell per line; a
    line naming a job by placeholder (gen_…) shows a call, not a script, and is skipped."""
    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    lines = [
        line[2:]
        for block in COMMAND.findall(text)
        for line in block.splitlines()
        if line.startswith("$ ") and "gen_…" not in line and "ms_test_…" not in line
    ]
    assert len(lines) >= 6, "the page lost its examples"
    bin_dir = Path(sys.executable).parent
    env = {**cli.env, "PATH": f"{bin_dir}{os.pathsep}{cli.env['PATH']}"}
    for line in lines:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=cli.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    with Image.open(cli.cwd / "bicycle.png") as image:
        assert image.format == "PNG"
        assert image.width > image.height  # 16:9
    with wave.open(str(cli.cwd / "notice.wav")) as audio:
        assert audio.getnframes() > 0
    with av.open(str(cli.cwd / "kite.mp4")) as container:
        assert next(container.decode(video=0)).width > 0
    assert (cli.cwd / "calm.mp3").stat().st_size > 0
    assert (cli.cwd / "calm-2.mid").read_bytes().startswith(b"MThd")  # the score, a MIDI file
    assert (cli.cwd / "hello.mp3").stat().st_size > 0
    assert (cli.cwd / "lighthouse.webp").stat().st_size > 0
    listed = json.loads((cli.cwd / "jobs.json").read_text())
    assert listed and {job["status"] for job in listed} == {"completed"}


# a real terminal ----------------------------------------------------------------------------


def tmux_binary() -> str:
    """tmux, or a skip (a failure under CI=true: `make terminal` installs it there)."""
    found = shutil.which("tmux")
    if found is None:
        message = "tmux is not installed (make terminal installs it as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[tuple[str, str]]:
    binary = tmux_binary()
    socket = f"ms-cli-{uuid.uuid4().hex[:8]}"
    try:
        yield binary, socket
    finally:
        subprocess.run([binary, "-L", socket, "kill-server"], capture_output=True, check=False)


def test_in_a_terminal_the_progress_bar_is_drawn_and_the_file_lands(
    cli: Cli, tmux: tuple[str, str]
) -> None:
    binary, socket = tmux
    done = cli.cwd / "exit-code"
    command = (
        f"{sys.executable} -m mediastudio generate image 'a red bicycle [slow:3]' "
        f"-o out.png; echo $? > {done}; sleep 60"
    )
    env = {k: v for k, v in cli.env.items() if k not in ("NO_COLOR", "COLUMNS")}
    subprocess.run(
        [
            binary,
            "-L",
            socket,
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            "-c",
            str(cli.cwd),
            "bash",
            "--norc",
            "-c",
            command,
        ],
        env=env,
        check=True,
    )
    frames: list[str] = []
    deadline = time.monotonic() + CLI_TIMEOUT_S
    while not done.exists() and time.monotonic() < deadline:
        pane = subprocess.run(
            [binary, "-L", socket, "capture-pane", "-p"], capture_output=True, text=True, check=True
        ).stdout
        frames.append(pane)
        time.sleep(0.2)
    pane = subprocess.run(
        [binary, "-L", socket, "capture-pane", "-p"], capture_output=True, text=True, check=True
    ).stdout
    assert done.exists() and done.read_text().strip() == "0", pane
    # The bar: the job's id, bar characters and a percentage, drawn while the job ran.
    drawn = [frame for frame in frames if re.search(r"gen_\w+ .*━.* \d+%", frame)]
    assert drawn, frames[-3:]
    assert re.search(r"gen_\w+ .*100%.*completed", pane), pane
    assert "out.png" in pane
    with Image.open(cli.cwd / "out.png") as image:
        assert image.format == "PNG"


def test_an_error_message_is_printed_as_is_never_as_markup() -> None:
    from mediastudio.cli.remote import fail

    app = typer.Typer()

    @app.command()
    def failing() -> None:
        fail("prompt [slow:30] [bold]x[/]", error_code="invalid_prompt", request_id="req_1")

    result = CliRunner().invoke(app, [])

    assert result.exit_code == 1
    assert result.stderr == "error: invalid_prompt: prompt [slow:30] [bold]x[/] (request req_1)\n"
