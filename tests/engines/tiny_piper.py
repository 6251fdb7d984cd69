"""A tiny Piper voice built in the test: a small torch module exported to ONNX with Piper's own
signature (inputs ``input`` [batch, phonemes] int64, ``input_lengths`` [batch] int64, ``scales``
[noise, length, noise_w] float32, and ``sid`` [batch] int64 for a multi-speaker voice; output
``output`` [batch, 1, samples] float32, as piper's ``train/export_onnx.py`` writes it), beside a
``.onnx.json`` config with the fields piper reads.

The "speech" is a sine: SAMPLES_PER_ID samples per phoneme id times the length scale (so speed
and text length change the duration as a real voice's would, at about a real voice's pace), its
pitch rising with the speaker id (so speakers differ)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import warnings
from pathlib import Path

import pytest

from tests.engines.tiny_cache import cached

SAMPLE_RATE = 16_000
# About 32 ms a phoneme id: a phoneme and its pad, ~64 ms, about espeak-ng's (and a real Piper
# voice's) normal pace, so the output plan's estimate holds for it.
SAMPLES_PER_ID = 512


def require_piper() -> None:
    """Skip without torch, onnx or piper-tts, except under CI (make install installs them).
    Found, not imported: torch only builds the voice, once per session (tiny_cache.py), and
    importing it costs seconds in every worker that only runs a copy of the voice."""
    missing = [
        module
        for module in ("torch", "onnx", "piper", "onnxruntime")
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        message = f"{', '.join(missing)} missing: `make install`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def build_tiny_voice(
    folder: Path,
    name: str = "xx_XX-tiny-low",
    *,
    speakers: tuple[str, ...] = (),
    espeak_voice: str = "en-us",
    language: str = "en_US",
) -> Path:
    """Write ``<name>.onnx`` and ``<name>.onnx.json`` into ``folder``; returns ``folder``.
    ``speakers`` makes a multi-speaker voice with those speaker names. Built once per test
    session (tests/engines/tiny_cache.py): a worker that only copies it never imports torch."""
    return cached(
        folder,
        lambda target: _build_tiny_voice(target, name, speakers, espeak_voice, language),
        name=name,
        speakers=speakers,
        espeak_voice=espeak_voice,
        language=language,
    )


def _build_tiny_voice(
    folder: Path, name: str, speakers: tuple[str, ...], espeak_voice: str, language: str
) -> Path:
    import torch
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    folder.mkdir(parents=True, exist_ok=True)
    multi = len(speakers) > 1

    class TinyVoice(torch.nn.Module):
        def forward(
            self,
            input: torch.Tensor,
            input_lengths: torch.Tensor,
            scales: torch.Tensor,
            sid: torch.Tensor | None = None,
        ) -> torch.Tensor:
            ids = input_lengths[0].to(torch.float32)
            count = (ids * SAMPLES_PER_ID * scales[1]).to(torch.int64)
            time = torch.arange(count, dtype=torch.float32).unsqueeze(0) / SAMPLE_RATE
            pitch = 220.0 + 0.0 * input[:, :1].to(torch.float32)
            if sid is not None:
                pitch = pitch + 55.0 * sid.to(torch.float32).unsqueeze(1)
            return (0.4 * torch.sin(2 * math.pi * pitch * time)).unsqueeze(1)

    example = (
        torch.zeros(1, 9, dtype=torch.long),
        torch.LongTensor([9]),
        torch.FloatTensor([0.667, 1.0, 0.8]),
        *((torch.LongTensor([0]),) if multi else ()),
    )
    names = ["input", "input_lengths", "scales", *(["sid"] if multi else [])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            TinyVoice(),
            example,
            str(folder / f"{name}.onnx"),
            dynamo=False,
            opset_version=15,
            input_names=names,
            output_names=["output"],
            dynamic_axes={
                "input": {0: "batch_size", 1: "phonemes"},
                "input_lengths": {0: "batch_size"},
                "output": {0: "batch_size", 2: "time"},
            },
        )
    config = {
        "dataset": name.split("-")[1] if "-" in name else name,
        "audio": {"sample_rate": SAMPLE_RATE, "quality": "x_low"},
        "espeak": {"voice": espeak_voice},
        "language": {"code": language},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": len(DEFAULT_PHONEME_ID_MAP),
        "num_speakers": max(1, len(speakers)),
        "speaker_id_map": {speaker: index for index, speaker in enumerate(speakers)}
        if multi
        else {},
        "piper_version": "1.0.0",
    }
    (folder / f"{name}.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    return folder
