"""The models hosted providers serve here: seed 000's ids as they are, the ``flux-schnell``
and ``flux-kontext`` (image editing) aliases, any Replicate model as ``replicate/<owner>/<name>``
and any fal endpoint as ``fal/<id>``. A curated model's routes run in order, Replicate first,
then fal where fal serves the same model (:data:`FAL_ROUTES`). OpenAI's models
(``openai/gpt-image-2``, ``openai/gpt-image-1.5``, ``openai/gpt-image-1.5-edit``,
``openai/gpt-4o-mini-tts``, ``openai/tts-1``, the transcription models; the retired
``openai/gpt-image-1`` and ``openai/dall-e-3`` stay listed) and ElevenLabs'
(``elevenlabs/eleven_multilingual_v2``, ``elevenlabs/eleven_flash_v2_5``) have one route each.
Prices are credits per generation (per output for image models that make several);
``MEDIASTUDIO_MODEL_PRICES`` overrides any of them by id."""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel

from mediastudio.engines.contract import (
    REMOTE_POOL,
    Deprecation,
    InputFetcher,
    ModelSpec,
    OutputPlanner,
    Planned,
    PlannedOutput,
)
from mediastudio.engines.inputs import AVATAR_TYPE, IMAGE_EDIT_TYPE, LIPSYNC_TYPE
from mediastudio.engines.media.files import content_type
from mediastudio.engines.providers import avatar, lipsync
from mediastudio.engines.providers.elevenlabs import mapping as elevenlabs_mapping
from mediastudio.engines.providers.fal import mapping as fal_mapping
from mediastudio.engines.providers.inputs import (
    GENERIC_INPUTS,
    DallE3Input,
    ElevenFlashInput,
    ElevenLabsSpeechInput,
    FluxKontextInput,
    FluxSchnellInput,
    GptImage2Input,
    GptImageEditInput,
    GptImageInput,
    HailuoInput,
    OpenAISpeechInput,
    Tts1Input,
    ZImageTurboInput,
)
from mediastudio.engines.providers.media import MEDIA_INPUT_MAX_S
from mediastudio.engines.providers.openai import mapping as openai_mapping
from mediastudio.engines.providers.openai import transcription, translation
from mediastudio.engines.providers.replicate import mapping, plans
from mediastudio.engines.providers.routes import Build, ProviderModel, Route, provider_model

REPLICATE = "replicate"
FAL = "fal"
OPENAI = "openai"
ELEVENLABS = "elevenlabs"
GENERIC_PREFIX = "replicate/"
FAL_PREFIX = "fal/"
GENERIC_DEFAULT_TYPE = "image"
GENERIC_CREDITS = {"image": 10, "video": 500, "speech": 20, "music": 50}
GENERIC_TIMEOUT_S = 1800.0
# Replicate's owner and model names: letters, digits, '.', '_' and '-'.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# A fal endpoint id: owner/app, then an optional path (fal-ai/flux/schnell), 2 to 6 parts.
_FAL_PARTS = (2, 6)

Z_IMAGE_TURBO = provider_model(
    ModelSpec(
        id="prunaai/z-image-turbo",
        name="Z-Image Turbo",
        type="image",
        input_model=ZImageTurboInput,
        credits=5,
        description="Fast text-to-image (Tongyi-MAI's Z-Image Turbo) on Replicate, or on fal.",
        category="image-generation",
        pool=REMOTE_POOL,
        timeout_s=300,
    ),
    Route(REPLICATE, "prunaai/z-image-turbo", mapping.z_image_turbo, plan=plans.z_image_turbo),
)

HAILUO_FAST = provider_model(
    ModelSpec(
        id="minimax/hailuo-2.3-fast",
        name="Hailuo 2.3 Fast",
        type="video",
        input_model=HailuoInput,
        credits=450,
        description=(
            "MiniMax Hailuo on Replicate or fal: 6 or 10 s clips from a first frame (Hailuo 2.3 "
            "Fast) or from text alone (Hailuo 2.3)."
        ),
        category="video-generation",
        pool=REMOTE_POOL,
        timeout_s=1200,
    ),
    Route(
        REPLICATE,
        "minimax/hailuo-2.3-fast",
        mapping.hailuo,
        when=mapping.has_first_frame,
        media=("first_frame_image",),
        plan=plans.hailuo,
    ),
    # Hailuo 2.3 Fast only animates an image: text alone goes to its sibling.
    Route(
        REPLICATE,
        "minimax/hailuo-2.3",
        mapping.hailuo,
        when=mapping.has_no_first_frame,
        plan=plans.hailuo,
    ),
)


