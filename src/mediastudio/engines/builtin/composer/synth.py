"""Instruments made of NumPy oscillators, envelopes and scipy filters: no samples.

Every voice is a pure function of (instrument, pitch, held seconds, sample rate): the same call
gives the same samples, which is what lets :mod:`.render` cache repeated notes and keeps the
engine deterministic. Noise comes from a generator seeded by the voice's own parameters.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import signal

Wave = NDArray[np.float32]
F64 = NDArray[np.float64]
Voice = Callable[[float, float, int], Wave]  # (frequency Hz, held seconds, rate) -> samples

TAU = 2.0 * np.pi


def midi_hz(pitch: float) -> float:
    return float(440.0 * 2.0 ** ((pitch - 69) / 12))


def _time(seconds: float, rate: int) -> F64:
    return np.arange(max(1, int(seconds * rate)), dtype=np.float64) / rate


def _noise(seed_text: str, n: int) -> F64:
    rng = np.random.default_rng(zlib.crc32(seed_text.encode()))
    return rng.standard_normal(n)


# Oscillators ---------------------------------------------------------------------------------


def _blep(phase: F64, dt: float) -> F64:
    """PolyBLEP residual that removes most of a naive saw's aliasing at its jump."""
    out = np.zeros_like(phase)
    low = phase < dt
    x = phase[low] / dt
    out[low] = x + x - x * x - 1.0
    high = phase > 1.0 - dt
    x = (phase[high] - 1.0) / dt
    out[high] = x * x + x + x + 1.0
    return out


def saw(freq: float, t: F64, offset: float = 0.0, rate: int = 44100) -> F64:
    phase = (freq * t + offset) % 1.0
    return 2.0 * phase - 1.0 - _blep(phase, freq / rate)


def square(freq: float, t: F64, offset: float = 0.0, rate: int = 44100) -> F64:
    dt = freq / rate
    phase = (freq * t + offset) % 1.0
    shifted = (phase + 0.5) % 1.0
    return np.where(phase < 0.5, 1.0, -1.0) + _blep(phase, dt) - _blep(shifted, dt)


def sine(freq: float, t: F64, offset: float = 0.0) -> F64:
    return np.sin(TAU * (freq * t + offset))


def triangle(freq: float, t: F64) -> F64:
    return 4.0 * np.abs((freq * t + 0.25) % 1.0 - 0.5) - 1.0


def vibrato(t: F64, rate_hz: float, cents: float, delay_s: float = 0.3) -> F64:
    """A phase offset in cycles per Hz of carrier: multiply by the frequency."""
    depth = (2.0 ** (cents / 1200) - 1.0) * np.clip((t - delay_s) / 0.4, 0.0, 1.0)
    offset: F64 = depth * np.sin(TAU * rate_hz * t) / (TAU * rate_hz)
    return offset


# Envelopes and filters -----------------------------------------------------------------------


def adsr(t: F64, hold: float, a: float, d: float, s: float, r: float) -> F64:
    """Linear attack, exponential-ish decay to ``s``, release from wherever it was at ``hold``."""
    attack = np.clip(t / max(a, 1e-4), 0.0, 1.0)
    decay = s + (1.0 - s) * np.exp(-np.maximum(t - a, 0.0) / max(d, 1e-4))
    level = np.where(t < a, attack, decay)
    at_hold = float(np.interp(hold, t, level)) if hold < t[-1] else float(level[-1])
    release = at_hold * np.exp(-np.maximum(t - hold, 0.0) / max(r / 4.0, 1e-4))
    return np.where(t < hold, level, release)


def percussive(t: F64, decay_s: float, attack_s: float = 0.002) -> F64:
    return np.clip(t / attack_s, 0.0, 1.0) * np.exp(-t / decay_s)


@lru_cache(maxsize=256)
def _sos(kind: str, cutoff: float | tuple[float, float], rate: int, order: int) -> F64:
    return signal.butter(order, cutoff, btype=kind, fs=rate, output="sos")  # type: ignore[no-any-return]


def lowpass(x: F64, cutoff: float, rate: int, order: int = 2) -> F64:
    return signal.sosfilt(_sos("lowpass", min(cutoff, rate * 0.45), rate, order), x)  # type: ignore[no-any-return]


def highpass(x: F64, cutoff: float, rate: int, order: int = 2) -> F64:
    return signal.sosfilt(_sos("highpass", cutoff, rate, order), x)  # type: ignore[no-any-return]


