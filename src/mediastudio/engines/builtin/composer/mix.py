"""Effects and mastering: pan, chorus, tempo-synced delay, convolution reverb, tone, loudness
(BS.1770 via pyloudnorm) and a look-ahead peak limiter.

Every effect used per block is linear, so rendering the piece block by block and adding the
blocks' (longer-than-the-block) outputs gives the same result as processing it whole.
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
from numpy.typing import NDArray
from scipy import ndimage, signal

from mediastudio.engines.builtin.composer.synth import F64, _noise, lowpass

Stereo = NDArray[np.float32]  # (samples, 2)

TARGET_LUFS = -14.0
CEILING = 0.891  # -1 dBFS: headroom for the inter-sample peaks an MP3 decoder may make


def pan(mono: F64, position: float) -> F64:
    """Constant-power pan of a mono signal to stereo, ``position`` -1 (left) .. 1 (right)."""
    angle = (position + 1.0) * np.pi / 4.0
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


def chorus(mono: F64, first_sample: int, rate: int, depth_s: float = 0.003) -> F64:
    """Two LFO-modulated delay taps (one per side) mixed with the dry signal: a stereo chorus.

    The LFO follows the absolute sample index, so consecutive blocks join seamlessly.
    """
    index = np.arange(len(mono), dtype=np.float64)
    t = (index + first_sample) / rate
    out = np.empty((len(mono), 2))
    for side, phase in enumerate((0.0, np.pi / 2)):
        delay = (0.012 + depth_s * np.sin(2 * np.pi * 0.5 * t + phase)) * rate
        out[:, side] = mono + 0.6 * np.interp(index - delay, index, mono, left=0.0)
    return out * 0.7


def reverb_impulse(seconds: float, rate: int, seed: int) -> F64:
    """A stereo room: decaying noise that darkens as it decays, 12 ms pre-delay, unit energy."""
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros((len(t) + int(0.012 * rate), 2))
    for side in range(2):
        noise = _noise(f"reverb{seed}{side}", len(t))
        dark = lowpass(noise, 1800, rate)
        fade = np.exp(-t / (seconds / 6.9))  # -60 dB at ``seconds``
        out[-len(t) :, side] = (dark + (noise - dark) * np.exp(-t / 0.15)) * fade
    normalised: F64 = out / np.sqrt(np.sum(out**2) / 2)
    return normalised


def add_at(master: Stereo, start: int, stereo: F64) -> None:
    """``master[start:] += stereo``, cut at the end of the piece."""
    end = min(len(master), start + len(stereo))
    if end > start:
        master[start:end] += stereo[: end - start].astype(np.float32)


def add_reverb(master: Stereo, start: int, send: F64, impulse: F64) -> None:
    """Convolve ``send`` with ``impulse`` (made at half the mix's rate: a reverb tail has little
    above 10 kHz, and half the rate is under half the work) and add the wet signal."""
    if not np.any(send):
        return
    half = send[: len(send) // 2 * 2].reshape(-1, 2).mean(axis=1)
    wet = np.stack([signal.oaconvolve(half, impulse[:, c]) for c in range(2)], axis=1)
    up = np.empty((2 * len(wet), 2))
    up[0::2] = wet
    up[1:-1:2] = (wet[:-1] + wet[1:]) / 2
    up[-1] = wet[-1] / 2
    add_at(master, start, up)


def add_delay(
    master: Stereo, start: int, send: F64, delay_samples: int, feedback: float = 0.45, taps: int = 4
) -> None:
    """Ping-pong echoes of ``send`` every ``delay_samples``, each ``feedback`` quieter."""
    if not np.any(send):
        return
    for tap in range(1, taps + 1):
        echo = np.zeros((len(send), 2))
        echo[:, tap % 2] = send * feedback**tap
        add_at(master, start + tap * delay_samples, echo)


def crackle(length: int, rate: int, seed: int, amount: float) -> F64:
    """Vinyl: sparse clicks of random size and a little band-limited hiss (mono)."""
    rng = np.random.default_rng(seed)
    clicks = np.zeros(length)
    count = int(length / rate * 6 * amount)
    clicks[rng.integers(0, length, count)] = rng.uniform(-1, 1, count) ** 3
    hiss = lowpass(_noise(f"hiss{seed}", length), 4000, rate) * 0.02
    return (lowpass(clicks, 6000, rate) * 0.35 + hiss) * amount


def tone_lowpass(master: Stereo, cutoff: float, rate: int, chunk: int = 1 << 18) -> None:
    """Low-pass the whole mix in place, chunk by chunk (filter state carried across chunks)."""
    sos = signal.butter(2, cutoff, fs=rate, output="sos")
    state = np.zeros((sos.shape[0], 2, 2))
    for first in range(0, len(master), chunk):
        part = master[first : first + chunk]
        filtered, state = signal.sosfilt(sos, part, axis=0, zi=state)
        master[first : first + chunk] = filtered


def fade(master: Stereo, rate: int, fade_in_s: float, fade_out_s: float) -> None:
    n_in = min(len(master), int(fade_in_s * rate))
    master[:n_in] *= np.linspace(0.0, 1.0, n_in, dtype=np.float32)[:, None]
    n_out = min(len(master), int(fade_out_s * rate))
    if n_out:
        curve = np.cos(np.linspace(0.0, np.pi / 2, n_out, dtype=np.float32)) ** 2
        master[-n_out:] *= curve[:, None]


def loudness(master: Stereo, rate: int, chunk_steps: int = 200) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4: K-weighting, 400 ms blocks every 100 ms,
    -70 LUFS absolute and -10 LU relative gates); -inf for silence or under 400 ms.

    The same measure as ``pyloudnorm.Meter(rate).integrated_loudness`` (its K-weighting
    coefficients, run as one second-order-section filter), computed chunk by chunk: energies of
    100 ms steps are kept, never a float64 copy of the whole mix (tests compare the two).
    """
    step = round(0.1 * rate)
    count = len(master) // step
    if count < 4:
        return float("-inf")
    sos = _k_weighting(rate)
    state = np.zeros((sos.shape[0], 2, master.shape[1]))
    energy = np.empty(count)
    for first in range(0, count, chunk_steps):
        last = min(count, first + chunk_steps)
        part = master[first * step : last * step].astype(np.float64)
        filtered, state = signal.sosfilt(sos, part, axis=0, zi=state)
        energy[first:last] = np.square(filtered).sum(axis=1).reshape(-1, step).sum(axis=1)
    z = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / (4 * step)
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(z)
    above = z[block_lufs >= -70.0]
    if not len(above):
        return float("-inf")
    relative = -0.691 + 10.0 * np.log10(np.mean(above)) - 10.0
    gated = z[(block_lufs > relative) & (block_lufs >= -70.0)]
    return float(-0.691 + 10.0 * np.log10(np.mean(gated)))


