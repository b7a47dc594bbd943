"""Reading frames from image and video files (OpenCV, imported when a file is read).

Frames larger than `MAX_PIXELS` are refused before they are decoded: a small, highly compressed file can declare
a huge image (an 875 KB PNG of 30000 x 30000 pixels decodes to 2.7 GB), and a device has 4-8 GB.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from edge.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# 50 megapixels: larger than any camera's photo or video frame (8K video is 33 MP); 150 MB once decoded as BGR.
MAX_PIXELS = 50_000_000


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: {width} x {height} pixels is more than the {MAX_PIXELS / 1e6:g} megapixels a frame "
                         "may have; scale it down first")


def read_image(path: Path) -> np.ndarray:
    """One image as BGR uint8, its size checked from the file's header before it is decoded."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as header:  # reads the header only
            width, height = header.size
    except Image.DecompressionBombError:
        raise InputError(f"{path}: the image is larger than {MAX_PIXELS / 1e6:g} megapixels; scale it down first") \
            from None
    except (UnidentifiedImageError, OSError):
        raise InputError(f"{path}: not a readable image") from None
    _check_size(path, width, height)
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None or frame.size == 0:
        raise InputError(f"{path}: not a readable image")
    return frame


@contextlib.contextmanager
def _native_stderr_silenced():
    """FFmpeg, inside OpenCV, prints its complaints about a broken file to the process's stderr ("moov atom not
    found"); the user gets our one-line error instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def video_frames(path: Path):
    """(index, time_s, frame, fps) for every frame of a video; raises InputError when nothing can be read."""
    import cv2

    with _native_stderr_silenced():
        cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(f"{path}: not a readable video or image")
        _check_size(path, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        index = 0
        while True:
            with _native_stderr_silenced():
                ok, frame = cap.read()
            if not ok:
                break
            yield index, index / fps, frame, fps
            index += 1
        if index == 0:
            raise InputError(f"{path}: the video has no readable frames")
    finally:
        cap.release()
