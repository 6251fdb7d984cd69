"""From a style, a key, a tempo and a seed to a score: chords, bass, melody, drums per section.

Harmony: each section cycles a four-chord progression (A sections one, B sections another), the
bar before the final chord is a cadence (V with a raised third, a plagal IV in ambient, bII in
phrygian) and the piece ends on the tonic. Chords are voiced with the least motion from the one
before. Melodies are built from two-bar motifs: a motif is a seeded walk over the scale whose
strong beats snap to chord tones, so replaying its seed over other chords gives a varied repeat
(bars 1-2 motif, 3-4 its variation, 5-6 the motif again, 7-8 an answer that resolves). A sections
come back with the same melody.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from mediastudio.engines.builtin.composer import form
from mediastudio.engines.builtin.composer.score import Note, Score, Section
from mediastudio.engines.builtin.composer.style import (
    CRASH,
    KICK,
    MAJOR_PROGRESSIONS,
    MINOR_PROGRESSIONS,
    MODAL_PROGRESSIONS,
    RIDE,
    SNARE,
    PartSpec,
    Rhythm,
    Style,
)
from mediastudio.engines.builtin.composer.theory import (
    Chord,
    Key,
    diatonic_chord,
    lead_voices,
    nearest_in,
)

STEP = 0.25  # beats per 16th
ENERGY = {"intro": 0.65, "a": 0.85, "b": 1.0, "breakdown": 0.7, "outro": 0.75}


@dataclass(frozen=True)
class Brief:
    """Everything the composer decided from a request."""

    style: Style
    key: Key
    bpm: float
    duration_s: float
    seed: int
    mood: str


def compose(brief: Brief) -> Score:
    return Arranger(brief).arrange()


class Arranger:
    def __init__(self, brief: Brief) -> None:
        self.brief = brief
        self.style = brief.style
        self.key = brief.key
        self.rng = np.random.default_rng(brief.seed)
        self.feel = np.random.default_rng(brief.seed ^ 0x5EED)  # humanizing, kept apart
        total_beats = brief.duration_s * brief.bpm / 60.0
        self.bars = form.body_bars(brief.duration_s, brief.bpm)
        self.score = Score(brief.bpm, brief.key, total_beats, list(self.style.parts))
        self.score.sections = form.plan_sections(self.bars)
        self.progressions = self._pick_progressions()
        self.chords = self._bar_chords()
        self.motif_seeds = {name: int(self.rng.integers(2**31)) for name in ("a", "b", "answer")}
        self.rhythms = {
            name: int(self.rng.integers(max(1, len(self.style.melody)))) for name in ("a", "b")
        }

    # Harmony --------------------------------------------------------------------------------

    def _pick_progressions(self) -> dict[str, tuple[int, ...]]:
        options = (
            self.style.progressions
            or MODAL_PROGRESSIONS.get(self.key.mode)
            or (MINOR_PROGRESSIONS if self.key.is_minor else MAJOR_PROGRESSIONS)
        )
        first = int(self.rng.integers(len(options)))
        second = (first + 1 + int(self.rng.integers(max(1, len(options) - 1)))) % len(options)
        return {"a": options[first], "b": options[second]}

    def _bar_chords(self) -> list[Chord]:
        size = self.style.chord_size
        chords: list[Chord] = []
        for section in self.score.sections:
            progression = self.progressions["b" if section.name == "b" else "a"]
            for bar in range(section.bars):
                degree = progression[(bar // self.style.bars_per_chord) % len(progression)]
                chords.append(diatonic_chord(self.key, degree, size))
        if chords:
            chords[-1] = self._cadence(size)
        return chords

    def _cadence(self, size: int) -> Chord:
        if self.style.name == "ambient":
            return diatonic_chord(self.key, 3, size)
        if self.key.mode == "phrygian":
            return diatonic_chord(self.key, 1, size)
        return diatonic_chord(self.key, 4, size, dominant=True)

    def tonic(self) -> Chord:
        return diatonic_chord(self.key, 0, self.style.chord_size)

    # Placement --------------------------------------------------------------------------------

    def add(
        self,
        part: PartSpec,
        start: float,
        length: float,
        pitch: int,
        velocity: float,
        humanize: bool = True,
    ) -> None:
        """Add a note at ``start`` beats (straight time): swing and humanizing applied here."""
        begin, end = self._swing(start), self._swing(start + length)
        if humanize and self.style.humanize_s and begin > 0:
            jitter = self.feel.normal(0.0, self.style.humanize_s) * self.brief.bpm / 60.0
            shift = max(-begin, float(np.clip(jitter, -0.05, 0.05)))
            begin, end = begin + shift, end + shift
            velocity *= float(1.0 + self.feel.uniform(-0.08, 0.08))
        self.score.add(
            part.role,
            Note(begin, max(0.05, end - begin), pitch, float(np.clip(velocity, 0.05, 1.0))),
        )

    def _swing(self, beats: float) -> float:
        swing = self.style.swing
        whole, fraction = divmod(beats, 1.0)
        if swing == 0.5:
            return beats
        if fraction < 0.5:
            return whole + fraction * swing / 0.5
        return whole + swing + (fraction - 0.5) * (1.0 - swing) / 0.5

    # The piece --------------------------------------------------------------------------------

    def arrange(self) -> Score:
        for section in self.score.sections:
            self._section(section)
        self._ending()
        return self.score

    def _section(self, section: Section) -> None:
        energy = ENERGY[section.name]
        for part in self.style.parts:
            if part.role == "chords":
                self._comp(part, section, energy)
            elif part.role == "bass" and section.name not in ("intro", "breakdown"):
                self._bass(part, section, energy)
            elif part.role == "drums" and section.name != "breakdown":
                self._drums(part, section, energy)
            elif part.role == "timpani" and section.name in ("b", "outro"):
                self._timpani(part, section)
        melody_part = self._melody_part(section.name)
        if melody_part is not None:
            self._melody(melody_part, section, energy)

    def _melody_part(self, name: str) -> PartSpec | None:
        if name in ("a", "breakdown"):
            return self.style.part("lead")
        if name == "b":
            return self.style.part("lead_b") or self.style.part("lead")
        return None

    # Chords -----------------------------------------------------------------------------------

    def _comp(self, part: PartSpec, section: Section, energy: float) -> None:
        comps = self.style.comp
        rhythm = comps[-1] if section.name == "b" else comps[0]
        sustained = rhythm == ((0, 16),)
        low, high = (38, 52) if part.instrument == "power_guitar" else (50, 72)
        previous: tuple[int, ...] | None = None
        bar = section.first_bar
        while bar < section.first_bar + section.bars:
            span = self._span(bar, section) if sustained else 1
            chord = self.chords[bar]
            voicing = self._voice(part, chord, previous, low, high)
            previous = voicing
            for start, length in rhythm:
                hit = bar * 4 + start * STEP
                held = span * 4 if sustained else length * STEP * 0.92
                accent = 1.0 if start % 8 == 0 else 0.85
                for pitch in voicing:
                    self.add(part, hit, held, pitch, 0.55 * energy * accent)
            bar += span

    def _span(self, bar: int, section: Section) -> int:
        """Bars the chord at ``bar`` lasts within its section."""
        end = section.first_bar + section.bars
        span = 1
        while bar + span < end and span < self.style.bars_per_chord:
            span += 1
        return span

    def _voice(
        self, part: PartSpec, chord: Chord, previous: tuple[int, ...] | None, low: int, high: int
    ) -> tuple[int, ...]:
        if part.instrument == "power_guitar":
            root = low + (chord.root - low) % 12
            return (root, root + 7, root + 12)
        return lead_voices(chord, previous, low, high)

    # Bass -------------------------------------------------------------------------------------

    def _bass(self, part: PartSpec, section: Section, energy: float) -> None:
        for bar in range(section.first_bar, section.first_bar + section.bars):
            chord = self.chords[bar]
            following = self.chords[bar + 1] if bar + 1 < len(self.chords) else self.tonic()
            root = self._low(chord.root, part.octave)
            fifth = root + 7
            pattern = self._bass_pattern(self.style.bass, bar, section, chord, following, root)
            for step, length, pitch in pattern:
                velocity = 0.8 if step % 4 == 0 else 0.65
                self.add(
                    part,
                    bar * 4 + step * STEP,
                    length * STEP,
                    pitch if pitch else fifth,
                    velocity * energy,
                )

    def _bass_pattern(
        self, kind: str, bar: int, section: Section, chord: Chord, following: Chord, root: int
    ) -> list[tuple[int, int, int]]:
        """(16th step, length in steps, pitch) of one bar; pitch 0 means the fifth."""
        if kind == "drone":
            if (bar - section.first_bar) % self.style.bars_per_chord:
                return []
            return [(0, 16 * self._span(bar, section), root)]
        if kind == "offbeat":
            return [(s, 2, root) for s in (2, 6, 10, 14)]
        if kind == "eighths":
            return [(s, 2, root if s < 12 else (root if s == 12 else 0)) for s in range(0, 16, 2)]
        if kind == "halves":
            return [(0, 8, root), (8, 8, 0)]
        if kind == "lofi":
            return [(0, 6, root), (7, 2, root), (10, 5, 0)]
        if kind == "walking":
            return self._walk(chord, following, root)
        return [(0, 16, root)]

    def _walk(self, chord: Chord, following: Chord, root: int) -> list[tuple[int, int, int]]:
        """Root, two chord or scale tones, then a chromatic approach to the next root."""
        third = nearest_in(root + 3.5, chord.pitch_classes)
        fifth = nearest_in(root + 7, chord.pitch_classes)
        target = self._low(following.root, 2)
        approach = target + (1 if self.rng.random() < 0.5 else -1)
        middle = [third, fifth] if self.rng.random() < 0.6 else [fifth, third]
        return [(0, 4, root), (4, 4, middle[0]), (8, 4, middle[1]), (12, 4, approach)]

    def _low(self, pitch_class: int, octave: int) -> int:
        base = 12 * (octave + 1) + 4  # E of that octave: the bass range starts there
        return base + (pitch_class - base) % 12

    # Melody -----------------------------------------------------------------------------------

    def _melody(self, part: PartSpec, section: Section, energy: float) -> None:
        if not self.style.melody:
            return
        label = "b" if section.name == "b" else "a"
        rhythm = self.style.melody[self.rhythms[label]]
        lift = 2 if label == "b" and part.role == "lead" else 0
        phrases = (section.bars + 1) // 2
        for index in range(phrases):
            first = section.first_bar + 2 * index
            chords = self.chords[first : min(first + 2, section.first_bar + section.bars)]
            last = index == phrases - 1
            seed = self.motif_seeds["answer" if last and index else label]
            notes = motif(seed, self.key, chords, rhythm, part.octave, lift, resolve=last)
            for step, length, pitch in notes:
                held = length * STEP * (0.95 if length >= 4 else 0.8)
                accent = 1.0 if step % 8 == 0 else 0.85
                self.add(part, first * 4 + step * STEP, held, pitch, 0.75 * energy * accent)

    # Drums ------------------------------------------------------------------------------------

    def _drums(self, part: PartSpec, section: Section, energy: float) -> None:
        patterns = self.style.drums
        if not patterns:
            return
        for offset in range(section.bars):
            bar = section.first_bar + offset
            light = section.name in ("intro", "outro")
            if section.name == "intro" and offset < section.bars // 2:
                continue
            lanes = dict(patterns["light" if light else "main"])
            last = offset == section.bars - 1 and section.bars >= 4 and not light
            if last and self.style.name != "jazz":
                lanes[SNARE] = lanes.get(SNARE, "." * 16)[:12] + "oxox"  # a fill into the next
            for pitch, lane in lanes.items():
                for step, mark in enumerate(lane):
                    if mark != ".":
                        velocity = (0.95 if mark == "x" else 0.55) * energy
                        self.add(part, bar * 4 + step * STEP, STEP, pitch, velocity)
            if offset == 0 and section.name == "b" and CRASH_STYLES.get(self.style.name):
                self.add(part, bar * 4, 4.0, CRASH, 0.8)

    def _timpani(self, part: PartSpec, section: Section) -> None:
        for offset in range(section.bars):
            bar = section.first_bar + offset
            root = self._low(self.chords[bar].root, part.octave) - 12 * (self.chords[bar].root > 7)
            self.add(part, bar * 4, 1.0, root, 0.8 if offset % 2 == 0 else 0.55)

    # Ending -----------------------------------------------------------------------------------

    def _ending(self) -> None:
        start = self.bars * 4.0
        length = self.score.total_beats - start
        tonic = self.tonic()
        for part in self.style.parts:
            if part.role == "chords":
                low, high = (38, 52) if part.instrument == "power_guitar" else (50, 72)
                for pitch in self._voice(part, tonic, None, low, high):
                    self.add(part, start, length, pitch, 0.6, humanize=False)
            elif part.role in ("bass", "timpani"):
                self.add(part, start, length, self._low(tonic.root, part.octave), 0.8, False)
            elif part.role == "lead" and self.bars:
                self.add(part, start, length, self.key.pitch(0, part.octave), 0.6, False)
            elif part.role == "drums":
                self.add(part, start, 1.0, KICK, 0.9, False)
                self.add(part, start, 4.0, RIDE if self.style.name == "jazz" else CRASH, 0.8, False)


CRASH_STYLES = {"electronic": True, "rock": True}


def motif(
    seed: int,
    key: Key,
    chords: list[Chord],
    rhythm: Rhythm,
    octave: int,
    lift: int,
    *,
    resolve: bool,
) -> list[tuple[int, int, int]]:
    """One phrase: (16th step, length in steps, pitch) over up to two bars of ``chords``.

    The random choices depend only on ``seed``, so the same seed over other chords is a variation
    of the same tune: its strong beats and long notes snap to the new chord's tones.
    """
    rng = np.random.default_rng(seed)
    degree = lift + int(rng.choice([0, 2, 4]))
    out: list[tuple[int, int, int]] = []
    steps = [-3, -2, -1, -1, 0, 1, 1, 2, 3]
    weights = [0.04, 0.14, 0.22, 0.0, 0.08, 0.26, 0.0, 0.16, 0.1]
    usable = [(start, length) for start, length in rhythm if start // 16 < len(chords)]
    for index, (start, length) in enumerate(usable):
        degree += int(rng.choice(steps, p=np.array(weights) / sum(weights)))
        degree = degree - 2 if degree > lift + 8 else degree + 2 if degree < lift - 3 else degree
        pitch = key.pitch(degree, octave)
        chord = chords[start // 16]
        if index == len(usable) - 1 and resolve:
            pitch = nearest_in(pitch, (chord.root,))
        elif start % 8 == 0 or length >= 6:
            pitch = nearest_in(pitch, chord.pitch_classes)
        degree = key.degree_of(pitch, octave)
        out.append((start, length, pitch))
    return out


def seed_from_text(text: str) -> int:
    return zlib.crc32(text.strip().lower().encode()) & 0xFFFFFFFF
