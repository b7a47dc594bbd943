"""Track ids: greedy matching of boxes by overlap for models that see each frame afresh (the adapters), and
`LostPeople`, which gives a person found again the id of a track lost near there a moment ago (BlazePose)."""

from __future__ import annotations

import dataclasses
import math
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


# Torso colour histogram: hue x saturation x value bins (value keeps grey and dark clothes apart, hue alone cannot).
_HIST_BINS = (8, 4, 4)


def torso_histogram(frame_bgr: np.ndarray, person: Person) -> np.ndarray | None:
    """A cheap appearance cue (about 0.1 ms): the normalised HSV histogram of the box spanned by the shoulders and
    hips, narrowed to its middle so that arms and background stay out; None when the torso is not seen."""
    import cv2

    joints = _TORSOS.get(person.layout)
    if joints is None or (person.scores[joints] < 0.5).any():
        return None
    pts = person.keypoints[joints]
    (x1, y1), (x2, y2) = pts.min(axis=0), pts.max(axis=0)
    x1, x2 = x1 + 0.2 * (x2 - x1), x2 - 0.2 * (x2 - x1)
    h, w = frame_bgr.shape[:2]
    x1, y1, x2, y2 = max(0, int(x1)), max(0, int(y1)), min(w, int(x2) + 1), min(h, int(y2) + 1)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(frame_bgr[y1:y2, x1:x2]), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_HIST_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger (Bhattacharyya) distance of two normalised histograms: 0 the same, 1 nothing in common."""
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(a * b).sum()))))


@dataclass(frozen=True)
class ReidConfig:
    keep_s: float = 1.5  # a lost person's id is kept this long after they were last seen or last covered
    max_shift: float = 0.6  # box-centre distance from where they should be, in their heights, allowed at once...
    shift_per_s: float = 0.5  # ...growing by this much a second they are unseen (they may have moved)
    max_shift_total: float = 1.5
    size_ratio: float = 1.6  # box heights may differ by this factor (half-covered people give shorter boxes)
    max_colour: float = 0.7  # torso histogram distance at most (when both torsos were seen; measured: the same
    # person 0.27-0.42 median, 0.76 at worst frame to frame; with the hue turned by 60 degrees 0.93 or more)
    cover: float = 0.3  # a lost person's last box this much inside someone's box counts as covered by them
    whole: float = 0.85  # a box at least this fraction of the person's recent height shows the whole person
    height_memory_s: float = 3.0
    velocity_s: float = 0.3  # time constant of the velocity's smoothing
    min_seen_s: float = 0.1  # a track seen for less than this is not remembered
    claim_s: float = 0.5  # a new track may take a lost person's id during its first this many seconds
    max_predict_s: float = 0.5  # a lost person's velocity carries them on for at most this long (people stop)


@dataclass
class _Seen:
    box: np.ndarray  # the last whole box (x1, y1, x2, y2)
    centre: np.ndarray  # torso centre then, px
    time_s: float  # when
    velocity: np.ndarray  # torso centre, px/s, smoothed
    hist: np.ndarray | None
    height: float  # recent box height (a slowly forgetting maximum), px
    height_s: float
    first_s: float  # when first seen
    covered_s: float = -math.inf  # when someone tracked last stood over the spot (lost people only)


_TORSOS = {"blazepose33": [11, 12, 23, 24], "coco17": [5, 6, 11, 12]}  # shoulders and hips


def _torso_centre(person: Person) -> np.ndarray:
    """The mean of shoulders and hips: steadier than the box, whose sides follow the hands."""
    joints = _TORSOS.get(person.layout)
    if joints is not None and np.isfinite(person.keypoints[joints]).all():
        return person.keypoints[joints].astype(np.float64).mean(axis=0)
    return np.array([(person.box[0] + person.box[2]) / 2.0, (person.box[1] + person.box[3]) / 2.0])


def _height(box: np.ndarray) -> float:
    return max(float(box[3] - box[1]), 1.0)


class LostPeople:
    """Memory of the people tracked now (last box, velocity, torso colours) and of those lost a moment ago.

    A person hidden longer than the pose tracker retries their crop comes back as a new track; `claim` gives that
    track the id of the lost person whose predicted position, size and torso colours it fits best. A lost person is
    kept `keep_s` after they were last seen, or after a tracked person last stood over their last box (they are
    behind someone, not gone: a passer-by may take several seconds to cross), and at most `5 x keep_s` in all.
    """

    def __init__(self, config: ReidConfig = ReidConfig()):
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._seen: dict[int, _Seen] = {}
        self._lost: dict[int, _Seen] = {}

    @property
    def lost_ids(self) -> list[int]:
        return list(self._lost)

    def observe(self, person: Person, frame_bgr: np.ndarray, time_s: float) -> None:
        """Record a tracked person in this frame. Only a whole-looking person updates the record: as someone
        passes in front, the box shrinks to the part still seen and the landmarks drift with it (on a person
        standing still the box centre ran off at 200 px/s), which would send the search the wrong way; so a box
        clearly shorter than the person's recent height (`whole`) leaves place, velocity and colours as they were."""
        self._lost.pop(person.track_id, None)
        box = np.asarray(person.box, dtype=np.float64)
        old = self._seen.get(person.track_id)
        if old is None:
            self._seen[person.track_id] = _Seen(box, _torso_centre(person), time_s, np.zeros(2),
                                                torso_histogram(frame_bgr, person), _height(box), time_s, time_s)
            return
        if time_s <= old.height_s:
            return
        # The reference height forgets within seconds (a covering takes a while), so someone crouching is whole again.
        fade = math.exp(-(time_s - old.height_s) / self.config.height_memory_s)
        old.height, old.height_s = max(_height(box), old.height * fade), time_s
        if _height(box) < self.config.whole * old.height:
            return
        centre, dt = _torso_centre(person), time_s - old.time_s
        rate = 1.0 - math.exp(-dt / self.config.velocity_s)
        old.velocity = old.velocity + rate * ((centre - old.centre) / dt - old.velocity)
        old.box, old.centre, old.time_s = box, centre, time_s
        hist = torso_histogram(frame_bgr, person)
        if hist is not None:  # a running mean: one odd frame changes it little
            old.hist = hist if old.hist is None else 0.8 * old.hist + 0.2 * hist

    def lose(self, track_id: int) -> None:
        """The pose tracker gave up on `track_id`: remember it for `claim`, unless it was seen too briefly to be
        anyone (a skeleton found on someone already tracked lasts a frame or two)."""
        seen = self._seen.pop(track_id, None)
        if seen is not None and seen.height_s - seen.first_s >= self.config.min_seen_s:
            self._lost[track_id] = seen

    def predicted_box(self, track_id: int, time_s: float) -> np.ndarray:
        """Where the lost person `track_id` should be now: their last whole box moved on by their velocity."""
        lost = self._lost[track_id]
        shift = lost.velocity * min(max(time_s - lost.time_s, 0.0), self.config.max_predict_s)
        return lost.box + np.concatenate([shift, shift])

    def update(self, people: list[Person], time_s: float) -> None:
        """After each frame (`people`: those tracked in it): lost people covered by someone tracked stay
        remembered; the others expire."""
        cfg = self.config
        for tid, lost in list(self._lost.items()):
            box = self.predicted_box(tid, time_s)
            area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1.0)
            for p in people:
                inter = np.clip(np.minimum(box[2:], p.box[2:]) - np.maximum(box[:2], p.box[:2]), 0, None).prod()
                if inter / area >= cfg.cover:
                    lost.covered_s = time_s
            if time_s - max(lost.time_s, lost.covered_s) > cfg.keep_s or time_s - lost.time_s > 5 * cfg.keep_s:
                del self._lost[tid]

    def claim(self, person: Person, frame_bgr: np.ndarray, time_s: float) -> int | None:
        """The id of the lost person that `person` is, best fit first, or None. Only a young track (seen for at
        most `claim_s`) may claim: a person coming out from behind someone is often first found as a part of
        themselves (a short box), which fits nobody until more of them shows. A claimed id leaves the memory and
        carries its record on (the young track's own is dropped)."""
        cfg = self.config
        young = self._seen.get(person.track_id)
        if not self._lost or (young is not None and time_s - young.first_s > cfg.claim_s):
            return None
        best, best_cost = None, math.inf
        hist = torso_histogram(frame_bgr, person)
        for tid, lost in self._lost.items():
            cost = self._fit(lost, person, hist, time_s)
            if cost < best_cost:
                best, best_cost = tid, cost
        if best is not None:
            self._seen.pop(person.track_id, None)
            self._seen[best] = self._lost.pop(best)
        return best

    def _fit(self, lost: _Seen, person: Person, hist: np.ndarray | None, time_s: float) -> float:
        """How far `person` is from where, how tall and how coloured the lost person should be (inf: not them)."""
        cfg = self.config
        unseen = max(time_s - lost.time_s, 0.0)
        height = _height(lost.box)
        ahead = lost.velocity * min(unseen, cfg.max_predict_s)
        shift = float(np.linalg.norm(_torso_centre(person) - lost.centre - ahead)) / height
        allowed = min(cfg.max_shift + cfg.shift_per_s * unseen, cfg.max_shift_total)
        ratio = _height(np.asarray(person.box, dtype=np.float64)) / height
        colour = 0.0 if hist is None or lost.hist is None else histogram_distance(hist, lost.hist)
        if shift > allowed or not 1 / cfg.size_ratio <= ratio <= cfg.size_ratio or colour > cfg.max_colour:
            return math.inf
        return shift / allowed + colour

__all__ = ["IouTracker", "LostPeople", "ReidConfig", "TrackerConfig", "box_iou", "histogram_distance",
           "torso_histogram"]
