"""The compositions' audio: ducking, loudness, limiting — on synthetic signals."""

from __future__ import annotations

import numpy as np

from mediastudio.engines.builtin.compositions import mixing

RATE = 16_000


def tone(seconds: float, hz: float = 220.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def speech_like(seconds: float, spans: list[tuple[float, float]]) -> np.ndarray:
    """Noise bursts (syllables every 0.2 s) inside ``spans``, silence elsewhere."""
    noise = np.random.default_rng(1).normal(0, 0.2, int(seconds * RATE)).astype(np.float32)
    t = np.arange(len(noise)) / RATE
    inside = np.zeros(len(noise), bool)
    for start, end in spans:
        inside |= (t >= start) & (t < end)
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 5 * t) ** 2
    return (noise * inside * syllables).astype(np.float32)


def rms_db(samples: np.ndarray, start: float, end: float) -> float:
    part = samples[int(start * RATE) : int(end * RATE)]
    return float(10 * np.log10(np.mean(part.astype(np.float64) ** 2) + 1e-12))


def test_music_is_ducked_about_12_db_under_speech_and_recovers_after() -> None:
    music = tone(6.0)
    voice = speech_like(6.0, [(1.0, 2.5), (4.0, 5.0)])
    ducked = mixing.duck(music, voice, RATE)
    before = rms_db(ducked, 0.2, 0.9)
    during = rms_db(ducked, 1.5, 2.3)
    between = rms_db(ducked, 3.4, 3.9)
    assert abs(before - rms_db(music, 0.2, 0.9)) < 0.2  # untouched before the voice
    assert -13.5 < during - before < -10.5
    assert abs(between - before) < 1.5  # released between phrases
    assert rms_db(ducked, 4.3, 4.9) - before < -10


def test_the_duck_is_smooth_and_starts_before_the_voice() -> None:
    voice = speech_like(3.0, [(1.0, 2.0)])
    gain = mixing.duck_gain(voice, RATE, len(voice))
    gain_db = 20 * np.log10(gain)
    per_ms = np.abs(np.diff(gain_db[:: RATE // 1000]))
    assert per_ms.max() < 1.0  # no clicks: under 1 dB per millisecond
    assert gain_db[int(0.99 * RATE)] < -1.0  # look-ahead: already dipping at the first syllable
    # No pumping between syllables: the gain stays low across the phrase.
    assert gain_db[int(1.2 * RATE) : int(1.9 * RATE)].max() < -9


def test_silence_as_voice_leaves_the_music_alone() -> None:
    music = tone(2.0)
    assert np.allclose(mixing.duck(music, np.zeros_like(music), RATE), music, atol=1e-4)


def test_voice_over_mix_hits_the_loudness_target_under_the_peak_ceiling() -> None:
    music = np.stack([tone(6.0, 220), tone(6.0, 330)], axis=1)
    voice = speech_like(6.0, [(0.5, 2.5), (3.0, 5.5)])
    for target in (-14.0, -23.0):
        mixed = mixing.voice_over_mix(voice, music, RATE, target_lufs=target)
        assert mixed.shape == music.shape and mixed.dtype == np.float32
        assert abs(mixing.loudness(mixed, RATE) - target) < 1.0
        assert float(np.abs(mixed).max()) <= mixing.PEAK_CEILING + 1e-6


def test_the_limiter_holds_peaks_without_touching_quiet_parts() -> None:
    signal = tone(1.0, level=0.2)
    signal[RATE // 2 : RATE // 2 + 50] = 1.5  # a spike
    limited = mixing.limit(signal, RATE)
    assert float(np.abs(limited).max()) <= mixing.PEAK_CEILING + 1e-6
    assert np.allclose(limited[: RATE // 4], signal[: RATE // 4])


def test_fit_length_and_fades() -> None:
    samples = np.ones((100, 2), np.float32)
    assert mixing.fit_length(samples, 40).shape == (40, 2)
    assert mixing.fit_length(samples, 150)[120:].sum() == 0
    faded = mixing.fade(samples, 100, fade_in_s=0.2, fade_out_s=0.1)
    assert faded[0, 0] == 0 and faded[-1, 1] == 0 and faded[50, 0] == 1
