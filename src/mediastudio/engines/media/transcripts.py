"""Transcripts: timed segments of text, and the files a transcription job hands back.

A :class:`Transcript` is what any speech-to-text engine produces (segments with start, end and
text; the full text; the language; the audio's duration). It is written as the job's outputs in
the formats asked for: ``json`` (the transcript itself), ``srt`` (SubRip) and ``vtt`` (WebVTT),
so a transcript made here can be burnt into a video by ``/videos/subtitles`` as it is. A live
engine and the sandbox write them with the same functions, so both have the same shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mediastudio.engines.contract import OutputFile, PlannedOutput

TranscriptFormat = Literal["json", "srt", "vtt"]
FORMAT_TYPES: dict[str, str] = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
}
CONTENT_FORMATS = {content: fmt for fmt, content in FORMAT_TYPES.items()}
# A caption longer than this is hard to read on screen: sentences are split at commas or
# spaces below it (subtitle guidelines keep two lines of about 42 characters).
MAX_CUE_CHARS = 84
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026\u3002\uff01\uff1f])\s+")


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Word:
    """One spoken word and when it is heard (OpenAI's ``TranscriptionWord``: word, start, end)."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    duration_s: float
    segments: tuple[Segment, ...]
    timed: bool = True  # False: the engine gave no times; they are spread by length (see below)
    # The words with their times when ``timestamp_granularities`` asked for them, else None
    # (the JSON then has no ``words`` key, as OpenAI's verbose_json has none).
    words: tuple[Word, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "text": self.text,
            "language": self.language,
            "duration": round(self.duration_s, 3),
            "timestamps": "model" if self.timed else "estimated",
            "segments": [
                {"id": index, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
                for index, s in enumerate(self.segments)
            ],
        }
        if self.words is not None:
            found["words"] = [
                {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in self.words
            ]
        return found


def ordered_words(words: Sequence[Word], duration_s: float) -> tuple[Word, ...]:
    """``words`` as a transcript holds them: text stripped, times within the audio, empty and
    zero-length ones left out, in time order (a model may give a word past the end)."""
    kept = []
    for w in words:
        start, end = max(0.0, min(w.start, duration_s)), max(0.0, min(w.end, duration_s))
        text = w.word.strip()
        if text and end > start:
            kept.append(Word(text, round(start, 3), round(end, 3)))
    return tuple(sorted(kept, key=lambda w: (w.start, w.end)))


def spread(text: str, duration_s: float, language: str | None) -> Transcript:
    """A transcript from text alone (a model that gives no timestamps): its sentences, cut to
    caption length, timed in proportion to their length across the audio. An estimate: the
    words fall near, not on, their cues."""
    pieces = [piece for sentence in _SENTENCE_END.split(text.strip()) for piece in _cut(sentence)]
    total = sum(len(piece) for piece in pieces) or 1
    segments, start = [], 0.0
    for piece in pieces:
        end = min(duration_s, start + duration_s * len(piece) / total)
        segments.append(Segment(round(start, 3), round(end, 3), piece))
        start = end
    kept = tuple(segment for segment in segments if segment.end > segment.start)
    return Transcript(text.strip(), language, duration_s, kept, timed=False)


def _cut(sentence: str) -> list[str]:
    """``sentence`` in pieces of at most :data:`MAX_CUE_CHARS` characters, cut at a space."""
    words, pieces, current = sentence.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > MAX_CUE_CHARS:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def placeholder(duration_s: float, language: str | None, *, words: bool = False) -> Transcript:
    """The sandbox's transcript: one numbered placeholder sentence every two seconds (or less)
    of the audio, so its files have the live shapes; with ``words``, each sentence's words
    spread over its time with a pause between two."""
    count = max(1, round(duration_s / 2.0))
    step = duration_s / count
    segments = tuple(
        Segment(round(i * step, 3), round((i + 1) * step, 3), f"SANDBOX transcript line {i + 1}.")
        for i in range(count)
    )
    text = " ".join(segment.text for segment in segments)
    timed_words = tuple(w for s in segments for w in _spoken(s)) if words else None
    return Transcript(text, language, duration_s, segments, words=timed_words)


def _spoken(segment: Segment) -> list[Word]:
    """The segment's words, each in the middle 80 % of an equal share of its time."""
    names = segment.text.split()
    share = (segment.end - segment.start) / len(names)
    return [
        Word(
            name,
            round(segment.start + share * (i + 0.1), 3),
            round(segment.start + share * (i + 0.9), 3),
        )
        for i, name in enumerate(names)
    ]


def srt(transcript: Transcript) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    blocks = [
        f"{index}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
        for index, s in enumerate(_cues(transcript), start=1)
    ]
    return "\n".join(blocks)


def vtt(transcript: Transcript) -> str:
    """WebVTT: the ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = [
        f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in _cues(transcript)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def _cues(transcript: Transcript) -> list[Segment]:
    """The segments a caption file can hold: with text, and ending after they start."""
    return [s for s in transcript.segments if s.text.strip() and s.end > s.start]


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(transcript.as_json(), ensure_ascii=False, indent=2)
    return srt(transcript) if fmt == "srt" else vtt(transcript)


def read_json(path: Path) -> Transcript:
    """A JSON transcript file (as :func:`render` writes it) read back: the transcription step
    of a job that generates captions hands its transcript over as this file."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        segments = tuple(
            Segment(float(s["start"]), float(s["end"]), str(s["text"])) for s in found["segments"]
        )
        words = found.get("words")
        return Transcript(
            str(found.get("text") or ""),
            found.get("language"),
            float(found["duration"]),
            segments,
            found.get("timestamps") != "estimated",
            None
            if words is None
            else tuple(Word(str(w["word"]), float(w["start"]), float(w["end"])) for w in words),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a transcript: {exc}") from exc


def output_fields(transcript: Transcript) -> dict[str, Any]:
    """What the JSON output carries on the generation itself: the text and its language."""
    return {"text": transcript.text, "language": transcript.language}


def write_outputs(
    transcript: Transcript, formats: Sequence[str], output_path: Callable[[str], Path]
) -> list[OutputFile]:
    """One file per format, in the order asked; each carries the audio's duration, and the JSON
    one the text (the generation then shows it without a download)."""
    outputs = []
    for fmt in formats:
        path = output_path(f".{fmt}")
        path.write_text(render(transcript, fmt), encoding="utf-8")
        extra = output_fields(transcript) if fmt == "json" else {}
        outputs.append(
            OutputFile(
                path,
                FORMAT_TYPES[fmt],
                duration_s=round(transcript.duration_s, 3),
                extra=extra,
            )
        )
    return outputs


def planned_outputs(
    formats: Sequence[str], duration_s: float, language: str | None
) -> list[PlannedOutput]:
    """What a transcription of ``duration_s`` seconds of sound will hand back (the plan every
    transcription model shares, so its sandbox twin writes the same files): one file per
    format, each as long as the sound; the JSON one with the text and language fields."""
    placeholder_transcript = placeholder(duration_s, language)
    return [
        PlannedOutput(
            FORMAT_TYPES[fmt],
            duration_s=round(duration_s, 3),
            extra=output_fields(placeholder_transcript) if fmt == "json" else {},
        )
        for fmt in formats
    ]
