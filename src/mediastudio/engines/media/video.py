"""Video in and out with PyAV: H.264 (yuv420p, BT.709) + AAC in MP4, frames as RGB numpy arrays.

Writers encode frame by frame, so memory stays one frame deep whatever the length; readers
decode frame by frame within explicit bounds on size and duration, and turn anything FFmpeg
cannot read into :class:`InvalidInput`. :func:`copy_with_audio` is the exception: a video's
own packets copied (not decoded) into an MP4 with a new sound track, for a tool whose picture
does not change.

Orientation: a phone stores a portrait video as landscape pictures with a display matrix (the
MP4 ``tkhd`` matrix, FFmpeg's display-matrix side data; the ``rotate`` tag of older FFmpeg) that
tells players to turn it. Everything here speaks of the *upright* picture: :func:`probe` reports
the displayed size, :func:`iter_frames` yields frames already turned (and mirrored, for a matrix
that mirrors), and the writer writes no matrix, so a re-encoded video plays upright everywhere
and a tool crops, fits and places captions on the picture a person sees. Only
:func:`copy_with_audio`, which does not decode, keeps the source's matrix (and reports the size
it displays at).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.sidedata.sidedata import SideData
from numpy.typing import NDArray

from mediastudio.engines.contract import InvalidInput, PlannedOutput
from mediastudio.engines.media.audio import Samples, as_channels
from mediastudio.engines.media.files import INPUT_OPTIONS, atomic_target

Frame = NDArray[np.uint8]  # (height, width, 3) RGB

AUDIO_RATE = 48_000
AUDIO_BIT_RATE = 128_000
MAX_INPUT_SECONDS = 30 * 60.0
MAX_INPUT_PIXELS = 3840 * 2160
CANCEL_CHECK_FRAMES = 24
# x264's thread count changes the bitstream; pin it to the two cores a worker has.
_X264_OPTIONS = {"preset": "veryfast", "crf": "23", "threads": "2"}
_CONTAINER_OPTIONS = {"fflags": "+bitexact", "movflags": "+faststart"}
# The video codecs :func:`copy_with_audio` copies into MP4: those MP4 carries *and* browsers
# play. Others MP4 also takes (MPEG-4 part 2, MJPEG, ProRes…) would make an MP4 most players
# show black, and VP8 / Theora MP4 refuses: a caller re-encodes those (:class:`CannotCopy`).
COPYABLE_CODECS = frozenset({"h264", "hevc", "vp9", "av1"})
# HEVC as ``hvc1`` (parameter sets in the sample entry), the tag Apple's players require;
# FFmpeg's default, ``hev1``, they refuse.
_COPY_TAGS = {"hevc": "hvc1"}
_AUDIO_BLOCK = 1024 * 48  # samples encoded at a time while copying (~1 s; AAC frames of 1024)
# How many packets :func:`probe` feeds the decoder for the first picture (its orientation) before
# it gives up and takes the picture as upright: a decoder's delay is a few packets; a stream
# that yields nothing by then is refused by the decode that follows anyway.
_ORIENTATION_PACKETS = 64


def even(value: int) -> int:
    return max(2, value - value % 2)


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    duration_s: float
    has_audio: bool
    picture_s: float = 0.0  # the video track's own length (the container's when it has none)


@dataclass(frozen=True)
class Orientation:
    """How to turn a stored picture upright, from its display matrix: ``transpose`` (a quarter
    turn, width and height swap), then mirror the columns and/or rows. Any of the eight
    rotations and mirrorings of a picture is one of these; the identity is :data:`UPRIGHT`."""

    transpose: bool = False
    flip_columns: bool = False
    flip_rows: bool = False

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The displayed size of a ``width x height`` stored picture."""
        return (height, width) if self.transpose else (width, height)

    def apply(self, frame: Frame) -> Frame:
        if self == UPRIGHT:
            return frame
        turned = frame.transpose(1, 0, 2) if self.transpose else frame
        if self.flip_columns:
            turned = turned[:, ::-1]
        if self.flip_rows:
            turned = turned[::-1]
        # Contiguous again: OpenCV and the encoder take no negative strides.
        return np.ascontiguousarray(turned)

    @classmethod
    def from_matrix(cls, a: int, b: int, c: int, d: int) -> Orientation:
        """From the 2x2 part of FFmpeg's display matrix, which maps a stored pixel ``(x, y)``
        (y down) to the displayed ``(a*x + c*y, b*x + d*y)``. A rotation that is no quarter turn
        (never a camera's) is taken to the nearest one."""
        if abs(b) + abs(c) > abs(a) + abs(d):  # x goes to y and y to x: a quarter turn
            return cls(transpose=True, flip_columns=c < 0, flip_rows=b < 0)
        return cls(flip_columns=a < 0, flip_rows=d < 0)

    @classmethod
    def clockwise(cls, degrees: float) -> Orientation:
        """A turn of ``degrees`` clockwise (the old ``rotate`` tag's sense) to the nearest
        quarter."""
        quarter = round(degrees / 90) % 4
        return [
            UPRIGHT,
            cls(transpose=True, flip_columns=True),
            cls(flip_columns=True, flip_rows=True),
            cls(transpose=True, flip_rows=True),
        ][quarter]


