"""Drawing people on frames (in place, BGR): bones from the layout's own edge list, left/right in two colours."""

from __future__ import annotations

import numpy as np

from edge.pose.types import Person
from edge.skeletons import get_layout

_LEFT, _RIGHT, _CENTRE = (255, 160, 0), (0, 140, 255), (230, 230, 230)  # BGR


def _colour(name_a: str, name_b: str):
    if name_a.startswith("left_") and name_b.startswith("left_"):
        return _LEFT
    if name_a.startswith("right_") and name_b.startswith("right_"):
        return _RIGHT
    return _CENTRE


def draw_people(frame: np.ndarray, people: list[Person], min_score: float = 0.5, label: bool = True) -> np.ndarray:
    import cv2

    scale = max(1, int(round(max(frame.shape[:2]) / 640)))
    for person in people:
        layout = get_layout(person.layout)
        pts = person.keypoints
        seen = (person.scores >= min_score) & np.isfinite(pts).all(axis=1)
        for a, b in layout.edges:
            if seen[a] and seen[b]:
                cv2.line(frame, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                         _colour(layout.joints[a], layout.joints[b]), 2 * scale, cv2.LINE_AA)
        for i in np.flatnonzero(seen):
            cv2.circle(frame, tuple(int(v) for v in pts[i]), 3 * scale, (255, 255, 255), -1, cv2.LINE_AA)
        if label:
            x1, y1 = (int(v) for v in person.box[:2])
            cv2.putText(frame, f"#{person.track_id} {person.score:.2f}", (x1, max(15 * scale, y1 - 5)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255), scale, cv2.LINE_AA)
    return frame
