"""Sandbox outputs have the live shapes: for every model in the catalog, the live engine and the
sandbox run on the same small input, and their outputs are decoded and compared (count, content
type, size, duration, alpha channel, audio track, sample rate and channels, output
fields, failed units).

The cases are keyed by model id and checked against the registry, so a model added without a
plan (its sandbox twin) or without a case here fails ``test_every_model_has_a_plan_and_a_case``.
Hosted-provider models run live against the fake Replicate on loopback, which delivers what the
models' pages document (tests/providers/fake_replicate.py).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import io
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import mido
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mediastudio.catalog.lifecycle import is_retired
from mediastudio.engines.contract import Engine, InvalidInput, OutputFile, PlannedOutput
from mediastudio.engines.media.captions import parse_srt, parse_vtt
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.engines.providers import ProvidersEngine
from mediastudio.engines.registry import EngineRegistry
from mediastudio.kit.clock import utcnow
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from mediastudio.settings import Settings
from tests.conftest import make_settings
from tests.providers.conftest import openai_settings, replicate_settings
from tests.providers.fake_elevenlabs import RunningElevenLabs
from tests.providers.fake_openai import RunningOpenAI
from tests.providers.fake_replicate import RunningFake

FRAME_TOLERANCE_S = 0.1
TRANSCRIPT_TYPES = frozenset({"application/json", "application/x-subrip", "text/vtt"})


# --- tiny inputs -------------------------------------------------------------------------------


def _uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64," + base64.b64encode(data).decode()


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return _uri(buffer.getvalue(), "image/png")


def product_photo() -> str:
    """64x48: a red disc on a white studio backdrop (background removal finds it)."""
    image = Image.new("RGB", (64, 48), "white")
    ImageDraw.Draw(image).ellipse((18, 8, 46, 40), fill=(200, 30, 30))
    return _png(image)


def product_page(image: str) -> str:
    """A shop's product page naming ``image`` as its og:image, as a data: URI."""
    html = (
        "<html><head><title>Acme Kettle | Acme</title>"
        '<meta name="description" content="Boils in a minute. Keeps warm for hours.">'
        f'<meta property="og:image" content="{image}"></head>'
        "<body><p>Now $39.99</p></body></html>"
    )
    return _uri(html.encode(), "text/html")