UPRIGHT = Orientation()


def frame_orientation(
    frame: av.VideoFrame, metadata: Mapping[str, str] | None = None
) -> Orientation:
    """A decoded frame's orientation: its display matrix (which the decoder of the FFmpeg that
    PyAV ships copies from the container onto every frame), else a ``rotate`` tag in the
    stream's ``metadata`` (what older FFmpeg builds exported), else upright."""
    data = frame.side_data.get("DISPLAYMATRIX")
    if isinstance(data, SideData) and data.buffer_size >= 36:
        # Nine native-endian int32, row-major 3x3 (a, b, c, d in 16.16 fixed point).
        a, b, _, c, d = struct.unpack("=5i", bytes(data)[:20])
        return Orientation.from_matrix(a, b, c, d)
    tag = (metadata or {}).get("rotate")
    if tag:
        try:
            return Orientation.clockwise(float(tag))
        except ValueError:
            return UPRIGHT
    return UPRIGHT


def _first_orientation(container: av.container.InputContainer) -> Orientation:
    """The orientation of the first video stream's first picture (decoding it: PyAV shows the
    display matrix only on frames); upright when none decodes within
    :data:`_ORIENTATION_PACKETS` packets."""
    stream = container.streams.video[0]
    try:
        for count, packet in enumerate(container.demux(stream)):
            if count >= _ORIENTATION_PACKETS:
                break
            for frame in packet.decode():
                return frame_orientation(frame, stream.metadata)
    except av.error.FFmpegError:
        pass  # undecodable: the decode that follows says so
    return UPRIGHT


def planned_video(
    width: int,
    height: int,
    frames: int,
    fps: int | Fraction,
    *,
    has_audio: bool,
    audio_channels: int = 1,
    **extra: object,
) -> PlannedOutput:
    """The plan of an MP4 the writer here makes: ``frames`` pictures at ``fps`` (its duration is
    the frame grid's, as the file's is), with or without its sound (at :data:`AUDIO_RATE`, in
    ``audio_channels``: as the samples handed to the writer have them)."""
    return PlannedOutput(
        "video/mp4",
        width=width,
        height=height,
        duration_s=round(float(frames / fps), 3),
        fps=fps,
        has_audio=has_audio,
        extra=dict(extra),
        sample_rate=AUDIO_RATE if has_audio else None,
        channels=audio_channels if has_audio else None,
    )


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), options=INPUT_OPTIONS)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The file could not be read as media: {exc}") from exc


def probe(
    path: Path, *, max_seconds: float = MAX_INPUT_SECONDS, max_pixels: int = MAX_INPUT_PIXELS
) -> VideoInfo:
    """Size (upright: as displayed, see :class:`Orientation`), frame rate, duration and whether
    there is sound; refuses what is over the bounds."""
    with _open(path) as container:
        if not container.streams.video:
            raise InvalidInput("The file has no video stream.")
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        picture = (
            float(stream.duration * stream.time_base)
            if stream.duration is not None and stream.time_base is not None
            else None
        )
        if container.duration is not None:
            duration = float(container.duration) / av.time_base
        else:
            duration = picture or 0.0
        has_audio = bool(container.streams.audio)
        if width <= 0 or height <= 0:
            raise InvalidInput("The video has no picture size.")
        if width * height > max_pixels:
            raise InvalidInput(f"The video is {width}x{height}; at most {max_pixels:,} pixels.")
        if duration > max_seconds:
            raise InvalidInput(f"The video is {duration:.0f} s long; at most {max_seconds:g} s.")
        # Checked within bounds first: only then is a picture decoded, for its orientation.
        width, height = _first_orientation(container).size(width, height)
    return VideoInfo(width, height, float(rate), duration, has_audio, picture or duration)


