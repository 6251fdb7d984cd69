"""Steps a provider model runs before its provider does: an avatar given text has it spoken
first by the speech model the catalog chose when the job was created (``speech_model``, priced
with the job: see :func:`~mediastudio.engines.providers.avatar.uses`).

The step runs as a composition's step (:mod:`mediastudio.engines.compose`) in a worker thread,
so that a speech model of any engine can serve it; a coroutine engine's (a provider's speech)
runs back on the platform's loop. It runs once per job, whichever routes the job then tries,
and only when a route is submitted (a restarted job that resumes its provider's job does not
speak again).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import EngineError, RunContext
from mediastudio.engines.inputs import AVATAR_TYPE, AvatarInput
from mediastudio.engines.providers import avatar
from mediastudio.engines.registry import EngineRegistry

# The speech step's share of the progress bar; the provider's job has the rest.
WEIGHTS = {avatar.STEP: 1.0, "animate": 4.0}


class SpokenText:
    """The job's text as a sound file, spoken at most once."""

    def __init__(self, ctx: RunContext, registry: EngineRegistry | None) -> None:
        self._ctx = ctx
        self._registry = registry
        self._path: Path | None = None
        self._lock = asyncio.Lock()

    async def path(self) -> Path:
        async with self._lock:
            if self._path is None:
                self._path = await asyncio.to_thread(self._speak)
            return self._path

    def _speak(self) -> Path:
        validated = self._ctx.input
        assert isinstance(validated, AvatarInput)
        if self._registry is None or validated.speech_model is None:
            # The catalog names the model when the job is created; a job without one was not.
            raise EngineError("No speech model was chosen for this job's text.")
        steps = Composition(self._ctx, self._registry, WEIGHTS)
        outputs = steps.run_model(
            avatar.STEP, validated.speech_model, avatar.speech_input(validated)
        )
        sounds = [output for output in outputs if output.content_type.startswith("audio/")]
        if not sounds:
            raise EngineError(f"{validated.speech_model} gave no sound for the text.")
        return sounds[0].path


def spoken_text(ctx: RunContext, registry: EngineRegistry | None) -> SpokenText | None:
    """The speech step of an avatar job given text; None for every other job."""
    if ctx.model.type != AVATAR_TYPE or getattr(ctx.input, "text", None) is None:
        return None
    return SpokenText(ctx, registry)
