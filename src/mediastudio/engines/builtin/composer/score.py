"""The score: notes in beats, per part, and its export as a Standard MIDI File (mido)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mido

from mediastudio.engines.builtin.composer.style import PartSpec
from mediastudio.engines.builtin.composer.theory import Key
from mediastudio.engines.media.files import atomic_target

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class Note:
    start: float  # beats from the start of the piece
    length: float  # beats
    pitch: int  # MIDI note number (a General MIDI drum note on the drum part)
    velocity: float  # 0..1


@dataclass(frozen=True)
class Section:
    name: str  # intro | a | b | breakdown | outro | end
    first_bar: int
    bars: int


@dataclass
class Score:
    bpm: float
    key: Key
    total_beats: float  # where the audio ends (the requested duration, in beats)
    parts: list[PartSpec]
    sections: list[Section] = field(default_factory=list)
    notes: dict[str, list[Note]] = field(default_factory=dict)  # role → notes

    def add(self, role: str, note: Note) -> None:
        if note.start < self.total_beats and note.length > 0:
            self.notes.setdefault(role, []).append(note)

    def beat_seconds(self) -> float:
        return 60.0 / self.bpm

    def note_count(self) -> int:
        return sum(len(notes) for notes in self.notes.values())


def write_midi(score: Score, path: Path) -> None:
    """A type-1 MIDI file: a tempo track, then one track per part (drums on channel 10)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(score.bpm)))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    if score.key.mode in ("ionian", "aeolian"):
        name = score.key.name.split()[0] + ("m" if score.key.mode == "aeolian" else "")
        conductor.append(mido.MetaMessage("key_signature", key=name))
    conductor.append(mido.MetaMessage("end_of_track", time=_ticks(score.total_beats)))
    midi.tracks.append(conductor)
    channel = 0
    for part in score.parts:
        notes = score.notes.get(part.role, [])
        if not notes:
            continue
        if part.role == "drums":
            midi.tracks.append(_track(part, notes, DRUM_CHANNEL, score.total_beats))
            continue
        midi.tracks.append(_track(part, notes, channel, score.total_beats))
        channel += 1 + (channel + 1 == DRUM_CHANNEL)
    with atomic_target(path) as temporary:
        midi.save(str(temporary))


def _ticks(beats: float) -> int:
    return max(0, round(beats * TICKS_PER_BEAT))


def _track(part: PartSpec, notes: list[Note], channel: int, total_beats: float) -> mido.MidiTrack:
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=f"{part.role}: {part.instrument}"))
    if channel != DRUM_CHANNEL:
        track.append(mido.Message("program_change", program=part.program, channel=channel))
    events: list[tuple[int, int, int, int]] = []  # (tick, order, pitch, velocity); offs first
    end = _ticks(total_beats)
    for note in notes:
        on = _ticks(note.start)
        off = min(end, max(on + 1, _ticks(note.start + note.length)))
        velocity = max(1, min(127, round(note.velocity * 127)))
        events.append((on, 1, note.pitch, velocity))
        events.append((off, 0, note.pitch, 0))
    now = 0
    for tick, order, pitch, velocity in sorted(events):
        kind = "note_on" if order else "note_off"
        track.append(
            mido.Message(kind, note=pitch, velocity=velocity, channel=channel, time=tick - now)
        )
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track