def iter_frames(
    path: Path,
    *,
    max_seconds: float = MAX_INPUT_SECONDS,
    start_s: float = 0.0,
    end_s: float | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> Iterator[tuple[float, Frame]]:
    """``(time in seconds, RGB frame)`` for each decoded frame from ``start_s`` to ``end_s``,
    turned upright by its display matrix (:class:`Orientation`): the size :func:`probe` reports.

    ``check_cancelled`` is called every :data:`CANCEL_CHECK_FRAMES` decoded frames, counting the
    ones decoded only to reach ``start_s`` (with sparse keyframes a seek decodes many)."""
    with _open(path) as container:
        if not container.streams.video:
            raise InvalidInput("The file has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        metadata = dict(stream.metadata)
        time_base = stream.time_base or Fraction(1, 90_000)
        if start_s > 0:
            container.seek(int(start_s / float(time_base)), stream=stream, backward=True)
        try:
            for index, frame in enumerate(container.decode(stream)):
                if check_cancelled is not None and index % CANCEL_CHECK_FRAMES == 0:
                    check_cancelled()
                if frame.pts is None:
                    continue
                seconds = float(frame.pts * time_base)
                if seconds < start_s - 1e-6:
                    continue
                if (end_s is not None and seconds >= end_s) or seconds > max_seconds:
                    break
                picture = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                yield seconds, frame_orientation(frame, metadata).apply(picture)
        except av.error.FFmpegError as exc:
            raise InvalidInput(f"The video could not be decoded: {exc}") from exc


class VideoWriter:
    """An MP4 written frame by frame; ``audio`` (float samples at :data:`AUDIO_RATE`) is muxed as
    AAC when given. ``fps`` may be a fraction (``Fraction(30000, 1001)`` keeps a 29.97 fps source's
    rate). Use as a context manager: the file appears only if the block succeeds.

    >>> with VideoWriter(path, 1280, 720, fps=30) as out:  # doctest: +SKIP
    ...     out.write(frame)
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        *,
        fps: int | Fraction,
        audio: Samples | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs even sizes, not {width}x{height}")
        self.path, self.width, self.height, self.fps = path, width, height, fps
        self.audio = audio
        self.frames = 0
        self._target = atomic_target(path)

    def __enter__(self) -> VideoWriter:
        temporary = self._target.__enter__()
        self._container = av.open(
            str(temporary), "w", format="mp4", container_options=_CONTAINER_OPTIONS
        )
        stream = self._container.add_stream("libx264", rate=self.fps, options=_X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.codec_context.color_primaries = 1  # BT.709
        stream.codec_context.color_trc = 1
        stream.codec_context.colorspace = 1
        stream.codec_context.color_range = 1  # limited (TV) range
        self._video = stream
        self._audio = None
        if self.audio is not None:
            channels = as_channels(self.audio)
            layout = "mono" if channels.shape[1] == 1 else "stereo"
            self._audio = self._container.add_stream("aac", rate=AUDIO_RATE, layout=layout)
            self._audio.bit_rate = AUDIO_BIT_RATE
        return self

    def write(self, frame: Frame) -> None:
        if frame.shape[0] != self.height or frame.shape[1] != self.width:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, not {self.width}x{self.height}"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame = video_frame.reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        video_frame.pts = self.frames
        self._container.mux(self._video.encode(video_frame))
        self.frames += 1

    @property
    def duration_s(self) -> float:
        return float(self.frames / Fraction(self.fps))

    def _mux_audio(self) -> None:
        assert self._audio is not None and self.audio is not None
        channels = as_channels(np.clip(self.audio, -1, 1).astype(np.float32))
        # Exactly as long as the picture: padded with silence or cut.
        wanted = round(self.duration_s * AUDIO_RATE)
        if len(channels) < wanted:
            channels = np.concatenate(
                [channels, np.zeros((wanted - len(channels), channels.shape[1]), np.float32)]
            )
        channels = channels[:wanted]
        layout = "mono" if channels.shape[1] == 1 else "stereo"
        step = 1024 * 64
        for first in range(0, len(channels), step):
            part = np.ascontiguousarray(channels[first : first + step].T)
            frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = AUDIO_RATE, first
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._container.mux(self._audio.encode(frame))
        self._container.mux(self._audio.encode(None))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._container.mux(self._video.encode(None))
                if self._audio is not None:
                    self._mux_audio()
        finally:
            self._container.close()
            self._target.__exit__(exc_type, exc, traceback)


class CannotCopy(Exception):
    """The video's codec cannot be copied into an MP4 (:data:`COPYABLE_CODECS`): re-encode it."""


@dataclass(frozen=True)
class CopiedVideo:
    width: int  # as displayed: the source's display matrix is copied with its packets
    height: int
    frames: int  # the video packets copied: one picture each
    duration_s: float  # the picture's, which the sound track is cut or padded to


def copy_with_audio(
    source: Path,
    path: Path,
    audio: Samples,
    *,
    check_cancelled: Callable[[], None] | None = None,
    progress: Callable[[float], None] | None = None,
) -> CopiedVideo:
    """An MP4 (faststart) of ``source``'s first video stream, its packets copied as they are
    (no decode, no encode: same pictures, size, rate and timing, the first at 0 s), with
    ``audio`` (float samples at :data:`AUDIO_RATE`) as its only sound, AAC, as long as the
    picture (padded with silence or cut). The file appears only on success.

    Raises :class:`CannotCopy` when the codec is not one of :data:`COPYABLE_CODECS`, or when
    the MP4 muxer refuses the stream or its timestamps: the caller re-encodes then. The sound
    is encoded a block at a time as the video's packets pass, so the two are interleaved in the
    file (a player streaming it has both from the start)."""
    with _open(source) as container:
        if not container.streams.video:
            raise InvalidInput("The file has no video stream.")
        stream = container.streams.video[0]
        codec = stream.codec_context.codec.canonical_name
        if codec not in COPYABLE_CODECS:
            raise CannotCopy(f"{codec} video is not copied into MP4")
        time_base = stream.time_base or Fraction(1, 90_000)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        period = max(1, round(1 / (rate * time_base)))  # a packet without a duration's
        offset = stream.start_time or 0  # the first picture at 0 s, where the sound starts
        # For progress: the frame count, or (a format without one: Matroska) the length's.
        length = float(container.duration or 0) / av.time_base
        expected = max(1, stream.frames or round(length * float(rate)))
        frames, end = 0, 0
        with (
            atomic_target(path) as temporary,
            av.open(str(temporary), "w", format="mp4", container_options=_CONTAINER_OPTIONS) as out,
        ):
            try:
                # opaque: the template's own codec (a decoder such as libdav1d has no encoder
                # of its name to look up; nothing is encoded anyway).
                video = out.add_stream_from_template(stream, opaque=True)
            except ValueError as exc:  # avformat_query_codec: a codec MP4 does not carry
                raise CannotCopy(str(exc)) from exc
            if codec in _COPY_TAGS:
                video.codec_context.codec_tag = _COPY_TAGS[codec]
            sound = _SoundTrack(out, audio)
            try:
                for packet in container.demux(stream):
                    if packet.pts is None and packet.dts is None:
                        continue  # the demuxer's empty flush packet
                    if frames % CANCEL_CHECK_FRAMES == 0:
                        if check_cancelled is not None:
                            check_cancelled()
                        if progress is not None:
                            progress(min(1.0, frames / expected))
                    if packet.pts is not None:
                        packet.pts -= offset
                        end = max(end, packet.pts + (packet.duration or period))
                    if packet.dts is not None:
                        packet.dts -= offset
                    # The sound up to this picture's decoding time (a second behind at most):
                    # the muxer interleaves the two by time.
                    now = packet.dts if packet.dts is not None else packet.pts
                    if now is not None:
                        sound.until(float(now * time_base))
                    packet.stream = video
                    out.mux(packet)
                    frames += 1
                if frames == 0:
                    raise InvalidInput("The video has no frames that could be read.")
                sound.until(float(end * time_base), last=True)
            except av.error.FFmpegError as exc:  # e.g. timestamps MP4 cannot store
                raise CannotCopy(f"The video could not be copied: {exc}") from exc
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    with _open(source) as again:  # a picture decoded for the size a player shows
        width, height = _first_orientation(again).size(width, height)
    return CopiedVideo(width, height, frames, float(end * time_base))


class _SoundTrack:
    """Float samples encoded as AAC into ``out`` a block at a time, on demand: as far as the
    picture has got (in whole AAC frames), then at its end exactly (silence past the samples)."""

    def __init__(self, out: av.container.OutputContainer, audio: Samples) -> None:
        self.out = out
        self.channels = as_channels(np.clip(audio, -1, 1).astype(np.float32))
        self.layout = "mono" if self.channels.shape[1] == 1 else "stereo"
        self.stream = out.add_stream("aac", rate=AUDIO_RATE, layout=self.layout)
        self.stream.bit_rate = AUDIO_BIT_RATE
        self.written = 0

    def until(self, seconds: float, *, last: bool = False) -> None:
        target = round(seconds * AUDIO_RATE)
        if not last:
            if target - self.written < _AUDIO_BLOCK:
                return
            target -= target % 1024
        while self.written < target:
            count = min(_AUDIO_BLOCK, target - self.written)
            part = self.channels[self.written : self.written + count]
            if len(part) < count:
                silence = np.zeros((count - len(part), part.shape[1]), np.float32)
                part = np.concatenate([part, silence])
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(part.T), format="fltp", layout=self.layout
            )
            frame.sample_rate, frame.pts = AUDIO_RATE, self.written
            frame.time_base = Fraction(1, AUDIO_RATE)
            self.out.mux(self.stream.encode(frame))
            self.written += count
        if last:
            self.out.mux(self.stream.encode(None))
