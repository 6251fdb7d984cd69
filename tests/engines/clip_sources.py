"""Synthetic source videos for the auto-clip tests: known cuts, a known loud and busy shot, a
face the Haar cascade finds, a moving object."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter

WIDTH, HEIGHT, FPS = 320, 180, 12
SHOT_S = 6.0
CUTS = (6.0, 12.0, 18.0)
LIVELY_SHOT = (12.0, 18.0)  # loud and moving
BACKGROUNDS = ((30, 40, 120), (40, 120, 50), (170, 60, 30), (110, 110, 110))


def draw_face(frame: np.ndarray, centre: tuple[int, int], size: int) -> None:
    """A face-like pattern OpenCV's frontal-face cascade detects: a light oval, dark brows and
    eyes, a nose shadow and a mouth (proportions of an average face)."""
    cx, cy = centre
    s = size

    def oval(x: int, y: int, ax: float, ay: float, colour: tuple[int, int, int]) -> None:
        cv2.ellipse(frame, (x, y), (int(s * ax), int(s * ay)), 0, 0, 360, colour, -1)

    oval(cx, cy, 0.42, 0.55, (225, 195, 170))
    for side in (-1, 1):
        ex, ey = cx + side * int(s * 0.18), cy - int(s * 0.12)
        oval(ex, ey - int(s * 0.09), 0.11, 0.03, (70, 60, 55))
        oval(ex, ey, 0.09, 0.045, (50, 45, 45))
    oval(cx, cy + int(s * 0.12), 0.06, 0.03, (150, 120, 105))
    oval(cx, cy + int(s * 0.28), 0.15, 0.04, (90, 50, 50))


def _tone(seconds: float, amplitude: float, frequency: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    noise = np.random.default_rng(seed).normal(0, 0.3, len(t))
    return (amplitude * (np.sin(2 * np.pi * frequency * t) + noise)).astype(np.float32)


def shots_video(path: Path) -> Path:
    """24 s, four 6 s shots of different colours; the third is loud (with bursts) and has a big
    fast-moving box, the others are quiet and nearly still."""
    total = SHOT_S * len(BACKGROUNDS)
    audio_parts = []
    for index in range(len(BACKGROUNDS)):
        if (index * SHOT_S, (index + 1) * SHOT_S) == LIVELY_SHOT:
            part = _tone(SHOT_S, 0.35, 330.0, index)
            part[: int(0.5 * AUDIO_RATE)] *= 1.8  # a burst
        else:
            part = _tone(SHOT_S, 0.01, 220.0, index)
        audio_parts.append(part)
    audio = np.concatenate(audio_parts)
    with VideoWriter(path, WIDTH, HEIGHT, fps=FPS, audio=audio) as out:
        for n in range(int(total * FPS)):
            t = n / FPS
            shot = int(t // SHOT_S)
            frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            frame[:] = BACKGROUNDS[shot]
            if (shot * SHOT_S, (shot + 1) * SHOT_S) == LIVELY_SHOT:
                x = int((np.sin(t * 5.0) * 0.5 + 0.5) * (WIDTH - 80))
                y = int((np.cos(t * 3.7) * 0.5 + 0.5) * (HEIGHT - 60))
                cv2.rectangle(frame, (x, y), (x + 80, y + 60), (250, 250, 250), -1)
            else:
                x = 20 + int(t * 2) % 40
                cv2.rectangle(frame, (x, 70), (x + 12, 82), (200, 200, 60), -1)
            out.write(frame)
    return path


def face_video(path: Path, seconds: float = 8.0) -> Path:
    """A still face on the right, a box bouncing on the left (so following the motion would
    lose the face), a quiet tone."""
    audio = _tone(seconds, 0.05, 200.0, 7)
    with VideoWriter(path, WIDTH, HEIGHT, fps=FPS, audio=audio) as out:
        for n in range(int(seconds * FPS)):
            t = n / FPS
            frame = np.full((HEIGHT, WIDTH, 3), (60, 70, 80), np.uint8)
            draw_face(frame, (250, 90), 60)
            y = int((np.sin(t * 4.0) * 0.5 + 0.5) * (HEIGHT - 30))
            cv2.rectangle(frame, (10, y), (40, y + 30), (240, 240, 240), -1)
            out.write(frame)
    return path


def moving_box_video(path: Path, seconds: float = 8.0) -> Path:
    """No face: a white box crossing from left to right at constant speed."""
    audio = _tone(seconds, 0.05, 200.0, 9)
    with VideoWriter(path, WIDTH, HEIGHT, fps=FPS, audio=audio) as out:
        for n in range(int(seconds * FPS)):
            t = n / FPS
            frame = np.full((HEIGHT, WIDTH, 3), (40, 40, 60), np.uint8)
            x = int(10 + (WIDTH - 50) * t / seconds)
            cv2.rectangle(frame, (x, 75), (x + 30, 105), (255, 255, 255), -1)
            out.write(frame)
    return path


def box_centre_x(frame: np.ndarray) -> float | None:
    """The x centre (relative) of the white box in a decoded frame, or None when not in it."""
    white = frame.min(axis=2) > 200
    if white.sum() < 20:
        return None
    return float(np.nonzero(white)[1].mean()) / frame.shape[1]
