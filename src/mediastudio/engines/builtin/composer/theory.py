"""Music theory the composer needs: keys in seven modes, diatonic chords, voice leading.

Pitches are MIDI note numbers (60 = middle C); a scale degree is counted from 0 (the tonic) and
may run past 6 into the next octave.
"""

from __future__ import annotations

from dataclasses import dataclass

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Semitone steps of each mode from its tonic.
MODES: dict[str, tuple[int, ...]] = {
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
}
MODE_NAMES = {"ionian": "major", "aeolian": "minor"}


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C) and a mode."""

    tonic: int
    mode: str

    @property
    def steps(self) -> tuple[int, ...]:
        return MODES[self.mode]

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {MODE_NAMES.get(self.mode, self.mode)}"

    @property
    def is_minor(self) -> bool:
        return self.steps[2] == 3

    def pitch(self, degree: int, octave: int = 4) -> int:
        """The MIDI pitch of scale ``degree`` with the tonic in ``octave`` (C4 = 60)."""
        octaves, index = divmod(degree, 7)
        return 12 * (octave + 1 + octaves) + self.tonic + self.steps[index]

    def contains(self, pitch: int) -> bool:
        return (pitch - self.tonic) % 12 in self.steps

    def degree_of(self, pitch: int, octave: int = 4) -> int:
        """The scale degree nearest ``pitch`` (an inverse of :meth:`pitch`)."""
        base = 12 * (octave + 1) + self.tonic
        octaves, rest = divmod(pitch - base, 12)
        index = min(range(7), key=lambda i: abs(self.steps[i] - rest))
        return 7 * octaves + index


@dataclass(frozen=True)
class Chord:
    """A chord as pitch classes above a root, plus the scale degree it was built on."""

    degree: int
    root: int  # pitch class
    intervals: tuple[int, ...]  # semitones above the root, root first

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)


def diatonic_chord(key: Key, degree: int, size: int = 3, dominant: bool = False) -> Chord:
    """The chord stacked in thirds on ``degree`` (``size`` 3 = triad, 4 = seventh chord).

    ``dominant`` forces a major third (and a minor seventh): the raised leading tone that makes
    V-I a real cadence in minor modes.
    """
    root = key.pitch(degree, 0)
    intervals = [key.pitch(degree + 2 * i, 0) - root for i in range(size)]
    if dominant:
        intervals[1] = 4
        if size > 3:
            intervals[3] = 10
    return Chord(degree % 7, root % 12, tuple(intervals))


def voicing_candidates(chord: Chord, low: int, high: int) -> list[tuple[int, ...]]:
    """Close-position voicings of ``chord`` (every inversion) that fit in ``low..high``."""
    found = []
    count = len(chord.intervals)
    for base in range(low, high + 1):
        if base % 12 not in chord.pitch_classes:
            continue
        start = chord.pitch_classes.index(base % 12)
        notes = [base]
        for step in range(1, count):
            pitch_class = chord.pitch_classes[(start + step) % count]
            nxt = notes[-1] + 1
            while nxt % 12 != pitch_class:
                nxt += 1
            notes.append(nxt)
        if notes[-1] <= high:
            found.append(tuple(notes))
    return found


def lead_voices(
    chord: Chord, previous: tuple[int, ...] | None, low: int, high: int
) -> tuple[int, ...]:
    """The voicing of ``chord`` that moves least from ``previous`` (smooth voice leading)."""
    candidates = voicing_candidates(chord, low, high) or voicing_candidates(chord, low, high + 12)
    if previous is None:
        middle = (low + high) / 2
        return min(candidates, key=lambda v: abs(sum(v) / len(v) - middle))
    return min(candidates, key=lambda v: _distance(v, previous))


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    return sum(min(abs(x - y) for y in b) for x in a) + abs(sum(a) / len(a) - sum(b) / len(b))


def nearest_in(pitch: float, pitch_classes: tuple[int, ...]) -> int:
    """The pitch nearest ``pitch`` whose class is in ``pitch_classes``."""
    base = round(pitch)
    for offset in (0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, 6):
        if (base + offset) % 12 in pitch_classes:
            return base + offset
    return base
