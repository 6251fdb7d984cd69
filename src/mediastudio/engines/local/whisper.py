"""Local speech to text with faster-whisper (CTranslate2): the only module that imports
faster_whisper or ctranslate2, and only inside its functions, so the server starts without them.

- The device is CTranslate2's own (no torch): ``auto`` is the first CUDA device it sees, else
  the CPU. Weights run as int8 on the CPU (a quarter of float32's memory, and faster there) and
  float16 on CUDA, whatever precision the folder was saved in (CTranslate2 converts on load).
- The input is decoded with PyAV into 16 kHz mono float32 (what Whisper hears) and handed over
  as an array: faster-whisper never reads a file, so no ffmpeg binary is needed.
- faster-whisper decodes lazily, one segment at a time: the job reports progress as the audio
  time reached and checks for cancellation between segments.
- The transcript is the one every transcription model writes (:mod:`..media.transcripts`):
  segments with the model's own times, the detected language when none was given; with
  ``word`` granularity, faster-whisper's ``word_timestamps`` (its cross-attention alignment
  after each segment, a little more CPU) give each word's times.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mediastudio.engines.contract import EngineError, InvalidInput
from mediastudio.engines.local.diffusion import Device
from mediastudio.engines.media import transcripts
from mediastudio.engines.media.audio import Samples

EXTRA_HINT = "pip install 'mediastudio[local]'"
REQUIRED_MODULES = ("faster_whisper", "ctranslate2")
RATE = 16_000  # Whisper's sample rate
COMPUTE_TYPES = {"cpu": "int8", "cuda": "float16"}
# Greedy decoding: the best of five beams costs about five times the CPU for a small gain.
BEAM_SIZE = 1
# faster-whisper's (and OpenAI's reference) temperatures, tried in turn while a window's text
# fails the compression-ratio or log-probability checks.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

SegmentHook = Callable[[float], None]  # (audio seconds transcribed) → may raise to stop


def missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def pick_device(setting: str) -> Device:
    """``auto``: CUDA when CTranslate2 sees a device, else the CPU; ``cuda:1`` picks a card."""
    import ctranslate2

    name = setting
    if setting == "auto":
        name = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return Device(name, COMPUTE_TYPES["cuda" if name.startswith("cuda") else "cpu"])


def device_problem(device: Device) -> str | None:
    """Why jobs cannot run on ``device`` (a CUDA device CTranslate2 does not see), or None."""
    import ctranslate2

    if not device.is_gpu or ctranslate2.get_cuda_device_count() > _index(device):
        return None
    return (
        f"MEDIASTUDIO_LOCAL_DEVICE={device.name} but CTranslate2 sees no such CUDA device: "
        "install CUDA 12 and cuDNN 9, or set it to auto or cpu"
    )


def memory_bytes(device: Device) -> int:
    """The memory the device's models may fill: the GPU's (when torch can say) or the RAM."""
    if device.is_gpu and importlib.util.find_spec("torch") is not None:
        from mediastudio.engines.local import diffusion

        return diffusion.device_memory_bytes(device)
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def load_model(folder: Path, device: Device) -> tuple[Any, int]:
    """The model in ``folder`` on ``device`` and roughly the bytes it holds there (model.bin's
    size, a quarter of it for float32 weights quantised to int8). Only the folder is read."""
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(
            str(folder),
            device="cuda" if device.is_gpu else "cpu",
            device_index=_index(device),
            compute_type=device.dtype,
            local_files_only=True,
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise EngineError(f"The Whisper model in {folder} could not be loaded: {exc}") from exc
    size = (folder / "model.bin").stat().st_size
    return model, size // 4 if device.dtype == "int8" else size


def release(model: Any) -> None:
    """Drop an evicted model: CTranslate2 frees its memory when the last reference goes."""
    model.model.unload_model()


@dataclass(frozen=True)
class Request:
    audio: Samples  # 16 kHz mono float32
    language: str | None
    prompt: str | None
    words: bool = False  # time each word too (faster-whisper's word_timestamps)
    fallback: bool = True  # decode a window again, hotter, when its text looks wrong


def transcribe(model: Any, request: Request, on_segment: SegmentHook) -> transcripts.Transcript:
    """The transcript of ``request.audio``, decoded segment by segment (``on_segment`` hears
    the audio time each one ends at, and may raise to stop); the language detected when none
    was asked for. Times past the end of the audio (a model's guess at a timestamp) are cut to
    it."""
    duration = len(request.audio) / RATE
    if request.language is not None and request.language not in model.supported_languages:
        raise InvalidInput(f"This Whisper model does not know the language {request.language!r}.")
    segments, info = model.transcribe(
        np.ascontiguousarray(request.audio, dtype=np.float32),
        language=request.language,
        initial_prompt=request.prompt,
        beam_size=BEAM_SIZE,
        temperature=list(FALLBACK_TEMPERATURES) if request.fallback else 0.0,
        vad_filter=False,
        word_timestamps=request.words,
    )
    found: list[transcripts.Segment] = []
    words: list[transcripts.Word] = []
    for segment in segments:
        start, end = min(float(segment.start), duration), min(float(segment.end), duration)
        text = str(segment.text).strip()
        if text and end > start:
            found.append(transcripts.Segment(round(start, 3), round(end, 3), text))
        words.extend(
            transcripts.Word(str(w.word), float(w.start), float(w.end))
            for w in (segment.words or ())
        )
        on_segment(end)
    text = " ".join(segment.text for segment in found)
    language = request.language or str(info.language)
    timed_words = transcripts.ordered_words(words, duration) if request.words else None
    return transcripts.Transcript(text, language, duration, tuple(found), words=timed_words)


def _index(device: Device) -> int:
    _, _, index = device.name.partition(":")
    return int(index) if index.isdigit() else 0
