"""espeak-ng's own voice list, as the API names it.

A voice id is the file name of an espeak-ng language voice, lower-cased (``en-us``, ``en`` for
British English, ``en-gb-x-rp``, ``fr``, ``cmn``…), optionally followed by ``+`` and one of
espeak-ng's voice variants (``en-us+f3``, ``de+klatt``, ``fr+whisper``). ``GET /voices`` lists
every language voice and, with each, its female variant (``+f3``); any other variant is
accepted too (the docs list them). A language is a code from the voices' language lists
(``en``, ``en-us``, ``pt-br``, ``zh``…); a code espeak-ng lacks falls back by dropping its last
subtag (``en-au`` → ``en``), as in RFC 4647 lookup.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from mediastudio.engines.builtin.espeak.library import LOCK, RawVoice, espeak

LISTED_VARIANTS = {"f3": "female"}  # shown in the voice list beside each language voice
_VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class EspeakVoice:
    id: str  # the API's voice id
    name: str
    languages: tuple[str, ...]  # main language first
    gender: str | None
    espeak_name: str  # what espeak_SetVoiceByName gets: the voice file, "+variant"

    @property
    def language(self) -> str:
        return self.languages[0]


def normalise_language(code: str) -> str:
    return code.strip().lower().replace("_", "-")


class VoiceCatalogue:
    def __init__(self, voices: list[RawVoice], variants: list[RawVoice]) -> None:
        self._bases: dict[str, EspeakVoice] = {}
        # language code -> [(priority, list order, base id)], best first after sorting
        self._by_language: dict[str, list[tuple[int, int, str]]] = {}
        for order, raw in enumerate(voices):
            base_id = raw.identifier.rsplit("/", 1)[-1].lower()
            if not raw.languages or base_id in self._bases:
                continue
            self._bases[base_id] = EspeakVoice(
                id=base_id,
                name=raw.name,
                languages=tuple(code for _, code in raw.languages),
                gender=raw.gender,
                espeak_name=raw.identifier,
            )
            for priority, code in raw.languages:
                self._by_language.setdefault(code.lower(), []).append((priority, order, base_id))
        for candidates in self._by_language.values():
            candidates.sort()
        # variant file name, lower-cased -> (file name, espeak's name for it, gender)
        self._variants: dict[str, tuple[str, str, str | None]] = {}
        for raw in variants:
            file_name = raw.identifier.rsplit("/", 1)[-1]
            if _VARIANT_NAME.fullmatch(file_name):
                self._variants[file_name.lower()] = (file_name, raw.name, raw.gender)

    @property
    def languages(self) -> list[str]:
        return sorted(self._by_language)

    @property
    def variants(self) -> list[str]:
        return sorted(name for name, _, _ in self._variants.values())

    @property
    def voice_ids(self) -> list[str]:
        """The language voices' ids (without a variant)."""
        return sorted(self._bases)

    def find(self, voice_id: str) -> EspeakVoice | None:
        """The voice ``voice_id`` names (case-insensitive), or None."""
        base_id, plus, variant = voice_id.strip().lower().partition("+")
        base = self._bases.get(base_id)
        if base is None or not plus:
            return base
        known = self._variants.get(variant)
        if known is None:
            return None
        file_name, variant_name, gender = known
        return EspeakVoice(
            id=f"{base.id}+{file_name}",
            name=f"{base.name}, {variant_name}",
            languages=base.languages,
            gender=gender,
            espeak_name=f"{base.espeak_name}+{file_name}",
        )

    def resolve_language(self, code: str) -> str | None:
        """The code espeak-ng knows for ``code``: itself, or its RFC 4647 lookup fallback."""
        candidate = normalise_language(code)
        while candidate:
            if candidate in self._by_language:
                return candidate
            candidate = candidate.rpartition("-")[0]
        return None

    def for_language(self, code: str) -> EspeakVoice | None:
        """espeak-ng's preferred voice for ``code`` (lowest priority number, then list order)."""
        resolved = self.resolve_language(code)
        if resolved is None:
            return None
        return self._bases[self._by_language[resolved][0][2]]

    def listed(self, language: str | None = None) -> list[EspeakVoice]:
        """The voices ``GET /voices`` shows: every language voice and its listed variants,
        only those speaking ``language`` (or a dialect of it) when given."""
        wanted = normalise_language(language) if language else None
        found: list[EspeakVoice] = []
        for base in self._bases.values():
            if wanted is not None and not any(_covers(wanted, code) for code in base.languages):
                continue
            found.append(base)
            for variant in LISTED_VARIANTS:
                voice = self.find(f"{base.id}+{variant}")
                if voice is not None:
                    found.append(voice)
        return found


def _covers(wanted: str, code: str) -> bool:
    code = code.lower()
    return code == wanted or code.startswith(wanted + "-")


def same_language(a: str, b: str) -> bool:
    """Whether two codes share their primary language subtag (``en-us`` and ``en-gb`` do)."""
    return normalise_language(a).split("-")[0] == normalise_language(b).split("-")[0]


@functools.cache
def catalogue() -> VoiceCatalogue:
    """espeak-ng's voices, read once per process (this initialises the library)."""
    with LOCK:
        voices, variants = espeak().list_voices()
    return VoiceCatalogue(voices, variants)
