"""A commercial's script written by a chat model (the step before the voice-over), when the
operator has configured one and the request brings no script of its own.

- The chat model is the chat catalog's default (``MEDIASTUDIO_CHAT_DEFAULT_MODEL``, else the first
  configured one; :class:`~mediastudio.chat.catalog.ChatModels`); with none configured there is
  no writer and the commercial writes its script from templates, as it always did.
- One message: the product, tone, length, audience and the word budget, asking for a JSON object
  ``{"sentences": [...]}`` and nothing else. The reply is parsed and checked strictly
  (:func:`parse_script`): 2 to :data:`MAX_SENTENCES` sentences, each one sentence of at most
  :data:`MAX_SENTENCE_CHARS` characters ending in ``.``, ``!`` or ``?``, at most as many words
  in all as a user's script may have for that length.
- A failure (the provider's error, a refusal, a reply that breaks the format) fails the job,
  which is refunded in full: the price quoted included the chat step, so a template script in
  its place would not be what was paid for. The call is never repeated.
- A commercial without product images has its pictures drawn by an image model: the same
  message then also asks for ``"scenes"``, one visual description per shot (exactly as many as
  the commercial has shots), checked as strictly (:func:`parse_scenes`); each is what one
  shot's still is drawn from.
- The message is billed within the commercial's one price (:meth:`ScriptWriter.credits`); it is
  not a conversation: nothing is stored in the chat history and no chat quota is used.

The call runs in the composition's worker thread on a loop of its own, with a client of its own
(closed after it), so nothing is shared with the platform's loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel

from mediastudio.chat.catalog import DEFAULT_MAX_TOKENS, ChatModel, ChatModels
from mediastudio.engines.builtin.compositions.script import split_sentences, word_budget
from mediastudio.engines.contract import ProviderError
from mediastudio.engines.inputs import COMMERCIAL_MAX_WORDS_PER_S, CommercialInput
from mediastudio.engines.providers.openai.chat import ChatMessage, ChatOptions, ChatReply
from mediastudio.settings import Settings

MIN_SENTENCES = 2
MAX_SENTENCES = 10
MAX_SENTENCE_CHARS = 200
MAX_SCENE_CHARS = 300
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")

SYSTEM = (
    "You write voice-over scripts for short product commercials. Answer with one JSON object "
    'and nothing else: {"sentences": ["...", "..."]}. Each item is one complete spoken '
    "sentence ending with '.', '!' or '?'. No stage directions, no emoji, no markdown."
)
# Added when the shots are drawn by an image model (a commercial without product images).
SCENES_SYSTEM = (
    ' When asked for scenes, add "scenes": ["...", ...] to the object: one short visual '
    "description per shot, in order, of what the picture shows (the product, the setting, the "
    "light); no text, letters or logos in the picture."
)


class ScriptRefused(ProviderError):
    """The chat model's reply is not a usable script (its format or its bounds)."""


@dataclass(frozen=True)
class ScriptWriter:
    settings: Settings
    model: ChatModel
    price: int  # credits, per script (one message)

    @classmethod
    def configured(cls, settings: Settings) -> ScriptWriter | None:
        """The writer on the chat catalog's default model, if one is configured here."""
        models = ChatModels(settings, clients={})
        chosen = models.get(models.default_id())
        if chosen is None or not models.availability(chosen, sandbox=False).available:
            return None
        return cls(settings, chosen, models.price(chosen))

    def credits(self, validated: BaseModel) -> int:
        """The script's share of the price: the chat message, when the request has no script."""
        assert isinstance(validated, CommercialInput)
        return 0 if validated.script else self.price

    def write(self, job: CommercialInput, shots: int = 0) -> tuple[list[str], list[str]]:
        """The sentences, and with ``shots`` that many visual descriptions (else none)."""
        reply = asyncio.run(self._ask(messages(job, shots)))
        sentences = parse_script(reply.content, job.duration)
        return sentences, parse_scenes(reply.content, shots) if shots else []

    async def _ask(self, sent: list[ChatMessage]) -> ChatReply:
        models = ChatModels(self.settings)
        try:
            client = models.client(self.model)
            if client is None:
                raise ProviderError(f"The chat model {self.model.id} has no server configured.")
            options = ChatOptions(max_tokens=DEFAULT_MAX_TOKENS)
            return await client.complete(self.model.target, sent, options, asyncio.sleep)
        finally:
            await models.aclose()


