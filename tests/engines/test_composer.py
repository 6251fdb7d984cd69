"""builtin/composer: the music decodes as what was asked for (length, rate, loudness, tempo, no
clipping), is the same for the same seed, comes with a MIDI score, and stops when cancelled."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import av
import mido
import numpy as np
import pyloudnorm
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError
from scipy import signal

from mediastudio.engines.builtin.composer import form, mix
from mediastudio.engines.builtin.composer.engine import MODEL, ComposerEngine, decide, make_music
from mediastudio.engines.builtin.composer.inputs import ComposerInput
from mediastudio.engines.builtin.composer.style import GENRES
from mediastudio.engines.contract import JobCancelled
from mediastudio.runtime.context import JobContext


class NoFetcher:
    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        raise AssertionError("the composer fetches nothing")


class CancelAfterFirstBlock(JobContext):
    def progress(self, fraction: float) -> None:
        super().progress(fraction)
        if fraction > 0:
            self.cancel("cancelled")


def run(tmp_path: Path, context: type[JobContext] = JobContext, **fields: Any) -> JobContext:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ctx = context(
        generation_id="gen_test",
        model=MODEL,
        input=ComposerInput(**{"prompt": "a test tune", **fields}),
        sandbox=False,
        workdir=tmp_path,
        fetcher=NoFetcher(),
    )
    ComposerEngine().run(ctx)
    return ctx


def decode(path: Path) -> tuple[NDArray[np.float64], int]:
    """(samples, channels) floats in -1..1 and the sample rate, as a player would get them."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
    planar = np.concatenate(chunks, axis=1) if chunks[0].ndim == 2 else np.concatenate(chunks)
    samples = planar.astype(np.float64)
    if np.issubdtype(planar.dtype, np.integer):
        samples /= np.iinfo(planar.dtype).max
    if samples.shape[0] != 2:  # packed s16 comes interleaved in one row
        samples = samples.reshape(-1, 2).T
    return samples.T, rate


