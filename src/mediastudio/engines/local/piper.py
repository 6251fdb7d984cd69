"""The ``local-piper`` engine: neural text to speech on the CPU with Piper voices (onnxruntime),
from folders registered with ``mediastudio models pull <dir>`` (kind ``piper``).

Each registered folder is one ``speech`` model; its voices (a multi-speaker voice's speakers
each) are what ``GET /api/v1/voices`` lists for it. A job cuts the text into sentences and
paragraphs as espeak-ng's engine does, has piper-tts's bundled espeak-ng turn each into
phonemes, runs the voice's ONNX model per sentence (progress after each, cancellation checked
before each), and joins them with short pauses; the track is peak-normalised and encoded with
the audio helpers (PyAV), exactly as ``builtin/espeak``'s: same input fields, same output
fields (``voice``, ``language``), mono at the voice's rate (Opus: 48 kHz).

A voice's ONNX session is loaded once and kept warm (:class:`Residency`: one load however many
jobs ask at once, least recently used first out of a memory budget). Nothing here imports
piper or onnxruntime until a job runs or availability is asked.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mediastudio.engines.builtin.espeak.engine import PARAGRAPH_PAUSE_S, SYNTHESIS_SHARE
from mediastudio.engines.builtin.espeak.text import chunks
from mediastudio.engines.contract import (
    Availability,
    Engine,
    EngineError,
    InvalidInput,
    ModelSpec,
    OutputFile,
    RunContext,
    Voice,
)
from mediastudio.engines.local import registrations
from mediastudio.engines.local.piper_inputs import PiperInput, input_model, planner
from mediastudio.engines.local.piper_voices import (
    Speaker,
    VoiceFolderError,
    VoiceSet,
    read_voices,
)
from mediastudio.engines.local.registrations import ID_PREFIX, PIPER, LocalModel
from mediastudio.engines.local.residency import Residency
from mediastudio.engines.media.audio import peak_normalise, write_audio
from mediastudio.kit.mediatypes import content_type
from mediastudio.settings import Settings

logger = logging.getLogger("mediastudio.engines.local")

MODULES = ("piper", "onnxruntime")
EXTRA_HINT = "pip install 'mediastudio[local]'"
CREDITS = 1  # the operator's own CPU, like builtin/espeak; MEDIASTUDIO_MODEL_PRICES sets it
TIMEOUT_S = 600.0
SENTENCE_PAUSE_S = 0.2  # between two sentences, at speed 1.0 (Piper's own ends are short)
SILENCE_PEAK = 1e-3  # a track whose loudest sample is under this said nothing
# A loaded session takes about its file's size in memory, plus onnxruntime's arenas.
MEMORY_PER_MODEL_BYTE = 1.5


def missing_modules() -> list[str]:
    return [name for name in MODULES if importlib.util.find_spec(name) is None]


class PiperEngine(Engine):
    name = "local-piper"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        budget = settings.local_memory_bytes or int(0.8 * _ram_bytes())
        self._cache: Residency[Any] = Residency(budget)
        self._threads = max(1, (os.cpu_count() or 1) // max(1, settings.workers_cpu))
        self._voices: dict[str, tuple[float, VoiceSet]] = {}  # model id → (mtime, voices)
        self._lock = threading.Lock()

    # The catalog ------------------------------------------------------------------------------

    def models(self) -> Sequence[ModelSpec]:
        specs: list[ModelSpec] = []
        for model in self._registered():
            spec = self._spec(model)
            if spec is not None:
                specs.append(spec)
        return specs

    def resolve(self, model_id: str, type_: str | None) -> ModelSpec | None:
        """A folder registered after the server started: usable at once."""
        if not model_id.startswith(ID_PREFIX) or type_ not in (None, "speech"):
            return None
        model = registrations.find(self.settings.data_dir, model_id)
        if model is None or model.kind != PIPER:
            return None
        return self._spec(model)

    def availability(self, model: ModelSpec) -> Availability:
        missing = missing_modules()
        if missing:
            return Availability.missing(f"{', '.join(missing)} not installed: {EXTRA_HINT}")
        registered = registrations.find(self.settings.data_dir, model.id)
        if registered is None:
            return Availability.missing(f"{model.id} is no longer registered.")
        try:
            read_voices(registered.folder)
        except VoiceFolderError as exc:
            return Availability.missing(str(exc))
        return Availability.ok()

    def voices(self, model: ModelSpec) -> Sequence[Voice]:
        voices = self._voice_set(model.id)
        if voices is None:
            return ()
        return [
            Voice(id=speaker.id, name=speaker.name, languages=(speaker.language,))
            for speaker in voices.speakers()
        ]

    def _registered(self) -> list[LocalModel]:
        try:
            found = registrations.load(self.settings.data_dir)
        except registrations.RegistrationError:
            logger.exception("local model registrations unreadable; no Piper voice listed")
            return []
        return [model for model in found if model.kind == PIPER]

    def _spec(self, model: LocalModel) -> ModelSpec | None:
        voices = self._read(model)
        if voices is None:
            return None
        count = len(voices.speakers())
        plural = "" if count == 1 else "s"
        return ModelSpec(
            id=model.id,
            name=f"{model.id.removeprefix(ID_PREFIX)} (local Piper, {count} voice{plural})",
            type="speech",
            input_model=input_model(model.id, voices),
            credits=CREDITS,
            description=f"Piper voices in {model.path}, run here on the CPU with onnxruntime.",
            category="local",
            pool="cpu",
            timeout_s=TIMEOUT_S,
            output_kind="audio",
            plan=planner(voices),
        )

    def _voice_set(self, model_id: str) -> VoiceSet | None:
        model = registrations.find(self.settings.data_dir, model_id)
        return None if model is None else self._read(model)

    def _read(self, model: LocalModel) -> VoiceSet | None:
        """The folder's voices, read again only when the folder changed."""
        try:
            stamp = model.folder.stat().st_mtime
        except OSError:
            return None
        with self._lock:
            known = self._voices.get(model.id)
            if known is not None and known[0] == stamp:
                return known[1]
        try:
            voices = read_voices(model.folder)
        except VoiceFolderError:
            logger.warning("%s: its Piper voices cannot be read", model.id, exc_info=True)
            return None
        with self._lock:
            self._voices[model.id] = (stamp, voices)
        return voices

    # Running ----------------------------------------------------------------------------------

    def run(self, ctx: RunContext) -> None:
        params = ctx.input
        assert isinstance(params, PiperInput)
        sentences = chunks(params.text)
        if not sentences:
            raise InvalidInput("The text has nothing to say.")
        voices = self._voice_set(ctx.model.id)
        if voices is None:
            raise EngineError(f"{ctx.model.id} is no longer registered or readable.")
        speaker = voices.find(params.voice or "")
        if speaker is None:  # validation resolved it; the folder may have changed since
            raise InvalidInput(f"{ctx.model.id} has no voice {params.voice!r} any more.")
        rate = speaker.sample_rate
        parts: list[np.ndarray] = []
        key = str(speaker.model_path)
        estimate = int(MEMORY_PER_MODEL_BYTE * speaker.model_path.stat().st_size)
        with self._cache.use(
            key, lambda: self._load(speaker), estimate=estimate, should_stop=ctx.check_cancelled
        ) as voice:
            for index, sentence in enumerate(sentences):
                ctx.check_cancelled()
                last = index == len(sentences) - 1
                parts.extend(_speak(voice, sentence.text, speaker, params.speed, ctx))
                if not last:
                    pause = PARAGRAPH_PAUSE_S if sentence.paragraph_end else SENTENCE_PAUSE_S
                    parts.append(np.zeros(round(rate * pause / params.speed), np.float32))
                ctx.progress(SYNTHESIS_SHARE * (index + 1) / len(sentences))
        ctx.check_cancelled()
        samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        if samples.size == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK:
            raise InvalidInput(f"{speaker.id} found nothing to pronounce in the text.")
        path = ctx.output_path(f".{params.output_format}")
        seconds = write_audio(path, peak_normalise(samples), rate, params.output_format)
        ctx.add_output(
            OutputFile(
                path,
                content_type(params.output_format),
                duration_s=round(seconds, 3),
                extra={"voice": speaker.id, "language": params.language},
            )
        )
        ctx.progress(1.0)

    def _load(self, speaker: Speaker) -> tuple[Any, int]:
        """The voice's model in an onnxruntime session on the CPU, with as many threads as
        the cpu pool's share of the cores (several jobs at once would oversubscribe them)."""
        missing = missing_modules()
        if missing:
            raise EngineError(f"{', '.join(missing)} not installed: {EXTRA_HINT}")
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        config_path = Path(f"{speaker.model_path}.json")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
            session = onnxruntime.InferenceSession(
                str(speaker.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a corrupt file
            raise EngineError(f"{speaker.model_path} could not be loaded: {exc}") from exc
        # download_dir: a directory nothing is written to (only Chinese voices download, and
        # those are refused at registration).
        voice = PiperVoice(session=session, config=config, download_dir=speaker.model_path.parent)
        size = int(MEMORY_PER_MODEL_BYTE * speaker.model_path.stat().st_size)
        return voice, size

    async def aclose(self) -> None:
        self._cache.clear()


def _speak(
    voice: Any, sentence: str, speaker: Speaker, speed: float, ctx: RunContext
) -> list[np.ndarray]:
    """One sentence of text as float samples (espeak-ng may cut it into several), a short
    pause between its parts."""
    from piper import SynthesisConfig

    syn = SynthesisConfig(
        speaker_id=speaker.speaker_id,
        length_scale=voice.config.length_scale / speed,
        normalize_audio=False,  # the whole track is normalised once, not each sentence
    )
    parts: list[np.ndarray] = []
    for index, phonemes in enumerate(voice.phonemize(sentence)):
        if not phonemes:
            continue
        ctx.check_cancelled()
        if index:
            parts.append(np.zeros(round(speaker.sample_rate * SENTENCE_PAUSE_S / speed)))
        audio = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(phonemes), syn)
        parts.append(np.asarray(audio, dtype=np.float32).reshape(-1))
    return parts


def _ram_bytes() -> int:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
