"""Audio for compositions: a music bed ducked under a voice, mixed, loudness-normalised, limited.

All functions take and return float32 samples at one rate, ``(n,)`` mono or ``(n, 2)`` stereo.

Ducking is a side-chain compressor reduced to what a voice-over needs: the voice's short-term RMS
(20 ms windows every 10 ms) opens a gate with a soft 6 dB knee above a threshold relative to the
voice's loudest window; the gate's target gain (``depth_db`` while speech is on) is smoothed with
a fast attack and a slow release and applied a little early (look-ahead), so the music dips just
before the first syllable and swells back after the last, without pumping between words.
"""

from __future__ import annotations

import math

import numpy as np

from mediastudio.engines.media.audio import Samples, as_channels

DUCK_DEPTH_DB = -12.0
HOP_S = 0.01
WINDOW_S = 0.02
ATTACK_S = 0.06
RELEASE_S = 0.35
LOOKAHEAD_S = 0.05
KNEE_DB = 6.0
RELATIVE_THRESHOLD_DB = -30.0  # below the voice's loudest window
ABSOLUTE_THRESHOLD_DB = -55.0  # dBFS: quieter than this is never speech
BED_BELOW_VOICE_DB = 8.0  # the music's loudness under the voice's, before ducking
PEAK_CEILING = 0.89  # -1 dBFS
LIMITER_WINDOW_S = 0.005
_SILENCE = 1e-10


def fit_length(samples: Samples, count: int) -> Samples:
    """Cut or pad with silence to exactly ``count`` samples."""
    if len(samples) >= count:
        return samples[:count]
    pad = np.zeros((count - len(samples), *samples.shape[1:]), dtype=np.float32)
    return np.concatenate([samples, pad])


def fade(
    samples: Samples, rate: int, *, fade_in_s: float = 0.0, fade_out_s: float = 0.0
) -> Samples:
    """Linear fades at the ends (a copy)."""
    out = np.array(samples, dtype=np.float32)
    for seconds, at_end in ((fade_in_s, False), (fade_out_s, True)):
        count = min(len(out), int(seconds * rate))
        if count <= 0:
            continue
        ramp = np.linspace(0.0, 1.0, count, dtype=np.float32)
        ramp = ramp[::-1] if at_end else ramp
        shaped = ramp if out.ndim == 1 else ramp[:, None]
        if at_end:
            out[-count:] *= shaped
        else:
            out[:count] *= shaped
    return out