def longest_full_scale_run(samples: NDArray[np.float64]) -> int:
    hot = np.abs(samples).max(axis=1) >= 0.999
    if not hot.any():
        return 0
    edges = np.diff(np.concatenate([[0], hot.astype(int), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def beat_period(samples: NDArray[np.float64], rate: int) -> float:
    """Seconds between beats, from the autocorrelation of an onset-strength envelope (spectral
    flux), searched over 70-200 BPM."""
    mono = samples.mean(axis=1)
    hop = 256
    _, _, spectrum = signal.stft(mono, fs=rate, nperseg=1024, noverlap=1024 - hop)
    magnitude = np.log1p(100 * np.abs(spectrum))
    flux = np.maximum(np.diff(magnitude, axis=1), 0.0).sum(axis=0)
    flux -= flux.mean()
    correlation = np.correlate(flux, flux, mode="full")[len(flux) - 1 :]
    frame_s = hop / rate
    lags = np.arange(round(60 / 200 / frame_s), round(60 / 70 / frame_s) + 1)
    return float(lags[np.argmax(correlation[lags])] * frame_s)


def test_mp3_has_the_requested_length_rate_and_loudness_and_never_clips(tmp_path: Path) -> None:
    ctx = run(tmp_path, genre="rock", duration=6, seed=3)
    audio = ctx.outputs[0]
    assert audio.content_type == "audio/mpeg" and audio.path.suffix == ".mp3"
    samples, rate = decode(audio.path)
    assert rate == 44_100 and samples.shape[1] == 2
    assert abs(len(samples) / rate - 6.0) <= 0.1
    assert audio.duration_s is not None and abs(audio.duration_s - 6.0) <= 0.1
    assert np.abs(samples).max() < 1.0 and longest_full_scale_run(samples) == 0
    assert abs(pyloudnorm.Meter(rate).integrated_loudness(samples) - mix.TARGET_LUFS) < 1.0
    assert audio.extra["genre"] == "rock" and audio.extra["seed"] == 3
    assert ctx.percent == 100


@pytest.mark.parametrize(("genre", "bpm"), [("electronic", 128), ("rock", 100)])
def test_the_beat_comes_at_the_requested_tempo(tmp_path: Path, genre: str, bpm: int) -> None:
    ctx = run(tmp_path, genre=genre, tempo=bpm, duration=12, seed=11, output_format="wav")
    samples, rate = decode(ctx.outputs[0].path)
    assert beat_period(samples, rate) == pytest.approx(60 / bpm, rel=0.03)


def test_same_seed_and_input_give_the_same_samples_and_bytes(tmp_path: Path) -> None:
    request = ComposerInput(prompt="rainy study beats", genre="lo-fi", duration=5, seed=42)
    first, second = make_music(request), make_music(request)
    assert np.array_equal(first.samples, second.samples)
    other = make_music(request.model_copy(update={"seed": 43}))
    assert not np.array_equal(first.samples, other.samples)
    a = run(tmp_path / "a", duration=5, seed=9, output_format="wav", include_midi=False)
    b = run(tmp_path / "b", duration=5, seed=9, output_format="wav", include_midi=False)
    assert a.outputs[0].path.read_bytes() == b.outputs[0].path.read_bytes()


def test_without_a_seed_the_prompt_chooses_one() -> None:
    one = decide(ComposerInput(prompt="neon night drive"))
    assert one.seed == decide(ComposerInput(prompt="neon night drive")).seed
    assert one.seed != decide(ComposerInput(prompt="morning coffee")).seed


def test_midi_score_parses_and_covers_the_piece(tmp_path: Path) -> None:
    ctx = run(tmp_path, genre="jazz", duration=8, seed=5, output_format="wav")
    assert [o.content_type for o in ctx.outputs] == ["audio/wav", "audio/midi"]
    midi = mido.MidiFile(str(ctx.outputs[1].path))
    assert midi.length == pytest.approx(8.0, abs=0.1)
    starts: list[float] = []
    ends: list[float] = []
    channels: set[int] = set()
    now = 0.0
    for message in midi:  # iterating a MidiFile yields messages with times in seconds
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            starts.append(now)
            channels.add(message.channel)
        elif message.type in ("note_off", "note_on"):
            ends.append(now)
    assert len(starts) > 20 and min(starts) < 1.0 and max(starts) > 0.6 * 8.0
    assert max(ends) == pytest.approx(8.0, abs=0.1)  # the final chord rings to the end
    assert 9 in channels and len(channels) >= 3  # drums plus pitched parts


def test_midi_can_be_left_out(tmp_path: Path) -> None:
    ctx = run(tmp_path, duration=5, seed=1, include_midi=False)
    assert [o.content_type for o in ctx.outputs] == ["audio/mpeg"]


def test_cancellation_stops_the_render_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(JobCancelled):
        run(tmp_path, CancelAfterFirstBlock, genre="ambient", duration=120, seed=1)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("genre", GENRES)
def test_every_genre_is_tonal_loud_enough_and_under_the_ceiling(genre: str) -> None:
    piece = make_music(ComposerInput(prompt="x", genre=genre, duration=5, seed=2))  # type: ignore[arg-type]
    assert piece.samples.shape == (5 * 44_100, 2) and np.isfinite(piece.samples).all()
    assert np.abs(piece.samples).max() <= mix.CEILING + 1e-6
    assert piece.lufs == pytest.approx(mix.TARGET_LUFS, abs=0.6)
    assert piece.score.notes["chords"] and piece.score.notes["bass"]
    roles = ("chords",) if genre == "jazz" else ("chords", "bass")  # walking bass approaches
    pitched = [n.pitch % 12 for role in roles for n in piece.score.notes[role]]
    assert all(
        piece.brief.key.contains(p) or p == (piece.brief.key.tonic + 11) % 12 for p in pitched
    )  # diatonic, bar the raised leading tone of a cadence


def test_genres_are_checked_and_aliases_accepted() -> None:
    with pytest.raises(ValidationError, match="unknown genre"):
        ComposerInput(prompt="x", genre="polka")  # type: ignore[arg-type]
    assert ComposerInput(prompt="x", genre="EDM").genre == "electronic"  # type: ignore[arg-type]
    assert ComposerInput(prompt="x", genre="Lo Fi").genre == "lo-fi"  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ComposerInput(prompt="x", duration=301)


@pytest.mark.parametrize(
    ("prompt", "genre"),
    [
        ("a calm ambient drone for sleep", "ambient"),
        ("epic cinematic trailer with strings", "orchestral"),
        ("chill study beats on a rainy day", "lo-fi"),
        ("a smoky saxophone lounge", "jazz"),
        ("loud guitar riff", "rock"),
        ("something nice", "electronic"),
    ],
)
def test_genre_is_read_from_the_prompt_when_absent(prompt: str, genre: str) -> None:
    assert decide(ComposerInput(prompt=prompt)).style.name == genre


def test_mood_words_choose_the_mode() -> None:
    assert decide(ComposerInput(prompt="x", mood="sad")).key.mode == "aeolian"
    assert decide(ComposerInput(prompt="x", mood="happy")).key.mode == "ionian"
    assert decide(ComposerInput(prompt="a dark and ominous night")).key.mode == "phrygian"


def test_long_pieces_have_intro_sections_breakdown_and_outro() -> None:
    bars = form.body_bars(300, 120)
    assert bars == 149
    sections = form.plan_sections(bars)
    names = [s.name for s in sections]
    assert names[0] == "intro" and names[-1] == "outro" and "breakdown" in names
    assert {"a", "b"} <= set(names)
    assert sum(s.bars for s in sections) == bars
    assert all(s.first_bar == p.first_bar + p.bars for p, s in itertools.pairwise(sections))


def test_loudness_is_pyloudnorms_measure() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((44_100 * 3, 2)).astype(np.float32) * 0.05
    noise[:44_100] *= 0.01
    assert mix.loudness(noise, 44_100) == pytest.approx(
        pyloudnorm.Meter(44_100).integrated_loudness(noise), abs=0.01
    )


def test_limiter_holds_the_ceiling_and_leaves_quiet_parts_alone() -> None:
    quiet = np.full((44_100, 2), 0.2, dtype=np.float32)
    quiet[22_050:22_060] = 1.8
    mix.limit(quiet, 44_100)
    assert np.abs(quiet).max() <= mix.CEILING
    assert np.allclose(quiet[:10_000], 0.2) and np.allclose(quiet[-10_000:], 0.2)
