"""Text in a box: it wraps, shrinks down to the smallest size allowed, then ends in an
ellipsis rather than spilling out of its box."""

from __future__ import annotations

from mediastudio.engines.builtin.templates.render import ELLIPSIS, fit_text, text_patch
from mediastudio.engines.builtin.templates.spec import TextLayer
from mediastudio.engines.media.captions import load_font


def layer(**changes: object) -> TextLayer:
    values: dict[str, object] = {
        "kind": "text",
        "slot": "body",
        "box": [0, 0, 400, 120],
        "font_size": 60,
        "min_font_size": 20,
        "max_chars": 2000,
    }
    values.update(changes)
    return TextLayer.model_validate(values)


def test_short_text_keeps_its_size() -> None:
    fitted = fit_text("Hello", layer())
    assert fitted.font_size == 60 and fitted.lines == ["Hello"]


def test_long_text_shrinks_and_every_line_fits_the_width() -> None:
    text = "A fairly long sentence that cannot fit on one line at sixty pixels"
    fitted = fit_text(text, layer())
    assert 20 <= fitted.font_size < 60 and len(fitted.lines) > 1
    font = load_font(fitted.font_size)
    assert all(font.getlength(line) <= 400 for line in fitted.lines)
    assert " ".join(fitted.lines) == text


def test_text_too_long_even_at_the_smallest_size_ends_in_an_ellipsis() -> None:
    fitted = fit_text("word " * 300, layer())
    assert fitted.font_size == 20 and fitted.lines[-1].endswith(ELLIPSIS)
    patch = text_patch(layer(color="#ff0000"), "word " * 300, {})
    assert patch.size == (400, 120)
    # The text is drawn into a patch the size of its box: it cannot spill over.
    assert patch.getchannel("A").getbbox() is not None
