"""The fake Replicate is faithful: Replicate's official Python client creates, waits for,
reads, cancels and fails predictions against it exactly as it does against the real API."""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError

from tests.providers.fake_replicate import FakeReplicate, Plan, RunningFake
from tests.providers.test_lipsync_jobs import speech_wav, talking_video


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with RunningFake() as running:
        yield running


def official(fake: FakeReplicate, token: str | None = None) -> replicate.Client:
    client = replicate.Client(api_token=token or fake.token, base_url=fake.base_url)
    client.poll_interval = 0.01
    return client


def test_the_official_client_creates_waits_and_reads_the_output(fake: FakeReplicate) -> None:
    client = official(fake)
    prediction = client.models.predictions.create(
        model="prunaai/z-image-turbo", input={"prompt": "a fox", "width": 96, "height": 64}
    )
    assert prediction.status == "starting" and prediction.model == "prunaai/z-image-turbo"
    prediction.wait()
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, str)
    created = fake.requests("POST", "/v1/models/prunaai/z-image-turbo/predictions")
    assert len(created) == 1
    assert created[0].headers["authorization"] == f"Bearer {fake.token}"  # the client's header
    assert created[0].body == {"input": {"prompt": "a fox", "width": 96, "height": 64}}
    assert fake.creates[0].gets >= 2  # starting → processing → succeeded, one step per GET


def test_run_with_prefer_wait_returns_an_output_that_decodes(fake: FakeReplicate) -> None:
    # The client wraps only https: outputs in FileOutput; the fake serves http on loopback.
    url = official(fake).run(
        "prunaai/z-image-turbo", input={"prompt": "x", "width": 80}, use_file_output=False
    )
    assert url.endswith(".jpg")
    image = Image.open(io.BytesIO(httpx.get(url).content))
    # Z-Image's own defaults fill in what was not sent: a height of 1024, JPEG.
    assert image.format == "JPEG" and image.size == (80, 1024)
    assert fake.requests("POST", "/v1/models/")[0].headers["prefer"] == "wait"


def test_the_official_client_cancels_a_running_prediction(fake: FakeReplicate) -> None:
    fake.plans.append(Plan(stall=True))
    client = official(fake)
    prediction = client.models.predictions.create(model="acme/slow", input={"prompt": "x"})
    prediction.reload()
    assert prediction.status == "processing"
    assert prediction.progress is not None and prediction.progress.percentage == 0.5
    prediction.cancel()
    assert prediction.status == "canceled"
    assert fake.cancelled == [prediction.id]
    prediction.reload()
    assert prediction.status == "canceled"


def test_a_failed_prediction_raises_the_clients_model_error(fake: FakeReplicate) -> None:
    fake.plans.append(Plan(statuses=("starting", "failed"), error="NSFW content detected."))
    with pytest.raises(ModelError, match="NSFW content detected"):
        official(fake).run("prunaai/z-image-turbo", input={"prompt": "x"}, wait=False)


def test_error_answers_are_problem_documents_the_client_reads(fake: FakeReplicate) -> None:
    with pytest.raises(ReplicateError) as bad_token:
        official(fake, token="r8_wrong").models.predictions.create(model="a/b", input={})
    assert (bad_token.value.status, bad_token.value.title) == (401, "Unauthenticated")
    fake.script("create", 422, {"title": "Input validation failed", "detail": "- input.width"})
    with pytest.raises(ReplicateError) as invalid:
        official(fake).models.predictions.create(model="a/b", input={"width": -1})
    assert (invalid.value.status, invalid.value.detail) == (422, "- input.width")


def test_the_client_waits_out_a_429_with_retry_after_on_reads(fake: FakeReplicate) -> None:
    client = official(fake)
    prediction = client.models.predictions.create(model="a/b", input={"prompt": "x"})
    throttled = {"detail": "Request was throttled. Expected available in 1 second.", "status": 429}
    fake.script("get", 429, throttled, **{"Retry-After": "1"})
    again = client.predictions.get(prediction.id)  # the client retries GETs on 429
    assert again.id == prediction.id
    assert len(fake.requests("GET", f"/v1/predictions/{prediction.id}")) == 2


def test_the_official_client_uploads_a_file(fake: FakeReplicate) -> None:
    uploaded = official(fake).files.create(io.BytesIO(b"\x89PNG fake"), filename="in.png")
    assert uploaded.urls["get"].startswith(fake.base_url)
    assert fake.files[uploaded.id] == b"\x89PNG fake"


def test_kontext_edits_an_uploaded_image_at_its_frame_through_the_official_client(
    fake: FakeReplicate,
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (480, 320)).save(buffer, format="PNG")
    buffer.name = "photo.png"
    buffer.seek(0)
    # The client uploads a file input with the file API and sends its URL (its default).
    url = official(fake).run(
        "black-forest-labs/flux-kontext-pro",
        input={"prompt": "make it snow", "input_image": buffer, "output_format": "jpg"},
        use_file_output=False,
    )
    image = Image.open(io.BytesIO(httpx.get(url).content))
    assert image.format == "JPEG" and image.size == (1248, 832)  # Kontext's 3:2 frame
    [(file_id, stored)] = fake.files.items()
    assert fake.creates[0].input["input_image"] == f"{fake.base_url}/v1/files/{file_id}"
    assert Image.open(io.BytesIO(stored)).size == (480, 320)


def test_kontext_refuses_a_safety_tolerance_above_2_with_an_image(fake: FakeReplicate) -> None:
    with pytest.raises(ReplicateError) as refused:
        official(fake).models.predictions.create(
            model="black-forest-labs/flux-kontext-pro",
            input={
                "prompt": "x",
                "input_image": "data:image/png;base64,AA==",
                "safety_tolerance": 5,
            },
        )
    assert refused.value.status == 422 and "safety_tolerance" in str(refused.value.detail)


def test_lipsync_and_fabric_read_uploaded_files_through_the_official_client(
    fake: FakeReplicate,
) -> None:
    def named(content: bytes, name: str) -> io.BytesIO:
        buffer = io.BytesIO(content)
        buffer.name = name
        return buffer

    client = official(fake)
    url = client.run(
        "sync/lipsync-2",
        input={
            "video": named(talking_video(2.0), "face.mp4"),
            "audio": named(speech_wav(1.25), "speech.wav"),
            "sync_mode": "cut_off",
        },
        use_file_output=False,
    )
    with av.open(io.BytesIO(httpx.get(url).content)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert (frames[0].width, frames[0].height) == (96, 64)
        assert len(frames) / float(stream.average_rate or 1) == pytest.approx(1.25, abs=1 / 12)
    assert len(fake.files) == 2  # both sent with the file API, the client's default
    image = io.BytesIO()
    Image.new("RGB", (360, 640)).save(image, format="PNG")
    url = client.run(
        "veed/fabric-1.0",
        input={
            "image": named(image.getvalue(), "face.png"),
            "audio": named(speech_wav(1.0), "a.wav"),
        },
        use_file_output=False,
    )
    with av.open(io.BytesIO(httpx.get(url).content)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    assert (frames[0].width, frames[0].height) == (736, 1312)  # 9:16 at 720p, Replicate's default
    with pytest.raises(ReplicateError) as refused:
        client.models.predictions.create(
            model="sync/lipsync-2", input={"video": "data:,", "audio": "data:,", "sync_mode": "x"}
        )
    assert refused.value.status == 422 and "sync_mode" in str(refused.value.detail)
