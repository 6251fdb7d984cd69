"""Which voices the speech models on this server offer (engines declare them)."""

from __future__ import annotations

from mediastudio.catalog.service import Catalog
from mediastudio.voices.schemas import VoiceRead

SPEECH_TYPE = "speech"


async def list_voices(
    catalog: Catalog, *, language: str | None = None, model: str | None = None
) -> list[VoiceRead]:
    """Voices of every available speech model (or of ``model``), those speaking ``language``
    or one of its dialects (``en`` matches ``en-us``) when given. A retired model's voices are
    not offered (catalog/lifecycle.py)."""
    registry = catalog.registry
    wanted = language.strip().lower().replace("_", "-") if language else None
    found: list[VoiceRead] = []
    for spec in registry.models(SPEECH_TYPE):
        registered = registry.get(spec.id)
        if registered is None or (model is not None and spec.id != model):
            continue
        if not registry.availability(spec.id).available or catalog.retired(spec):
            continue
        for voice in await registered.engine.fetch_voices(spec):
            if wanted is not None and not any(_covers(wanted, c) for c in voice.languages):
                continue
            found.append(
                VoiceRead(
                    id=voice.id,
                    name=voice.name,
                    language=voice.languages[0] if voice.languages else "",
                    languages=list(voice.languages),
                    gender=voice.gender,
                    model=spec.id,
                    engine=registered.engine.name,
                )
            )
    return found


def _covers(wanted: str, code: str) -> bool:
    code = code.lower()
    return code == wanted or code.startswith(wanted + "-")
