"""What each genre sounds like (tempo, modes, harmony, parts, grooves), and how a request's
genre, mood and tempo words are read.

A style is data: :mod:`.arrange` turns it into notes and :mod:`.synth` gives each part's
instrument a voice. Drum patterns are 16 steps per bar (``x`` accent, ``o`` soft, ``.`` rest) keyed
by General MIDI drum notes, so the score's drum track is valid General MIDI as it stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GENRES = ("electronic", "ambient", "orchestral", "rock", "jazz", "lo-fi")

GENRE_ALIASES: dict[str, str] = {
    **{g: g for g in GENRES},
    **dict.fromkeys(
        ("edm", "techno", "house", "trance", "synthwave", "electro", "dance"), "electronic"
    ),
    **dict.fromkeys(("drone", "meditation", "new age", "atmospheric"), "ambient"),
    **dict.fromkeys(
        ("classical", "cinematic", "orchestra", "symphonic", "soundtrack", "film score"),
        "orchestral",
    ),
    **dict.fromkeys(("metal", "punk", "grunge", "hard rock", "indie rock"), "rock"),
    **dict.fromkeys(("swing", "bebop", "bossa", "jazzy"), "jazz"),
    **dict.fromkeys(("lofi", "lo fi", "chillhop", "hip hop", "hiphop", "lo-fi hip hop"), "lo-fi"),
}

# Prompt words that hint at a genre when none is given (besides the aliases above).
GENRE_HINTS: dict[str, str] = {
    **dict.fromkeys(
        ("synth", "club", "rave", "beat drop", "futuristic", "cyberpunk"), "electronic"
    ),
    **dict.fromkeys(("calm", "space", "sleep", "relaxation", "ethereal", "pad", "pads"), "ambient"),
    **dict.fromkeys(
        ("epic", "strings", "trailer", "heroic", "battle", "film", "movie"), "orchestral"
    ),
    **dict.fromkeys(("guitar", "guitars", "riff", "stadium", "garage"), "rock"),
    **dict.fromkeys(("sax", "saxophone", "piano bar", "cocktail", "lounge", "blues"), "jazz"),
    **dict.fromkeys(("study", "chill", "chilled", "cozy", "rainy", "coffee", "vinyl"), "lo-fi"),
}

# Mood words → mode. The first matching word of the mood (or else of the prompt) decides.
MOOD_MODES: dict[str, str] = {
    **dict.fromkeys(
        (
            "happy",
            "joyful",
            "uplifting",
            "bright",
            "cheerful",
            "upbeat",
            "playful",
            "triumphant",
            "hopeful",
            "sunny",
            "fun",
            "positive",
            "calm",
            "peaceful",
            "serene",
            "romantic",
            "warm",
        ),
        "ionian",
    ),
    **dict.fromkeys(("dreamy", "magical", "wonder", "floating", "ethereal", "whimsical"), "lydian"),
    **dict.fromkeys(
        (
            "sad",
            "melancholic",
            "melancholy",
            "somber",
            "lonely",
            "nostalgic",
            "emotional",
            "heartbroken",
            "epic",
            "dramatic",
            "heroic",
            "powerful",
            "intense",
            "cold",
        ),
        "aeolian",
    ),
    **dict.fromkeys(
        ("dark", "ominous", "sinister", "scary", "menacing", "evil", "exotic"), "phrygian"
    ),
    **dict.fromkeys(("tense", "suspense", "suspenseful", "anxious", "urgent"), "harmonic minor"),
    **dict.fromkeys(
        (
            "mysterious",
            "cool",
            "groovy",
            "funky",
            "smooth",
            "chill",
            "relaxed",
            "mellow",
            "laid-back",
            "jazzy",
        ),
        "dorian",
    ),
    **dict.fromkeys(
        ("energetic", "driving", "rocking", "gritty", "bold", "confident", "adventurous"),
        "mixolydian",
    ),
}

TEMPO_WORDS = ("slow", "medium", "fast")

MAJOR_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 0, 4), (0, 2, 3, 4))
MINOR_PROGRESSIONS = ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2))
JAZZ_PROGRESSIONS = ((1, 4, 0, 5), (1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4), (3, 2, 1, 0))
MODAL_PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "dorian": ((0, 3, 0, 3), (0, 6, 3, 0), (0, 2, 3, 6)),
    "phrygian": ((0, 1, 0, 6), (0, 1, 6, 0), (0, 5, 1, 0)),
    "lydian": ((0, 1, 0, 1), (0, 1, 4, 0), (0, 4, 1, 5)),
    "mixolydian": ((0, 6, 3, 0), (0, 3, 6, 0), (0, 6, 0, 3)),
}

Rhythm = tuple[tuple[int, int], ...]  # (start, length) in 16th steps


@dataclass(frozen=True)
class PartSpec:
    """One instrument of a style: what it plays (``role``) and how it sits in the mix."""

    role: str  # chords | bass | lead | lead_b | drums | timpani
    instrument: str
    program: int  # General MIDI program for the score (ignored for drums)
    gain: float
    pan: float = 0.0  # -1 left .. 1 right
    reverb: float = 0.15
    delay: float = 0.0
    octave: int = 4


@dataclass(frozen=True)
class Style:
    name: str
    tempos: tuple[int, int, int]  # slow, medium, fast BPM
    modes: tuple[str, ...]  # used when no mood word is found
    parts: tuple[PartSpec, ...]
    chord_size: int = 3
    bars_per_chord: int = 1
    swing: float = 0.5  # where the off-beat 8th falls in its beat: 0.5 straight, 0.66 triplet
    progressions: tuple[tuple[int, ...], ...] = ()  # overrides the mode's own when set
    comp: tuple[Rhythm, ...] = (((0, 16),),)  # chord rhythms, one bar each
    melody: tuple[Rhythm, ...] = ()  # two-bar melody rhythms
    bass: str = "roots"
    drums: dict[str, dict[int, str]] = field(default_factory=dict)  # pattern name → lane
    humanize_s: float = 0.0
    lowpass_hz: float | None = None  # master tone (lo-fi)
    crackle: float = 0.0
    reverb_s: float = 1.8

    def part(self, role: str) -> PartSpec | None:
        return next((p for p in self.parts if p.role == role), None)


KICK, RIM, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = (
    36,
    37,
    38,
    39,
    42,
    44,
    46,
    49,
    51,
)

STYLES: dict[str, Style] = {
    "electronic": Style(
        name="electronic",
        tempos=(100, 124, 140),
        modes=("aeolian", "dorian", "ionian"),
        parts=(
            PartSpec("chords", "supersaw", 90, 0.30, 0.0, 0.30),
            PartSpec("bass", "synth_bass", 38, 0.55, 0.0, 0.0, octave=2),
            PartSpec("lead", "saw_lead", 81, 0.30, 0.15, 0.25, 0.22, octave=5),
            PartSpec("drums", "drums", 0, 0.75, 0.0, 0.05),
        ),
        comp=(((0, 16),), ((0, 6), (6, 6), (12, 4))),
        melody=(
            ((0, 3), (3, 3), (6, 2), (8, 4), (12, 4), (16, 3), (19, 3), (22, 2), (24, 8)),
            ((0, 2), (2, 2), (4, 4), (8, 2), (10, 2), (12, 4), (16, 6), (22, 2), (24, 4), (28, 4)),
            ((0, 4), (6, 2), (8, 4), (12, 4), (16, 4), (22, 2), (24, 8)),
        ),
        bass="offbeat",
        drums={
            "main": {
                KICK: "x...x...x...x...",
                CLAP: "....x.......x...",
                CLOSED_HAT: "oo.ooo.ooo.ooo.o",
                OPEN_HAT: "..x...x...x...x.",
            },
            "light": {KICK: "x...x...x...x...", CLOSED_HAT: "..o...o...o...o."},
        },
        reverb_s=2.0,
    ),
    "ambient": Style(
        name="ambient",
        tempos=(56, 68, 84),
        modes=("lydian", "ionian", "dorian", "aeolian"),
        parts=(
            PartSpec("chords", "warm_pad", 89, 0.40, 0.0, 0.55),
            PartSpec("bass", "sub_drone", 39, 0.35, 0.0, 0.1, octave=2),
            PartSpec("lead", "bell", 11, 0.22, -0.2, 0.6, 0.35, octave=5),
        ),
        bars_per_chord=2,
        chord_size=4,
        melody=(((0, 12), (16, 8), (24, 8)), ((4, 12), (20, 12)), ((0, 8), (8, 4), (16, 16))),
        bass="drone",
        reverb_s=4.0,
    ),
    "orchestral": Style(
        name="orchestral",
        tempos=(68, 88, 116),
        modes=("aeolian", "ionian", "harmonic minor"),
        parts=(
            PartSpec("chords", "strings", 48, 0.38, 0.0, 0.40),
            PartSpec("bass", "low_strings", 43, 0.42, 0.0, 0.30, octave=2),
            PartSpec("lead", "flute", 73, 0.26, 0.25, 0.45, octave=5),
            PartSpec("lead_b", "brass", 61, 0.30, -0.2, 0.40, octave=4),
            PartSpec("timpani", "timpani", 47, 0.50, 0.0, 0.35, octave=2),
        ),
        melody=(
            ((0, 8), (8, 4), (12, 4), (16, 12), (28, 4)),
            ((0, 4), (4, 4), (8, 8), (16, 4), (20, 4), (24, 8)),
            ((0, 6), (6, 2), (8, 8), (16, 6), (22, 2), (24, 8)),
        ),
        bass="halves",
        reverb_s=3.0,
    ),
    "rock": Style(
        name="rock",
        tempos=(92, 120, 152),
        modes=("mixolydian", "aeolian", "ionian"),
        parts=(
            PartSpec("chords", "power_guitar", 30, 0.28, -0.3, 0.10),
            PartSpec("bass", "pick_bass", 34, 0.50, 0.0, 0.0, octave=2),
            PartSpec("lead", "lead_guitar", 29, 0.24, 0.3, 0.25, 0.12, octave=5),
            PartSpec("drums", "drums", 0, 0.80, 0.0, 0.10),
        ),
        comp=(tuple((i * 2, 2) for i in range(8)),),
        melody=(
            ((0, 4), (4, 2), (6, 2), (8, 4), (12, 4), (16, 4), (20, 4), (24, 8)),
            ((2, 2), (4, 2), (6, 4), (10, 6), (16, 2), (18, 2), (20, 4), (24, 8)),
        ),
        bass="eighths",
        drums={
            "main": {
                KICK: "x.....x.x.......",
                SNARE: "....x.......x...",
                CLOSED_HAT: "x.o.x.o.x.o.x.o.",
            },
            "light": {KICK: "x.......x.......", CLOSED_HAT: "x.o.x.o.x.o.x.o."},
        },
        humanize_s=0.006,
        reverb_s=1.4,
    ),
    "jazz": Style(
        name="jazz",
        tempos=(92, 132, 176),
        modes=("ionian", "dorian"),
        parts=(
            PartSpec("chords", "epiano", 4, 0.32, -0.2, 0.25),
            PartSpec("bass", "upright", 32, 0.55, 0.1, 0.05, octave=2),
            PartSpec("lead", "vibes", 11, 0.30, 0.25, 0.30, octave=5),
            PartSpec("drums", "drums", 0, 0.55, 0.0, 0.15),
        ),
        chord_size=4,
        swing=0.66,
        progressions=JAZZ_PROGRESSIONS,
        comp=(((0, 3), (6, 4)), ((2, 2), (6, 2), (10, 4)), ((0, 2), (10, 6))),
        melody=(
            ((0, 2), (2, 2), (4, 2), (6, 2), (8, 4), (14, 2), (16, 2), (18, 2), (20, 6), (26, 6)),
            ((2, 2), (4, 4), (8, 2), (10, 2), (12, 4), (18, 2), (20, 2), (22, 2), (24, 8)),
        ),
        bass="walking",
        drums={
            "main": {
                RIDE: "x...x.o.x...x.o.",
                PEDAL_HAT: "....x.......x...",
                KICK: "o.......o.......",
                RIM: "..........o.....",
            },
            "light": {RIDE: "x...x.o.x...x.o.", PEDAL_HAT: "....x.......x..."},
        },
        humanize_s=0.008,
        reverb_s=1.6,
    ),
    "lo-fi": Style(
        name="lo-fi",
        tempos=(68, 80, 92),
        modes=("dorian", "ionian", "aeolian"),
        parts=(
            PartSpec("chords", "epiano", 4, 0.36, -0.15, 0.30),
            PartSpec("bass", "sine_bass", 33, 0.55, 0.0, 0.0, octave=2),
            PartSpec("lead", "soft_keys", 12, 0.24, 0.2, 0.35, 0.2, octave=5),
            PartSpec("drums", "drums", 0, 0.70, 0.0, 0.05),
        ),
        chord_size=4,
        swing=0.6,
        progressions=((1, 4, 0, 5), (3, 2, 1, 0), (0, 5, 1, 4), (3, 4, 2, 5)),
        comp=(((0, 10), (10, 6)), ((0, 16),)),
        melody=(
            ((0, 6), (6, 2), (8, 8), (20, 4), (24, 8)),
            ((2, 4), (6, 2), (8, 4), (16, 6), (22, 10)),
        ),
        bass="lofi",
        drums={
            "main": {
                KICK: "x......x..x.....",
                SNARE: "....x.......x...",
                CLOSED_HAT: "x.o.x.o.x.o.x.oo",
            },
            "light": {CLOSED_HAT: "x.o.x.o.x.o.x.o."},
        },
        humanize_s=0.01,
        lowpass_hz=5500.0,
        crackle=0.6,
        reverb_s=1.5,
    ),
}


def normalise_genre(value: str) -> str | None:
    """The canonical genre for ``value`` (case, spaces and aliases forgiven), or None."""
    text = re.sub(r"[\s_]+", " ", value.strip().lower())
    return GENRE_ALIASES.get(text) or GENRE_ALIASES.get(text.replace("-", " "))


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9-]+", " ", text.lower()) + " "


def genre_from_prompt(prompt: str) -> str:
    """The genre the prompt's words point to (the earliest hint wins); electronic if none."""
    words = _words(prompt)
    found: list[tuple[int, str]] = []
    for table in (GENRE_ALIASES, GENRE_HINTS):
        for hint, genre in table.items():
            position = words.find(f" {hint} ")
            if position >= 0:
                found.append((position, genre))
    return min(found)[1] if found else "electronic"


def mood_word(*texts: str | None) -> str | None:
    """The first known mood word in the first text that has one."""
    for text in texts:
        if not text:
            continue
        words = _words(text).split()
        for word in words:
            if word in MOOD_MODES:
                return word
    return None
