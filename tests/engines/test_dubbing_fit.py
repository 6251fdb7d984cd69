"""The dubbing composition's timing rule, on samples: each segment's speech sits in its slot (its
start to the next segment's start), padded when short, sped up at the same pitch up to
MAX_TEMPO when long, then cut with a fade."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from mediastudio.engines.builtin.video_tools.dubbing import (
    MAX_TEMPO,
    dub_track,
    fit,
    progress_weights,
    slots,
)
from mediastudio.engines.compose import Composition
from mediastudio.engines.media.captions import Cue
from mediastudio.engines.media.video import AUDIO_RATE

RATE = AUDIO_RATE


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return np.asarray(0.3 * np.sin(2 * np.pi * hz * t), dtype=np.float32)


def pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


def test_slots_run_to_the_next_start_and_the_last_to_the_end() -> None:
    cues = [Cue(0.5, 1.0, "a"), Cue(2.0, 2.5, "b"), Cue(3.0, 3.2, "c")]
    assert slots(cues, 4.0) == [(0.5, 2.0), (2.0, 3.0), (3.0, 4.0)]


def test_short_speech_is_kept_as_it_is() -> None:
    speech = tone(1.0)
    assert len(fit(speech, 2 * RATE)) == pytest.approx(len(speech), abs=10)  # edges trimmed


def test_long_speech_is_sped_up_at_the_same_pitch() -> None:
    speech = tone(1.2)
    fitted = fit(speech, RATE)  # 1.2 s into 1 s: a tempo of 1.2, within the limit
    assert len(fitted) == pytest.approx(RATE, rel=0.02)
    assert pitch(fitted) == pytest.approx(220.0, abs=5)


def test_speech_too_long_even_sped_up_is_cut_with_a_fade() -> None:
    speech = tone(2.0 * MAX_TEMPO)
    fitted = fit(speech, RATE)
    assert len(fitted) == RATE
    assert abs(float(fitted[-1])) < 1e-3 and float(np.abs(fitted[: RATE // 2]).max()) > 0.25


def test_the_track_has_each_segments_speech_from_its_start() -> None:
    cues = [Cue(0.5, 1.0, "a"), Cue(2.0, 2.5, "b")]
    track = dub_track(cues, [tone(0.5), tone(0.5)], 3.0)
    assert len(track) == 3 * RATE
    loud = np.flatnonzero(np.abs(track) > 0.01) / RATE
    assert loud.min() == pytest.approx(0.5, abs=0.01) and loud.max() == pytest.approx(2.5, abs=0.01)
    assert not np.any((loud > 1.01) & (loud < 1.99))


@pytest.mark.parametrize("segments", [1, 7, 300])
def test_the_bar_laid_out_again_keeps_the_transcriptions_share(segments: int) -> None:
    """The bar is laid out once before the transcription and again once the segments are
    known: the transcription's span is the same in both, so progress never goes back."""
    nothing: Any = None
    first = Composition(nothing, nothing, {"transcribe": 2, "rest": 8})
    second = Composition(nothing, nothing, progress_weights(segments))
    assert second.span("transcribe") == pytest.approx(first.span("transcribe"))
    assert second.span("render")[1] == pytest.approx(1.0)
    speaking = [second.span(f"speak-{i + 1}") for i in range(segments)]
    assert speaking[0][0] == pytest.approx(second.span("translate")[1])
    assert all(a[1] == pytest.approx(b[0]) for a, b in pairwise(speaking))
