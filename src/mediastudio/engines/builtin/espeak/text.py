"""Splitting text into the chunks the engine speaks one at a time.

A chunk is one sentence: the text is cut after ``.``, ``!``, ``?``, ``…`` (and their CJK
forms) followed by a space, and at blank lines (paragraphs). A period after a common
abbreviation (``Mr.``, ``e.g.``) or a single letter (``J. R. R.``) does not end a sentence. A
sentence longer than :data:`MAX_CHUNK_CHARS` is cut again at the last clause mark (``,;:``) or
space before the limit, so no chunk makes the library speak for minutes without a progress
report or a chance to cancel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHUNK_CHARS = 400
# English abbreviations whose period rarely ends a sentence ("no." and "est." are left out:
# as words they often do).
_ABBREVIATIONS = "mr mrs ms dr prof sr jr st vs etc e.g i.e approx fig inc ltd co mt ave dept"
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PARAGRAPH = re.compile(r"\n\s*\n")
# A sentence end: terminal punctuation (with closing quotes/brackets) then whitespace, or a CJK
# full stop, exclamation or question mark (U+3002, U+FF01, U+FF1F) with or without a space.
_CLOSERS = "\"')\\]\u201d\u2019"
_OPENERS = "\"'([\u201c\u2018"
_SENTENCE_END = re.compile(f"(?:[.!?\u2026]+[{_CLOSERS}]*\\s+|[\u3002\uff01\uff1f]+\\s*)")


@dataclass(frozen=True)
class Chunk:
    text: str
    paragraph_end: bool  # the last sentence of a paragraph (a longer pause follows)


def clean(text: str) -> str:
    """Drop control characters (a NUL would end the text early in C); keep newlines and tabs."""
    return _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))


def chunks(text: str) -> list[Chunk]:
    found: list[Chunk] = []
    for paragraph in _PARAGRAPH.split(clean(text)):
        sentences = [s for s in _sentences(paragraph) if s]
        for index, sentence in enumerate(sentences):
            pieces = _split_long(sentence)
            for piece_index, piece in enumerate(pieces):
                last = index == len(sentences) - 1 and piece_index == len(pieces) - 1
                found.append(Chunk(piece, paragraph_end=last))
    return found


def _sentences(paragraph: str) -> list[str]:
    paragraph = " ".join(paragraph.split())  # one line, single spaces
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        if _is_abbreviation(paragraph[start : match.start() + 1]):
            continue
        sentences.append(paragraph[start : match.end()].strip())
        start = match.end()
    sentences.append(paragraph[start:].strip())
    return sentences


def _is_abbreviation(text_to_period: str) -> bool:
    """Whether the period that ends ``text_to_period`` belongs to an abbreviation."""
    if not text_to_period.endswith("."):
        return False
    word = text_to_period[:-1].rsplit(" ", 1)[-1].lstrip(_OPENERS)
    return word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _split_long(sentence: str) -> list[str]:
    pieces: list[str] = []
    rest = sentence
    while len(rest) > MAX_CHUNK_CHARS:
        window = rest[:MAX_CHUNK_CHARS]
        cut = max(window.rfind(mark) for mark in ",;:")
        if cut < MAX_CHUNK_CHARS // 4:
            cut = window.rfind(" ")
        if cut < MAX_CHUNK_CHARS // 4:
            cut = MAX_CHUNK_CHARS - 1  # one enormous "word": cut it anywhere
        pieces.append(rest[: cut + 1].strip())
        rest = rest[cut + 1 :].strip()
    if rest:
        pieces.append(rest)
    return pieces
