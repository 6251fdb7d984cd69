"""The local engine's transcription models on a tiny random Whisper converted to CTranslate2
(tests/engines/tiny_whisper.py) and run by faster-whisper on the CPU: registration as the
faster-whisper kind, the transcript files (parsed back: segments within the audio, SRT and
WebVTT cues matching them), the language given or detected, a video's sound, progress by audio
time, cancellation between segments, one load for many jobs, and the plan."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediastudio.engines.contract import InvalidInput, JobCancelled
from mediastudio.engines.inputs import TranscriptionInput
from mediastudio.engines.local import registrations, whisper
from mediastudio.engines.local.engine import LocalEngine
from mediastudio.engines.media.audio import write_audio
from mediastudio.engines.media.captions import parse_srt, parse_vtt
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.inputs import SafeFetcher
from tests.conftest import make_settings
from tests.engines.recorder import Recorder
from tests.engines.tiny_whisper import tiny_whisper

MODEL = "local/tiny-whisper"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_whisper(tmp_path_factory)


@pytest.fixture(scope="module")
def engine(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalEngine:
    settings = make_settings(tmp_path_factory.mktemp("data"))
    registrations.register(settings.data_dir, tiny)
    return LocalEngine(settings)


def tone_uri(tmp_path: Path, seconds: float) -> str:
    t = np.arange(round(seconds * 16_000)) / 16_000
    path = tmp_path / "tone.wav"
    write_audio(path, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16_000, "wav")
    return "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()


def transcribe(
    engine: LocalEngine,
    tmp_path: Path,
    hook: Callable[[Recorder], None] = lambda ctx: None,
    **fields: Any,
) -> Recorder:
    [spec] = [spec for spec in engine.models() if spec.id == MODEL]
    body = {"audio_url": tone_uri(tmp_path, 4.0), **fields}
    ctx = Recorder(tmp_path, spec, TranscriptionInput.model_validate(body), hook)
    engine.run(ctx)
    return ctx


def test_a_faster_whisper_folder_registers_as_a_transcription_model(
    engine: LocalEngine, tiny: Path
) -> None:
    assert registrations.detect_kind(tiny) == (registrations.FASTER_WHISPER, "whisper")
    [spec] = engine.models()
    assert (spec.id, spec.type, spec.kind, spec.pool) == (MODEL, "transcription", "file", "cpu")
    assert engine.resolve(MODEL, "transcription") is not None
    assert engine.resolve(MODEL, "image") is None
    assert engine.availability(spec).available
    assert engine.whisper_device() == whisper.pick_device("auto")
    assert engine.whisper_device().dtype == "int8"  # no CUDA here: int8 on the CPU


def test_a_transcript_in_every_format_within_the_audio_with_progress_by_audio_time(
    engine: LocalEngine, tmp_path: Path
) -> None:
    ctx = transcribe(engine, tmp_path)
    json_out, srt_out, vtt_out = ctx.outputs
    assert [o.content_type for o in ctx.outputs] == [
        "application/json",
        "application/x-subrip",
        "text/vtt",
    ]
    assert all(o.duration_s == pytest.approx(4.0) for o in ctx.outputs)
    transcript = json.loads(json_out.path.read_text())
    assert transcript["duration"] == pytest.approx(4.0) and transcript["timestamps"] == "model"
    segments = transcript["segments"]
    assert segments, "the random model always says something"
    assert all(0 <= s["start"] < s["end"] <= 4.0 and s["text"] for s in segments)
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert transcript["text"] == " ".join(s["text"] for s in segments)
    assert transcript["language"] in whisper_languages()  # detected
    assert json_out.extra == {"text": transcript["text"], "language": transcript["language"]}
    srt = parse_srt(srt_out.path.read_text())
    vtt = parse_vtt(vtt_out.path.read_text())
    spans = [(s["start"], s["end"]) for s in segments]
    assert [(c.start, c.end) for c in srt] == [(c.start, c.end) for c in vtt] == spans
    assert [c.text for c in srt] == [s["text"] for s in segments]
    assert ctx.reports and all(0 < r <= 1 for r in ctx.reports)
    assert ctx.reports == sorted(ctx.reports)


def test_word_times_when_asked_lie_within_the_audio_in_order(
    engine: LocalEngine, tmp_path: Path
) -> None:
    ctx = transcribe(engine, tmp_path, output_formats=["json"], timestamp_granularities=["word"])
    transcript = json.loads(ctx.outputs[0].path.read_text())
    words = transcript["words"]
    assert words, "the random model always says something, and times what it says"
    assert all(w["word"] == w["word"].strip() and w["word"] for w in words)
    assert all(0 <= w["start"] < w["end"] <= 4.0 for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert transcript["segments"]  # the segments still come
    # Not asked: no words key (as OpenAI's verbose_json without word granularity).
    (tmp_path / "plain").mkdir()
    plain = transcribe(engine, tmp_path / "plain", output_formats=["json"])
    assert "words" not in json.loads(plain.outputs[0].path.read_text())


def whisper_languages() -> list[str]:
    from tests.engines.tiny_whisper import languages

    return languages()


def test_the_language_asked_for_is_the_transcripts_and_one_it_cannot_is_refused(
    engine: LocalEngine, tmp_path: Path
) -> None:
    ctx = transcribe(engine, tmp_path, language="de", output_formats=["json"], prompt="Namen")
    [output] = ctx.outputs
    assert json.loads(output.path.read_text())["language"] == "de"
    with pytest.raises(InvalidInput, match="does not know the language 'xx'"):
        transcribe(engine, tmp_path, language="xx")


def test_a_videos_sound_is_transcribed_and_a_silent_file_is_refused(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "clip.mp4"
    t = np.arange(round(3.0 * AUDIO_RATE)) / AUDIO_RATE
    with VideoWriter(
        path, 64, 48, fps=10, audio=(0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    ) as writer:
        for _ in range(30):
            writer.write(np.full((48, 64, 3), 90, dtype=np.uint8))
    uri = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    ctx = transcribe(engine, tmp_path, audio_url=uri, output_formats=["vtt"])
    [output] = ctx.outputs
    assert output.duration_s == pytest.approx(3.0, abs=0.05)
    assert all(cue.end <= output.duration_s for cue in parse_vtt(output.path.read_text()))

    silent = tmp_path / "silent.mp4"
    with VideoWriter(silent, 64, 48, fps=10) as writer:
        for _ in range(10):
            writer.write(np.full((48, 64, 3), 90, dtype=np.uint8))
    uri = "data:video/mp4;base64," + base64.b64encode(silent.read_bytes()).decode()
    with pytest.raises(InvalidInput, match="no sound"):
        transcribe(engine, tmp_path, audio_url=uri)


def test_a_cancel_stops_between_segments_and_writes_nothing(
    engine: LocalEngine, tmp_path: Path
) -> None:
    def cancel_at_first_segment(ctx: Recorder) -> None:
        ctx.cancel("cancelled")

    with pytest.raises(JobCancelled):
        transcribe(engine, tmp_path, hook=cancel_at_first_segment)
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".json", ".srt", ".vtt")]


def test_jobs_at_once_load_the_model_once_and_share_it(tiny: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    registrations.register(settings.data_dir, tiny)
    engine = LocalEngine(settings)
    errors: list[BaseException] = []

    def job(index: int) -> None:
        try:
            transcribe(engine, tmp_path / f"job{index}", output_formats=["json"])
        except BaseException as exc:
            errors.append(exc)

    for index in range(3):
        (tmp_path / f"job{index}").mkdir()
    threads = [threading.Thread(target=job, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cache = engine.whisper_residency()
    assert cache.loads == 1 and cache.resident() == [MODEL]


def test_the_plan_has_the_files_and_length_the_run_has(engine: LocalEngine, tmp_path: Path) -> None:
    [spec] = engine.models()
    assert spec.plan is not None
    body = {"audio_url": tone_uri(tmp_path, 2.5), "output_formats": ["srt", "json"]}
    validated = TranscriptionInput.model_validate(body)
    planned = spec.plan(validated, SafeFetcher(tmp_path, NetPolicy()))
    assert [(p.content_type, p.duration_s) for p in planned] == [
        ("application/x-subrip", 2.5),
        ("application/json", 2.5),
    ]
    assert set(planned[1].extra) == {"text", "language"}


def test_registration_refuses_an_incomplete_or_foreign_ctranslate2_folder(
    tiny: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(tiny, partial)
    (partial / "tokenizer.json").unlink()
    with pytest.raises(registrations.RegistrationError, match=r"tokenizer\.json"):
        registrations.detect_kind(partial)
    foreign = tmp_path / "foreign"
    shutil.copytree(tiny, foreign)
    (foreign / "config.json").write_text("{}")
    with pytest.raises(registrations.RegistrationError, match="not a CTranslate2 Whisper"):
        registrations.detect_kind(foreign)


def test_without_faster_whisper_the_model_says_how_to_install_it(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    [spec] = engine.models()
    monkeypatch.setattr(whisper, "missing_modules", lambda: ["faster_whisper"])
    availability = engine.availability(spec)
    assert not availability.available
    assert "faster_whisper not installed" in str(availability.reason)
    assert "mediastudio[local]" in str(availability.reason)


def test_a_cuda_device_ctranslate2_does_not_see_is_unavailable(tiny: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", local_device="cuda:7")
    registrations.register(settings.data_dir, tiny)
    engine = LocalEngine(settings)
    [spec] = engine.models()
    availability = engine.availability(spec)
    assert not availability.available and "cuda:7" in str(availability.reason)


def test_a_budget_too_small_to_keep_it_unloads_the_model_after_each_job(
    tiny: Path, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data", local_memory_bytes=1)
    registrations.register(settings.data_dir, tiny)
    engine = LocalEngine(settings)
    for index in range(2):
        (tmp_path / f"job{index}").mkdir()
        ctx = transcribe(engine, tmp_path / f"job{index}", output_formats=["json"])
        assert len(ctx.outputs) == 1
    cache = engine.whisper_residency()
    assert cache.loads == 2 and cache.resident() == []


def test_a_whisper_registration_starts_the_server_without_torch_or_faster_whisper(
    tiny: Path, tmp_path: Path
) -> None:
    """Listing a registered Whisper asks CTranslate2 for the device, and loads nothing else:
    torch (the diffusion models') and faster-whisper wait for a job."""
    registrations.register(tmp_path, tiny)
    script = (
        "import sys\n"
        "from mediastudio.engines.registry import EngineRegistry\n"
        "from mediastudio.settings import load_settings\n"
        f"registry = EngineRegistry.discover(load_settings(data_dir={str(tmp_path)!r}))\n"
        f"assert registry.availability({MODEL!r}).available\n"
        "assert 'torch' not in sys.modules and 'faster_whisper' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.parametrize(
    ("fallback", "sent"), [(True, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), (False, 0.0)]
)
def test_the_temperature_fallback_follows_the_setting(fallback: bool, sent: object) -> None:
    import numpy as np

    from mediastudio.engines.local import whisper

    asked: dict[str, object] = {}

    class Model:
        supported_languages = ("en",)

        def transcribe(self, audio: object, **options: object) -> tuple[list[object], object]:
            asked.update(options)
            return [], type("Info", (), {"language": "en"})()

    request = whisper.Request(np.zeros(16_000, dtype=np.float32), "en", None, fallback=fallback)
    whisper.transcribe(Model(), request, lambda _: None)
    assert asked["temperature"] == sent