def flux_plan(validated: BaseModel, fetcher: InputFetcher) -> list[Planned]:
    """``num_outputs`` images at FLUX's size for the aspect ratio, whichever route runs it."""
    assert isinstance(validated, FluxSchnellInput)
    width, height = mapping.FLUX_SIZES[mapping.flux_aspect(validated)]
    image = PlannedOutput(content_type(validated.output_format), width=width, height=height)
    return [image] * validated.num_outputs


FLUX_SCHNELL = ProviderModel(
    ModelSpec(
        id="flux-schnell",
        name="FLUX.1 [schnell]",
        type="image",
        input_model=FluxSchnellInput,
        credits=5,
        price_unit="output",
        description=(
            "Black Forest Labs' fast FLUX.1 [schnell] text-to-image, on Replicate or on fal "
            "(whichever is configured; the other takes over when one fails)."
        ),
        category="image-generation",
        pool=REMOTE_POOL,
        timeout_s=300,
        plan=flux_plan,
    ),
    routes=(
        Route(REPLICATE, "black-forest-labs/flux-schnell", mapping.flux_schnell),
        Route(FAL, "fal-ai/flux/schnell", fal_mapping.flux_schnell),
    ),
)

# Image editing: Black Forest Labs' FLUX.1 Kontext [pro] costs $0.04 an image on Replicate and on
# fal, as gpt-image-1 did, hence its price.
FLUX_KONTEXT = ProviderModel(
    ModelSpec(
        id="flux-kontext",
        name="FLUX.1 Kontext [pro]",
        type=IMAGE_EDIT_TYPE,
        input_model=FluxKontextInput,
        credits=70,
        description=(
            "Black Forest Labs' FLUX.1 Kontext [pro] image editing (an image and an instruction), "
            "on Replicate or on fal (the other takes over when one fails)."
        ),
        category="image-editing",
        pool=REMOTE_POOL,
        timeout_s=300,
        plan=plans.flux_kontext,
    ),
    routes=(
        Route(
            REPLICATE,
            "black-forest-labs/flux-kontext-pro",
            mapping.flux_kontext,
            media=("image_url",),
        ),
    ),
)

# fal serves the same models as Replicate's routes above: it takes over when they fail.
FAL_ROUTES: dict[str, tuple[Route, ...]] = {
    Z_IMAGE_TURBO.spec.id: (Route(FAL, "fal-ai/z-image/turbo", fal_mapping.z_image_turbo),),
    FLUX_KONTEXT.spec.id: (
        Route(FAL, "fal-ai/flux-pro/kontext", fal_mapping.flux_kontext, media=("image_url",)),
    ),
    # fal serves 768p on its standard endpoints and 1080p on its pro ones: the resolution asked
    # for picks the route, so a failover never delivers a smaller video than the request named.
    HAILUO_FAST.spec.id: (
        Route(
            FAL,
            "fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video",
            fal_mapping.hailuo,
            when=fal_mapping.hailuo_image_768p,
            media=("first_frame_image",),
        ),
        Route(
            FAL,
            "fal-ai/minimax/hailuo-2.3-fast/pro/image-to-video",
            fal_mapping.hailuo_pro,
            when=fal_mapping.hailuo_image_1080p,
            media=("first_frame_image",),
        ),
        Route(
            FAL,
            "fal-ai/minimax/hailuo-2.3/standard/text-to-video",
            fal_mapping.hailuo,
            when=fal_mapping.hailuo_text_768p,
        ),
        Route(
            FAL,
            "fal-ai/minimax/hailuo-2.3/pro/text-to-video",
            fal_mapping.hailuo_pro,
            when=fal_mapping.hailuo_text_1080p,
        ),
    ),
}

JOB_MODELS: tuple[ProviderModel, ...] = tuple(
    model.with_routes(FAL_ROUTES.get(model.spec.id, ()))
    for model in (Z_IMAGE_TURBO, HAILUO_FAST, FLUX_SCHNELL, FLUX_KONTEXT)
)
# From here on the names mean the models with all their routes.
Z_IMAGE_TURBO, HAILUO_FAST, FLUX_SCHNELL, FLUX_KONTEXT = JOB_MODELS