def rotated_photo() -> str:
    """A 64x48 JPEG whose EXIF says "turn me a quarter": upright, it is 48x64."""
    image = Image.new("RGB", (64, 48), (120, 160, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return _uri(buffer.getvalue(), "image/jpeg")


def transparent_sticker() -> str:
    """64x48 RGBA: an opaque square on a see-through ground."""
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((16, 8, 48, 40), fill=(30, 120, 200, 255))
    return _png(image)


def first_frame() -> str:
    """320x480 portrait: the smallest kind of frame Hailuo animates (short side over 300 px)."""
    image = Image.new("RGB", (320, 480), (90, 140, 60))
    ImageDraw.Draw(image).ellipse((100, 180, 220, 300), fill=(230, 200, 40))
    return _png(image)


def small_video(tmp: Path, *, seconds: float, fps: int = 10, audio: bool = True) -> str:
    """64x48, a block moving over a flat colour (one shot: no cut for auto-clip to find), with a
    steady tone."""
    path = tmp / f"source-{seconds}-{fps}-{audio}.mp4"
    tone = None
    if audio:
        t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with VideoWriter(path, 64, 48, fps=fps, audio=tone) as writer:
        for index in range(round(seconds * fps)):
            frame = np.full((48, 64, 3), (60, 90, 140), dtype=np.uint8)
            left = (2 * index) % 48
            frame[16:32, left : left + 16] = (220, 200, 40)
            writer.write(frame)
    return _uri(path.read_bytes(), "video/mp4")


@functools.cache
def tone_wav(seconds: float) -> str:
    """A tone of ``seconds`` as a WAV data: URI."""
    buffer = io.BytesIO()
    t = np.arange(round(seconds * 16_000)) / 16_000
    samples = (0.3 * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16).reshape(1, -1)
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 16_000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return _uri(buffer.getvalue(), "audio/wav")


@dataclass(frozen=True)
class Media:
    photo: str
    rotated: str
    sticker: str
    video: str  # 1 s with sound
    silent_video: str  # 1 s without
    clip_source: str  # 2 s
    frame: str  # 320x480, for Hailuo


Case = Callable[[Media], dict[str, Any]]

# One or more small inputs per catalog model: the smallest sizes and durations each accepts.
CASES: dict[str, dict[str, Case]] = {
    "builtin/espeak": {
        "wav": lambda m: {"text": "Hello there. This is a short test.", "output_format": "wav"},
    },
    "builtin/composer": {
        "midi": lambda m: {"prompt": "calm piano", "duration": 5, "output_format": "mp3"},
        "no-midi": lambda m: {"prompt": "rock", "duration": 5, "include_midi": False},
    },
    "builtin/remove-background": {
        "png": lambda m: {"image_url": m.photo},
    },
    "builtin/upscale": {
        "x4": lambda m: {"image_url": m.photo, "scale": 4},
        "alpha": lambda m: {"image_url": m.sticker, "scale": 2, "output_format": "webp"},
        "jpg-flattens": lambda m: {"image_url": m.sticker, "output_format": "jpg"},
    },
    "builtin/image-transform": {
        "sepia": lambda m: {"image_url": m.photo, "transformation": "sepia"},
        "alpha": lambda m: {"image_url": m.sticker, "transformation": "grayscale"},
        "exif-rotated": lambda m: {"image_url": m.rotated, "transformation": "vintage"},
    },
    "builtin/template": {
        "photo-png": lambda m: {
            "template_id": "product-announcement",
            "texts": {"headline": "New"},
            "images": {"product": m.photo},
        },
        "webp": lambda m: {
            "template_id": "quote-card",
            "texts": {"quote": "Less, but better."},
            "output_format": "webp",
        },
        "jpg": lambda m: {
            "template_id": "sale-banner",
            "texts": {"discount": "50%", "headline": "Summer"},
            "output_format": "jpg",
        },
    },
    "builtin/template-video": {
        "title": lambda m: {"template_id": "title-card", "texts": {"title": "Hello"}},
    },
    "builtin/product-enhance": {
        "one-unreadable": lambda m: {
            "preset": "single_product_white_background",
            "items": [
                {"image_url": m.photo, "external_id": "sku-1"},
                {"image_url": _uri(b"not an image", "image/png"), "external_id": "sku-2"},
            ],
            "output_format": "png",
        },
        "same-size": lambda m: {
            "preset": "brightness_color_normalization",
            "items": [{"image_url": m.photo}],
        },
    },
    "builtin/image-to-video": {
        "360p": lambda m: {
            "first_frame_image": m.photo,
            "duration": 1,
            "fps": 8,
            "resolution": "360p",
            "aspect_ratio": "9:16",
        },
        "silent-off": lambda m: {
            "first_frame_image": m.photo,
            "duration": 1,
            "fps": 8,
            "resolution": "360p",
            "silent_audio": False,
            "motion": "pan-left",
        },
    },
    "builtin/subtitles": {
        "srt": lambda m: {
            "video_url": m.video,
            "subtitles": "1\n00:00:00,000 --> 00:00:00,500\nHello\n",
        },
        "no-sound": lambda m: {
            "video_url": m.silent_video,
            "segments": [{"start": 0, "end": 0.5, "text": "Hi"}],
        },
        # No text: whisper (the fake OpenAI) transcribes the sound as a step.
        "generated": lambda m: {
            "video_url": m.video,
            "language": "en",
            "transcription_model": "openai/whisper-1",
        },
    },
    # Transcribed, translated and spoken again by the fake OpenAI, as steps.
    "builtin/dub": {
        "es": lambda m: {
            "video_url": m.video,
            "target_language": "es",
            "source_language": "en",
            "transcription_model": "openai/whisper-1",
            "translation_model": "openai/gpt-5.4-mini-translate",
            "speech_model": "openai/gpt-4o-mini-tts",
            "subtitles": True,
        },
        # Nothing drawn on the picture: the video's packets copied, not re-encoded.
        "es-copied": lambda m: {
            "video_url": m.video,
            "target_language": "es",
            "transcription_model": "openai/whisper-1",
            "translation_model": "openai/gpt-5.4-mini-translate",
            "speech_model": "openai/gpt-4o-mini-tts",
        },
        # Then lip-synced by the fake fal.
        "es-lipsync": lambda m: {
            "video_url": m.video,
            "target_language": "es",
            "transcription_model": "openai/whisper-1",
            "translation_model": "openai/gpt-5.4-mini-translate",
            "speech_model": "openai/gpt-4o-mini-tts",
            "lipsync": True,
            "lipsync_model": "sync-lipsync",
        },
    },
    "builtin/social-variants": {
        "video": lambda m: {"source_url": m.video, "platforms": ["tiktok", "linkedin"]},
        "image": lambda m: {"source_url": m.photo, "platforms": ["tiktok"], "image_duration": 1},
    },
    "builtin/auto-clip": {
        "one-shot": lambda m: {
            "video_url": m.clip_source,
            "min_duration": 1,
            "max_duration": 2,
            "aspect_ratio": "1:1",
        },
        "captions": lambda m: {
            "video_url": m.clip_source,
            "min_duration": 1,
            "max_duration": 2,
            "aspect_ratio": "1:1",
            "add_captions": True,
            "transcription_model": "openai/whisper-1",
        },
    },
    "builtin/commercial": {
        "tiktok": lambda m: {
            "product": "Acme",
            "platform": "tiktok",
            "duration": 15,
            "tone": "calm",
            "product_images": [m.photo],
            "resolution": "480p",
        },
        # No product images: FLUX schnell (the fake Replicate) draws each shot's still; the
        # request's script, so that no chat model is asked.
        "generated": lambda m: {
            "product": "Acme",
            "platform": "instagram",
            "duration": 15,
            "tone": "calm",
            "script": "Acme is here. Calm comes easy with Acme.",
            "image_model": "flux-schnell",
            "resolution": "480p",
        },
    },
    # A product page as a data: URI (no network), its og:image the product photo.
    "builtin/instant-ad": {
        "images": lambda m: {
            "website_url": product_page(m.photo),
            "platform": "linkedin",
            "count": 2,
            "style": "minimal",
        },
        # Facebook: its video is the smallest frame at 480p (4:5, 480x600; TikTok's 9:16 is
        # 480x854), and the live and the sandbox run each render one.
        "both-480p": lambda m: {
            "website_url": product_page(m.photo),
            "platform": "facebook",
            "count": 1,
            "style": "bold",
            "output_format": "both",
            "resolution": "480p",
        },
    },
    # Built-in steps only: espeak says each scene, image-to-video moves a painted still.
    "builtin/script-video": {
        "cards": lambda m: {
            "script": "Waves roll in. Gulls circle above.",
            "aspect_ratio": "9:16",
            "resolution": "240p",
            "speech_model": "builtin/espeak",
            "video_model": "builtin/image-to-video",
        },
    },
    # Hosted on Replicate (the fake); the providers' own minimums: Hailuo renders 6 s at least.
    "prunaai/z-image-turbo": {
        "webp": lambda m: {"prompt": "a red bicycle", "width": 256, "height": 256},
        "jpg-16px-steps": lambda m: {
            "prompt": "a lighthouse",
            "width": 300,
            "height": 260,
            "output_format": "jpg",
        },
    },
    "minimax/hailuo-2.3-fast": {
        "first-frame": lambda m: {"prompt": "the sun rises", "first_frame_image": m.frame},
        "text": lambda m: {"prompt": "waves at dusk", "duration": 4, "aspect_ratio": "9:16"},
    },
    "flux-schnell": {
        "two-wide": lambda m: {"prompt": "a kite", "aspect_ratio": "16:9", "num_outputs": 2},
        "size-to-ratio": lambda m: {
            "prompt": "a fox",
            "width": 600,
            "height": 900,
            "output_format": "jpg",
        },
    },
    # Image editing on Replicate (the fake): Kontext's frame nearest the input's shape or the
    # ratio asked for.
    "flux-kontext": {
        "match-input": lambda m: {"image_url": m.frame, "prompt": "add a red hat"},
        "wide-jpg": lambda m: {
            "image_url": m.photo,
            "prompt": "make it snow",
            "aspect_ratio": "16:9",
            "output_format": "jpg",
            "seed": 7,
        },
    },
    # Lip-sync on Replicate (the fake; fal has no key here): the video's frame and rate, as
    # long as the sync mode makes it, the speech as its sound.
    "sync-lipsync": {
        "loop-longer-speech": lambda m: {"video_url": m.video, "audio_url": tone_wav(1.5)},
        "cut-off": lambda m: {
            "video_url": m.silent_video,
            "audio_url": tone_wav(1.6),
            "sync_mode": "cut_off",
        },
    },
    # Talking avatars on Replicate (the fake): Fabric's frame for the image's shape, as long
    # as the sound (a text is spoken by a step: tests/providers/test_avatar_jobs.py).
    "veed-fabric": {
        "portrait-480p": lambda m: {"image_url": m.frame, "audio_url": tone_wav(1.5)},
        "turned-720p": lambda m: {
            "image_url": m.rotated,
            "audio_url": tone_wav(1.0),
            "resolution": "720p",
        },
    },
    # Hosted on OpenAI (the fake): synchronous calls.
    "openai/gpt-image-1.5-edit": {
        "tall-two-webp": lambda m: {
            "image_url": m.frame,
            "prompt": "add a red hat",
            "num_outputs": 2,
            "output_format": "webp",
        },
        "masked-wide": lambda m: {
            "image_url": m.photo,
            "mask": m.sticker,
            "prompt": "a blue sky",
            "aspect_ratio": "16:9",
            "quality": "low",
            "input_fidelity": "high",
        },
    },
    "openai/gpt-image-2": {
        "two-wide-jpg": lambda m: {
            "prompt": "a kite",
            "aspect_ratio": "16:9",
            "num_outputs": 2,
            "output_format": "jpg",
        },
        "exact-png": lambda m: {
            "prompt": "a tower",
            "width": 1000,
            "height": 2200,
            "output_format": "png",
        },
    },
    "openai/gpt-image-1.5": {
        "two-wide-jpg": lambda m: {
            "prompt": "a kite",
            "aspect_ratio": "16:9",
            "num_outputs": 2,
            "output_format": "jpg",
        },
        "tall-webp": lambda m: {"prompt": "a tower", "width": 512, "height": 1024},
    },
    "openai/gpt-4o-mini-tts": {
        "mp3": lambda m: {"text": "Good morning, and welcome.", "voice": "coral"},
        "flac-fast": lambda m: {
            "text": "A quicker sentence to say.",
            "speed": 1.5,
            "output_format": "flac",
        },
    },
    "openai/tts-1": {
        "ogg": lambda m: {"text": "Hello there, friend.", "voice": "onyx", "output_format": "ogg"},
        "aac": lambda m: {"text": "Short.", "output_format": "aac"},
        "wav": lambda m: {"text": "Hello there, friend.", "output_format": "wav"},
    },
    # Hosted on ElevenLabs (the fake): synchronous calls.
    "elevenlabs/eleven_multilingual_v2": {
        "mp3": lambda m: {"text": "Good morning, and welcome."},
        "wav-slow": lambda m: {"text": "A slower sentence.", "speed": 0.8, "output_format": "wav"},
    },
    "elevenlabs/eleven_flash_v2_5": {
        "mp3-de": lambda m: {"text": "Guten Morgen, alle.", "language": "de", "speed": 1.2},
        "wav": lambda m: {"text": "Short.", "output_format": "wav"},
    },
    # Speech to text on OpenAI: a video's sound (extracted) and a WAV sent as it is.
    "openai/whisper-1": {
        "video-all": lambda m: {"audio_url": m.video, "language": "en"},
        "wav-vtt": lambda m: {"audio_url": tone_wav(2.5), "output_formats": ["vtt"]},
        "wav-words": lambda m: {
            "audio_url": tone_wav(2.5),
            "output_formats": ["json"],
            "timestamp_granularities": ["segment", "word"],
        },
    },
    "openai/gpt-4o-transcribe": {
        "wav-json-srt": lambda m: {"audio_url": tone_wav(2.5), "output_formats": ["json", "srt"]},
    },
    "openai/gpt-4o-mini-transcribe": {"video": lambda m: {"audio_url": m.video}},
    "openai/gpt-transcribe": {
        "wav-json-vtt": lambda m: {"audio_url": tone_wav(2.5), "output_formats": ["json", "vtt"]},
    },
    "openai/gpt-5.4-mini-translate": {
        "all": lambda m: {
            "segments": [
                {"start": 0.0, "end": 1.2, "text": "Hello there."},
                {"start": 1.5, "end": 2.5, "text": "Second line."},
            ],
            "target_language": "es",
            "output_formats": ["json", "srt", "vtt"],
        },
    },
    "openai/gpt-5.4-translate": {
        "json": lambda m: {
            "segments": [{"start": 0.5, "end": 1.0, "text": "Hi."}],
            "target_language": "de",
            "source_language": "en",
        },
    },
    "sandbox/image": {"png": lambda m: {"prompt": "cat", "width": 256, "height": 256}},
    "sandbox/video": {"short": lambda m: {"prompt": "waves", "duration": 1, "fps": 8}},
    "sandbox/speech": {"wav": lambda m: {"text": "Hello there", "output_format": "wav"}},
    "sandbox/music": {"mp3": lambda m: {"prompt": "calm", "duration": 5}},
}
# A full commercial (speech, music, several shots, the render); an instant ad's video is one.
SLOW = {"builtin/commercial", "builtin/instant-ad"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> EngineRegistry:
    """The catalog a fresh install serves: the built-in engines and the sandbox, no fakes."""
    settings = make_settings(
        tmp_path_factory.mktemp("data"), engine_modules=[], disabled_engines=[]
    )
    return EngineRegistry.discover(settings)


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings whose Replicate, OpenAI and ElevenLabs are the fakes on loopback, for the live
    runs of provider models."""
    with RunningFake() as fake, RunningOpenAI() as openai, RunningElevenLabs() as eleven:
        data_dir = tmp_path_factory.mktemp("providers")
        replicate = replicate_settings(data_dir, fake)
        both = openai_settings(
            data_dir,
            openai,
            providers={
                **replicate.providers.model_dump(),
                "openai": {"api_key": openai.key, "base_url": openai.api_url},
                "elevenlabs": {"api_key": eleven.key, "base_url": eleven.base_url},
            },
            net_allow_hosts=f"{replicate.net_allow_hosts},127.0.0.1:{urlsplit(openai.base_url).port}",
        )
        yield both


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    tmp = tmp_path_factory.mktemp("media")
    return Media(
        photo=product_photo(),
        rotated=rotated_photo(),
        sticker=transparent_sticker(),
        video=small_video(tmp, seconds=1.0),
        silent_video=small_video(tmp, seconds=1.0, audio=False),
        clip_source=small_video(tmp, seconds=2.0),
        frame=first_frame(),
    )


def test_every_model_has_a_plan_and_a_case(registry: EngineRegistry) -> None:
    """Every model that runs has its cases; a retired one (its provider shut it down, see
    catalog/lifecycle.py) needs none, and one whose cases are here must still be listed."""
    models = {spec.id: spec for spec in registry.models()}
    now = utcnow()
    running = {model for model, spec in models.items() if not is_retired(spec.deprecation, now)}
    assert running <= set(CASES) <= set(models), "each catalog model needs a parity case here"
    assert [model for model, spec in models.items() if spec.plan is None] == []


# --- decoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    content_type: str
    width: int | None
    height: int | None
    duration_s: float | None
    alpha: bool
    audio: bool
    fps: float | None
    fields: frozenset[str]
    # An audio file's, or a video's audio track's: what a player or a mixer downstream sees.
    sample_rate: int | None = None
    channels: int | None = None


def decoded(output: OutputFile) -> Shape:
    """The output's shape read from its file (the metadata is checked against it too)."""
    kind = output.content_type
    fields = frozenset(
        [name for name in ("width", "height", "duration_s") if getattr(output, name) is not None]
        + list(output.extra)
    )
    if kind.startswith("image/"):
        with Image.open(output.path) as image:
            assert image.get_format_mimetype() == kind
            shape = Shape(kind, *image.size, None, "A" in image.getbands(), False, None, fields)
    elif kind == "video/mp4":
        shape = _video_shape(output.path, fields)
    elif kind in TRANSCRIPT_TYPES:
        shape = _transcript_shape(output, kind, fields)
    elif kind == "audio/midi":
        length = mido.MidiFile(str(output.path)).length
        shape = Shape(kind, None, None, length, False, True, None, fields)
    else:
        assert kind.startswith("audio/"), kind
        shape = _audio_shape(output.path, kind, fields)
    assert (output.width, output.height) == (shape.width, shape.height), "metadata lies"
    if shape.duration_s is not None:
        tolerance = FRAME_TOLERANCE_S + (1 / shape.fps if shape.fps else 0)
        assert abs((output.duration_s or 0) - shape.duration_s) <= tolerance, "metadata lies"
    return shape


def _transcript_shape(output: OutputFile, kind: str, fields: frozenset[str]) -> Shape:
    """A transcript file parsed: JSON with its segments (the duration its own), or captions
    that parse and lie within the audio (the duration the output's)."""
    text = output.path.read_text(encoding="utf-8")
    if kind == "application/json":
        found = json.loads(text)
        keys = frozenset(found) | {f"segment.{key}" for s in found["segments"] for key in s}
        keys |= {f"word.{key}" for w in found.get("words", []) for key in w}
        words = [(w["start"], w["end"]) for w in found.get("words", [])]
        assert words == sorted(words) and all(0 <= a < b for a, b in words)
        cues = [(s["start"], s["end"]) for s in found["segments"]]
        duration = float(found["duration"])
    else:
        parsed = parse_srt(text) if kind == "application/x-subrip" else parse_vtt(text)
        keys, cues, duration = frozenset(), [(c.start, c.end) for c in parsed], output.duration_s
    assert cues and duration is not None
    assert all(0 <= start < end <= duration + FRAME_TOLERANCE_S for start, end in cues)
    return Shape(kind, None, None, duration, False, False, None, fields | keys)


def _video_shape(path: Path, fields: frozenset[str]) -> Shape:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 0)
        sizes = {(frame.width, frame.height) for frame in container.decode(stream)}
        frames = stream.frames or 0
        audio = container.streams.audio[0] if container.streams.audio else None
        sample_rate = audio.rate if audio is not None else None
        channels = audio.channels if audio is not None else None
    [(width, height)] = sizes
    return Shape(
        "video/mp4",
        width,
        height,
        frames / rate,
        False,
        audio is not None,
        rate,
        fields,
        sample_rate,
        channels,
    )


def _audio_shape(path: Path, kind: str, fields: frozenset[str]) -> Shape:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        rate, channels = stream.rate, stream.channels
    return Shape(kind, None, None, samples / rate, False, True, None, fields, rate, channels)


# --- running -----------------------------------------------------------------------------------


def run(
    registry: EngineRegistry,
    model_id: str,
    data: dict[str, Any],
    workdir: Path,
    *,
    sandbox: bool,
    generation_id: str = "gen_parity",
    providers: Settings | None = None,
) -> JobContext:
    """One job of ``model_id`` in the sandbox or live; a provider model runs live on a fresh
    providers engine configured by ``providers`` (its HTTP client lives in this job's loop)."""
    registered = registry.get(model_id)
    assert registered is not None
    validated = registered.spec.input_model.model_validate(data)
    if not sandbox and registered.spec.uses is not None and registered.spec.uses(validated):
        assert providers is not None, "a composition over provider models runs against the fakes"
        return _composed(model_id, validated, workdir, providers, generation_id)
    engine = registry.sandbox if sandbox else registered.engine
    assert engine is not None
    policy = NetPolicy()
    if not sandbox and isinstance(engine, ProvidersEngine):
        assert providers is not None, "a provider model runs live against the fake"
        engine, policy = ProvidersEngine(providers), providers.net_policy()
    workdir.mkdir()
    ctx = JobContext(
        generation_id=generation_id,
        model=registered.spec,
        input=validated,
        sandbox=sandbox,
        workdir=workdir,
        fetcher=SafeFetcher(workdir, policy),
    )
    running = engine.run(ctx)
    if inspect.isawaitable(running):
        asyncio.run(_finished(running, engine))
    return ctx


def _composed(
    model_id: str, validated: Any, workdir: Path, providers: Settings, generation_id: str
) -> JobContext:
    """A live job whose steps run provider models: as the runner runs it, in a worker thread
    while the event loop serves the steps, on a registry of its own (the providers' HTTP
    clients live in this job's loop)."""
    settings = providers.model_copy(update={"engine_modules": [], "disabled_engines": []})
    registry = EngineRegistry.discover(settings)
    registered = registry.get(model_id)
    assert registered is not None
    workdir.mkdir()

    async def job() -> JobContext:
        ctx = JobContext(
            generation_id=generation_id,
            model=registered.spec,
            input=validated,
            sandbox=False,
            workdir=workdir,
            fetcher=SafeFetcher(workdir, settings.net_policy()),
            loop=asyncio.get_running_loop(),
        )
        try:
            await asyncio.to_thread(registered.engine.run, ctx)
        finally:
            await registry.aclose()
        return ctx

    return asyncio.run(job())


async def _finished(running: Awaitable[None], engine: Engine) -> None:
    try:
        await running
    finally:
        await engine.aclose()


def planned_outputs(ctx: JobContext) -> list[PlannedOutput]:
    plan = ctx.model.plan
    assert plan is not None
    return [item for item in plan(ctx.input, ctx.fetcher) if isinstance(item, PlannedOutput)]


def _params() -> list[Any]:
    params = []
    for model_id, cases in CASES.items():
        for name in cases:
            marks = [pytest.mark.slow] if model_id in SLOW else []
            params.append(pytest.param(model_id, name, id=f"{model_id}:{name}", marks=marks))
    return params


@pytest.mark.parametrize(("model_id", "case"), _params())
def test_the_sandbox_output_has_the_live_shape(
    registry: EngineRegistry,
    media: Media,
    providers: Settings,
    tmp_path: Path,
    model_id: str,
    case: str,
) -> None:
    data = CASES[model_id][case](media)
    live = run(registry, model_id, data, tmp_path / "live", sandbox=False, providers=providers)
    sandbox = run(registry, model_id, data, tmp_path / "sandbox", sandbox=True)
    assert_same_shapes(live, sandbox)


def assert_same_shapes(live: JobContext, sandbox: JobContext) -> None:
    """The sandbox's outputs decode to the live ones' shapes, as its plan said."""
    assert live.outputs, "the live engine made nothing: pick another parity input"
    assert [f["code"] for f in sandbox.failures] == [f["code"] for f in live.failures]
    assert [set(f) for f in sandbox.failures] == [set(f) for f in live.failures]
    assert len(sandbox.outputs) == len(live.outputs)
    plan = planned_outputs(sandbox)
    for index, (real, placeholder, planned) in enumerate(
        zip(live.outputs, sandbox.outputs, plan, strict=True)
    ):
        want, got = decoded(real), decoded(placeholder)
        where = f"output {index}"
        assert got.content_type == want.content_type, where
        assert (got.width, got.height) == (want.width, want.height), where
        assert got.alpha == want.alpha, where
        assert got.audio == want.audio, where
        assert (got.sample_rate, got.channels) == (want.sample_rate, want.channels), where
        assert got.fields == want.fields, where
        assert (got.fps is None) == (want.fps is None), where
        if want.fps is not None and got.fps is not None:
            assert got.fps == pytest.approx(want.fps, rel=1e-3), where
        assert (got.duration_s is None) == (want.duration_s is None), where
        if want.duration_s is not None and got.duration_s is not None:
            frame = 1 / want.fps if want.fps else 0.0
            tolerance = max(FRAME_TOLERANCE_S, frame, planned.duration_tolerance_s)
            assert abs(got.duration_s - want.duration_s) <= tolerance, (where, got, want)


# --- registered models: local weights ------------------------------------------------------------

# Local models exist only once an operator registers a folder (`mediastudio models pull`), so the
# catalog above has none. Their parity is proven per registration kind: a tiny model of each kind
# is built and registered here, and every model the local engine then lists must have its kind's
# cases (a new kind without cases fails test_every_registered_model_has_a_plan_and_a_case).
REGISTERED_CASES: dict[str, dict[str, Case]] = {
    "diffusers": {
        "text": lambda m: {"prompt": "a kite", "steps": 1, "num_outputs": 2, "seed": 3},
        "aspect-jpg": lambda m: {
            "prompt": "a fox",
            "steps": 1,
            "aspect_ratio": "16:9",
            "output_format": "jpg",
        },
        "image-to-image": lambda m: {"prompt": "a red disc", "steps": 2, "image_url": m.photo},
    },
    "diffusers-video": {
        "text": lambda m: {
            "prompt": "a kite",
            "steps": 1,
            "width": 64,
            "height": 32,
            "num_frames": 9,
            "fps": 8,
            "seed": 3,
        },
        "image-height-only": lambda m: {
            "first_frame_image": m.photo,
            "prompt": "a red disc",
            "steps": 1,
            "height": 32,
            "aspect_ratio": "1:1",
            "num_frames": 6,
            "seed": 4,
        },
    },
    "faster-whisper": {
        "video-all": lambda m: {"audio_url": m.video},
        "wav-json-srt-de": lambda m: {
            "audio_url": tone_wav(2.5),
            "output_formats": ["json", "srt"],
            "language": "de",
        },
        "wav-words": lambda m: {
            "audio_url": tone_wav(2.5),
            "output_formats": ["json"],
            "timestamp_granularities": ["word"],
        },
    },
    "piper": {
        "wav": lambda m: {"text": "Good morning. How are you today?", "output_format": "wav"},
        "speaker-mp3-fast": lambda m: {
            "text": "A second speaker.\n\nAnd a new paragraph, read faster.",
            "voice": "xx_XX-tiny-low:bob",
            "speed": 1.5,
        },
        "opus": lambda m: {"text": "Opus runs at forty eight kilohertz.", "output_format": "ogg"},
    },
}


@dataclass(frozen=True)
class Registered:
    registry: EngineRegistry
    kinds: dict[str, str]  # each listed local model's id → its registration kind


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """The catalog with a tiny model of each registration kind registered."""
    from mediastudio.engines.local import registrations
    from mediastudio.engines.local.registrations import ID_PREFIX
    from tests.engines.tiny_diffusion import (
        build_tiny_pipeline,
        build_tiny_video_pipeline,
        require_local_extra,
    )
    from tests.engines.tiny_piper import build_tiny_voice, require_piper
    from tests.engines.tiny_whisper import tiny_whisper

    require_local_extra()
    require_piper()
    settings = make_settings(
        tmp_path_factory.mktemp("registered"), engine_modules=[], disabled_engines=[]
    )
    weights = tmp_path_factory.mktemp("weights")
    registrations.register(settings.data_dir, build_tiny_pipeline(weights / "tiny-sd"))
    registrations.register(settings.data_dir, build_tiny_video_pipeline(weights / "tiny-ltx"))
    registrations.register(settings.data_dir, tiny_whisper(tmp_path_factory))
    voice = build_tiny_voice(weights / "piper", speakers=("alice", "bob"))
    registrations.register(settings.data_dir, voice)
    registry = EngineRegistry.discover(settings)
    kinds = {model.id: model.kind for model in registrations.load(settings.data_dir)}
    listed = [spec.id for spec in registry.models() if spec.id.startswith(ID_PREFIX)]
    assert sorted(listed) == sorted(kinds), "the local engine lists what is registered"
    return Registered(registry, kinds)


def test_every_registered_model_has_a_plan_and_a_case(registered: Registered) -> None:
    assert set(registered.kinds.values()) == set(REGISTERED_CASES), "each kind needs cases here"
    for model_id in registered.kinds:
        found = registered.registry.get(model_id)
        assert found is not None and found.spec.plan is not None


@pytest.mark.parametrize(
    ("kind", "case"),
    [(kind, case) for kind, cases in REGISTERED_CASES.items() for case in cases],
)
def test_a_registered_models_sandbox_output_has_the_live_shape(
    registered: Registered, media: Media, tmp_path: Path, kind: str, case: str
) -> None:
    [model_id] = [m for m, k in registered.kinds.items() if k == kind]
    data = REGISTERED_CASES[kind][case](media)
    registry = registered.registry
    live = run(registry, model_id, data, tmp_path / "live", sandbox=False)
    sandbox = run(registry, model_id, data, tmp_path / "sandbox", sandbox=True)
    assert_same_shapes(live, sandbox)


# --- the shapes the issue named ----------------------------------------------------------------


def sandbox_outputs(
    registry: EngineRegistry, tmp_path: Path, model_id: str, data: dict[str, Any]
) -> list[OutputFile]:
    return run(registry, model_id, data, tmp_path / "sandbox", sandbox=True).outputs


def test_tiktok_variants_are_720x1280_with_platform_fields(
    registry: EngineRegistry, media: Media, tmp_path: Path
) -> None:
    body = {"source_url": media.video, "platforms": ["tiktok", "twitter"]}
    outputs = sandbox_outputs(registry, tmp_path, "builtin/social-variants", body)
    shapes = [decoded(output) for output in outputs]
    assert [(s.width, s.height) for s in shapes] == [(720, 1280), (1280, 720)]
    assert [(o.extra["platform"], o.extra["aspect_ratio"]) for o in outputs] == [
        ("tiktok", "9:16"),
        ("twitter", "16:9"),
    ]


def test_a_x4_upscale_of_320x240_is_1280x960(registry: EngineRegistry, tmp_path: Path) -> None:
    source = _png(Image.new("RGB", (320, 240), (90, 140, 60)))
    body = {"image_url": source, "scale": 4}
    [output] = sandbox_outputs(registry, tmp_path, "builtin/upscale", body)
    assert (decoded(output).width, decoded(output).height) == (1280, 960)


def test_background_removal_is_rgba_at_the_input_size(
    registry: EngineRegistry, tmp_path: Path
) -> None:
    source = _png(Image.new("RGB", (300, 200), "white"))
    [output] = sandbox_outputs(
        registry, tmp_path, "builtin/remove-background", {"image_url": source}
    )
    with Image.open(output.path) as image:
        assert image.mode == "RGBA" and image.size == (300, 200)
        low, high = image.getchannel("A").getextrema()
    assert (low, high) == (0, 255)  # really transparent somewhere, opaque elsewhere


def test_music_comes_with_its_midi_score(registry: EngineRegistry, tmp_path: Path) -> None:
    body = {"prompt": "jazz", "duration": 6}
    audio, score = sandbox_outputs(registry, tmp_path, "builtin/composer", body)
    assert audio.content_type == "audio/mpeg" and score.content_type == "audio/midi"
    midi = mido.MidiFile(str(score.path))
    assert midi.length == pytest.approx(6.0)
    assert any(message.type == "note_on" for message in midi)
    assert score.extra["role"] == "score" and score.extra["notes"] > 0


def test_an_unreadable_input_fails_in_the_sandbox_as_it_would_live(
    registry: EngineRegistry, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput):
        sandbox_outputs(
            registry, tmp_path, "builtin/upscale", {"image_url": _uri(b"nope", "image/png")}
        )


def test_a_2997_fps_source_keeps_its_rate(registry: EngineRegistry, tmp_path: Path) -> None:
    path = tmp_path / "ntsc.mp4"
    with VideoWriter(path, 64, 48, fps=Fraction(30000, 1001)) as writer:
        for _ in range(15):
            writer.write(np.zeros((48, 64, 3), dtype=np.uint8))
    body = {
        "video_url": _uri(path.read_bytes(), "video/mp4"),
        "segments": [{"start": 0, "end": 0.2, "text": "Hi"}],
    }
    [output] = sandbox_outputs(registry, tmp_path, "builtin/subtitles", body)
    shape = decoded(output)
    assert shape.fps == pytest.approx(30000 / 1001, rel=1e-4)
    assert shape.duration_s == pytest.approx(15 * 1001 / 30000, abs=1e-3)


def test_a_tool_placeholder_is_the_same_bytes_for_the_same_input(
    registry: EngineRegistry, media: Media, tmp_path: Path
) -> None:
    """Tools have no prompt or seed: the placeholder is drawn from the input, not the job id."""
    body = {"image_url": media.photo, "scale": 2}
    first, second = (
        run(registry, "builtin/upscale", body, tmp_path / job, sandbox=True, generation_id=job)
        for job in ("gen_one", "gen_two")
    )
    assert first.outputs[0].path.read_bytes() == second.outputs[0].path.read_bytes()
