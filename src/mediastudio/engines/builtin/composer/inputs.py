"""The composer's input: the standard music input, with genres checked and a MIDI option."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mediastudio.engines.builtin.composer.style import GENRES, normalise_genre
from mediastudio.engines.inputs import MusicInput

Genre = Literal["electronic", "ambient", "orchestral", "rock", "jazz", "lo-fi"]


class ComposerInput(MusicInput):
    genre: Genre | None = Field(
        None,
        description=(
            "electronic, ambient, orchestral, rock, jazz or lo-fi (aliases such as edm, "
            "cinematic, lofi are accepted); when absent, read from the prompt's words"
        ),
    )
    mood: str | None = Field(
        None,
        max_length=50,
        description=(
            "Sets the mode: e.g. happy, dreamy, sad, epic, dark, tense, chill, energetic; "
            "other words leave the choice to the genre"
        ),
    )
    include_midi: bool = Field(
        True, description="Also return the score as a Standard MIDI File (a second output)"
    )

    @field_validator("genre", mode="before")
    @classmethod
    def _known_genre(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        canonical = normalise_genre(value)
        if canonical is None:
            raise ValueError(f"unknown genre {value!r}; use one of: {', '.join(GENRES)}")
        return canonical