def bandpass(x: F64, low: float, high: float, rate: int, order: int = 2) -> F64:
    return signal.sosfilt(_sos("bandpass", (low, min(high, rate * 0.45)), rate, order), x)  # type: ignore[no-any-return]


def sweep(dark: F64, bright: F64, env: F64) -> F64:
    """A cheap filter envelope: crossfade a dark and a bright filtering of one source."""
    return dark + (bright - dark) * env


# Pitched instruments -------------------------------------------------------------------------
# Each returns held + release seconds of sound at full velocity, peak around 1.


def supersaw(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.5, rate)
    x = sum(saw(f * 2 ** (c / 1200), t, i * 0.21, rate) for i, c in enumerate((-14, -6, 0, 7, 15)))
    x = lowpass(np.asarray(x) / 3.0, min(3500.0, f * 7), rate)
    return _out(x * adsr(t, hold, 0.04, 0.6, 0.75, 0.5))


def warm_pad(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 2.5, rate)
    x = saw(f * 1.003, t, 0.0, rate) + saw(f * 0.997, t, 0.37, rate) + 0.6 * sine(f / 2, t)
    swell = 0.5 + 0.5 * np.sin(TAU * 0.15 * t)
    x = sweep(lowpass(x, f * 1.5, rate), lowpass(x, f * 4, rate), swell)
    return _out(0.5 * x * adsr(t, hold, 1.2, 2.0, 0.85, 2.5))


def strings(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.8, rate)
    wobble = vibrato(t, 5.2, 12)
    x = sum(
        saw(f * 2 ** (c / 1200), t + wobble * (1 + i * 0.1), i * 0.3, rate)
        for i, c in enumerate((-8, 0, 9))
    )
    x = lowpass(np.asarray(x) / 2.0, min(6000.0, f * 8), rate)
    return _out(x * adsr(t, hold, 0.25, 1.0, 0.85, 0.8))


def low_strings(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.6, rate)
    x = saw(f, t + vibrato(t, 4.8, 8), 0.0, rate) + 0.5 * saw(f * 1.004, t, 0.5, rate)
    return _out(lowpass(x, f * 5, rate) * adsr(t, hold, 0.12, 0.8, 0.8, 0.6) * 0.8)


def brass(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.3, rate)
    scoop = -0.02 * np.exp(-t / 0.05) * t  # a small rise into pitch
    x = saw(f, t + scoop + vibrato(t, 5.5, 10, 0.4), 0.0, rate)
    bright = np.clip(t / 0.08, 0.0, 1.0) * (0.6 + 0.4 * np.exp(-t / 0.5))
    x = sweep(lowpass(x, f * 2, rate), lowpass(x, min(6000.0, f * 9), rate), bright)
    return _out(x * adsr(t, hold, 0.06, 0.5, 0.8, 0.3))


def flute(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.25, rate)
    breath = bandpass(_noise(f"flute{f:.2f}{hold:.3f}", len(t)), f * 0.8, f * 3, rate)
    x = sine(f, t + vibrato(t, 5.0, 15)) + 0.25 * sine(2 * f, t) + 0.15 * breath
    return _out(x * adsr(t, hold, 0.08, 0.4, 0.85, 0.25))


def timpani(f: float, hold: float, rate: int) -> Wave:
    t = _time(max(hold, 0.1) + 2.0, rate)
    partials = sum(
        a * sine(f * r, t) * np.exp(-t / d)
        for r, a, d in ((1.0, 1.0, 0.9), (1.5, 0.5, 0.5), (1.99, 0.3, 0.35))
    )
    thud = lowpass(_noise(f"timp{f:.2f}", len(t)), 400, rate) * np.exp(-t / 0.03)
    return _out(np.asarray(partials) * np.clip(t / 0.003, 0, 1) + 0.6 * thud)


def synth_bass(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.08, rate)
    x = saw(f, t, 0.0, rate) + square(f * 0.5, t, 0.0, rate) * 0.5
    env = np.exp(-t / 0.12)
    x = sweep(lowpass(x, f * 2, rate), lowpass(x, f * 10, rate), env)
    return _out(x * adsr(t, hold, 0.005, 0.2, 0.7, 0.08) * 0.8)


def sub_drone(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 2.0, rate)
    x = sine(f, t) + 0.3 * triangle(2 * f, t)
    return _out(x * adsr(t, hold, 1.5, 2.0, 0.9, 2.0))