# OpenAI's models: one route each (no other provider serves them, and OpenAI's voices are its
# own: see docs/providers/openai.md). Prices follow OpenAI's at the same credit rate as the
# others: gpt-image-1 (medium) and dall-e-3 (standard) cost about $0.04 an image, and so do
# gpt-image-1.5 and gpt-image-2 at medium quality near a megapixel.
def _openai(spec: ModelSpec, build: Build, planner: OutputPlanner) -> ProviderModel:
    """``openai/<model>``, served by OpenAI's ``<model>``."""
    target = spec.id.removeprefix(f"{OPENAI}/")
    return provider_model(spec, Route(OPENAI, target, build, plan=planner))


# OpenAI's shutdowns, as the official client (openai 3.57) announces them.
GPT_IMAGE_1_SHUTDOWN = Deprecation(date(2026, 10, 23), "openai/gpt-image-1.5")
DALL_E_3_SHUTDOWN = Deprecation(date(2026, 5, 12), "openai/gpt-image-2")
SPEECH_SHUTDOWN = date(2027, 1, 6)  # tts-1, tts-1-hd, gpt-4o-mini-tts: no OpenAI successor yet
TRANSCRIBE_SHUTDOWN = Deprecation(date(2027, 2, 26), "openai/gpt-transcribe")

GPT_IMAGE_2 = _openai(
    ModelSpec(
        id="openai/gpt-image-2",
        name="GPT Image 2",
        type="image",
        input_model=GptImage2Input,
        credits=70,
        price_unit="output",
        description=(
            "OpenAI's gpt-image-2 text-to-image at the size asked for: width and height "
            "rounded to multiples of 16, 1:3 to 3:1, up to 3840x2160."
        ),
        category="image-generation",
        pool=REMOTE_POOL,
        timeout_s=300,
    ),
    openai_mapping.gpt_image_2,
    openai_mapping.gpt_image_2_plan,
)
GPT_IMAGE_1_5 = _openai(
    ModelSpec(
        id="openai/gpt-image-1.5",
        name="GPT Image 1.5",
        type="image",
        input_model=GptImageInput,
        credits=70,
        price_unit="output",
        description="OpenAI's gpt-image-1.5 text-to-image: 1024x1024, 1536x1024 or 1024x1536.",
        category="image-generation",
        pool=REMOTE_POOL,
        timeout_s=300,
    ),
    openai_mapping.gpt_image,
    openai_mapping.gpt_image_plan,
)
# Retired (OpenAI shut them down): listed, unavailable, naming their replacements.
GPT_IMAGE_1 = _openai(
    ModelSpec(
        id="openai/gpt-image-1",
        name="GPT Image 1",
        type="image",
        input_model=GptImageInput,
        credits=70,
        price_unit="output",
        description="OpenAI's gpt-image-1 text-to-image: 1024x1024, 1536x1024 or 1024x1536.",
        category="image-generation",
        pool=REMOTE_POOL,
        timeout_s=300,
        deprecation=GPT_IMAGE_1_SHUTDOWN,
    ),
    openai_mapping.gpt_image,
    openai_mapping.gpt_image_plan,
)
# gpt-image-1 was shut down on October 23, 2026 (the official client's ImageModel notes), so
# edits go to gpt-image-1.5, which takes the same three sizes; priced as gpt-image-1.
GPT_IMAGE_1_5_EDIT = provider_model(
    ModelSpec(
        id="openai/gpt-image-1.5-edit",
        name="GPT Image 1.5 (edit)",
        type=IMAGE_EDIT_TYPE,
        input_model=GptImageEditInput,
        credits=70,
        price_unit="output",
        description=(
            "OpenAI's gpt-image-1.5 image editing (an image, an optional mask and an "
            "instruction): 1024x1024, 1536x1024 or 1024x1536."
        ),
        category="image-editing",
        pool=REMOTE_POOL,
        timeout_s=300,
    ),
    Route(
        OPENAI,
        "gpt-image-1.5",
        openai_mapping.gpt_image_edit,
        plan=openai_mapping.gpt_image_edit_plan,
    ),
)
DALL_E_3 = _openai(
    ModelSpec(
        id="openai/dall-e-3",
        name="DALL·E 3",
        type="image",
        input_model=DallE3Input,
        credits=70,
        price_unit="output",
        description="OpenAI's DALL·E 3 text-to-image: one PNG, 1024x1024, 1792x1024 or 1024x1792.",
        category="image-generation",
        pool=REMOTE_POOL,
        timeout_s=300,
        deprecation=DALL_E_3_SHUTDOWN,
    ),
    openai_mapping.dall_e_3,
    openai_mapping.dall_e_3_plan,
)
GPT_4O_MINI_TTS = _openai(
    ModelSpec(
        id="openai/gpt-4o-mini-tts",
        name="GPT-4o mini TTS",
        type="speech",
        input_model=OpenAISpeechInput,
        credits=20,
        description=(
            "OpenAI's neural text to speech, steerable with instructions (tone, accent, pace); "
            "11 voices."
        ),
        category="speech",
        pool=REMOTE_POOL,
        timeout_s=300,
        output_kind="audio",
        # OpenAI names no successor: ElevenLabs' steerable, most lifelike model is ours.
        deprecation=Deprecation(SPEECH_SHUTDOWN, "elevenlabs/eleven_multilingual_v2"),
    ),
    openai_mapping.speech,
    openai_mapping.speech_plan,
)
TTS_1 = _openai(
    ModelSpec(
        id="openai/tts-1",
        name="TTS-1",
        type="speech",
        input_model=Tts1Input,
        credits=20,
        description="OpenAI's fast neural text to speech; 9 voices.",
        category="speech",
        pool=REMOTE_POOL,
        timeout_s=300,
        output_kind="audio",
        deprecation=Deprecation(SPEECH_SHUTDOWN, "elevenlabs/eleven_flash_v2_5"),
    ),
    openai_mapping.speech,
    openai_mapping.speech_plan,
)


