"""Lip-sync on hosted providers (the ``lipsync`` type): Sync Labs' lipsync-2, on fal
(``fal-ai/sync-lipsync/v2``) and on Replicate (``sync/lipsync-2``).

Both take the video and the sound as URLs (sent inline as ``data:`` URIs, or through the
provider's file API when large: see :mod:`.media`) and a ``sync_mode`` saying what to do when
their lengths differ. Sync's documentation gives each mode's output length: ``loop``,
``bounce`` and ``remap`` last as long as the sound, ``cut_off`` as the shorter of the two,
``silence`` as the video. Our default is ``loop`` (Replicate's; fal's is ``cut_off``), so that
the whole speech is said; the mode is always sent, so both routes make the same length.
The picture keeps the video's frame and frame rate; the sound track is the speech.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, Field

from mediastudio.engines.contract import InputFetcher, PlannedOutput
from mediastudio.engines.inputs import LipsyncInput
from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.engines.providers.inputs import Options, RoutingFields, options_field
from mediastudio.engines.providers.media import input_audio, input_video

SyncMode = Literal["loop", "bounce", "remap", "cut_off", "silence"]
FAL_MODEL = "lipsync-2"


class SyncLipsyncInput(LipsyncInput, RoutingFields):
    sync_mode: SyncMode = Field(
        "loop",
        description=(
            "When the video and the sound differ in length: loop (the video restarts until the "
            "speech ends), bounce (plays forward then backward), remap (the video stretched to "
            "the speech): all last as long as the speech; cut_off: the shorter of the two; "
            "silence: the video's length, quiet after the speech"
        ),
    )
    options: Options = options_field()


def output_seconds(sync_mode: str, video_s: float, audio_s: float) -> float:
    """How long the lip-synced video is, by Sync's table of modes."""
    if sync_mode == "cut_off":
        return min(video_s, audio_s)
    if sync_mode == "silence":
        return video_s
    return audio_s


def _with_options(validated: SyncLipsyncInput, mapped: dict[str, Any]) -> dict[str, Any]:
    sent = {key: value for key, value in mapped.items() if value is not None}
    return {**(validated.options or {}), **sent}


def fal_build(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal-ai/sync-lipsync/v2: model (lipsync-2), video_url, audio_url, sync_mode."""
    assert isinstance(validated, SyncLipsyncInput)
    mapped = {
        "model": FAL_MODEL,
        "video_url": media.get("video_url"),
        "audio_url": media.get("audio_url"),
        "sync_mode": validated.sync_mode,
    }
    return _with_options(validated, mapped)


def replicate_build(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """sync/lipsync-2 on Replicate: video, audio, sync_mode (its temperature and
    active_speaker go in ``options``)."""
    assert isinstance(validated, SyncLipsyncInput)
    mapped = {
        "video": media.get("video_url"),
        "audio": media.get("audio_url"),
        "sync_mode": validated.sync_mode,
    }
    return _with_options(validated, mapped)


def plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One MP4 at the video's frame and frame rate, as long as the sync mode makes it, with the
    speech as its sound; the inputs refused as the engine refuses them."""
    assert isinstance(validated, SyncLipsyncInput)
    video = input_video(fetcher.fetch(validated.video_url), "video_url")
    audio = input_audio(fetcher.fetch(validated.audio_url), "audio_url")
    seconds = output_seconds(validated.sync_mode, video.duration_s, audio.duration_s)
    return [
        PlannedOutput(
            "video/mp4",
            width=video.width,
            height=video.height,
            duration_s=round(seconds, 3),
            fps=Fraction(video.fps).limit_denominator(1001),
            has_audio=True,
            sample_rate=AUDIO_RATE,
            channels=1,
        )
    ]
