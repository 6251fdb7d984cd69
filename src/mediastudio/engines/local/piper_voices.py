"""The Piper voices in a folder: what ``models pull`` registers and what the speech engine offers.

A Piper voice is two files, ``<name>.onnx`` (the VITS model) and ``<name>.onnx.json`` (its
config: sample rate, espeak-ng voice, phoneme ids, speakers), as rhasspy/piper-voices publishes
them. A folder may hold several. Reading them takes only the JSON configs (no onnxruntime), so
the catalog, the voice list and the output plans cost no model load.

Voice ids: a single-speaker voice is its file name (``en_US-lessac-medium``); each speaker of a
multi-speaker voice is ``<file name>:<speaker>`` (``en_US-libritts_r-medium:p3922``), and the
file name alone means its default speaker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_SUFFIX = ".onnx"
CONFIG_SUFFIX = ".onnx.json"
SPEAKER_SEPARATOR = ":"
PIPELINE = "PiperVoice"  # what a registration of this kind names as its pipeline
# Phonemizers that need nothing more than piper-tts itself: its bundled espeak-ng, or the
# text's own code points. The others need extra packages, and Chinese downloads a model at run
# time, which this server never does.
SUPPORTED_PHONEME_TYPES = ("espeak", "text")


class VoiceFolderError(ValueError):
    """A folder whose Piper voices cannot be used; the message says why."""


@dataclass(frozen=True)
class Speaker:
    id: str  # the API's voice id
    name: str
    language: str  # BCP 47, lower case: en-us
    sample_rate: int
    model_path: Path
    speaker_id: int | None  # the model's speaker index; None for a single-speaker voice


@dataclass(frozen=True)
class VoiceFile:
    name: str  # the file name without .onnx
    model_path: Path
    config: dict[str, Any]

    @property
    def sample_rate(self) -> int:
        return int(self.config["audio"]["sample_rate"])

    @property
    def language(self) -> str:
        """The voice's language (``language.code``, e.g. en_US), else its espeak-ng voice."""
        language = self.config.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        code = code or self.config.get("espeak", {}).get("voice") or "und"
        return str(code).strip().lower().replace("_", "-")

    def speakers(self) -> list[Speaker]:
        """The voices this file offers: itself, or each of its speakers."""
        count = int(self.config.get("num_speakers", 1))
        if count <= 1:
            return [self._speaker(self.name, self.name, None)]
        names: dict[str, int] = self.config.get("speaker_id_map") or {
            str(index): index for index in range(count)
        }
        return [
            self._speaker(f"{self.name}{SPEAKER_SEPARATOR}{speaker}", f"{self.name}, {speaker}", i)
            for speaker, i in sorted(names.items(), key=lambda item: item[1])
        ]

    def default_speaker(self) -> int | None:
        if int(self.config.get("num_speakers", 1)) <= 1:
            return None
        return int(self.config.get("default_speaker_id", 0))

    def _speaker(self, voice_id: str, name: str, speaker_id: int | None) -> Speaker:
        return Speaker(voice_id, name, self.language, self.sample_rate, self.model_path, speaker_id)


@dataclass(frozen=True)
class VoiceSet:
    """A registered folder's voices, in file order."""

    files: tuple[VoiceFile, ...]

    def speakers(self) -> list[Speaker]:
        return [speaker for file in self.files for speaker in file.speakers()]

    def find(self, voice_id: str) -> Speaker | None:
        """The speaker ``voice_id`` names; a multi-speaker file's name is its default one."""
        for file in self.files:
            if voice_id == file.name and file.default_speaker() is not None:
                wanted = file.default_speaker()
                return next(s for s in file.speakers() if s.speaker_id == wanted)
            for speaker in file.speakers():
                if speaker.id == voice_id:
                    return speaker
        return None

    def for_language(self, language: str) -> Speaker | None:
        """The first voice speaking ``language`` or a dialect of it (en matches en-us)."""
        return next((s for s in self.speakers() if covers(language, s.language)), None)

    @property
    def ids(self) -> list[str]:
        """Every voice id ``find`` takes."""
        ids = [speaker.id for speaker in self.speakers()]
        return ids + [f.name for f in self.files if f.default_speaker() is not None]

    def model_bytes(self) -> int:
        return sum(file.model_path.stat().st_size for file in self.files)


def normalise_language(code: str) -> str:
    return code.strip().lower().replace("_", "-")


def covers(wanted: str, code: str) -> bool:
    """Whether ``code`` is the language ``wanted`` or a dialect of it, either way round on the
    primary tag (a request for en-gb is spoken by an en voice; en by en-us)."""
    wanted, code = normalise_language(wanted), normalise_language(code)
    return code == wanted or code.startswith(wanted + "-") or wanted.startswith(code + "-")


def holds_voices(folder: Path) -> bool:
    """Whether ``folder`` holds at least one ``*.onnx.json`` Piper voice config."""
    return folder.is_dir() and any(folder.glob(f"*{CONFIG_SUFFIX}"))


def read_voices(folder: Path) -> VoiceSet:
    """The voices in ``folder``, each config checked for what synthesis reads; VoiceFolderError
    names the first file that is missing or unusable."""
    files: list[VoiceFile] = []
    for config_path in sorted(folder.glob(f"*{CONFIG_SUFFIX}")):
        name = config_path.name[: -len(CONFIG_SUFFIX)]
        model_path = folder / f"{name}{MODEL_SUFFIX}"
        if not model_path.is_file():
            raise VoiceFolderError(f"{config_path} has no model beside it ({model_path.name}).")
        files.append(VoiceFile(name, model_path, _config(config_path)))
    if not files:
        raise VoiceFolderError(f"{folder} holds no Piper voice (<name>.onnx + <name>.onnx.json).")
    return VoiceSet(tuple(files))


def model_name(folder: Path) -> str:
    """What ``local/<name>`` a folder of voices registers as: its one voice's file name (the
    rhasspy/piper-voices layout puts each voice in a folder named for its quality, ``medium``),
    or the folder's name when it holds several."""
    configs = sorted(folder.glob(f"*{CONFIG_SUFFIX}"))
    return configs[0].name[: -len(CONFIG_SUFFIX)] if len(configs) == 1 else folder.name


def _config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        int(config["audio"]["sample_rate"])
        int(config["num_speakers"])
        if not isinstance(config["phoneme_id_map"], dict) or not config["espeak"]["voice"]:
            raise ValueError("phoneme_id_map is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VoiceFolderError(
            f"{path} is not a Piper voice config ({type(exc).__name__}: {exc}): it needs "
            "audio.sample_rate, num_speakers, espeak.voice and phoneme_id_map."
        ) from exc
    phoneme_type = config.get("phoneme_type", "espeak")
    if phoneme_type not in SUPPORTED_PHONEME_TYPES:
        raise VoiceFolderError(
            f"{path} uses the {phoneme_type!r} phonemizer; only "
            f"{', '.join(SUPPORTED_PHONEME_TYPES)} voices run here (the others need extra "
            "packages or download a model at run time)."
        )
    return dict(config)