# Speech to text, priced as speech is: OpenAI charges $0.006 a minute ($0.003 for mini), so a
# flat price per job covers a few minutes; see docs/providers/openai.md#transcription.
def _transcriber(
    model: str,
    name: str,
    credits: int,
    description: str,
    deprecation: Deprecation | None = TRANSCRIBE_SHUTDOWN,
) -> ProviderModel:
    spec = ModelSpec(
        id=f"{OPENAI}/{model}",
        name=name,
        type=transcription.TYPE,
        input_model=transcription.input_model(model),
        credits=credits,
        description=description,
        category="transcription",
        pool=REMOTE_POOL,
        timeout_s=900,
        output_kind="file",
        deprecation=deprecation,
    )
    return _openai(spec, transcription.fields_for(model), transcription.plan)


# whisper-1 comes first: the default transcription model (captions) is the first that runs,
# and it is the one whose answer has real times, until it retires; gpt-transcribe then.
WHISPER_1 = _transcriber(
    "whisper-1",
    "Whisper",
    20,
    "OpenAI's Whisper speech to text: segments with their times, SRT and WebVTT captions.",
)
GPT_TRANSCRIBE = _transcriber(
    "gpt-transcribe",
    "GPT Transcribe",
    20,
    "OpenAI's current speech to text (detects the languages); text only, so caption times "
    "are estimated.",
    deprecation=None,
)
GPT_4O_TRANSCRIBE = _transcriber(
    "gpt-4o-transcribe",
    "GPT-4o Transcribe",
    20,
    "OpenAI's GPT-4o speech to text; text only, so caption times are estimated.",
)
GPT_4O_MINI_TRANSCRIBE = _transcriber(
    "gpt-4o-mini-transcribe",
    "GPT-4o mini Transcribe",
    10,
    "OpenAI's fast, cheaper speech to text; text only, so caption times are estimated.",
)


# Translation of timed text by a chat model, one message per job (the dubbing composition's
# translation step), priced as a chat message of that model is (docs/providers/openai.md#chat).
def _translator(model: str, name: str, credits: int) -> ProviderModel:
    spec = ModelSpec(
        id=f"{OPENAI}/{model}-translate",
        name=f"{name} translation",
        type=translation.TYPE,
        input_model=translation.TranslationInput,
        credits=credits,
        description=f"Timed text (subtitles, a transcript) translated by OpenAI's {model}, "
        "keeping its times: JSON, SRT or WebVTT.",
        category="translation",
        pool=REMOTE_POOL,
        timeout_s=300,
        output_kind="file",
    )
    return provider_model(
        spec, Route(OPENAI, model, translation.body_for(model), plan=translation.plan)
    )


