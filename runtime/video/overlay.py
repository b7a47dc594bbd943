"""What the operator sees: skeletons, per-person REBA labels, an alert banner and a status line, drawn in place on BGR
frames with OpenCV; and privacy before a frame leaves the device (`apply_privacy`: faces blurred, or every person
drawn as a flat-coloured silhouette from their segmentation mask).

Everything is drawn in numpy before a frame is pushed into GStreamer (setting a `textoverlay` element's text from
the pushing thread lands on the wrong frame), so the overlay always matches the frame it describes.
Text sizes scale with the frame (a 640-pixel frame is the reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.pose.draw import draw_people
from edge.pose.types import Person
from edge.skeletons import get_layout

__all__ = ["PRIVACY_MODES", "RISK_COLOURS", "SILHOUETTE_COLOUR", "PersonStatus", "apply_privacy", "blur_faces",
           "draw_overlay", "draw_silhouettes", "face_box"]

# What every output shows of a person: "face-blur" (faces blurred), "silhouette" (the whole person one flat colour,
# from the pose model's segmentation), "none" (as the camera saw them).
PRIVACY_MODES = ("silhouette", "face-blur", "none")
SILHOUETTE_COLOUR = (150, 110, 60)  # BGR, a muted blue that reads as "a person" against most workshop scenes
# Pixels at least this likely to be the person are filled: below one half, so the soft edge (hair, loose
# clothing) is covered too; erring towards covering a little background.
_SILHOUETTE_THRESHOLD = 0.3


@dataclass(frozen=True)
class PersonStatus:
    """The ergonomic state of one tracked person in the current frame (None where not known)."""

    person: int
    reba: float | None = None
    rula: float | None = None
    risk: str | None = None  # "negligible" | "low" | "medium" | "high" | "very high"
    trunk_flexion_deg: float | None = None
    alerts: tuple[str, ...] = ()
    activity: str | None = None  # the activity model's current class (runtime.activity)
    activity_confidence: float | None = None  # 0..1
    learned_reba: float | None = None  # the activity model's REBA


# BGR. REBA's five action levels from green to red; grey when the risk is not known.
RISK_COLOURS: dict[str | None, tuple[int, int, int]] = {
    "negligible": (0, 190, 0),
    "low": (50, 205, 154),
    "medium": (0, 215, 255),
    "high": (0, 140, 255),
    "very high": (0, 0, 230),
    None: (160, 160, 160),
}
_BANNER_BG = (0, 0, 200)
_WHITE, _BLACK = (255, 255, 255), (0, 0, 0)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX; a literal so that cv2 is imported only when drawing

# Landmarks that lie on the face, in any layout that has them (COCO: nose, eyes, ears; BlazePose adds inner/outer
# eyes and mouth corners; H36M/Kinect only a head joint, which is the head centre rather than the face).
_FACE_LANDMARKS = (
    "nose", "left_eye", "right_eye", "left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "head",
)


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise InputError(f"expected a BGR uint8 frame of shape (H, W, 3), got shape {shape} dtype {dtype}")


def _text_scale(frame: np.ndarray) -> float:
    return max(frame.shape[:2]) / 640.0


def _fit_text(cv2, text: str, max_width: int, scale: float, thickness: int) -> tuple[str, float]:
    """Shrink the font down to half size, then cut the text with '...', so that it fits in max_width pixels."""
    for s in (scale, scale * 0.8, scale * 0.65, scale * 0.5):
        if cv2.getTextSize(text, _FONT, s, thickness)[0][0] <= max_width:
            return text, s
    s = scale * 0.5
    while len(text) > 1 and cv2.getTextSize(text + "...", _FONT, s, thickness)[0][0] > max_width:
        text = text[:-1]
    return text + "...", s


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _label_lines(track_id: int, status: PersonStatus | None) -> list[str]:
    if status is None:
        return [f"#{track_id} REBA -"]
    lines = [f"#{track_id} REBA {_fmt(status.reba)} {status.risk or ''}".rstrip()]
    extra = []
    if status.rula is not None:
        extra.append(f"RULA {_fmt(status.rula)}")
    if status.trunk_flexion_deg is not None:
        extra.append(f"trunk {_fmt(status.trunk_flexion_deg)} deg")
    if extra:
        lines.append("  ".join(extra))
    if status.activity is not None or status.learned_reba is not None and np.isfinite(status.learned_reba):
        lines.append(_activity_line(status))
    if status.alerts:
        lines.append("! " + ", ".join(status.alerts))
    return lines


def _activity_line(status: PersonStatus) -> str:
    """E.g. "bend 87%  learned REBA 6.2"."""
    parts = []
    if status.activity is not None:
        conf = status.activity_confidence
        parts.append(status.activity + (f" {100 * conf:.0f}%" if conf is not None and np.isfinite(conf) else ""))
    parts.append(f"learned REBA {_fmt(status.learned_reba, 1)}")
    return "  ".join(parts)


def _draw_label(cv2, frame: np.ndarray, box: np.ndarray, lines: list[str], colour, s: float, top: int = 0) -> None:
    """A filled box in the risk colour holding the label lines, above the person box (inside it when no room).

    top: first free row (below the banner), so a label never hides under it.
    """
    h, w = frame.shape[:2]
    font_scale, thickness = 0.5 * s, max(1, round(s))
    pad = max(2, round(3 * s))
    sizes = [cv2.getTextSize(t, _FONT, font_scale, thickness) for t in lines]
    line_h = max(sz[0][1] + sz[1] for sz in sizes) + pad
    box_w = max(sz[0][0] for sz in sizes) + 2 * pad
    box_h = line_h * len(lines) + pad
    x1, y1 = (float(v) if np.isfinite(v) else 0.0 for v in box[:2])
    x0 = int(np.clip(x1, 0, max(0, w - box_w)))
    y0 = int(y1) - box_h
    if y0 < top:
        y0 = int(np.clip(y1, top, max(top, h - box_h)))
    cv2.rectangle(frame, (x0, y0), (x0 + box_w, y0 + box_h), colour, -1)
    # Dark text on the light colours (green to orange), white on red and grey for contrast.
    text_colour = _WHITE if colour in (RISK_COLOURS["very high"], RISK_COLOURS[None]) else _BLACK
    alert_colour = _WHITE if text_colour == _WHITE else (0, 0, 160)
    for i, text in enumerate(lines):
        baseline_y = y0 + (i + 1) * line_h - sizes[i][1] // 2
        c = alert_colour if text.startswith("! ") else text_colour
        cv2.putText(frame, text, (x0 + pad, baseline_y), _FONT, font_scale, c, thickness, cv2.LINE_AA)


def draw_overlay(frame: np.ndarray, people: list[Person], statuses: dict[int, PersonStatus],
                 banner: str | None = None, status_line: str | None = None) -> np.ndarray:
    """Draw skeletons, per-person REBA labels, an alert banner (top) and a status line (bottom) in place; returns frame.

    statuses: keyed by `Person.track_id`; a person without a status gets a grey label.
    banner: the active alert message, drawn white on red across the top; None draws no banner.
    status_line: e.g. "14.8 fps | 2 people", drawn small on a darkened strip at the bottom.
    """
    import cv2

    _check_frame(frame)
    h, w = frame.shape[:2]
    s = _text_scale(frame)
    thickness = max(1, round(s))
    # draw_people's own label (track id and detection score) would sit where the REBA label goes.
    draw_people(frame, people, label=False)
    bar_h = 0
    if banner:
        bold = max(1, round(2 * s))
        text, fs = _fit_text(cv2, banner, w - int(20 * s), 0.8 * s, bold)
        (_tw, th), base = cv2.getTextSize(text, _FONT, fs, bold)
        bar_h = min(h, max(th + base + int(16 * s), int(0.08 * h)))
    for person in people:
        status = statuses.get(person.track_id)
        colour = RISK_COLOURS.get(status.risk if status else None, RISK_COLOURS[None])
        _draw_label(cv2, frame, person.box, _label_lines(person.track_id, status), colour, s, top=bar_h)

    # Banner and status line are painted last so that no skeleton or label can cover them.
    if banner:
        frame[:bar_h] = _BANNER_BG
        cv2.putText(frame, text, (int(10 * s), (bar_h + th) // 2), _FONT, fs, _WHITE, bold, cv2.LINE_AA)
    if status_line:
        text, fs = _fit_text(cv2, status_line, w - int(12 * s), 0.45 * s, thickness)
        (_tw, th), base = cv2.getTextSize(text, _FONT, fs, thickness)
        bar_h = min(h, th + base + int(8 * s))
        strip = frame[h - bar_h:]
        strip >>= 1  # darken in place (no temporary frame) so the white text reads on any background
        cv2.putText(frame, text, (int(6 * s), h - base - int(3 * s)), _FONT, fs, _WHITE, thickness, cv2.LINE_AA)
    return frame


def face_box(person: Person, frame_shape: tuple[int, ...], min_score: float = 0.3,
             margin: float = 0.35) -> tuple[int, int, int, int] | None:
    """The face region (x0, y0, x1, y1), clipped to the frame, or None if it lies entirely outside it.

    From the face landmarks the layout has whose score is at least min_score: their bounding box, at least a head's
    size (from the shoulder width, else the person box), enlarged by `margin` of its size on every side. Without
    usable face landmarks: the top of the person box down to the shoulders (or its top fifth), over the box width,
    which errs on the side of blurring too much rather than too little.
    """
    h, w = frame_shape[:2]
    layout = get_layout(person.layout)
    pts, scores = person.keypoints, person.scores
    usable = (scores >= min_score) & np.isfinite(pts).all(axis=1)

    def seen(name: str) -> np.ndarray | None:
        if name in layout.joints and usable[layout.index(name)]:
            return pts[layout.index(name)]
        return None

    bx1, by1, bx2, by2 = (float(v) for v in person.box)
    box_ok = np.isfinite([bx1, by1, bx2, by2]).all() and bx2 > bx1 and by2 > by1
    shoulders = [p for p in (seen("left_shoulder"), seen("right_shoulder")) if p is not None]
    # A head is about half as wide as the shoulders and about a fifth of a box's width or a seventh of its height.
    head = 0.0
    if len(shoulders) == 2:
        head = 0.55 * float(np.linalg.norm(shoulders[0] - shoulders[1]))
    if box_ok:
        head = max(head, 0.2 * (bx2 - bx1), (by2 - by1) / 7.0)

    face = [p for p in (seen(n) for n in _FACE_LANDMARKS) if p is not None]
    if face:
        f = np.asarray(face)
        lo, hi = f.min(axis=0), f.max(axis=0)
        centre = (lo + hi) / 2.0
        half = np.maximum((hi - lo) / 2.0, head / 2.0)
        if head == 0.0 and len(face) == 1:
            half = np.array([24.0, 24.0])  # a lone point with nothing to size it: a small fixed square
        half = half * (1.0 + margin)
        x0, y0 = centre - half
        x1, y1 = centre + half
    elif box_ok:
        x0, x1 = bx1, bx2
        y0 = by1
        y1 = min(float(p[1]) for p in shoulders) if shoulders else by1 + (by2 - by1) / 5.0
        if y1 <= y0:  # shoulders above the box top (bent over, box from another source): use the top fifth
            y1 = by1 + (by2 - by1) / 5.0
        mx, my = margin * (x1 - x0) * 0.25, margin * (y1 - y0)
        x0, x1, y0, y1 = x0 - mx, x1 + mx, y0 - my, y1 + my
    else:
        return None

    ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    ix1, iy1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return ix0, iy0, ix1, iy1


def blur_faces(frame: np.ndarray, people: list[Person], strength: float = 0.5, method: str = "gaussian",
               min_score: float = 0.3, margin: float = 0.35) -> np.ndarray:
    """Blur every person's face region (`face_box`) in place; returns frame.

    strength: blur size as a fraction of the face region's smaller side (Gaussian kernel size; for "pixelate" the
        block size). 0.5 leaves no recognisable detail.
    method: "gaussian" or "pixelate" (cheaper at large faces: cost does not grow with the kernel).
    """
    import cv2

    _check_frame(frame)
    if method not in ("gaussian", "pixelate"):
        raise InputError(f"unknown blur method {method!r}: use 'gaussian' or 'pixelate'")
    if not strength > 0:
        raise InputError(f"blur strength must be > 0, got {strength}")
    for person in people:
        region = face_box(person, frame.shape, min_score=min_score, margin=margin)
        if region is None:
            continue
        x0, y0, x1, y1 = region
        roi = frame[y0:y1, x0:x1]
        size = max(1, int(min(roi.shape[:2]) * float(strength) + 0.5))
        if method == "gaussian":
            k = size | 1  # odd kernel; sigma from the kernel so the whole kernel is used
            roi[:] = cv2.GaussianBlur(roi, (k, k), 0, borderType=cv2.BORDER_REPLICATE)
        else:
            small = cv2.resize(roi, (max(1, roi.shape[1] // size), max(1, roi.shape[0] // size)),
                               interpolation=cv2.INTER_AREA)
            roi[:] = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_NEAREST)
    return frame


def draw_silhouettes(frame: np.ndarray, people: list[Person], colour=SILHOUETTE_COLOUR,
                     threshold: float = _SILHOUETTE_THRESHOLD) -> np.ndarray:
    """Fill each person's mask (`Person.mask`) with one flat colour in place, the background untouched; a person
    without a mask gets the box they stand in blurred beyond recognition instead, never their raw pixels. Their
    faces are blurred first as well, so a mask that misses a helmet or hair still shows no face. Returns frame."""
    _check_frame(frame)
    if not 0.0 < threshold < 1.0:
        raise InputError(f"silhouette threshold must be between 0 and 1, got {threshold}")
    blur_faces(frame, people)
    h, w = frame.shape[:2]
    for person in people:
        mask = person.mask
        if mask is None:
            _blur_box(frame, person.box)
            continue
        mh, mw = min(mask.probability.shape[0], h - mask.y), min(mask.probability.shape[1], w - mask.x)
        if mh <= 0 or mw <= 0:
            continue
        inside = mask.inside(threshold)[:mh, :mw]
        frame[mask.y:mask.y + mh, mask.x:mask.x + mw][inside] = colour
    return frame


def _blur_box(frame: np.ndarray, box: np.ndarray, margin: float = 0.1) -> None:
    """Blur the person box (grown by `margin` of its size) so no face, clothing or skin can be made out: shrunk to
    a few pixels a side and scaled back up, which costs the same at any box size (a Gaussian of that strength would
    grow with the box)."""
    import cv2

    if not np.isfinite(box).all():
        return
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    ix0, iy0 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    ix1, iy1 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if ix1 <= ix0 or iy1 <= iy0:
        return
    roi = frame[iy0:iy1, ix0:ix1]
    small = cv2.resize(roi, (max(1, roi.shape[1] // 24), max(1, roi.shape[0] // 24)), interpolation=cv2.INTER_AREA)
    roi[:] = cv2.resize(small, (roi.shape[1], roi.shape[0]), interpolation=cv2.INTER_LINEAR)


def apply_privacy(frame: np.ndarray, people: list[Person], mode: str) -> np.ndarray:
    """The privacy `mode` (PRIVACY_MODES) applied to frame in place; returns frame."""
    if mode == "silhouette":
        return draw_silhouettes(frame, people)
    if mode == "face-blur":
        return blur_faces(frame, people)
    if mode == "none":
        return frame
    raise InputError(f"privacy must be one of {', '.join(PRIVACY_MODES)}, got {mode!r}")
