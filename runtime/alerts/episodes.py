"""What the shift report needs beyond time per risk level: which body parts drive the scores, the worst episodes of
high risk, and a thumbnail of each that shows no one.

Body parts at their worst levels (`worst_parts`): a REBA or RULA partial score at or above `WORST_LEVELS`, the
score its worksheet gives the most flexed posture bands (e.g. REBA trunk >= 3: flexed over 20 deg or extended over
20 deg; RULA neck >= 3: flexed over 20 deg). Left and right count as one part, at the worse side.

An episode (`EpisodeTracker`) is a stretch of one person's frames with REBA at or above the scoring config's
`high_risk_reba` (8, the "high" band): it begins at the first such frame, survives dips shorter than `GAP_S`, and
ends at the last high frame; shorter than `MIN_EPISODE_S` it is noise and is not kept. Each records its start, end,
peak REBA, the REBA partials at the peak, and per body part the share of its high frames at the worst levels
(what drove it).

Thumbnails (`skeleton_thumbnail`) are drawn from the keypoints alone, as lines on a plain background: no pixel of
the camera image is used, so no face or other feature of the person can appear in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

# (method, part) -> (metric names, the lowest score counted as the part's worst levels)
WORST_LEVELS: dict[tuple[str, str], tuple[tuple[str, ...], int]] = {
    ("reba", "neck"): (("reba_neck",), 2),             # > 20 deg flexion or in extension
    ("reba", "trunk"): (("reba_trunk",), 3),           # > 20 deg flexion or extension
    ("reba", "legs"): (("reba_legs",), 3),             # knees flexed past 30 deg, or unilateral and flexed
    ("reba", "upper_arm"): (("reba_upper_arm_left", "reba_upper_arm_right"), 3),  # > 45 deg flexion
    ("reba", "lower_arm"): (("reba_lower_arm_left", "reba_lower_arm_right"), 2),  # outside 60-100 deg
    ("reba", "wrist"): (("reba_wrist_left", "reba_wrist_right"), 2),              # > 15 deg
    ("rula", "upper_arm"): (("rula_upper_arm_left", "rula_upper_arm_right"), 3),  # > 45 deg flexion
    ("rula", "lower_arm"): (("rula_lower_arm_left", "rula_lower_arm_right"), 2),  # outside 60-100 deg or across
    ("rula", "wrist"): (("rula_wrist_left", "rula_wrist_right"), 3),              # > 15 deg
    ("rula", "wrist_twist"): (("rula_wrist_twist_left", "rula_wrist_twist_right"), 2),  # near the end of range
    ("rula", "neck"): (("rula_neck",), 3),             # > 20 deg flexion
    ("rula", "trunk"): (("rula_trunk",), 3),           # > 20 deg flexion
    ("rula", "legs"): (("rula_legs",), 2),             # not supported or unbalanced
}
METHOD_PARTS = {m: tuple(p for (mm, p) in WORST_LEVELS if mm == m) for m in ("reba", "rula")}
GAP_S = 1.0
MIN_EPISODE_S = 0.5
THUMB_SIZE = 160  # the longer side of a thumbnail, pixels


def part_score(metrics: Mapping, names: tuple[str, ...]) -> float | None:
    """The worse side's score of a part, or None when no side is known."""
    values = [v for n in names if isinstance(v := metrics.get(n), (int, float)) and v == v]
    return max(values) if values else None


def worst_parts(metrics: Mapping) -> list[tuple[str, str]]:
    """The (method, part) pairs whose partial score is at its worst levels in this frame (NaN never is)."""
    get = metrics.get
    return [key for key, (names, lowest) in WORST_LEVELS.items()
            if any(isinstance(v := get(n), (int, float)) and v >= lowest - 1e-9 for n in names)]


@dataclass
class Episode:
    """One person's episode of high risk, open while it may still grow."""

    person: int
    shift: str
    start: str          # wall times, ISO UTC
    end: str
    start_t: float      # stream times
    end_t: float
    peak_reba: float
    peak_time: str
    peak_partials: dict = field(default_factory=dict)
    high_s: float = 0.0
    worst_s: dict = field(default_factory=dict)  # REBA part -> seconds at its worst levels while high
    thumbnail: bytes | None = None
    want_thumbnail: bool = True

    @property
    def duration_s(self) -> float:
        return max(self.end_t - self.start_t, self.high_s)

    def drivers(self) -> dict:
        """REBA part -> share of the episode's high time at its worst levels, largest first."""
        shares = {p: round(s / self.high_s, 4) for p, s in self.worst_s.items() if self.high_s > 0}
        return dict(sorted(shares.items(), key=lambda kv: -kv[1]))

    def record(self) -> dict:
        return {"person": self.person, "shift": self.shift, "start": self.start, "end": self.end,
                "duration_s": round(self.duration_s, 3), "peak_reba": self.peak_reba, "peak_time": self.peak_time,
                "drivers": {"parts": self.drivers(), "peak_partials": self.peak_partials},
                "thumbnail": self.thumbnail}