GPT_5_4_MINI_TRANSLATE = _translator("gpt-5.4-mini", "GPT-5.4 mini", 1)
GPT_5_4_TRANSLATE = _translator("gpt-5.4", "GPT-5.4", 10)
OPENAI_MODELS = (
    GPT_IMAGE_2,
    GPT_IMAGE_1_5,
    GPT_IMAGE_1_5_EDIT,
    GPT_4O_MINI_TTS,
    TTS_1,
    WHISPER_1,
    GPT_TRANSCRIBE,
    GPT_4O_TRANSCRIBE,
    GPT_4O_MINI_TRANSCRIBE,
    GPT_5_4_MINI_TRANSLATE,
    GPT_5_4_TRANSLATE,
    GPT_IMAGE_1,
    DALL_E_3,
)


# ElevenLabs' speech models: one route each (its voices are the account's own). ElevenLabs bills
# by the character, multilingual_v2 twice what flash_v2_5 costs; a generation holds up to 5000.
def _elevenlabs(spec: ModelSpec) -> ProviderModel:
    """``elevenlabs/<model_id>``, served by ElevenLabs' ``<model_id>``."""
    target = spec.id.removeprefix(f"{ELEVENLABS}/")
    route = Route(
        ELEVENLABS, target, elevenlabs_mapping.speech, plan=elevenlabs_mapping.speech_plan
    )
    return provider_model(spec, route)


ELEVEN_MULTILINGUAL_V2 = _elevenlabs(
    ModelSpec(
        id="elevenlabs/eleven_multilingual_v2",
        name="Eleven Multilingual v2",
        type="speech",
        input_model=ElevenLabsSpeechInput,
        credits=40,
        description=(
            "ElevenLabs' most lifelike neural speech, 29 languages (the text's); the account's "
            "voices, steerable with stability, similarity_boost and style."
        ),
        category="speech",
        pool=REMOTE_POOL,
        timeout_s=300,
        output_kind="audio",
    )
)
ELEVEN_FLASH_V2_5 = _elevenlabs(
    ModelSpec(
        id="elevenlabs/eleven_flash_v2_5",
        name="Eleven Flash v2.5",
        type="speech",
        input_model=ElevenFlashInput,
        credits=20,
        description=(
            "ElevenLabs' fast, low-latency neural speech, 32 languages (language enforces one); "
            "the account's voices."
        ),
        category="speech",
        pool=REMOTE_POOL,
        timeout_s=300,
        output_kind="audio",
    )
)
ELEVENLABS_MODELS = (ELEVEN_MULTILINGUAL_V2, ELEVEN_FLASH_V2_5)

# Lip-sync: Sync Labs' lipsync-2, fal first (its queue is the model's home there), Replicate
# taking over. Both bill about $0.05 a second of output: 87 credits a second at the rate
# Kontext's 70 credits for $0.04 set. A job takes up to 30 s of video and sound
# (MEDIA_INPUT_MAX_S): it reserves 30 s and pays for the seconds it made. See
# docs/providers.md#lip-sync.
SYNC_LIPSYNC = provider_model(
    ModelSpec(
        id="sync-lipsync",
        name="Sync lipsync-2",
        type=LIPSYNC_TYPE,
        input_model=lipsync.SyncLipsyncInput,
        credits=87,
        price_unit="output_second",
        max_output_s=MEDIA_INPUT_MAX_S,
        description=(
            "Sync Labs' lipsync-2: a video of a face made to say a sound (up to 30 s each), on "
            "fal or on Replicate (the other takes over when one fails)."
        ),
        category="lipsync",
        pool=REMOTE_POOL,
        timeout_s=1800,
        output_kind="video",
    ),
    Route(
        FAL,
        "fal-ai/sync-lipsync/v2",
        lipsync.fal_build,
        media=("video_url", "audio_url"),
        plan=lipsync.plan,
    ),
    Route(
        REPLICATE,
        "sync/lipsync-2",
        lipsync.replicate_build,
        media=("video_url", "audio_url"),
        plan=lipsync.plan,
    ),
)
LIPSYNC_MODELS = (SYNC_LIPSYNC,)

