"""Cutting text into the sentences builtin/espeak speaks one at a time."""

from __future__ import annotations

from mediastudio.engines.builtin.espeak.text import MAX_CHUNK_CHARS, chunks


def texts(text: str) -> list[str]:
    return [chunk.text for chunk in chunks(text)]


def test_sentences_end_at_terminal_punctuation_not_at_abbreviations_or_initials() -> None:
    text = 'Mr. Smith met Dr. Jones, e.g. at noon. "Really?" she asked! J. R. R. Tolkien wrote it.'
    assert texts(text) == [
        "Mr. Smith met Dr. Jones, e.g. at noon.",
        '"Really?"',
        "she asked!",
        "J. R. R. Tolkien wrote it.",
    ]
    assert texts("Pi is 3.14 or so. Done") == ["Pi is 3.14 or so.", "Done"]


def test_paragraphs_and_cjk_full_stops() -> None:
    found = chunks("First one. Second one.\n\nNew paragraph.\nSame paragraph.\n\n你好。再见。")
    assert [c.text for c in found] == [
        "First one.",
        "Second one.",
        "New paragraph.",
        "Same paragraph.",
        "你好。",
        "再见。",
    ]
    assert [c.paragraph_end for c in found] == [False, True, False, True, False, True]


def test_a_ten_thousand_character_text_is_cut_into_bounded_chunks_losing_no_word() -> None:
    run_on = ", ".join(f"clause number {i} goes on" for i in range(300))  # one huge sentence
    text = (run_on + ". " + "Short sentence here. " * 200)[:10_000]
    found = texts(text)
    assert all(0 < len(chunk) <= MAX_CHUNK_CHARS for chunk in found)
    assert " ".join(found).split() == text.split()
    assert found[0].endswith(",")  # cut at a clause mark, not mid-word
    assert texts("x" * 1000) == ["x" * 400, "x" * 400, "x" * 200]


def test_control_characters_are_dropped() -> None:
    assert texts("Hello\x00 there.\x07") == ["Hello there."]
    assert texts("\x00\x01") == []
