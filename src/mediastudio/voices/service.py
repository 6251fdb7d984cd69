"""Which voices the speech models on this server offer (engines declare them), and the
account's own cloned voices next to them (:mod:`mediastudio.voices.cloning` makes those)."""

from __future__ import annotations

from collections.abc import Sequence

from mediastudio.catalog.service import Catalog
from mediastudio.voices.models import CustomVoice, VoiceStatus
from mediastudio.voices.schemas import VoiceRead

SPEECH_TYPE = "speech"


async def list_voices(
    catalog: Catalog,
    *,
    language: str | None = None,
    model: str | None = None,
    custom: Sequence[CustomVoice] = (),
    sandbox: bool = False,
) -> list[VoiceRead]:
    """Voices of every available speech model (or of ``model``), those speaking ``language``
    or one of its dialects (``en`` matches ``en-us``) when given. Each ready ``custom`` voice is
    listed under every speech model of its provider (a sandbox key's under all of them, as a
    sandbox key may use every model). A retired model's voices are not offered
    (catalog/lifecycle.py)."""
    registry = catalog.registry
    wanted = language.strip().lower().replace("_", "-") if language else None
    found: list[VoiceRead] = []
    for spec in registry.models(SPEECH_TYPE):
        registered = registry.get(spec.id)
        if registered is None or (model is not None and spec.id != model):
            continue
        if catalog.retired(spec):
            continue
        available = registry.availability(spec.id).available
        if not available and not (sandbox and custom):
            continue
        if available:
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
        for own in custom:
            if own.status != VoiceStatus.READY or not spec.id.startswith(f"{own.provider}/"):
                continue
            languages = [own.language.lower()] if own.language else []
            if wanted is not None and languages and not _covers(wanted, languages[0]):
                continue
            found.append(
                VoiceRead(
                    id=own.id,
                    name=own.name,
                    language=languages[0] if languages else "",
                    languages=languages,
                    model=spec.id,
                    engine=registered.engine.name,
                    custom=True,
                )
            )
    return found


def _covers(wanted: str, code: str) -> bool:
    code = code.lower()
    return code == wanted or code.startswith(wanted + "-")
