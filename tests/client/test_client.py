"""The blocking SDK against a real ``mediastudio serve`` process (sandbox key)."""

from __future__ import annotations

import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mediastudio import Client
from mediastudio.client import (
    AuthenticationError,
    Generation,
    InvalidRequestError,
    NotFoundError,
)
from tests.client.conftest import Served
from tests.client.proxy import Mode, lossy_proxy
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(served: Served) -> Iterator[Client]:
    with Client(api_key=served.key, base_url=served.url) as sdk:
        yield sdk


def test_importing_the_sdk_loads_none_of_the_server() -> None:
    code = (
        "import sys; from mediastudio import Client, AsyncClient; "
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'uvicorn', 'pydantic', 'mediastudio.app', "
        "'mediastudio.platform', 'mediastudio.engines'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_generate_an_image_wait_and_download(client: Client, tmp_path: Path) -> None:
    generation = client.generate.image(prompt="a red bicycle [slow:1]", output_format="png")
    assert generation.status == "queued" and generation.id.startswith("gen_")
    seen: list[tuple[str, int]] = []

    # An hour between polls: only the event stream can bring the job's progress in time.
    done = generation.wait(
        timeout=60, on_progress=lambda g: seen.append((g.status, g.progress)), poll_interval=3600
    )

    assert done is generation and done.status == "completed" and done.error is None
    assert seen and seen[-1] == ("completed", 100)
    assert any(status == "processing" for status, _ in seen), seen
    [output] = done.outputs
    assert output.content_type == "image/png"
    path = output.download(tmp_path / "out.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (output.width, output.height)
    assert client.generations.get(done.id).status == "completed"


def test_run_creates_and_waits(client: Client) -> None:
    model = client.generate.image(prompt="any").wait(timeout=60).model
    generation = client.run(model, input={"prompt": "a lighthouse"}, timeout=60)
    assert isinstance(generation, Generation)
    assert generation.status == "completed" and generation.model == model
    assert len(generation.outputs) == 1


def test_list_iterates_across_pages(client: Client) -> None:
    created = {client.generate.image(prompt=f"tile {n}").id for n in range(5)}
    listed = [g.id for g in client.generations.list(limit=2)]
    assert len(listed) == len(set(listed)), "a page repeated a generation"
    assert created <= set(listed)
    assert len(listed) > 2  # more than one page was followed


def test_cancel(client: Client) -> None:
    generation = client.generate.image(prompt="a slow one [slow:30]")
    cancelled = client.generations.cancel(generation.id)
    assert cancelled.status == "cancelled"
    assert client.generations.get(generation.id).status == "cancelled"
    assert generation.wait(timeout=30).status == "cancelled"


def test_music_and_the_account(client: Client, tmp_path: Path) -> None:
    music = client.generate.music(prompt="calm piano", duration=5, output_format="wav").wait(60)
    assert music.status == "completed" and music.type == "music"
    with wave.open(str(music.outputs[0].download(tmp_path / "calm.wav"))) as audio:
        assert audio.getnframes() > 0
    account = client.account()
    assert account["email"] == "sdk@example.com" and account["sandbox"] is True


def test_a_tool_route_by_its_path(client: Client, tmp_path: Path) -> None:
    source = client.generate.image(prompt="a cat", output_format="png").wait(timeout=60)
    image_url = source.outputs[0].url
    generation = client.generate.tool(
        "images/transform", image_url=image_url, transformation="grayscale"
    ).wait(timeout=60)
    assert generation.status == "completed", generation.raw.get("error")
    assert generation.type == "image-transform"
    with Image.open(generation.outputs[0].download(tmp_path / "grey")) as image:
        assert image.width > 0


def test_retry_runs_a_failed_job_again(client: Client) -> None:
    failed = client.generate.image(prompt="x [fail:provider_error]").wait(timeout=60)
    assert failed.status == "failed"

    retried = client.generations.retry(failed.id)

    assert retried.id == failed.id and retried.status in ("queued", "processing", "failed")
    assert retried.wait(timeout=60).status == "failed"  # the magic prompt fails it again
    with pytest.raises(InvalidRequestError) as conflict:
        client.generate.image(prompt="fine").wait(timeout=60).retry()
    assert conflict.value.status_code == 409


def test_a_bad_key_is_an_authentication_error(served: Served) -> None:
    bad = Client(api_key="ms_test_" + "x" * 40, base_url=served.url)
    with pytest.raises(AuthenticationError) as raised:
        bad.generate.image(prompt="anything")
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"
    assert raised.value.request_id


def test_bad_input_is_an_invalid_request_naming_the_field(client: Client) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        client.generate.image(prompt="x", width=5)
    assert raised.value.code == "invalid_request"
    assert "width" in raised.value.fields
    assert raised.value.request_id


def test_a_missing_generation_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.generations.get("gen_00000000000000000000000000")


def test_key_and_url_come_from_the_environment(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIASTUDIO_API_KEY", served.key)
    monkeypatch.setenv("MEDIASTUDIO_URL", served.url)
    client = Client()
    assert client.base_url == served.url
    # Its own job: on a test worker where it runs first, the module's server has none yet.
    created = client.generate.image(prompt="from the environment")
    assert next(iter(client.generations.list(limit=1))).id == created.id


@pytest.mark.parametrize("mode", ["drop", "unavailable"])
def test_a_retried_create_makes_exactly_one_job(served: Served, mode: Mode) -> None:
    external_id = f"retry-{mode}"
    with lossy_proxy(served.url, mode) as proxy:
        client = Client(api_key=served.key, base_url=proxy.url, backoff_s=0.01)
        generation = client.generate.image(prompt="only once", external_id=external_id)
    assert proxy.creates == 2  # the first answer was lost and the SDK sent the create again
    direct = Client(api_key=served.key, base_url=served.url)
    jobs = list(direct.generations.list(external_id=external_id))
    assert [job.id for job in jobs] == [generation.id]


def test_a_create_whose_server_restarted_before_answering_makes_one_job(tmp_path: Path) -> None:
    """The create reaches the server, which is then stopped and started again (on another
    port, behind the same proxy) before it answers: the SDK sends the create again with the same
    Idempotency-Key, and the restarted server answers with the job it had made."""
    server = ServerProcess(tmp_path)
    try:
        server.create_account("restart@example.com", credits=100)
        server.start()
        key = server.create_key("restart@example.com", name="sdk", test=True)[1]

        def restart() -> None:
            server.stop()
            server.start()
            proxy.target = server.base_url

        with lossy_proxy(server.base_url, "drop", after_first_create=restart) as proxy:
            client = Client(api_key=key, base_url=proxy.url, backoff_s=0.05)
            generation = client.generate.image(prompt="across a restart", external_id="restart")
            assert proxy.creates == 2  # the first answer was lost with the server
        direct = Client(api_key=key, base_url=server.base_url)
        jobs = list(direct.generations.list(external_id="restart"))
        assert [job.id for job in jobs] == [generation.id]
        assert direct.generations.get(generation.id).wait(timeout=60).status == "completed"
    except BaseException:
        print(server.logs())
        raise
    finally:
        server.stop()


def test_wait_polls_when_the_event_stream_fails(served: Served) -> None:
    with lossy_proxy(served.url, "no_stream") as proxy:
        client = Client(api_key=served.key, base_url=proxy.url, max_retries=0)
        generation = client.generate.image(prompt="no stream [slow:1]")
        seen: list[str] = []
        generation.wait(timeout=60, on_progress=lambda g: seen.append(g.status), poll_interval=0.1)
    assert generation.status == "completed" and seen[-1] == "completed"
    assert len(generation.outputs) == 1