def sine_bass(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.1, rate)
    x = np.tanh(1.5 * sine(f, t)) + 0.2 * triangle(2 * f, t)
    return _out(x * adsr(t, hold, 0.01, 0.4, 0.7, 0.1))


def pick_bass(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.06, rate)
    x = saw(f, t, 0.0, rate) + 0.6 * sine(f, t)
    x = sweep(lowpass(x, f * 3, rate), lowpass(x, f * 12, rate), np.exp(-t / 0.06))
    return _out(np.tanh(1.4 * x) * adsr(t, hold, 0.003, 0.3, 0.75, 0.06))


def upright(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.15, rate)
    x = sine(f, t) + 0.4 * sine(2 * f, t) * np.exp(-t / 0.15) + 0.15 * triangle(3 * f, t)
    thump = np.exp(-t / 0.5)
    return _out(x * thump * adsr(t, hold, 0.004, 0.3, 0.9, 0.12))


def saw_lead(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.2, rate)
    wob = vibrato(t, 5.5, 18, 0.25)
    x = saw(f, t + wob, 0.0, rate) + saw(f * 1.006, t + wob, 0.4, rate) * 0.7
    x = sweep(lowpass(x, f * 3, rate), lowpass(x, min(7000.0, f * 8), rate), np.exp(-t / 0.3))
    return _out(0.6 * x * adsr(t, hold, 0.01, 0.3, 0.8, 0.2))


def lead_guitar(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.2, rate)
    x = saw(f, t + vibrato(t, 6.0, 25, 0.35), 0.0, rate) + 0.5 * square(f, t, 0.1, rate)
    x = np.tanh(3.5 * lowpass(x, 3200, rate))
    return _out(0.7 * lowpass(x, 4500, rate) * adsr(t, hold, 0.005, 0.8, 0.7, 0.2))


def power_guitar(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.06, rate)
    x = saw(f, t, 0.0, rate) + saw(f * 1.498, t, 0.3, rate) + 0.6 * saw(2 * f, t, 0.6, rate)
    x = np.tanh(4.0 * lowpass(x, 2400, rate))
    return _out(0.55 * lowpass(x, 3800, rate) * adsr(t, hold, 0.003, 0.25, 0.6, 0.06))


def epiano(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.5, rate)
    index = 1.2 * np.exp(-t / 0.25)
    x = np.sin(TAU * f * t + index * np.sin(TAU * f * t)) + 0.2 * sine(2 * f, t) * np.exp(-t / 0.4)
    tremolo = 1.0 + 0.08 * np.sin(TAU * 4.5 * t)
    decay = np.exp(-t / (1.6 * 220 / max(f, 110)))
    return _out(0.8 * x * tremolo * decay * adsr(t, hold, 0.003, 1.0, 1.0, 0.5))


def vibes(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 1.2, rate)
    x = (
        sine(f, t)
        + 0.3 * sine(4 * f, t) * np.exp(-t / 0.2)
        + 0.1 * sine(10 * f, t) * np.exp(-t / 0.05)
    )
    motor = 1.0 + 0.15 * np.sin(TAU * 5.0 * t)
    return _out(0.8 * x * motor * np.exp(-t / 1.3) * adsr(t, hold, 0.002, 1.0, 1.0, 1.0))


def soft_keys(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 0.4, rate)
    x = triangle(f, t) + 0.3 * sine(2 * f, t)
    return _out(
        0.8 * lowpass(x, 2500, rate) * np.exp(-t / 1.5) * adsr(t, hold, 0.01, 0.6, 0.7, 0.4)
    )


def bell(f: float, hold: float, rate: int) -> Wave:
    t = _time(hold + 2.5, rate)
    index = 2.0 * np.exp(-t / 0.8)
    x = np.sin(TAU * f * t + index * np.sin(TAU * 3.5 * f * t))
    return _out(0.7 * x * percussive(t, 1.8, 0.004) * adsr(t, hold, 0.004, 1.0, 1.0, 2.0))


def _out(x: F64) -> Wave:
    return np.asarray(x, dtype=np.float32)


INSTRUMENTS: dict[str, Voice] = {
    voice.__name__: voice
    for voice in (
        supersaw,
        warm_pad,
        strings,
        low_strings,
        brass,
        flute,
        timpani,
        synth_bass,
        sub_drone,
        sine_bass,
        pick_bass,
        upright,
        saw_lead,
        lead_guitar,
        power_guitar,
        epiano,
        vibes,
        soft_keys,
        bell,
    )
}
