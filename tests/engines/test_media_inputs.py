"""User media is read only with real media demuxers: a playlist naming other files on this disk
(another account's output) is refused, never followed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.media.audio import read_audio
from mediastudio.engines.media.video import VideoWriter, iter_frames, probe

READERS: list[Callable[[Path], Any]] = [
    probe,
    lambda path: list(iter_frames(path)),
    lambda path: read_audio(path, rate=16000),
]


@pytest.fixture
def playlist(tmp_path: Path) -> Path:
    secret = tmp_path / "acct_other" / "gen_x"
    secret.mkdir(parents=True)
    audio = np.zeros(48_000, np.float32)
    with VideoWriter(secret / "0.mp4", 64, 48, fps=10, audio=audio) as out:
        for index in range(10):
            out.write(np.full((48, 64, 3), index * 20, np.uint8))
    path = tmp_path / "input.m3u8"
    path.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nacct_other/gen_x/0.mp4\n#EXT-X-ENDLIST\n"
    )
    return path


def test_ffmpeg_would_follow_the_playlist_unrestricted(playlist: Path) -> None:
    with av.open(str(playlist)) as container:  # what the readers must not do
        assert container.streams.video


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_a_playlist(playlist: Path, reader: Callable[[Path], Any]) -> None:
    with pytest.raises(InvalidInput):
        reader(playlist)


@pytest.mark.parametrize("reader", READERS)
def test_the_readers_still_read_real_media(playlist: Path, reader: Callable[[Path], Any]) -> None:
    assert reader(playlist.parent / "acct_other" / "gen_x" / "0.mp4") is not None


def test_long_decodes_notice_a_cancel(playlist: Path) -> None:
    from mediastudio.engines.contract import JobCancelled

    real = playlist.parent / "acct_other" / "gen_x" / "0.mp4"

    def cancelled() -> None:
        raise JobCancelled("stop")

    with pytest.raises(JobCancelled):
        read_audio(real, rate=16000, check_cancelled=cancelled)
    with pytest.raises(JobCancelled):
        list(iter_frames(real, start_s=0.5, check_cancelled=cancelled))
