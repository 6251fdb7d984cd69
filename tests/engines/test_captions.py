"""Caption parsing (SRT, WebVTT, segments) and rendering (wrapping, overlays, per-cue cache)."""

from __future__ import annotations

import numpy as np
import pytest

from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.media import captions
from mediastudio.engines.media.captions import CaptionBurner, CaptionStyle, Cue


def test_srt_with_bom_crlf_markup_and_two_lines() -> None:
    text = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> &amp; welcome\r\nline two\r\n"
        "\r\n2\r\n01:02:03,04 --> 01:02:04,000 X1:10\r\n{\\an8}Top\r\n\r\n"
    )
    cues = captions.parse_subtitles(text)
    assert cues == [
        Cue(1.0, 2.5, "Hello & welcome\nline two"),
        Cue(3723.04, 3724.0, "Top"),
    ]


def test_webvtt_with_header_ids_settings_notes_and_short_times() -> None:
    text = """WEBVTT - a title

NOTE this is a comment
spanning lines

STYLE
::cue { color: red }

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Roger>Hi there</v>

00:00:00.250 --> 00:00:00.750
First
"""
    cues = captions.parse_subtitles(text)
    assert cues == [Cue(0.25, 0.75, "First"), Cue(1.0, 2.0, "Hi there")]  # sorted by start


@pytest.mark.parametrize(
    "text",
    [
        "1\n00:00:02,000 --> 00:00:01,000\nbackwards\n",
        "1\n00:00:01,000 -> 00:00:02,000\nno arrow\n",
        "just some words",
        "WEBVTT\n\n00:00:01.000 --> soon\nbad\n",
    ],
)
def test_malformed_subtitles_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        captions.parse_subtitles(text)


def test_segments_become_sorted_cues() -> None:
    cues = captions.cues_from_segments([(2.0, 3.0, "b"), (0.0, 1.5, " a  <b>x</b> ")])
    assert cues == [Cue(0.0, 1.5, "a x"), Cue(2.0, 3.0, "b")]
    with pytest.raises(InvalidInput):
        captions.cues_from_segments([(1.0, 1.0, "zero length")])


def test_the_bundled_font_is_scalable_and_text_wraps_to_the_width() -> None:
    small, large = captions.load_font(16), captions.load_font(48)
    assert large.getlength("Hello") > 2.5 * small.getlength("Hello")
    text = "the quick brown fox jumps over the lazy dog " * 3
    lines = captions.wrap_text(text, small, 120)
    assert len(lines) > 3 and all(small.getlength(line) <= 120 for line in lines)
    assert captions.wrap_text("x" * 200, small, 50)[0] != "x" * 200  # an over-wide word breaks


def test_overlays_sit_where_asked_and_blend_over_the_frame() -> None:
    style = CaptionStyle(font_size=20, background_color=(0, 0, 0, 255))
    bottom = captions.render_caption("Hello", 320, 240, style)
    top = captions.render_caption("Hello", 320, 240, CaptionStyle(font_size=20, position="top"))
    assert bottom.y + bottom.height <= 240 and bottom.y > 150 and top.y < 40
    frame = np.full((240, 320, 3), 200, np.uint8)
    bottom.blend(frame)
    box = frame[bottom.y : bottom.y + bottom.height, bottom.x : bottom.x + bottom.width]
    assert box.min() == 0 and box.max() > 200  # black box, white text
    assert (frame[:100] == 200).all()


def test_the_burner_renders_once_per_cue_and_leaves_other_frames_alone() -> None:
    cues = [Cue(0.0, 1.0, "one"), Cue(0.5, 1.5, "two"), Cue(3.0, 4.0, "three")]
    burner = CaptionBurner(cues, 160, 120, CaptionStyle())
    frame = np.full((120, 160, 3), 50, np.uint8)
    results = [burner.burn(frame, t / 10) for t in range(50)]
    assert burner.rendered == 4  # one, one+two (stacked), two, three
    assert [c.text for c in burner.active(0.7)] == ["one", "two"]
    assert results[20] is frame and results[5] is not frame
    assert (frame == 50).all()  # the source frame is never drawn on
    assert burner.burn(frame, 0.2) is not frame  # times may go back