def voice_activity_db(voice: Samples, rate: int) -> tuple[np.ndarray, float]:
    """The voice's RMS level in dBFS per hop, and the gate threshold derived from it."""
    from scipy.ndimage import uniform_filter1d  # imported when mixing, see loudness()

    mono = as_channels(voice).mean(axis=1)
    hop = max(1, int(HOP_S * rate))
    frames = max(1, math.ceil(len(mono) / hop))
    power = uniform_filter1d(
        fit_length(mono, frames * hop).astype(np.float64) ** 2,
        size=max(1, int(WINDOW_S * rate)),
        mode="constant",
    )
    level = 10 * np.log10(power[hop // 2 :: hop][:frames] + _SILENCE)
    threshold = max(ABSOLUTE_THRESHOLD_DB, float(level.max()) + RELATIVE_THRESHOLD_DB)
    return level, threshold


def duck_gain(voice: Samples, rate: int, count: int, *, depth_db: float = DUCK_DEPTH_DB) -> Samples:
    """The gain (linear, per sample, ``count`` long) to apply to music under ``voice``."""
    level, threshold = voice_activity_db(voice, rate)
    amount = np.clip((level - threshold) / KNEE_DB, 0.0, 1.0)
    target = depth_db * amount  # dB, per hop
    ahead = max(1, round(LOOKAHEAD_S / HOP_S))
    # Look-ahead: each hop already takes the deepest target of the next few.
    padded = np.concatenate([target, np.zeros(ahead)])
    target = np.lib.stride_tricks.sliding_window_view(padded, ahead + 1).min(axis=1)
    attack = math.exp(-HOP_S / ATTACK_S)
    release = math.exp(-HOP_S / RELEASE_S)
    smoothed = np.empty_like(target)
    current = 0.0
    for index, wanted in enumerate(target):
        coefficient = attack if wanted < current else release
        current = wanted + (current - wanted) * coefficient
        smoothed[index] = current
    hop_times = (np.arange(len(smoothed)) + 0.5) * HOP_S
    sample_times = np.arange(count) / rate
    gain_db = np.interp(sample_times, hop_times, smoothed)
    gain: Samples = (10.0 ** (gain_db / 20.0)).astype(np.float32)
    return gain


def duck(music: Samples, voice: Samples, rate: int, *, depth_db: float = DUCK_DEPTH_DB) -> Samples:
    """``music`` with its gain lowered by up to ``depth_db`` wherever ``voice`` speaks."""
    gain = duck_gain(voice, rate, len(music), depth_db=depth_db)
    return (music * (gain if music.ndim == 1 else gain[:, None])).astype(np.float32)


def loudness(samples: Samples, rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770, LUFS); ``-inf`` for silence or under 0.4 s."""
    # Imported on first use: pyloudnorm brings scipy.signal (~1 s of CPU), and this module is
    # imported with the API (the compositions' request models), by every process that serves.
    import pyloudnorm

    if len(samples) < int(0.4 * rate) or float(np.max(np.abs(samples))) < 1e-6:
        return -math.inf
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def gain_to(samples: Samples, rate: int, target_lufs: float) -> Samples:
    """Scale to ``target_lufs``; silence stays silence."""
    measured = loudness(samples, rate)
    if not math.isfinite(measured):
        return samples
    scaled: Samples = (samples * 10.0 ** ((target_lufs - measured) / 20.0)).astype(np.float32)
    return scaled


def limit(samples: Samples, rate: int, ceiling: float = PEAK_CEILING) -> Samples:
    """A look-ahead peak limiter: no sample exceeds ``ceiling``, and gain changes are smoothed
    over :data:`LIMITER_WINDOW_S` instead of clipping.

    Each sample's gain is the average, over a window, of the minimum needed gain over the same
    window around it; every term of that average is at most the gain the sample itself needs.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    peak = np.abs(as_channels(samples)).max(axis=1)
    needed = np.minimum(1.0, ceiling / np.maximum(peak, _SILENCE))
    if float(needed.min()) >= 1.0:
        return samples
    width = max(1, int(LIMITER_WINDOW_S * rate)) | 1
    gain = uniform_filter1d(minimum_filter1d(needed, size=width), size=width)
    out = samples * (gain if samples.ndim == 1 else gain[:, None])
    limited: Samples = np.clip(out, -ceiling, ceiling).astype(np.float32)
    return limited


def voice_over_mix(
    voice: Samples,
    music: Samples,
    rate: int,
    *,
    target_lufs: float,
    depth_db: float = DUCK_DEPTH_DB,
    bed_below_voice_db: float = BED_BELOW_VOICE_DB,
) -> Samples:
    """Voice over a ducked music bed, at ``target_lufs`` with peaks under -1 dBFS.

    Both inputs are cut or padded to the music's length; the result is stereo when the music is.
    """
    voice = fit_length(as_channels(voice).mean(axis=1), len(music))
    voice_lufs = loudness(voice, rate)
    bed_lufs = (voice_lufs if math.isfinite(voice_lufs) else target_lufs) - bed_below_voice_db
    bed = duck(gain_to(music, rate, bed_lufs), voice, rate, depth_db=depth_db)
    mixed = bed + (voice if bed.ndim == 1 else voice[:, None])
    return limit(gain_to(mixed.astype(np.float32), rate, target_lufs), rate)
