"""Captions from a transcript: the JSON file read back, cues cleaned, a clip's own cues."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediastudio.engines.builtin.video_tools import autocaptions
from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.media import transcripts
from mediastudio.engines.media.captions import Cue
from mediastudio.engines.media.transcripts import Segment, Transcript


def test_a_json_transcript_reads_back_as_written(tmp_path: Path) -> None:
    written = Transcript("Hi. There.", "en", 3.0, (Segment(0, 1, "Hi."), Segment(1.5, 3, "There.")))
    path = tmp_path / "t.json"
    path.write_text(transcripts.render(written, "json"))
    assert transcripts.read_json(path) == written
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a transcript"):
        transcripts.read_json(path)


def test_cues_leave_out_empty_and_zero_length_segments() -> None:
    segments = (Segment(0, 1, " "), Segment(2, 2, "x"), Segment(1, 2, "Yes."))
    assert autocaptions.cues_of(Transcript("", None, 3, segments)) == [Cue(1, 2, "Yes.")]
    with pytest.raises(InvalidInput, match="No speech"):
        autocaptions.cues_of(Transcript("", None, 3, (Segment(0, 1, ""),)))


def test_a_clip_gets_its_own_cues_cut_to_it_and_timed_from_its_start() -> None:
    cues = [Cue(0.5, 1.5, "a"), Cue(2.5, 3.2, "b"), Cue(5, 6, "c")]
    assert autocaptions.within(cues, 1.0, 3.0) == [Cue(0, 0.5, "a"), Cue(1.5, 2.0, "b")]
    assert autocaptions.within(cues, 3.5, 4.5) == []


def test_the_step_input_carries_the_language_only_when_given() -> None:
    use = autocaptions.step_use("https://e.com/v.mp4", None)
    assert (use.type, use.field) == ("transcription", "transcription_model")
    assert dict(use.input) == {"audio_url": "https://e.com/v.mp4", "output_formats": ["json"]}
    assert autocaptions.step_use("v", "de").input["language"] == "de"