class EpisodeTracker:
    """Open episodes per person (module doc); `update` returns the episodes that ended, long enough to keep."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.open: dict[int, Episode] = {}

    def update(self, t: float, wall: str, person: int, shift: str, reba: float | None, metrics: Mapping,
               dt: float, worst: list[tuple[str, str]] | None = None) -> list[dict]:
        """Add one frame of the person (`worst`: its `worst_parts`, when already known)."""
        ended = []
        episode = self.open.get(person)
        if episode is not None and (episode.shift != shift or (
                (reba is None or reba < self.threshold) and t - episode.end_t > GAP_S)):
            ended += self.close(person)
            episode = None
        if reba is None or reba < self.threshold:
            return ended
        if episode is None:
            episode = self.open[person] = Episode(person, shift, wall, wall, t, t, reba, wall)
        episode.end, episode.end_t = wall, t
        episode.high_s += dt
        for method, part in worst_parts(metrics) if worst is None else worst:
            if method == "reba":
                episode.worst_s[part] = episode.worst_s.get(part, 0.0) + dt
        if reba > episode.peak_reba or not episode.peak_partials:
            episode.peak_reba, episode.peak_time = reba, wall
            episode.peak_partials = {p: part_score(metrics, WORST_LEVELS[("reba", p)][0])
                                     for p in METHOD_PARTS["reba"]}
            episode.want_thumbnail = True
        return ended

    def close(self, person: int | None = None) -> list[dict]:
        """End the person's episode (everyone's with None); the records of those long enough to keep."""
        people = list(self.open) if person is None else [person]
        done = [self.open.pop(p) for p in people if p in self.open]
        return [e.record() for e in done if e.duration_s >= MIN_EPISODE_S]

    def wanting_thumbnails(self) -> list[int]:
        return [p for p, e in self.open.items() if e.want_thumbnail]

    def set_thumbnail(self, person: int, jpeg: bytes | None) -> None:
        episode = self.open.get(person)
        if episode is not None:
            episode.want_thumbnail = False
            if jpeg is not None:
                episode.thumbnail = jpeg

    def open_records(self) -> list[dict]:
        """The open episodes as they stand (saved too, so a crash keeps them)."""
        return [e.record() for e in self.open.values() if e.duration_s >= MIN_EPISODE_S]


def skeleton_thumbnail(frame_shape: tuple[int, ...], person, min_score: float = 0.3) -> bytes | None:
    """A small JPEG of the person's skeleton (lines between keypoints, nothing else: module doc), framed on their
    box; None when too few keypoints are seen."""
    import cv2

    from edge.skeletons import get_layout

    kp = np.asarray(person.keypoints, dtype=np.float64)
    seen = np.isfinite(kp).all(axis=1) & (np.asarray(person.scores) >= min_score)
    if seen.sum() < 4:
        return None
    h, w = frame_shape[:2]
    x1, y1, x2, y2 = (float(v) for v in person.box)
    pad = 0.15 * max(x2 - x1, y2 - y1, 1.0)
    x1, y1, x2, y2 = max(x1 - pad, 0.0), max(y1 - pad, 0.0), min(x2 + pad, float(w)), min(y2 + pad, float(h))
    scale = THUMB_SIZE / max(x2 - x1, y2 - y1, 1.0)
    size = (max(int(round((y2 - y1) * scale)), 8), max(int(round((x2 - x1) * scale)), 8))
    canvas = np.full((*size, 3), 40, dtype=np.uint8)
    pts = np.round((kp - (x1, y1)) * scale).astype(np.int64)
    for a, b in get_layout(person.layout).edges:
        if seen[a] and seen[b]:
            cv2.line(canvas, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), (80, 220, 255), 2,
                     cv2.LINE_AA)
    for i in np.flatnonzero(seen):
        cv2.circle(canvas, tuple(int(v) for v in pts[i]), 2, (255, 255, 255), -1, cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return jpeg.tobytes() if ok else None
