"""Deterministic placeholder media for the sandbox engine.

Sandbox (``ms_test_``) keys get these files instead of real generations, so that clients can
build their whole integration (downloads, players, thumbnails, cancellation) without paying for a
model. The files are therefore real and decodable, of exactly the requested type, format, size
and duration, and marked SANDBOX so nobody mistakes them for output. The same arguments give the
same bytes on the same library versions, so client tests can pin them.

They must also be cheap on a two-core worker: audio and video are generated and encoded chunk by
chunk (never a whole track in memory), and video frames are painted with numpy directly in the
encoder's YUV 4:2:0 layout over a background rendered once. Every writer writes to a temporary
name beside ``path`` and renames it at the end, so a cancelled or failed write leaves no half file.
"""

from __future__ import annotations

import colorsys
import math
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal

import av
import mido
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from mediastudio.engines.media.files import atomic_target

Progress = Callable[[float], None]
CheckCancelled = Callable[[], None]

RGB = tuple[int, int, int]
Pixels = NDArray[np.uint8]
Rate = int | Fraction  # frames per second; a fraction keeps 29.97 exact
Planes = tuple[Pixels, Pixels, Pixels]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_IMAGE_FORMATS = {"png": "PNG", "webp": "WEBP", "jpg": "JPEG"}
_IMAGE_SAVE_OPTIONS: dict[str, dict[str, int]] = {"webp": {"quality": 80}, "jpg": {"quality": 85}}
# (encoder, muxer, bit rate, forced sample rate): Opus only runs at 48 kHz.
_ENCODED_AUDIO: dict[
    str, tuple[Literal["libmp3lame", "libopus", "flac", "aac"], str, int, int | None]
] = {
    "mp3": ("libmp3lame", "mp3", 64_000, None),
    "ogg": ("libopus", "ogg", 48_000, 48_000),
    # Hosted speech (OpenAI) also answers FLAC and AAC: the twin writes what the model would.
    "flac": ("flac", "flac", 0, None),
    "aac": ("aac", "adts", 64_000, None),
}
# Without bitexact, the Ogg muxer picks a random stream serial number and the others stamp the
# FFmpeg version into the file: both would break "same arguments, same bytes".
_CONTAINER_OPTIONS = {"fflags": "+bitexact"}

_TONE_LEVEL = 0.2
_BEEP_LEVEL = 0.2  # tone + beep peak at 0.4 of full scale: clearly audible, far from clipping
_BEEP_HZ = 1000.0
_BEEP_S = 0.08
_AUDIO_CHUNK_S = 1
_PROGRESS_STEPS = 20

_VIDEO_AUDIO_RATE = 48_000
_VIDEO_AUDIO_BIT_RATE = 96_000
# x264 picks its thread count from the machine and frame threading changes the bitstream, so pin
# it (to the two cores a worker has) to get the same bytes everywhere.
_X264_OPTIONS = {"preset": "ultrafast", "crf": "28", "threads": "2"}
_BT709 = 1  # FFmpeg's AVCOL_PRI_BT709, AVCOL_TRC_BT709 and AVCOL_SPC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
_CANCEL_CHECK_EVERY = 5  # frames
_TICKER_CHARS = " 0123456789/:.s"

_TITLE = "SANDBOX"
_TITLE_COLOUR: RGB = (255, 214, 0)
_TEXT_COLOUR: RGB = (255, 255, 255)
_PANEL_SHADE = 0.35
_TICKER_BACKGROUND: RGB = (16, 16, 16)
_MARK_COLOUR: RGB = (255, 255, 255)
_LABEL_MAX_CHARS = 80


# --- shared plumbing ---------------------------------------------------------------------------


class _Steps:
    """Forwards progress at most ``_PROGRESS_STEPS`` times, because callers persist each call.

    It never reports 1.0 itself: writers report that once the file is in place.
    """

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self._total = total
        self._next = 1.0 / _PROGRESS_STEPS

    def advance(self, done: int) -> None:
        fraction = done / self._total
        if self._next <= fraction < 1.0:
            self._progress(fraction)
            self._next = (math.floor(fraction * _PROGRESS_STEPS) + 1) / _PROGRESS_STEPS


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _require_duration(duration_s: float) -> None:
    _require(math.isfinite(duration_s) and duration_s > 0, f"bad duration: {duration_s!r}")


