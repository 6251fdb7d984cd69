"""Registered Piper voices (``local-piper``) through the engine contract, on a tiny voice exported
to ONNX in the test: registration and its refusals, the voices, decoded audio at the voice's rate
whose length follows the text and the speed, speakers that differ, progress per sentence, a
cancel between sentences, one load for concurrent jobs, and espeak-ng still speaking beside it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError

from mediastudio.engines.contract import JobCancelled, ModelSpec
from mediastudio.engines.local import registrations
from mediastudio.engines.local.engine import LocalEngine
from mediastudio.engines.local.piper import PiperEngine
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings
from tests.conftest import make_settings
from tests.engines.recorder import Recorder
from tests.engines.tiny_piper import SAMPLE_RATE, build_tiny_voice, require_piper

SINGLE = "local/xx_XX-tiny-low"
MULTI = "local/voices"
FOUR = "One sentence. Two sentences. Three sentences.\n\nFour, in a new paragraph."


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``single/medium``: one voice (the rhasspy/piper-voices layout); ``voices``: a
    two-speaker English voice and a German one in one folder."""
    require_piper()
    root = tmp_path_factory.mktemp("piper")
    build_tiny_voice(root / "single" / "medium")
    build_tiny_voice(root / "voices", "en_US-pair-low", speakers=("alice", "bob"))
    build_tiny_voice(root / "voices", "de_DE-tiny-low", espeak_voice="de", language="de_DE")
    return root


@pytest.fixture(scope="module")
def settings(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("data"))
    registrations.register(settings.data_dir, weights / "single" / "medium")
    registrations.register(settings.data_dir, weights / "voices")
    return settings


@pytest.fixture(scope="module")
def engine(settings: Settings) -> PiperEngine:
    return PiperEngine(settings)


def spec_of(engine: PiperEngine, model_id: str) -> ModelSpec:
    [spec] = [spec for spec in engine.models() if spec.id == model_id]
    return spec


def speak(engine: PiperEngine, tmp_path: Path, model_id: str, **fields: object) -> Recorder:
    spec = spec_of(engine, model_id)
    ctx = Recorder(tmp_path, spec, spec.input_model.model_validate(fields))
    engine.run(ctx)
    return ctx


