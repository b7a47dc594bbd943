"""Track ids for models that see each frame afresh (the adapters): greedy matching of boxes by overlap."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edge.pose.types import Person


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    union = (a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True)
class TrackerConfig:
    min_iou: float = 0.3  # below this a box is a new person
    max_missed: int = 10  # frames a track survives without a match


class IouTracker:
    """Gives each person the id of the track whose last box overlaps theirs most (best pairs first)."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._tracks: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last box, frames missed)
        self._next_id = 0

    def __call__(self, people: list[Person]) -> list[Person]:
        pairs = sorted(
            ((box_iou(p.box, box), i, tid) for i, p in enumerate(people) for tid, (box, _) in self._tracks.items()),
            reverse=True,
        )
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for iou, i, tid in pairs:
            if iou < self.config.min_iou:
                break
            if i not in assigned and tid not in used:
                assigned[i] = tid
                used.add(tid)
        out = []
        for i, person in enumerate(people):
            tid = assigned.get(i)
            if tid is None:
                tid, self._next_id = self._next_id, self._next_id + 1
            self._tracks[tid] = (person.box, 0)
            out.append(dataclasses.replace(person, track_id=tid))
        for tid, (box, missed) in list(self._tracks.items()):
            if tid not in assigned.values() and tid not in {p.track_id for p in out}:
                if missed + 1 > self.config.max_missed:
                    del self._tracks[tid]
                else:
                    self._tracks[tid] = (box, missed + 1)
        return out
