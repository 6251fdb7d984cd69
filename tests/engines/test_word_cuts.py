"""Auto-clips cut between words: a scripted transcript's words and the clip ends moved off them."""

from __future__ import annotations

from itertools import pairwise

import pytest

from mediastudio.engines.builtin.video_tools import word_cuts
from mediastudio.engines.builtin.video_tools.autoclip import _between_words
from mediastudio.engines.builtin.video_tools.scoring import Scored, Segment
from mediastudio.engines.media.transcripts import Segment as Spoken
from mediastudio.engines.media.transcripts import Transcript, Word

# "one two three four five": a long pause after "two", a narrow one after "three".
WORDS = (
    Word("one", 0.4, 0.9),
    Word("two", 1.0, 1.8),
    Word("three", 3.0, 3.6),
    Word("four", 3.64, 4.3),
    Word("five", 4.5, 5.5),
    Word("six", 6.0, 9.0),  # longer than twice the tolerance
)
DURATION = 10.0


def inside_a_word(t: float) -> bool:
    return any(w.start - 0.01 < t < w.end + 0.01 for w in WORDS)


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (0.0, 0.0),  # before the first word already
        (0.5, 0.35),  # inside "one": back to the pause before it, off its edge by the margin
        (0.8, 0.95),  # inside "one", nearer its end: into the narrow pause (its middle)
        (1.7, 1.85),  # inside "two": just after it
        (2.4, 2.4),  # in the long pause: stays
        (3.3, 3.62),  # inside "three": the narrow pause after it is nearer than the long one
        (3.62, 3.62),  # the middle of the narrow pause after "three": allowed already
        (3.7, 3.62),  # inside "four", at its start: back to the narrow pause's middle
        (4.0, 4.35),  # inside "four", nearer its end: just after it
        (7.5, 7.5),  # inside "six" but no pause within half a second: kept
        (9.8, 9.8),  # after the last word
    ],
)
def test_a_cut_moves_to_the_nearest_pause_within_the_tolerance(cut: float, expected: float) -> None:
    spans = word_cuts.allowed_spans(WORDS, DURATION)
    assert word_cuts.snap(cut, spans) == pytest.approx(expected)


def test_a_clip_keeps_its_moment_and_its_ends_land_between_words() -> None:
    transcript = Transcript(
        "one two three four five six",
        "en",
        DURATION,
        (Spoken(0.4, 5.5, "one two three four five"), Spoken(6.0, 9.0, "six")),
        words=WORDS,
    )
    for start, end in [(0.5, 4.0), (1.7, 3.3), (0.8, 5.4)]:
        clip = Scored(Segment(start, end), 50.0, {})
        cut = _between_words(clip, transcript, DURATION).segment
        assert not inside_a_word(cut.start_s) and not inside_a_word(cut.end_s), cut
        assert abs(cut.start_s - start) <= word_cuts.TOLERANCE_S
        assert abs(cut.end_s - end) <= word_cuts.TOLERANCE_S
    # Clips that met still meet: both ends move to the same pause.
    first = _between_words(Scored(Segment(0.0, 3.3), 1.0, {}), transcript, DURATION)
    second = _between_words(Scored(Segment(3.3, 5.0), 1.0, {}), transcript, DURATION)
    assert first.segment.end_s == second.segment.start_s == pytest.approx(3.62)


def test_without_words_or_with_estimated_times_the_clip_is_as_chosen() -> None:
    clip = Scored(Segment(0.5, 4.0), 50.0, {})
    segments = (Spoken(0.0, 5.0, "one two"),)
    assert _between_words(clip, None, DURATION) == clip
    assert _between_words(clip, Transcript("one two", "en", 5.0, segments), DURATION) == clip
    estimated = Transcript("a", "en", DURATION, segments, timed=False, words=WORDS)
    assert _between_words(clip, estimated, DURATION) == clip


def test_a_long_segment_is_burnt_as_pieces_cut_where_a_word_starts() -> None:
    from mediastudio.engines.builtin.video_tools.autocaptions import cues_of
    from mediastudio.engines.media.transcripts import MAX_CUE_CHARS

    said = [f"word{n:02d}" for n in range(30)]  # 30 words of 6 letters: 209 characters
    timed = tuple(Word(w, 1 + 0.3 * n, 1 + 0.3 * n + 0.2) for n, w in enumerate(said))
    segment = Spoken(1.0, 10.0, " ".join(said))
    cues = cues_of(Transcript(segment.text, "en", 12.0, (segment,), words=timed))
    assert len(cues) == 3 and all(len(cue.text) <= MAX_CUE_CHARS for cue in cues)
    assert " ".join(cue.text for cue in cues) == segment.text
    assert (cues[0].start, cues[-1].end) == (1.0, 10.0)
    for before, after in pairwise(cues):
        first = said.index(after.text.split()[0])
        assert before.end == after.start == timed[first].start  # shown until the next word
    # Without words (or with words that do not match the text) it stays one cue.
    assert len(cues_of(Transcript(segment.text, "en", 12.0, (segment,)))) == 1
    assert len(cues_of(Transcript(segment.text, "en", 12.0, (segment,), words=timed[1:]))) == 1