def _even(value: int) -> int:
    return value - value % 2


# --- pictures ----------------------------------------------------------------------------------


def _seed_colours(seed: int) -> tuple[RGB, RGB]:
    """Two related but distinct colours; the hue comes from the seed, so seeds look different."""
    rng = np.random.default_rng(seed % 2**64)
    hue = float(rng.random())
    shift = 0.12 + 0.2 * float(rng.random())
    return _hsv(hue, 0.6, 0.8), _hsv((hue + shift) % 1.0, 0.7, 0.45)


def _hsv(hue: float, saturation: float, value: float) -> RGB:
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _background(width: int, height: int, seed: int) -> Pixels:
    """A diagonal gradient between the seed's colours, with faint stripes to look synthetic."""
    first, second = (np.array(colour, dtype=np.float32) for colour in _seed_colours(seed))
    across = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    down = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    mix = (0.65 * across + 0.35 * down)[:, :, None]
    columns = np.arange(width, dtype=np.int32)[None, :]
    rows = np.arange(height, dtype=np.int32)[:, None]
    stripes = np.where(((columns + rows) // 24) % 2 == 0, 1.0, 0.93).astype(np.float32)
    pixels = (first * (1.0 - mix) + second * mix) * stripes[:, :, None]
    return np.clip(pixels, 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _fitted_font(text: str, preferred: int, room: int) -> Font:
    """The default font at ``preferred`` size, shrunk until ``text`` fits in ``room`` pixels."""
    length = _font(preferred).getlength(text)
    if length <= room:
        return _font(preferred)
    return _font(max(6, math.floor(preferred * room / length)))


def _clean_label(label: str) -> str:
    # One line: the fonts cannot measure multi-line text, and long prompts would only be clipped.
    flat = " ".join(label.split())
    return flat if len(flat) <= _LABEL_MAX_CHARS else flat[: _LABEL_MAX_CHARS - 1] + "…"


def _text_height(font: Font, text: str) -> int:
    return math.ceil(font.getbbox(text)[3])


def _captioned(pixels: Pixels, label: str) -> tuple[Image.Image, int]:
    """Draws SANDBOX and the label on a shaded panel at the top left; returns the image and the
    panel's bottom edge (where more text can go)."""
    height, width = pixels.shape[:2]
    margin = _even(max(2, min(width, height) // 32))  # even, so video text lines up with it
    room = width - 4 * margin
    title_font = _fitted_font(_TITLE, max(8, min(width, height) // 8), room)
    text = _clean_label(label)
    label_font = _fitted_font(text, max(6, min(width, height) // 18), room) if text else None
    title_bottom = 2 * margin + _text_height(title_font, _TITLE)
    bottom = title_bottom + (margin + _text_height(label_font, text) if label_font else 0)
    right = 3 * margin + math.ceil(
        max(title_font.getlength(_TITLE), label_font.getlength(text) if label_font else 0)
    )
    shaded = pixels.copy()
    panel = shaded[margin : bottom + margin, margin:right]
    panel[...] = (panel * _PANEL_SHADE).astype(np.uint8)
    image = Image.fromarray(shaded, "RGB")
    draw = ImageDraw.Draw(image)
    draw.text((2 * margin, 2 * margin), _TITLE, fill=_TITLE_COLOUR, font=title_font)
    if label_font:
        draw.text((2 * margin, title_bottom + margin), text, fill=_TEXT_COLOUR, font=label_font)
    return image, bottom + margin


def write_image(
    path: Path,
    *,
    width: int,
    height: int,
    image_format: str,
    seed: int,
    label: str,
    alpha: bool = False,
) -> None:
    """An RGB ``width`` by ``height`` picture in the seed's colours, with SANDBOX and ``label``.

    ``image_format`` is ``png``, ``webp`` or ``jpg`` (JPEG). With ``alpha`` (not for JPEG) it is
    RGBA, opaque inside a transparent border, like a cut-out.
    """
    _require(image_format in _IMAGE_FORMATS, f"unsupported image format: {image_format!r}")
    _require(width >= 1 and height >= 1, f"bad image size: {width}x{height}")
    _require(not (alpha and image_format == "jpg"), "JPEG cannot hold an alpha channel")
    image, _ = _captioned(_background(width, height, seed), label)
    if alpha:
        image.putalpha(_cutout_mask(width, height))
    options = _IMAGE_SAVE_OPTIONS.get(image_format, {})
    with atomic_target(path) as temporary:
        image.save(temporary, format=_IMAGE_FORMATS[image_format], **options)


def _cutout_mask(width: int, height: int) -> Image.Image:
    """Opaque inside, transparent in a band around the edge (the whole of a tiny image), so the
    alpha channel really has transparency, as a background removal's cut-out does."""
    band = max(1, min(width, height) // 16)
    mask = Image.new("L", (width, height), 0)
    if width > 2 * band and height > 2 * band:
        ImageDraw.Draw(mask).rectangle((band, band, width - band - 1, height - band - 1), fill=255)
    return mask


# --- sound -------------------------------------------------------------------------------------


def _tone(first: int, count: int, rate: int, seed: int) -> NDArray[np.float32]:
    """Samples ``first`` to ``first + count`` of the placeholder sound: a soft hum at a seed-derived
    pitch, plus a short beep at every whole second. Computing from the absolute sample index keeps
    the phase continuous across chunks."""
    seconds = np.arange(first, first + count, dtype=np.float64) / rate
    pitch = 220.0 * 2 ** ((seed % 12) / 12)  # a semitone of A3..G#4 per seed
    hum = np.sin(2 * np.pi * pitch * seconds)
    into_second = seconds % 1.0
    # A half-sine envelope, so the beep starts and stops without clicks.
    envelope = np.where(into_second < _BEEP_S, np.sin(np.pi * into_second / _BEEP_S), 0.0)
    beep = envelope * np.sin(2 * np.pi * _BEEP_HZ * seconds)
    return (_TONE_LEVEL * hum + _BEEP_LEVEL * beep).astype(np.float32)


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, size):
        yield first, min(size, total - first)


def _layout(channels: int) -> str:
    _require(channels in (1, 2), f"bad channel count: {channels}")
    return "mono" if channels == 1 else "stereo"


def _audio_frame(
    samples: NDArray[np.float32], rate: int, first: int, *, s16: bool = False, channels: int = 1
) -> av.AudioFrame:
    layout = _layout(channels)
    if s16:  # FLAC's encoder takes integer samples only; s16 is packed (interleaved)
        packed = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        interleaved = np.repeat(packed, channels)[None, :]
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
    else:  # fltp is planar: one row per channel, the same tone in each
        planes = np.repeat(samples[None, :], channels, axis=0)
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
    frame.sample_rate = rate
    frame.pts = first
    frame.time_base = Fraction(1, rate)
    return frame


def write_audio(
    path: Path,
    *,
    duration_s: float,
    audio_format: str,
    seed: int,
    progress: Progress,
    check_cancelled: CheckCancelled,
    sample_rate: int = 24000,
    channels: int = 1,
) -> None:
    """Placeholder audio of ``duration_s`` seconds, mono or stereo (the same tone in both).

    ``audio_format`` is ``wav`` (16-bit PCM), ``mp3``, ``flac``, ``aac`` (ADTS) or ``ogg``
    (Opus, which is always 48 kHz whatever ``sample_rate`` says). ``check_cancelled`` is called
    before each second of audio.
    """
    supported = audio_format == "wav" or audio_format in _ENCODED_AUDIO
    _require(supported, f"unsupported audio format: {audio_format!r}")
    _require_duration(duration_s)
    _require(sample_rate > 0, f"bad sample rate: {sample_rate}")
    with atomic_target(path) as temporary:
        if audio_format == "wav":
            _write_wav(
                temporary, duration_s, sample_rate, channels, seed, progress, check_cancelled
            )
        else:
            _write_encoded_audio(
                temporary,
                audio_format,
                duration_s,
                (sample_rate, channels),
                seed,
                progress,
                check_cancelled,
            )
    progress(1.0)


def _write_wav(
    path: Path,
    duration_s: float,
    rate: int,
    channels: int,
    seed: int,
    progress: Progress,
    check_cancelled: CheckCancelled,
) -> None:
    _layout(channels)
    total = max(1, round(duration_s * rate))
    steps = _Steps(progress, total)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        for first, count in _chunks(total, _AUDIO_CHUNK_S * rate):
            check_cancelled()
            samples = np.round(_tone(first, count, rate, seed) * 32767).astype("<i2")
            out.writeframes(np.repeat(samples, channels).tobytes())  # interleaved frames
            steps.advance(first + count)


def _write_encoded_audio(
    path: Path,
    audio_format: str,
    duration_s: float,
    sound: tuple[int, int],  # sample rate, channels
    seed: int,
    progress: Progress,
    check_cancelled: CheckCancelled,
) -> None:
    sample_rate, channels = sound
    codec, muxer, bit_rate, forced_rate = _ENCODED_AUDIO[audio_format]
    rate = forced_rate or sample_rate
    total = max(1, round(duration_s * rate))
    steps = _Steps(progress, total)
    with av.open(str(path), "w", format=muxer, container_options=_CONTAINER_OPTIONS) as container:
        stream = container.add_stream(codec, rate=rate, layout=_layout(channels))
        if bit_rate:
            stream.bit_rate = bit_rate
        for first, count in _chunks(total, _AUDIO_CHUNK_S * rate):
            check_cancelled()
            tone = _tone(first, count, rate, seed)
            frame = _audio_frame(tone, rate, first, s16=codec == "flac", channels=channels)
            container.mux(stream.encode(frame))
            steps.advance(first + count)
        container.mux(stream.encode(None))


# --- video -------------------------------------------------------------------------------------


def _to_yuv420(rgb: Pixels) -> Pixels:
    """An even-sized RGB picture in PyAV's packed yuv420p layout: Y rows, then U, then V."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    yuv = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
    return np.asarray(yuv.to_ndarray(), dtype=np.uint8)


def _planes(packed: Pixels, width: int, height: int) -> Planes:
    """Writable Y, U and V views into a packed yuv420p array."""
    flat = packed.reshape(-1)
    luma, chroma = width * height, (width // 2) * (height // 2)
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + chroma].reshape(height // 2, width // 2),
        flat[luma + chroma :].reshape(height // 2, width // 2),
    )


def _yuv_colour(rgb: RGB) -> tuple[int, int, int]:
    """``rgb`` converted exactly as the background is, so painted marks match it."""
    tile = np.array([[rgb, rgb], [rgb, rgb]], dtype=np.uint8)
    luma, blue, red = _planes(_to_yuv420(tile), 2, 2)
    return int(luma[0, 0]), int(blue[0, 0]), int(red[0, 0])


def _fill(planes: Planes, box: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """Fills ``box`` (left, top, width, height; all even so chroma lines up) with a YUV colour."""
    left, top, width, height = box
    for plane, value, scale in zip(planes, colour, (1, 2, 2), strict=True):
        rows = slice(top // scale, (top + height) // scale)
        plane[rows, left // scale : (left + width) // scale] = value


def _paste(planes: Planes, sprite: Planes, left: int, top: int) -> None:
    """Copies a YUV sprite to even ``left``/``top``, clipped at the frame's edges."""
    for plane, part, scale in zip(planes, sprite, (1, 2, 2), strict=True):
        x, y = left // scale, top // scale
        rows = max(0, min(part.shape[0], plane.shape[0] - y))
        columns = max(0, min(part.shape[1], plane.shape[1] - x))
        plane[y : y + rows, x : x + columns] = part[:rows, :columns]


class _Ticker:
    """Fixed-width text (frame counter and time) from glyphs rendered and converted to YUV once,
    so per-frame text costs a few array copies instead of a Pillow render and a colour conversion.
    """

    def __init__(self, size: int) -> None:
        font = _font(size)
        pad = max(2, size // 4)
        self.cell_width = _even(math.ceil(max(font.getlength(c) for c in _TICKER_CHARS)) + 2)
        _, top, _, bottom = font.getbbox("0123456789")
        self.cell_height = _even(math.ceil(bottom - top) + 2 * pad + 1)
        strip = Image.new(
            "RGB", (self.cell_width * len(_TICKER_CHARS), self.cell_height), _TICKER_BACKGROUND
        )
        draw = ImageDraw.Draw(strip)
        for index, char in enumerate(_TICKER_CHARS):
            left = index * self.cell_width + (self.cell_width - font.getlength(char)) / 2
            draw.text((left, pad - top), char, fill=_TEXT_COLOUR, font=font)
        planes = _planes(_to_yuv420(np.asarray(strip)), strip.width, strip.height)
        self._glyphs = {
            char: self._cut(planes, index * self.cell_width)
            for index, char in enumerate(_TICKER_CHARS)
        }

    def _cut(self, planes: Planes, left: int) -> Planes:
        luma, blue, red = planes
        half = slice(left // 2, (left + self.cell_width) // 2)
        return luma[:, left : left + self.cell_width], blue[:, half], red[:, half]

    def paint(self, planes: Planes, text: str, left: int, top: int) -> None:
        for index, char in enumerate(text):
            _paste(planes, self._glyphs[char], left + index * self.cell_width, top)


class _FramePainter:
    """Paints frame ``index`` of the placeholder video: the captioned background, a frame counter
    and clock, a block that sweeps across once a second (in step with the audio's beep) and a bar
    that fills over the whole video."""

    def __init__(
        self, width: int, height: int, fps: Rate, frames: int, seed: int, label: str
    ) -> None:
        self.width, self.height, self.fps, self.frames = width, height, fps, frames
        image, caption_bottom = _captioned(_background(width, height, seed), label)
        self._still = _to_yuv420(np.asarray(image))
        self._mark = _yuv_colour(_MARK_COLOUR)
        self._ticker = _Ticker(max(6, min(width, height) // 22))
        self._margin = _even(max(2, min(width, height) // 32))
        self._ticker_top = _even(caption_bottom + self._margin)
        self._bar = _even(max(2, height // 40))
        self._block = _even(max(2, min(width, height) // 12))
        self._digits = len(str(frames))
        self._clock_digits = len(f"{float(frames / fps):.2f}")

    def frame(self, index: int) -> av.VideoFrame:
        packed = self._still.copy()
        planes = _planes(packed, self.width, self.height)
        self._ticker.paint(planes, self._ticker_text(index), self._margin, self._ticker_top)
        _fill(planes, self._block_box(index), self._mark)
        filled = _even(round(self.width * (index + 1) / self.frames))
        _fill(planes, (0, self.height - self._bar, filled, self._bar), self._mark)
        frame = av.VideoFrame.from_ndarray(packed, format="yuv420p")
        frame.pts = index
        frame.time_base = Fraction(1, self.fps)
        return frame

    def _ticker_text(self, index: int) -> str:
        clock = f"{float(index / self.fps):0{self._clock_digits}.2f}s"
        return f" {index + 1:0{self._digits}d}/{self.frames} {clock} "

    def _block_box(self, index: int) -> tuple[int, int, int, int]:
        travel = self.width - self._block
        left = _even(round(travel * (index % self.fps) / self.fps))
        top = max(0, self.height - self._bar - self._margin - self._block)
        return left, top, self._block, self._block


def write_video(
    path: Path,
    *,
    duration_s: float,
    width: int,
    height: int,
    fps: Rate,
    seed: int,
    label: str,
    progress: Progress,
    check_cancelled: CheckCancelled,
    with_audio: bool = True,
    audio_channels: int = 1,
) -> None:
    """An MP4 (H.264 yuv420p, fast start) of ``round(duration_s * fps)`` frames (at least one),
    with an AAC track (48 kHz, ``audio_channels``) of the placeholder sound when ``with_audio``.

    Odd ``width`` or ``height`` are rounded down to even, which 4:2:0 chroma requires.
    ``check_cancelled`` is called every few frames and ``progress`` about 20 times.
    """
    _require_duration(duration_s)
    _require(fps > 0, f"bad frame rate: {fps}")
    width, height = _even(width), _even(height)
    _require(width >= 2 and height >= 2, f"bad video size: {width}x{height}")
    frames = max(1, round(duration_s * fps))
    painter = _FramePainter(width, height, fps, frames, seed, label)
    with (
        atomic_target(path) as temporary,
        av.open(
            str(temporary),
            "w",
            format="mp4",
            container_options={**_CONTAINER_OPTIONS, "movflags": "+faststart"},
        ) as container,
    ):
        video = _add_video_stream(container, width, height, fps)
        audio = _add_video_audio_stream(container, audio_channels) if with_audio else None
        steps = _Steps(progress, frames)
        for index in range(frames):
            if index % _CANCEL_CHECK_EVERY == 0:
                check_cancelled()
            container.mux(video.encode(painter.frame(index)))
            if audio is not None:
                container.mux(audio.encode(_video_audio_frame(index, fps, seed, audio_channels)))
            steps.advance(index + 1)
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    progress(1.0)


def _add_video_stream(
    container: av.container.OutputContainer, width: int, height: int, fps: Rate
) -> av.video.stream.VideoStream:
    stream = container.add_stream("libx264", rate=fps, options=_X264_OPTIONS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    # Tag the colours as what _to_yuv420 produced; untagged, players guess by resolution.
    context = stream.codec_context
    context.color_primaries = context.color_trc = context.colorspace = _BT709
    context.color_range = _LIMITED_RANGE
    return stream


def _add_video_audio_stream(
    container: av.container.OutputContainer, channels: int
) -> av.audio.stream.AudioStream:
    stream = container.add_stream("aac", rate=_VIDEO_AUDIO_RATE, layout=_layout(channels))
    stream.bit_rate = _VIDEO_AUDIO_BIT_RATE
    return stream


def _video_audio_frame(index: int, fps: Rate, seed: int, channels: int) -> av.AudioFrame:
    """The sound under video frame ``index``; integer sample boundaries keep the track exactly as
    long as the video at any frame rate."""
    first = int(index * _VIDEO_AUDIO_RATE // fps)
    count = int((index + 1) * _VIDEO_AUDIO_RATE // fps) - first
    tone = _tone(first, count, _VIDEO_AUDIO_RATE, seed)
    return _audio_frame(tone, _VIDEO_AUDIO_RATE, first, channels=channels)


# --- scores ------------------------------------------------------------------------------------

_MIDI_TICKS_PER_SECOND = 480  # one beat a second (tempo 60), so ticks count seconds exactly
_MIDI_NOTE_S = 0.25


def write_midi(path: Path, *, duration_s: float, seed: int) -> None:
    """A Standard MIDI File exactly ``duration_s`` long: at every whole second a short note at the
    seed's pitch, in step with the placeholder sound's beep."""
    _require_duration(duration_s)
    midi = mido.MidiFile(type=1, ticks_per_beat=_MIDI_TICKS_PER_SECOND)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=_TITLE))
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000))
    pitch = 57 + seed % 12  # the hum's semitone, A3..G#4
    end = max(1, round(duration_s * _MIDI_TICKS_PER_SECOND))
    note = round(_MIDI_NOTE_S * _MIDI_TICKS_PER_SECOND)
    now = 0
    for start in range(0, end, _MIDI_TICKS_PER_SECOND):
        stop = min(end, start + note)
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=start - now))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=stop - start))
        now = stop
    track.append(mido.MetaMessage("end_of_track", time=end - now))
    midi.tracks.append(track)
    with atomic_target(path) as temporary:
        midi.save(str(temporary))
