"""The fake fal is faithful: fal's official Python client (``fal-client``) queues, polls,
reads, cancels and fails requests against it exactly as it does against queue.fal.run.

The client is pointed at the fake with its own settings: ``FAL_QUEUE_RUN_HOST`` (read when
the client is imported, hence the fresh import below), ``FAL_KEY``, and ``SSL_CERT_FILE`` to
trust the fake's certificate (the client only speaks https).
"""

from __future__ import annotations

import importlib
import io
import ssl
from collections.abc import Iterator
from types import ModuleType

import av
import httpx
import pytest
from PIL import Image

from tests.providers.fake_fal import (
    CONTENT_POLICY,
    SCHEDULING_FAILURE,
    FakeFal,
    Plan,
    RunningFal,
    Tls,
)
from tests.providers.test_image_edit_jobs import png
from tests.providers.test_lipsync_jobs import data_uri, speech_wav, talking_video


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return Tls.make(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def served(tls: Tls) -> Iterator[FakeFal]:
    with RunningFal(tls=tls) as running:
        yield running


@pytest.fixture(scope="module")
def official(served: FakeFal) -> Iterator[ModuleType]:
    """``fal_client.client`` imported with the fake's host as its queue host."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAL_QUEUE_RUN_HOST", served.host)
        patch.setenv("FAL_RUN_HOST", served.host)
        importlib.reload(importlib.import_module("fal_client.auth"))
        yield importlib.reload(importlib.import_module("fal_client.client"))


@pytest.fixture
def fake(served: FakeFal, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> FakeFal:
    served.reset()
    monkeypatch.setenv("FAL_KEY", served.key)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    return served


def fetch(url: str, tls: Tls) -> bytes:
    return httpx.get(url, verify=ssl.create_default_context(cafile=tls.ca_file)).content


def test_subscribe_queues_polls_and_reads_the_result(
    official: ModuleType, fake: FakeFal, tls: Tls
) -> None:
    updates: list[object] = []
    arguments = {"prompt": "a fox", "image_size": {"width": 96, "height": 64}}
    result = official.SyncClient().subscribe(
        "fal-ai/flux/schnell", arguments=arguments, with_logs=True, on_queue_update=updates.append
    )
    assert [type(update).__name__ for update in updates] == ["Queued", "InProgress", "Completed"]
    assert updates[0].position == 0  # type: ignore[attr-defined]
    assert updates[1].logs[-1]["message"].startswith(" 50%|")  # type: ignore[attr-defined]
    [submitted] = fake.requests("POST")
    assert submitted.path == "/fal-ai/flux/schnell"  # the endpoint id, its path included
    assert submitted.headers["authorization"] == f"Key {fake.key}"
    assert submitted.body == arguments  # the input is the body itself
    # The request's own URLs name the app without the endpoint's path.
    [queued] = fake.submits
    assert {r.path for r in fake.requests("GET")} == {
        f"/fal-ai/flux/requests/{queued.id}/status",
        f"/fal-ai/flux/requests/{queued.id}",
    }
    [image] = result["images"]
    decoded = Image.open(io.BytesIO(fetch(image["url"], tls)))
    assert decoded.format == "PNG" and decoded.size == (96, 64) == (image["width"], image["height"])
    assert result["has_nsfw_concepts"] == [False]


def test_a_handle_reads_status_and_cancels_and_ids_alone_reach_the_request(
    official: ModuleType, fake: FakeFal
) -> None:
    fake.plans.append(Plan(stall=True))
    client = official.SyncClient()
    handle = client.submit("fal-ai/flux/schnell", arguments={"prompt": "x"})
    assert handle.status_url == f"{fake.base_url}/fal-ai/flux/requests/{handle.request_id}/status"
    assert isinstance(handle.status(with_logs=True), official.Queued)
    # By ids alone (how a restarted process reaches a request): the client builds the URLs.
    running = client.status("fal-ai/flux/schnell", handle.request_id, with_logs=True)
    assert isinstance(running, official.InProgress) and running.logs
    assert fake.requests("GET", "/fal-ai/flux/requests/")[-1].headers["authorization"]
    handle.cancel()
    assert fake.cancelled == [handle.request_id]
    assert isinstance(handle.status(), official.Completed)
    with pytest.raises(official.FalClientHTTPError) as cancelled:
        handle.get()
    assert (cancelled.value.status_code, cancelled.value.error_type) == (499, "client_cancelled")
    with pytest.raises(official.FalClientHTTPError) as again:
        handle.cancel()  # nothing left to cancel
    assert again.value.status_code == 400
    assert again.value.response.json() == {"status": "ALREADY_COMPLETED"}


def test_model_and_request_errors_read_as_the_client_reads_them(
    official: ModuleType, fake: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.plans.append(Plan(error=CONTENT_POLICY))
    with pytest.raises(official.FalClientHTTPError) as refused:
        official.SyncClient().subscribe("fal-ai/flux/schnell", arguments={"prompt": "x"})
    assert refused.value.status_code == 422
    assert refused.value.message[0]["type"] == "content_policy_violation"

    fake.plans.append(Plan(error=SCHEDULING_FAILURE))
    with pytest.raises(official.FalClientHTTPError) as failed:
        official.SyncClient().subscribe("fal-ai/flux/schnell", arguments={"prompt": "x"})
    assert (failed.value.status_code, failed.value.error_type) == (503, "runner_scheduling_failure")
    # fal answered it (x-fal-request-id): the client takes it as final and does not ask again.
    queued = fake.submits[-1]
    assert len(fake.requests("GET", f"/fal-ai/flux/requests/{queued.id}")) == 4

    monkeypatch.setenv("FAL_KEY", "wrong:key")
    with pytest.raises(official.FalClientHTTPError) as unauthorized:
        official.SyncClient().submit("fal-ai/flux/schnell", arguments={"prompt": "x"})
    assert unauthorized.value.status_code == 401


def test_the_client_retries_a_429_with_retry_after(official: ModuleType, fake: FakeFal) -> None:
    fake.script("submit", 429, {"detail": "Rate limit exceeded"}, **{"Retry-After": "1"})
    handle = official.SyncClient().submit("fal-ai/flux/schnell", arguments={"prompt": "x"})
    assert handle.request_id == fake.submits[0].id
    assert len(fake.requests("POST")) == 2


def test_a_video_result_is_a_file_object(official: ModuleType, fake: FakeFal, tls: Tls) -> None:
    fake.plans.append(Plan(kind="video"))
    result = official.SyncClient().subscribe(
        "fal-ai/minimax/hailuo-2.3/standard/text-to-video", arguments={"prompt": "waves"}
    )
    assert result["video"]["content_type"] == "video/mp4"
    assert fetch(result["video"]["url"], tls)[4:8] == b"ftyp"
    assert fake.requests("GET")[0].path.startswith("/fal-ai/minimax/requests/")


def _length(content: bytes) -> tuple[tuple[int, int], float, float]:
    """A video's frame, its picture's length and its sound's."""
    with av.open(io.BytesIO(content)) as container:
        video = container.streams.video[0]
        frames = list(container.decode(video))
        picture_s = len(frames) / float(video.average_rate or 1)
    with av.open(io.BytesIO(content)) as container:
        audio = container.streams.audio[0]
        sound_s = sum(frame.samples for frame in container.decode(audio)) / (audio.rate or 1)
    return (frames[0].width, frames[0].height), picture_s, sound_s


def test_sync_lipsync_and_fabric_follow_the_sound_through_the_official_client(
    official: ModuleType, fake: FakeFal, tls: Tls
) -> None:
    speech = data_uri(speech_wav(1.5), "audio/wav")
    synced = official.SyncClient().subscribe(
        "fal-ai/sync-lipsync/v2",
        arguments={
            "model": "lipsync-2",
            "video_url": data_uri(talking_video(1.0), "video/mp4"),
            "audio_url": speech,
            "sync_mode": "bounce",
        },
    )
    size, picture_s, sound_s = _length(fetch(synced["video"]["url"], tls))
    assert size == (96, 64) and picture_s == pytest.approx(1.5, abs=1 / 12)
    assert sound_s == pytest.approx(1.5, abs=0.05)
    talking = official.SyncClient().subscribe(
        "veed/fabric-1.0",
        arguments={
            "image_url": data_uri(png(640, 360), "image/png"),
            "audio_url": speech,
            "resolution": "480p",
        },
    )
    size, picture_s, _ = _length(fetch(talking["video"]["url"], tls))
    assert size == (864, 480) and picture_s == pytest.approx(1.5, abs=1 / 25)
    # fal's Fabric has no default resolution: leaving it out is the client's 422.
    with pytest.raises(official.FalClientHTTPError) as refused:
        official.SyncClient().subscribe(
            "veed/fabric-1.0", arguments={"image_url": "data:,", "audio_url": speech}
        )
    assert refused.value.status_code == 422
