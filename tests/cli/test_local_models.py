"""``mediastudio models pull / list --local / rm`` against a real data directory and a tiny
diffusers pipeline folder on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediastudio.cli import common
from mediastudio.cli.main import app
from tests.cli.test_cli import invoke, runner
from tests.engines.tiny_diffusion import build_tiny_pipeline, require_local_extra


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_local_extra()
    return build_tiny_pipeline(tmp_path_factory.mktemp("weights") / "tiny-sd")


def listed_local(data_dir: Path) -> list[dict[str, object]]:
    """The JSON on stdout: a library's warning on stderr (transformers warns once per process,
    when it first loads a pipeline's image processor) is not part of it."""
    common.console.width = 200
    result = runner.invoke(
        app, ["models", "list", "--local", "--json", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_pull_lists_and_removes_a_local_folder(tiny: Path, tmp_path: Path) -> None:
    assert listed_local(tmp_path) == []
    code, out = invoke(tmp_path, "models", "pull", str(tiny))
    assert code == 0, out
    assert "local/tiny-sd" in out and "StableDiffusionPipeline" in out
    [row] = listed_local(tmp_path)
    assert (row["id"], row["type"], row["available"]) == ("local/tiny-sd", "image", True)
    stored = json.loads((tmp_path / "local-models.json").read_text())
    assert [m["path"] for m in stored["models"]] == [str(tiny.resolve())]

    code, out = invoke(tmp_path, "models", "list")  # the whole catalog has it too
    assert code == 0 and "local/tiny-sd" in out and "builtin/espeak" in out

    code, out = invoke(tmp_path, "models", "rm", "local/tiny-sd")
    assert code == 0 and "untouched" in out
    assert listed_local(tmp_path) == [] and (tiny / "model_index.json").exists()


def test_pull_refuses_a_folder_that_is_not_a_pipeline(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")
    code, out = invoke(tmp_path / "data", "models", "pull", str(folder))
    assert code == 1 and "model_index.json" in out
    code, out = invoke(tmp_path / "data", "models", "rm", "local/photos")
    assert code == 1 and "No local model" in out


def test_pull_serves_an_alias_and_refuses_one_that_cannot_be_served(
    tiny: Path, tmp_path: Path
) -> None:
    code, out = invoke(tmp_path, "models", "pull", str(tiny), "--serves", "flux-schnell")
    assert code == 0 and "flux-schnell runs on it first" in out, out
    stored = json.loads((tmp_path / "local-models.json").read_text())
    assert [m["serves"] for m in stored["models"]] == ["flux-schnell"]
    assert [row["serves"] for row in listed_local(tmp_path)] == ["flux-schnell"]
    code, out = invoke(tmp_path, "models", "pull", str(tiny), "--serves", "openai/dall-e-3")
    assert code == 1 and "cannot be served locally" in out and "flux-schnell" in out


def test_a_video_pipeline_registers_as_a_video_model_and_serves_no_image_alias(
    tmp_path: Path,
) -> None:
    from tests.engines.tiny_diffusion import build_tiny_video_pipeline

    video = build_tiny_video_pipeline(tmp_path / "weights" / "tiny-ltx")
    code, out = invoke(tmp_path, "models", "pull", str(video), "--serves", "flux-schnell")
    assert code == 1 and "Only an image pipeline" in out, out
    code, out = invoke(tmp_path, "models", "pull", str(video))
    assert code == 0 and "LTXPipeline" in out, out
    [row] = listed_local(tmp_path)
    assert (row["id"], row["type"], row["available"]) == ("local/tiny-ltx", "video", True)


def test_pull_registers_a_faster_whisper_folder_as_a_transcription_model(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from tests.engines.tiny_whisper import tiny_whisper

    folder = tiny_whisper(tmp_path_factory)
    code, out = invoke(tmp_path, "models", "pull", str(folder))
    assert code == 0, out
    assert "local/tiny-whisper" in out and "whisper" in out
    [row] = listed_local(tmp_path)
    assert (row["id"], row["type"], row["available"]) == (
        "local/tiny-whisper",
        "transcription",
        True,
    )
    code, out = invoke(tmp_path, "models", "pull", str(folder), "--serves", "flux-schnell")
    assert code == 1 and "faster-whisper model" in out


def test_a_piper_voice_folder_registers_under_its_voices_name(tmp_path: Path) -> None:
    from tests.engines.tiny_piper import build_tiny_voice, require_piper

    require_piper()
    folder = build_tiny_voice(tmp_path / "weights" / "en" / "medium", "en_US-tiny-medium")
    code, out = invoke(tmp_path, "models", "pull", str(folder))
    assert code == 0 and "local/en_US-tiny-medium" in out and "PiperVoice" in out, out
    [row] = listed_local(tmp_path)
    assert (row["id"], row["type"], row["available"]) == ("local/en_US-tiny-medium", "speech", True)
    code, out = invoke(tmp_path, "models", "pull", str(folder), "--serves", "flux-schnell")
    assert code == 1 and "Only an image pipeline" in out, out