def messages(job: CommercialInput, shots: int = 0) -> list[ChatMessage]:
    """The one message: what the commercial is for, and how much may be said in it (and, with
    ``shots``, how many scenes to describe)."""
    lines = [
        f"Product: {job.product}",
        f"Tone: {job.tone}",
        f"Length: {job.duration} seconds",
        f"Platform: {job.platform}",
        f"Words: about {word_budget(job.duration)} in all, at most "
        f"{max_words(job.duration)}; {MIN_SENTENCES} to {MAX_SENTENCES} sentences",
    ]
    if job.target_audience:
        lines.append(f"Audience: {job.target_audience}")
    lines.append("Name the product in the first and the last sentence.")
    if not shots:
        return [ChatMessage("system", SYSTEM), ChatMessage("user", "\n".join(lines))]
    lines.append(
        f"Scenes: exactly {shots}, one per shot of about {job.duration / shots:.0f} seconds, "
        f"each at most {MAX_SCENE_CHARS} characters"
    )
    return [
        ChatMessage("system", SYSTEM + SCENES_SYSTEM),
        ChatMessage("user", "\n".join(lines)),
    ]


def max_words(duration: float) -> int:
    return int(duration * COMMERCIAL_MAX_WORDS_PER_S)


def parse_script(content: str, duration: float) -> list[str]:
    """The sentences of a reply ``{"sentences": [...]}`` (a Markdown code fence around it is
    tolerated), or :class:`ScriptRefused` saying what is wrong with it."""
    found = _reply_object(content)
    sentences = found.get("sentences") if isinstance(found, dict) else None
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise ScriptRefused('The chat model\'s script has no list of strings "sentences".')
    sentences = [" ".join(s.split()) for s in sentences]
    if not MIN_SENTENCES <= len(sentences) <= MAX_SENTENCES:
        raise ScriptRefused(
            f"The chat model's script has {len(sentences)} sentences, not "
            f"{MIN_SENTENCES} to {MAX_SENTENCES}."
        )
    for index, sentence in enumerate(sentences):
        if not 0 < len(sentence) <= MAX_SENTENCE_CHARS or not sentence.endswith((".", "!", "?")):
            raise ScriptRefused(
                f"The chat model's sentence {index + 1} is not a sentence of at most "
                f"{MAX_SENTENCE_CHARS} characters ending in '.', '!' or '?'."
            )
        if split_sentences(sentence) != [sentence]:
            raise ScriptRefused(f"The chat model's sentence {index + 1} is several sentences.")
    words = sum(len(sentence.split()) for sentence in sentences)
    if words > max_words(duration):
        raise ScriptRefused(
            f"The chat model's script has {words} words; a {duration:g} s commercial has room "
            f"for {max_words(duration)}."
        )
    return sentences


def parse_scenes(content: str, count: int) -> list[str]:
    """The ``count`` visual descriptions of a reply ``{"sentences": [...], "scenes": [...]}``,
    or :class:`ScriptRefused` saying what is wrong with them (the shots were priced, so fewer or
    more is a broken reply, not something to pad or drop)."""
    found = _reply_object(content)
    scenes = found.get("scenes") if isinstance(found, dict) else None
    if not isinstance(scenes, list) or not all(isinstance(s, str) for s in scenes):
        raise ScriptRefused('The chat model\'s script has no list of strings "scenes".')
    scenes = [" ".join(s.split()) for s in scenes]
    if len(scenes) != count:
        raise ScriptRefused(f"The chat model's script has {len(scenes)} scenes, not {count}.")
    for index, scene in enumerate(scenes):
        if not 0 < len(scene) <= MAX_SCENE_CHARS:
            raise ScriptRefused(
                f"The chat model's scene {index + 1} is not a description of 1 to "
                f"{MAX_SCENE_CHARS} characters."
            )
    return scenes


def _reply_object(content: str) -> object:
    """The reply's JSON (a Markdown code fence around it is tolerated)."""
    try:
        found: object = json.loads(_FENCE.sub("", content.strip()))
    except ValueError:
        raise ScriptRefused("The chat model's script is not JSON.") from None
    return found
