"""Transcript files: SRT and WebVTT written here parse back to the same cues (with the parser
that /videos/subtitles uses), and text without times is spread over the audio by length."""

from __future__ import annotations

import json

from mediastudio.engines.media.captions import parse_srt, parse_vtt
from mediastudio.engines.media.transcripts import (
    MAX_CUE_CHARS,
    Segment,
    Transcript,
    placeholder,
    render,
    spread,
)

TALK = Transcript(
    "Hello there. Café time!",
    "en",
    3725.5,
    (Segment(0.0, 1.25, "Hello there."), Segment(3600.5, 3725.5, "Café time!")),
)


def test_srt_and_vtt_parse_back_to_the_segments() -> None:
    for cues in (parse_srt(render(TALK, "srt")), parse_vtt(render(TALK, "vtt"))):
        assert [(c.start, c.end, c.text) for c in cues] == [
            (0.0, 1.25, "Hello there."),
            (3600.5, 3725.5, "Café time!"),
        ]
    assert "01:00:00,500 --> 01:02:05,500" in render(TALK, "srt")
    assert render(TALK, "vtt").startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.250\n")


def test_json_has_the_segments_and_says_how_they_were_timed() -> None:
    found = json.loads(render(TALK, "json"))
    assert found["text"] == TALK.text and found["timestamps"] == "model"
    assert [s["id"] for s in found["segments"]] == [0, 1]


def test_text_without_times_is_spread_by_sentence_length() -> None:
    found = spread("Aaaa bbbb. Cccc dddd eeee ffff!", 6.0, None)  # 10 and 20 characters
    assert found.timed is False
    assert [(s.start, s.end, s.text) for s in found.segments] == [
        (0.0, 2.0, "Aaaa bbbb."),
        (2.0, 6.0, "Cccc dddd eeee ffff!"),
    ]
    long = spread("word " * 60, 10.0, "en")
    assert len(long.segments) > 1 and all(len(s.text) <= MAX_CUE_CHARS for s in long.segments)
    assert long.segments[-1].end == 10.0


def test_the_sandbox_placeholder_covers_the_audio() -> None:
    found = placeholder(5.0, "de")
    assert [(s.start, s.end) for s in found.segments] == [(0, 2.5), (2.5, 5.0)]
    assert parse_srt(render(found, "srt"))[-1].end == 5.0
