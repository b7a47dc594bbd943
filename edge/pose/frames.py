"""Reading frames from image and video files (OpenCV, imported when a file is read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: Path) -> np.ndarray:
    import cv2

    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None or frame.size == 0:
        raise InputError(f"{path}: not a readable image")
    return frame


def video_frames(path: Path):
    """(index, time_s, frame, fps) for every frame of a video; raises InputError when nothing can be read."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(f"{path}: not a readable video or image")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield index, index / fps, frame, fps
            index += 1
        if index == 0:
            raise InputError(f"{path}: the video has no readable frames")
    finally:
        cap.release()