def _k_weighting(rate: int) -> F64:
    """pyloudnorm's K-weighting stages (high shelf, then high pass) as second-order sections."""
    meter = pyloudnorm.Meter(rate)
    stages = [np.concatenate([f.b * f.passband_gain, f.a]) for f in meter._filters.values()]
    return np.array(stages)


def limit(
    master: Stereo,
    rate: int,
    ceiling: float = CEILING,
    ahead_s: float = 0.002,
    ramp_s: float = 0.04,
    chunk: int = 1 << 20,
) -> None:
    """Look-ahead peak limiter, in place, chunk by chunk.

    Each peak's gain is held from ``ahead_s`` before to ``ahead_s`` after it; a moving average
    over the next ``ramp_s`` then eases the gain down before the peak (reaching the peak's gain
    on it) and back up after, so there are no clicks. A final clip at the ceiling catches the
    rounding residue.
    """
    ahead = max(1, int(ahead_s * rate))
    ramp = 2 * max(1, int(ramp_s * rate) // 2)
    margin = 2 * ahead + 2 * ramp
    for first in range(0, len(master), chunk):
        lo, hi = max(0, first - margin), min(len(master), first + chunk + margin)
        gain = _limiter_gain(master[lo:hi], ceiling, ahead, ramp)
        if gain is not None:
            end = min(len(master), first + chunk)
            master[first:end] *= gain[first - lo : end - lo, None]
    np.clip(master, -ceiling, ceiling, out=master)


def _limiter_gain(
    part: Stereo, ceiling: float, ahead: int, ramp: int
) -> NDArray[np.float32] | None:
    need = np.minimum(1.0, ceiling / np.maximum(np.max(np.abs(part), axis=1), 1e-9))
    if float(need.min()) >= 1.0:
        return None
    if len(need) <= 2 * ramp:
        flat: NDArray[np.float32] = ndimage.minimum_filter1d(need.astype(np.float32), len(need))
        return flat
    half = ramp // 2
    centred = ndimage.minimum_filter1d(need.astype(np.float32), size=2 * ahead + ramp + 1)
    held = np.concatenate([np.full(half, centred[0]), centred[: len(need) - half]])
    smooth = ndimage.uniform_filter1d(held, size=ramp + 1, mode="nearest")
    gain: NDArray[np.float32] = np.concatenate([smooth[half:], np.full(half, smooth[-1])])
    return gain


def master_to_target(master: Stereo, rate: int, target: float = TARGET_LUFS) -> float:
    """Gain to ``target`` LUFS, limit the peaks, and make up once for what limiting took;
    returns the final loudness."""
    measured = loudness(master, rate)
    if not np.isfinite(measured):
        return measured
    master *= np.float32(10 ** ((target - measured) / 20))
    limit(master, rate)
    after = loudness(master, rate)
    if np.isfinite(after) and after < target - 0.3:
        master *= np.float32(10 ** ((target - after) / 20))
        limit(master, rate)
        after = loudness(master, rate)
    return after
