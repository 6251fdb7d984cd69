"""The score to a stereo mix, a few bars at a time.

For each block of bars, every part's notes that start in it are synthesized (each distinct
note once: a cache keyed by instrument, pitch and held length), summed, given their effects
(chorus, pan) and added into the mix along with their reverb and delay sends. A block's sound
runs past its end (releases, echoes, reverb tails) and is simply added there: all of it is
linear, so the blocks join exactly. The caller's ``tick`` runs after each block (progress,
cancellation). Memory: the stereo mix plus one block's buffers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mediastudio.engines.builtin.composer import mix
from mediastudio.engines.builtin.composer.drums import DRUMS, VARIANTS
from mediastudio.engines.builtin.composer.score import Note, Score
from mediastudio.engines.builtin.composer.style import PartSpec, Style
from mediastudio.engines.builtin.composer.synth import F64, INSTRUMENTS, Wave, midi_hz

RATE = 44_100
BLOCK_BEATS = 16.0
CHORUS_INSTRUMENTS = frozenset({"supersaw", "warm_pad", "strings", "epiano"})
CACHE_BYTES = 192 * 1024 * 1024


class NoteCache:
    """Synthesized notes at full velocity, each made once per render."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.voices: dict[tuple[str, int, int], Wave] = {}
        self.size = 0

    def voice(self, instrument: str, note: Note, beat_s: float) -> Wave:
        if instrument == "drums":
            variant = (note.pitch * 7 + round(note.start * 4)) % VARIANTS
            key = ("drums", note.pitch, variant)
        else:
            # Held lengths on a 10 ms grid: humanized notes still share their voices.
            key = (instrument, note.pitch, 10 * max(1, round(note.length * beat_s * 100)))
        cached = self.voices.get(key)
        if cached is None:
            cached = self._make(instrument, note, key[2])
            if self.size > CACHE_BYTES:
                self.voices.clear()
                self.size = 0
            self.voices[key] = cached
            self.size += cached.nbytes
        return cached

    def _make(self, instrument: str, note: Note, detail: int) -> Wave:
        if instrument == "drums":
            hit = DRUMS.get(note.pitch)
            return hit(detail, self.rate) if hit else np.zeros(1, np.float32)
        return INSTRUMENTS[instrument](midi_hz(note.pitch), detail / 1000.0, self.rate)


def render(
    score: Score, style: Style, seed: int, tick: Callable[[float], None], rate: int = RATE
) -> mix.Stereo:
    """The whole piece, exactly ``score.total_beats`` long, unmastered."""
    beat_s = score.beat_seconds()
    length = max(1, round(score.total_beats * beat_s * rate))
    master: mix.Stereo = np.zeros((length, 2), dtype=np.float32)
    impulse = mix.reverb_impulse(style.reverb_s, rate // 2, seed)
    cache = NoteCache(rate)
    blocks = max(1, int(np.ceil(score.total_beats / BLOCK_BEATS)))
    by_block = _notes_by_block(score, blocks)
    delay_samples = round(0.75 * beat_s * rate)  # a dotted eighth
    for block in range(blocks):
        start = round(block * BLOCK_BEATS * beat_s * rate)
        sends: dict[str, F64] = {}
        for part in score.parts:
            notes = by_block[block].get(part.role, [])
            if notes:
                _render_part(master, part, notes, start, beat_s, cache, sends)
        if "reverb" in sends:
            mix.add_reverb(master, start, sends["reverb"], impulse)
        if "delay" in sends:
            mix.add_delay(master, start, sends["delay"], delay_samples)
        if style.crackle:
            block_len = round(BLOCK_BEATS * beat_s * rate)
            noise = mix.crackle(block_len, rate, seed + block, style.crackle)
            mix.add_at(master, start, mix.pan(noise, 0.0))
        tick((block + 1) / blocks)
    if style.lowpass_hz:
        mix.tone_lowpass(master, style.lowpass_hz, rate)
    return master


def _notes_by_block(score: Score, blocks: int) -> list[dict[str, list[Note]]]:
    grouped: list[dict[str, list[Note]]] = [{} for _ in range(blocks)]
    for role, notes in score.notes.items():
        for note in notes:
            index = min(blocks - 1, int(note.start // BLOCK_BEATS))
            grouped[index].setdefault(role, []).append(note)
    return grouped


def _render_part(
    master: mix.Stereo,
    part: PartSpec,
    notes: list[Note],
    start: int,
    beat_s: float,
    cache: NoteCache,
    sends: dict[str, F64],
) -> None:
    rate = cache.rate
    voices = [
        (
            round(n.start * beat_s * rate) - start,
            n.velocity,
            cache.voice(part.instrument, n, beat_s),
        )
        for n in notes
    ]
    buffer = np.zeros(max(offset + len(v) for offset, _, v in voices))
    for offset, velocity, voice in voices:
        buffer[offset : offset + len(voice)] += voice * (velocity * part.gain)
    if part.instrument in CHORUS_INSTRUMENTS:
        stereo = mix.chorus(buffer, start, rate)
        if part.pan:
            stereo = stereo * np.array([1.0 - max(0.0, part.pan), 1.0 + min(0.0, part.pan)])
    else:
        stereo = mix.pan(buffer, part.pan) * np.sqrt(2.0)
    mix.add_at(master, start, stereo)
    for name, amount in (("reverb", part.reverb), ("delay", part.delay)):
        if amount:
            _accumulate(sends, name, buffer * amount)


def _accumulate(sends: dict[str, F64], name: str, signal: F64) -> None:
    current = sends.get(name)
    if current is None:
        sends[name] = signal
    elif len(current) >= len(signal):
        current[: len(signal)] += signal
    else:
        signal[: len(current)] += current
        sends[name] = signal