# Talking avatars: VEED's Fabric 1.0, fal first, Replicate taking over. fal bills $0.08 a second
# at 480p and $0.15 at 720p: 264 credits a second, the 720p rate. A job's sound is 30 s at most:
# it reserves 30 s and pays for the seconds it made. Given text, the job also pays its speech
# step (ModelSpec.uses). See docs/providers.md#talking-avatars.
VEED_FABRIC = provider_model(
    ModelSpec(
        id="veed-fabric",
        name="VEED Fabric 1.0",
        type=AVATAR_TYPE,
        input_model=avatar.FabricInput,
        credits=264,
        price_unit="output_second",
        max_output_s=MEDIA_INPUT_MAX_S,
        description=(
            "VEED's Fabric 1.0: an image of a face made to say a sound or a text (spoken first "
            "by a speech model), up to 30 s, on fal or on Replicate (the other takes over when "
            "one fails)."
        ),
        category="avatar",
        pool=REMOTE_POOL,
        timeout_s=1800,
        output_kind="video",
        uses=avatar.uses,
    ),
    Route(
        FAL,
        "veed/fabric-1.0",
        avatar.fal_build,
        media=("image_url", "audio_url"),
        plan=avatar.plan,
    ),
    Route(
        REPLICATE,
        "veed/fabric-1.0",
        avatar.replicate_build,
        media=("image_url", "audio_url"),
        plan=avatar.plan,
    ),
)
AVATAR_MODELS = (VEED_FABRIC,)

CURATED: tuple[ProviderModel, ...] = (
    JOB_MODELS + OPENAI_MODELS + ELEVENLABS_MODELS + LIPSYNC_MODELS + AVATAR_MODELS
)


def resolve_generic(model_id: str, type_: str | None) -> ProviderModel | None:
    """A model reached by the provider's own id: ``replicate/…`` or ``fal/…``."""
    return generic(model_id, type_) or fal_generic(model_id, type_)


def fal_generic(model_id: str, type_: str | None) -> ProviderModel | None:
    """``fal/<id>`` (``fal/fal-ai/flux/dev``) as a model of ``type_`` (image when the request
    names no type): the common fields under fal's usual names, everything else in ``options``."""
    if not model_id.startswith(FAL_PREFIX):
        return None
    parts = model_id.removeprefix(FAL_PREFIX).split("/")
    low, high = _FAL_PARTS
    if not low <= len(parts) <= high:
        return None
    return _passthrough(model_id, type_, parts, FAL, "fal", fal_mapping.generic)


def generic(model_id: str, type_: str | None) -> ProviderModel | None:
    """``replicate/<owner>/<name>`` as a model of ``type_`` (image when the request names no
    type): the common fields under their usual names, everything else in ``options``."""
    if not model_id.startswith(GENERIC_PREFIX):
        return None
    parts = model_id.removeprefix(GENERIC_PREFIX).split("/")
    if len(parts) != 2:
        return None
    return _passthrough(model_id, type_, parts, REPLICATE, "Replicate", mapping.generic)


def _passthrough(
    model_id: str, type_: str | None, parts: list[str], provider: str, label: str, build: Build
) -> ProviderModel | None:
    """A provider's own model reached by its id, with the generic input of its type."""
    if not all(_NAME.fullmatch(part) for part in parts):
        return None
    type_ = type_ or GENERIC_DEFAULT_TYPE
    input_model = GENERIC_INPUTS.get(type_)
    if input_model is None:
        return None
    target = "/".join(parts)
    spec = ModelSpec(
        id=model_id,
        name=f"{target} on {label}",
        type=type_,
        input_model=input_model,
        credits=GENERIC_CREDITS[type_],
        price_unit="output" if type_ == "image" else "generation",
        description=f"{label}'s {target}; its own inputs go in options.",
        category=provider,
        pool=REMOTE_POOL,
        timeout_s=GENERIC_TIMEOUT_S,
    )
    media = ("first_frame_image",) if type_ == "video" else ()
    return ProviderModel(spec, (Route(provider, target, build, media=media),))
