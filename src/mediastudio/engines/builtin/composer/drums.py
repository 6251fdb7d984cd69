"""Synthesized drums, keyed by General MIDI drum note: kick = pitched sine sweep, snare = tone
plus filtered noise, hats and cymbals = high-passed noise and metallic square clusters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mediastudio.engines.builtin.composer.synth import (
    F64,
    TAU,
    Wave,
    _noise,
    _time,
    bandpass,
    highpass,
    lowpass,
    percussive,
    square,
)

Hit = Callable[[int, int], Wave]  # (variant, rate) -> samples


def kick(variant: int, rate: int) -> Wave:
    t = _time(0.45, rate)
    freq = 45.0 + 110.0 * np.exp(-t / 0.035)  # the sweep that makes it a kick
    phase = np.cumsum(freq) / rate
    body = np.sin(TAU * phase) * percussive(t, 0.28, 0.001)
    click = lowpass(_noise(f"kick{variant}", len(t)), 3000, rate) * np.exp(-t / 0.004)
    return _f32(np.tanh(1.6 * body) + 0.25 * click)


def snare(variant: int, rate: int) -> Wave:
    t = _time(0.3, rate)
    tone = (np.sin(TAU * 185 * t) + 0.5 * np.sin(TAU * 330 * t)) * np.exp(-t / 0.05)
    rattle = bandpass(_noise(f"snare{variant}", len(t)), 1500, 9000, rate) * np.exp(-t / 0.09)
    return _f32(0.6 * tone + 0.9 * rattle)


def clap(variant: int, rate: int) -> Wave:
    t = _time(0.35, rate)
    noise = bandpass(_noise(f"clap{variant}", len(t)), 900, 5000, rate)
    bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.008) * (t >= d) for d in (0.0, 0.011, 0.022))
    tail = np.exp(-np.maximum(t - 0.03, 0) / 0.12) * (t >= 0.03)
    return _f32(noise * (0.6 * np.asarray(bursts) + 0.7 * tail))


def rim(variant: int, rate: int) -> Wave:
    t = _time(0.08, rate)
    x = np.sin(TAU * 1700 * t) + bandpass(_noise(f"rim{variant}", len(t)), 2000, 6000, rate)
    return _f32(0.6 * x * np.exp(-t / 0.012))


def _metal(t: F64, rate: int) -> F64:
    """Six detuned squares, the classic analogue cymbal source."""
    return np.asarray(sum(square(f, t, 0.0, rate) for f in (205, 304, 369, 522, 540, 800))) / 6


def closed_hat(variant: int, rate: int) -> Wave:
    t = _time(0.08, rate)
    x = highpass(0.5 * _metal(t, rate) + _noise(f"hat{variant}", len(t)), 7000, rate)
    return _f32(0.5 * x * percussive(t, 0.022, 0.0005))


def pedal_hat(variant: int, rate: int) -> Wave:
    t = _time(0.1, rate)
    x = highpass(_noise(f"pedal{variant}", len(t)), 6000, rate)
    return _f32(0.35 * x * percussive(t, 0.03, 0.003))


def open_hat(variant: int, rate: int) -> Wave:
    t = _time(0.45, rate)
    x = highpass(0.5 * _metal(t, rate) + _noise(f"ohat{variant}", len(t)), 6500, rate)
    return _f32(0.45 * x * percussive(t, 0.16, 0.001))


def crash(variant: int, rate: int) -> Wave:
    t = _time(2.0, rate)
    x = highpass(0.4 * _metal(t * 1.3, rate) + _noise(f"crash{variant}", len(t)), 4000, rate)
    return _f32(0.45 * x * percussive(t, 0.7, 0.001))


def ride(variant: int, rate: int) -> Wave:
    t = _time(0.9, rate)
    ping = sum(np.sin(TAU * f * t) for f in (3100, 4410, 5240)) / 3 * np.exp(-t / 0.08)
    bell = highpass(_metal(t * 1.7, rate), 3000, rate)
    wash = highpass(_noise(f"ride{variant}", len(t)), 5000, rate)
    tone = 0.35 * np.asarray(ping) + 0.5 * bell + 0.5 * wash
    return _f32(0.35 * tone * percussive(t, 0.35, 0.001))


def _f32(x: F64) -> Wave:
    return np.asarray(x, dtype=np.float32)


DRUMS: dict[int, Hit] = {
    36: kick,
    37: rim,
    38: snare,
    39: clap,
    42: closed_hat,
    44: pedal_hat,
    46: open_hat,
    49: crash,
    51: ride,
}
VARIANTS = 3  # each drum has a few slightly different hits, chosen per note