def decode(path: Path) -> tuple[np.ndarray, int, int]:
    """The samples (mono float), sample rate and channel count of an audio file, with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.rate, stream.codec_context.channels
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
    samples = np.concatenate([f.reshape(channels, -1) for f in frames], axis=1)[0]
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768.0
    return samples.astype(np.float32), rate, channels


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def test_a_folder_of_one_voice_registers_under_the_voices_name(settings: Settings) -> None:
    models = {model.id: model for model in registrations.load(settings.data_dir)}
    assert set(models) == {SINGLE, MULTI}
    assert {model.kind for model in models.values()} == {registrations.PIPER}
    assert models[SINGLE].folder.name == "medium"


def test_the_engine_lists_each_folder_as_a_speech_model_with_its_voices(
    engine: PiperEngine,
) -> None:
    specs = {spec.id: spec for spec in engine.models()}
    assert set(specs) == {SINGLE, MULTI}
    assert {spec.type for spec in specs.values()} == {"speech"}
    assert all(engine.availability(spec).available for spec in specs.values())
    assert [(v.id, v.languages) for v in engine.voices(specs[SINGLE])] == [
        ("xx_XX-tiny-low", ("en-us",))
    ]
    assert [(v.id, v.languages) for v in engine.voices(specs[MULTI])] == [
        ("de_DE-tiny-low", ("de-de",)),
        ("en_US-pair-low:alice", ("en-us",)),
        ("en_US-pair-low:bob", ("en-us",)),
    ]


def test_speech_decodes_at_the_voices_rate_as_long_as_the_metadata_says(
    engine: PiperEngine, tmp_path: Path
) -> None:
    ctx = speak(engine, tmp_path, SINGLE, text=FOUR, output_format="wav")
    [output] = ctx.outputs
    samples, rate, channels = decode(output.path)
    assert (output.content_type, rate, channels) == ("audio/wav", SAMPLE_RATE, 1)
    assert output.duration_s == pytest.approx(len(samples) / rate, abs=0.01)
    assert output.duration_s is not None and output.duration_s > 1.0
    assert float(np.max(np.abs(samples))) > 0.5  # peak-normalised speech, not silence
    assert output.extra == {"voice": "xx_XX-tiny-low", "language": "en-us"}


@pytest.mark.parametrize(
    ("output_format", "content_type", "rate"),
    [
        ("mp3", "audio/mpeg", SAMPLE_RATE),
        ("ogg", "audio/ogg", 48_000),
    ],
)
def test_mp3_and_opus_decode_at_their_rates(
    engine: PiperEngine, tmp_path: Path, output_format: str, content_type: str, rate: int
) -> None:
    ctx = speak(engine, tmp_path, SINGLE, text="Hello there.", output_format=output_format)
    [output] = ctx.outputs
    samples, decoded_rate, channels = decode(output.path)
    assert (output.content_type, decoded_rate, channels) == (content_type, rate, 1)
    assert len(samples) / rate == pytest.approx(output.duration_s, abs=0.1)


def test_speed_and_text_length_change_the_duration(engine: PiperEngine, tmp_path: Path) -> None:
    def seconds(text: str, speed: float) -> float:
        ctx = speak(engine, tmp_path, SINGLE, text=text, speed=speed, output_format="wav")
        return float(ctx.outputs[0].duration_s or 0)

    normal = seconds("The quick brown fox jumps over the lazy dog.", 1.0)
    assert seconds("The quick brown fox jumps over the lazy dog.", 2.0) == pytest.approx(
        normal / 2, rel=0.05
    )
    assert seconds("A fox.", 1.0) < normal / 2


def test_each_speaker_of_a_multi_speaker_voice_is_its_own_voice(
    engine: PiperEngine, tmp_path: Path
) -> None:
    pitches = []
    for voice in ("en_US-pair-low:alice", "en_US-pair-low:bob"):
        ctx = speak(engine, tmp_path, MULTI, text="Hello.", voice=voice, output_format="wav")
        assert ctx.outputs[0].extra["voice"] == voice
        samples, rate, _ = decode(ctx.outputs[0].path)
        pitches.append(dominant_hz(samples, rate))
    assert pitches[0] == pytest.approx(220, abs=5) and pitches[1] == pytest.approx(275, abs=5)


def test_the_language_picks_the_voice_and_a_voice_names_its_language(
    engine: PiperEngine,
) -> None:
    model = spec_of(engine, MULTI).input_model
    german = model.model_validate({"text": "Hallo.", "language": "de"})
    assert (german.voice, german.language) == ("de_DE-tiny-low", "de")  # type: ignore[attr-defined]
    english = model.model_validate({"text": "Hi.", "language": "en"})
    assert english.voice == "en_US-pair-low:alice"  # type: ignore[attr-defined]
    default = model.model_validate({"text": "Hi.", "voice": "en_US-pair-low"})
    assert default.voice == "en_US-pair-low:alice"  # type: ignore[attr-defined]
    assert default.language == "en-us"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"voice": "nobody"}, "has no voice 'nobody'"),
        ({"language": "fr"}, "not 'fr'"),
        ({"voice": "de_DE-tiny-low", "language": "en"}, "speaks de-de, not 'en'"),
    ],
)
def test_an_unknown_voice_or_language_is_refused_with_the_reason(
    engine: PiperEngine, fields: dict[str, str], says: str
) -> None:
    model = spec_of(engine, MULTI).input_model
    with pytest.raises(ValidationError, match=says):
        model.model_validate({"text": "Hello.", **fields})


def test_progress_per_sentence_and_a_cancel_between_sentences(
    engine: PiperEngine, tmp_path: Path
) -> None:
    ctx = speak(engine, tmp_path, SINGLE, text=FOUR, output_format="wav")
    assert len(ctx.reports) == 5 and ctx.reports == sorted(ctx.reports) and ctx.reports[-1] == 1

    def cancel_after_two(ctx: Recorder) -> None:
        if len(ctx.reports) == 2:
            ctx.cancel("cancelled")

    spec = spec_of(engine, SINGLE)
    validated = spec.input_model.model_validate({"text": FOUR})
    cancelled = Recorder(tmp_path, spec, validated, cancel_after_two)
    with pytest.raises(JobCancelled):
        engine.run(cancelled)
    assert len(cancelled.reports) == 2 and cancelled.outputs == []


def test_concurrent_first_jobs_load_the_voice_once(settings: Settings, tmp_path: Path) -> None:
    engine = PiperEngine(settings)
    spec = spec_of(engine, SINGLE)
    errors: list[BaseException] = []

    def job(index: int) -> None:
        try:
            validated = spec.input_model.model_validate({"text": f"Job {index}."})
            engine.run(Recorder(tmp_path, spec, validated))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and engine._cache.loads == 1


def test_refused_folders_say_why(tmp_path: Path) -> None:
    build_tiny_voice(tmp_path / "chinese", "zh_CN-tiny-low")
    config_path = tmp_path / "chinese" / "zh_CN-tiny-low.onnx.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "phoneme_type": "pinyin"}))
    with pytest.raises(registrations.RegistrationError, match="'pinyin' phonemizer"):
        registrations.register(tmp_path / "data", tmp_path / "chinese")

    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "xx-voice.onnx.json").write_text(config_path.read_text())
    with pytest.raises(registrations.RegistrationError, match=r"no model beside it"):
        registrations.register(tmp_path / "data", lonely)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "xx-voice.onnx").write_bytes(b"\0")
    (broken / "xx-voice.onnx.json").write_text('{"audio": {}}')
    with pytest.raises(registrations.RegistrationError, match=r"audio\.sample_rate"):
        registrations.register(tmp_path / "data", broken)


def test_a_voice_folder_emptied_after_registration_is_listed_unavailable(
    weights: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "gone" / "medium"
    build_tiny_voice(folder, "xx_XX-gone-low")
    settings = make_settings(tmp_path / "data")
    registrations.register(settings.data_dir, folder)
    engine = PiperEngine(settings)
    spec = spec_of(engine, "local/xx_XX-gone-low")
    (folder / "xx_XX-gone-low.onnx.json").unlink()
    availability = engine.availability(spec)
    assert not availability.available and "no Piper voice" in str(availability.reason)


def test_the_diffusion_engine_leaves_piper_folders_to_their_own(settings: Settings) -> None:
    registry = EngineRegistry.discover(
        settings.model_copy(update={"engine_modules": [], "disabled_engines": []})
    )
    found = registry.get(SINGLE)
    assert found is not None and found.engine.name == "local-piper"
    diffusion = LocalEngine(settings)
    assert diffusion.models() == [] and diffusion.resolve(SINGLE, None) is None
    assert {spec.id for spec in registry.models("speech")} >= {SINGLE, MULTI}


def test_espeak_still_speaks_after_piper_phonemized_in_this_process(
    engine: PiperEngine, tmp_path: Path
) -> None:
    """piper-tts carries its own espeak-ng (statically linked); builtin/espeak loads
    espeakng-loader's. Both in one process must keep working."""
    from mediastudio.engines.builtin.espeak.engine import SPEC, EspeakEngine
    from mediastudio.engines.builtin.espeak.inputs import EspeakInput

    speak(engine, tmp_path, SINGLE, text="Piper first.")
    ctx = Recorder(tmp_path, SPEC, EspeakInput(text="Then espeak.", output_format="wav"))
    EspeakEngine().run(ctx)
    samples, _, _ = decode(ctx.outputs[0].path)
    assert float(np.max(np.abs(samples))) > 0.5
    speak(engine, tmp_path, SINGLE, text="And piper again.")


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"text": "Hi."}, True),
        ({"text": "Hi.", "voice": "en_US-pair-low:bob"}, True),
        ({"text": "Hi.", "voice": "en_US-pair-low"}, True),
        ({"text": "Hi.", "language": "de"}, True),
        ({"text": "Hi.", "language": "en-us-x-test"}, True),
        ({"text": "Hi.", "voice": "de_DE-tiny-low", "language": "de-de"}, True),
        ({"text": "Hi.", "voice": "nobody"}, False),
        ({"text": "Hi.", "language": "fr"}, False),
        ({"text": "Hi.", "language": "en-gb"}, False),
        ({"text": "Hi.", "voice": "de_DE-tiny-low", "language": "en"}, False),
        ({"text": "Hi.", "voice": "en_US-pair-low:alice", "language": "de"}, False),
    ],
)
def test_the_published_schema_says_what_the_validators_check(
    engine: PiperEngine, body: dict[str, str], accepted: bool
) -> None:
    import jsonschema_rs

    model = spec_of(engine, MULTI).input_model
    try:
        model.model_validate(body)
        validated = True
    except ValidationError:
        validated = False
    assert validated == accepted
    assert jsonschema_rs.validator_for(model.model_json_schema()).is_valid(body) == accepted


def test_listing_registered_voices_imports_neither_piper_nor_onnxruntime_nor_torch(
    settings: Settings,
) -> None:
    """The server and the CLI start with voices registered, and a lean install (no [local]
    extra) lists them: only a job (or availability) looks for piper."""
    script = (
        "import sys\n"
        "from mediastudio.engines.registry import EngineRegistry\n"
        "from mediastudio.settings import load_settings\n"
        f"settings = load_settings(data_dir={str(settings.data_dir)!r})\n"
        "registry = EngineRegistry.discover(settings)\n"
        f"assert {{m.id for m in registry.models('speech')}} >= {{{SINGLE!r}, {MULTI!r}}}\n"
        "loaded = {'piper', 'onnxruntime', 'torch', 'diffusers'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
