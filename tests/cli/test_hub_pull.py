"""``mediastudio models pull owner/name``: a tiny diffusers pipeline built in the test, served
by a fake Hugging Face Hub on loopback (tests/cli/fake_hub.py, ``HF_ENDPOINT``), downloaded by
the real CLI in a child process (huggingface_hub reads ``HF_ENDPOINT`` when it is imported)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediastudio.engines.local.hub import parse_hub_id, select_files
from tests.cli.fake_hub import FakeHub, serve_hub
from tests.cli.test_cli import invoke
from tests.cli.test_local_models import listed_local
from tests.engines.tiny_diffusion import build_tiny_pipeline, require_local_extra

REPO = "tester/tiny-sd"
TOKEN = "hf_TestToken0123456789"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_local_extra()
    return build_tiny_pipeline(tmp_path_factory.mktemp("weights") / "tiny-sd")


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serve_hub() as served:
        yield served


def pull_command(data_dir: Path, hub: FakeHub, *args: str) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "mediastudio", "models", "pull", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MEDIASTUDIO_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(data_dir.parent / "hf-home"),
        HF_TOKEN=TOKEN,
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
        COLUMNS="200",
    )
    return [*command, "--data-dir", str(data_dir)], env


def pull(data_dir: Path, hub: FakeHub, *args: str) -> subprocess.CompletedProcess[str]:
    command, env = pull_command(data_dir, hub, *args)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def weights(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.suffix in (".safetensors", ".bin", ".ckpt")
    )


def test_pull_downloads_a_hub_pipeline_into_the_data_dir_and_registers_it(
    tiny: Path, hub: FakeHub, tmp_path: Path
) -> None:
    # A hub repository also holds what a diffusers pipeline does not load: a single-file
    # checkpoint at its root, pickled copies of its weights, flax weights, a picture.
    hub.add_folder(
        REPO,
        tiny,
        **{
            "tiny-sd.safetensors": b"root checkpoint",
            "unet/diffusion_pytorch_model.bin": b"pickled copy",
            "vae/diffusion_flax_model.msgpack": b"flax",
            "grid.jpg": b"\xff\xd8",
        },
    )
    data_dir = tmp_path / "data"
    done = pull(data_dir, hub, REPO)
    assert done.returncode == 0, done.stderr
    assert "registered local/tiny-sd (StableDiffusionPipeline)" in done.stdout

    folder = data_dir / "models" / "tester--tiny-sd"
    assert weights(folder) == weights(tiny)  # only the weights the pipeline loads
    for path in tiny.rglob("*"):
        if path.is_file():
            assert (folder / path.relative_to(tiny)).read_bytes() == path.read_bytes()
    assert not (folder / "grid.jpg").exists()
    [row] = listed_local(data_dir)
    assert (row["id"], row["type"], row["available"]) == ("local/tiny-sd", "image", True)
    stored = json.loads((data_dir / "local-models.json").read_text())
    assert [m["path"] for m in stored["models"]] == [str(folder.resolve())]
    api_calls = [r for r in hub.requests if r.path.startswith("/api/")]
    assert api_calls and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api_calls)

    # Again: nothing is fetched a second time, and the registration stays as it is.
    fetched = sum(1 for r in hub.requests if r.method == "GET" and "/resolve/" in r.path)
    again = pull(data_dir, hub, REPO, "--serves", "flux-schnell")
    assert again.returncode == 0, again.stderr
    assert sum(1 for r in hub.requests if r.method == "GET" and "/resolve/" in r.path) == fetched
    assert [row["serves"] for row in listed_local(data_dir)] == ["flux-schnell"]


def test_a_repository_that_does_not_exist_fails_in_one_line_and_registers_nothing(
    hub: FakeHub, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    done = pull(data_dir, hub, "tester/no-such-model")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "tester/no-such-model was not found on the Hugging Face Hub" in line
    assert "HF_TOKEN" in line
    assert listed_local(data_dir) == []
    assert not (data_dir / "models").exists()
    code, out = invoke(data_dir, "models", "pull", "no-such-folder")
    assert code == 1 and "neither a folder nor a Hugging Face hub id" in out


def test_a_gated_repository_or_a_missing_revision_fails_with_what_to_do(
    tiny: Path, hub: FakeHub, tmp_path: Path
) -> None:
    hub.add_folder(REPO, tiny)
    hub.add_folder("tester/gated", tiny).gated = True
    done = pull(tmp_path / "data", hub, "tester/gated")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "tester/gated is gated" in line and "HF_TOKEN" in line
    done = pull(tmp_path / "data", hub, f"{REPO}@v9")
    assert done.returncode == 1
    assert "has no revision 'v9'" in done.stderr
    assert listed_local(tmp_path / "data") == []


def test_an_interrupted_download_resumes_when_run_again(
    tiny: Path, hub: FakeHub, tmp_path: Path
) -> None:
    hub.add_folder(REPO, tiny)
    held = "unet/diffusion_pytorch_model.safetensors"
    hub.held = held
    data_dir = tmp_path / "data"
    command, env = pull_command(data_dir, hub, REPO)
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    others = [name for name in hub.repos[REPO].files if name != held]
    try:
        assert hub.holding.wait(60), "the download never reached the held file"
        # Kill it once every other file is in (a power cut, not a polite Ctrl-C).
        folder = data_dir / "models" / "tester--tiny-sd"
        for _ in range(600):
            if child.poll() is not None or all((folder / name).exists() for name in others):
                break
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert listed_local(data_dir) == []  # nothing registered
    assert not (folder / held).exists()

    hub.release.set()
    done = pull(data_dir, hub, REPO)
    assert done.returncode == 0, done.stderr
    assert (folder / held).read_bytes() == (tiny / held).read_bytes()
    assert [hub.downloads(name) for name in others] == [1] * len(others)  # not fetched again
    assert hub.downloads(held) == 2
    assert [row["id"] for row in listed_local(data_dir)] == ["local/tiny-sd"]


def test_a_complete_copy_in_the_hugging_face_cache_is_used_where_it_is(
    tiny: Path, hub: FakeHub, tmp_path: Path
) -> None:
    hub.add_folder(REPO, tiny)
    done = pull(tmp_path / "first", hub, REPO, "--use-hf-cache")
    assert done.returncode == 0, done.stderr
    cache = tmp_path / "hf-home" / "hub" / "models--tester--tiny-sd" / "snapshots"
    [snapshot] = cache.iterdir()
    assert not (tmp_path / "first" / "models").exists()
    fetched = len(hub.requests)

    done = pull(tmp_path / "second", hub, REPO)  # same HF_HOME, no flag
    assert done.returncode == 0, done.stderr
    assert "found complete in the Hugging Face cache" in done.stdout
    assert [r.path for r in hub.requests[fetched:]] == [f"/api/models/{REPO}"]  # no download
    [row] = listed_local(tmp_path / "second")
    assert (row["id"], row["available"]) == ("local/tiny-sd", True)
    stored = json.loads((tmp_path / "second" / "local-models.json").read_text())
    assert [m["path"] for m in stored["models"]] == [str(snapshot.resolve())]


def test_variant_fetches_only_those_weights_and_the_engine_loads_them(
    tiny: Path, hub: FakeHub, tmp_path: Path
) -> None:
    from diffusers import DiffusionPipeline

    from mediastudio.engines.local.diffusion import Device, load_pipeline

    both = tmp_path / "both" / "tiny-sd"
    DiffusionPipeline.from_pretrained(str(tiny)).save_pretrained(str(both), variant="fp16")
    for path in tiny.rglob("*"):  # the plain weights beside the variant's, as on the hub
        if path.is_file():
            target = both / path.relative_to(tiny)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    hub.add_folder(REPO, both)
    data_dir = tmp_path / "data"
    done = pull(data_dir, hub, REPO, "--variant", "fp16")
    assert done.returncode == 0, done.stderr
    folder = data_dir / "models" / "tester--tiny-sd"
    assert weights(folder) == [
        "text_encoder/model.fp16.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    pipeline, size = load_pipeline(folder, Device("cpu", "float32"))
    assert type(pipeline).__name__ == "StableDiffusionPipeline" and size > 0


def test_hub_ids_and_the_files_a_pipeline_needs() -> None:
    assert parse_hub_id("stabilityai/sd-turbo") is not None
    hub_id = parse_hub_id("black-forest-labs/FLUX.1-schnell@refs/pr/1")
    assert hub_id is not None
    assert (hub_id.repo_id, hub_id.revision, hub_id.name) == (
        "black-forest-labs/FLUX.1-schnell",
        "refs/pr/1",
        "FLUX.1-schnell",
    )
    assert hub_id.folder_name == "black-forest-labs--FLUX.1-schnell--refs-pr-1"
    for not_one in ("./sd-turbo", "sd-turbo", "a/b/c", "/abs/path", "../x/y"):
        assert parse_hub_id(not_one) is None, not_one

    files = [
        "model_index.json",
        "flux1-schnell.safetensors",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "transformer/diffusion_pytorch_model.fp16-00001-of-00001.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.fp16.json",
        "text_encoder/pytorch_model.bin",
        "text_encoder/model.safetensors",
        "tokenizer/spiece.model",
        "vae/diffusion_pytorch_model.fp16.bin",
    ]
    assert select_files(files) == [
        "model_index.json",
        "text_encoder/model.safetensors",
        "tokenizer/spiece.model",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "vae/diffusion_pytorch_model.fp16.bin",  # only a variant there: kept as it is
    ]
    assert "transformer/diffusion_pytorch_model.fp16-00001-of-00001.safetensors" in select_files(
        files, "fp16"
    )
    # Not a diffusers repository (no model_index.json): the weights at its root are the model.
    assert select_files(["config.json", "model.bin", "vocabulary.txt"]) == [
        "config.json",
        "model.bin",
        "vocabulary.txt",
    ]


def test_a_piper_voice_repository_keeps_its_onnx_voice() -> None:
    files = ["en_US-amy-medium.onnx", "en_US-amy-medium.onnx.json", "MODEL_CARD", "amy.png"]
    assert select_files(files) == [
        "MODEL_CARD",
        "en_US-amy-medium.onnx",
        "en_US-amy-medium.onnx.json",
    ]
    # In a diffusers repository an ONNX export is another copy of the weights: skipped.
    assert "unet/model.onnx" not in select_files(["model_index.json", "unet/model.onnx"])
