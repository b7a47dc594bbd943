"""A streaming activity model (`edge.streaming.model.StreamModel`) fed one tracked person's joints frame by
frame, prepared exactly as training prepared its sequences:

1. Layout: the pose model's joints become the model's (`LayoutMap`): a joint the pose layout has by name is taken
   as it is; `neck`, `head` and `pelvis` follow the canonical rules (`edge.skeletons.CANONICAL_RULES`: mid-shoulders,
   mid-ears, mid-hips), and `spine_mid` lies halfway between pelvis and neck (as the synthetic bodies put it).
2. Frame rate: training resampled every sequence to the model's fps by linear interpolation (`edge.datasets.
   sequence.resample`). Here the model steps at that rate from the person's first frame, t0 + k/fps; the frame that
   reaches a step time is interpolated with the frame before it at exactly that time (NaN where either is NaN), so
   no frame is waited for. Between steps the latest outputs hold. A gap in the frames is caught up step by step,
   at most one second of steps (older ones are skipped).
3. Normalisation (`edge.train.normalise`, the same functions): turned so that up is +z, the root taken away, and
   divided by the body scale. Training's scale is a median over the whole sequence; a live stream has only its
   past, so the scale is the same median over the steps of the last `scale_window_s` (for one person's bones it
   settles within a few frames), taken at every step for the first two seconds, then once a second (a median over
   30 s of frames costs more than the model's step). Until the scale (or, with root "first", the pelvis) is
   known, the model does not step and the outputs are unknown; the stream starts at the first frame that can be
   normalised.

Latency: a model with a delay (`StreamModel.delay_frames`, edge_stream's `delay`) labels the frame that many
steps back. Its outputs are reported as they come, that much late; they are unknown until a stream's first frame
has been labelled, and a lift's start is taken back by the delay.

Where the person is: a model that reads the pelvis's path (normalisation root "first" or "none": edge_stream's
`root_lags`, trained on data sets whose 3D joints move through the room) needs joints placed in the camera's space,
which hip-centred pose models (BlazePose's world keypoints) do not give. `update` then takes the offset that
places them (`edge.pose.placement`); through a frame without one the last is held, and a stream starts at its first
placed frame. A model centred on each frame's pelvis (root "frame", the default weights) ignores the offset.

Lifts: where the model has lift-like classes (`lift_classes`), a lift is a run of those classes held at least
`lift_min_s`; `lifts_per_min` counts the lifts that began in the last 60 s.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from edge.errors import InputError
from edge.skeletons import canonical_sources, get_layout
from edge.streaming.model import StreamModel
from edge.train.normalise import body_scale, rotation_to_z

# Class names that count as lifts by default: a name with a "lift" word (synthetic stoop_lift, squat_lift) or
# "pick_up" (UW-IOM's box/rod pick-ups).
LIFT_WORDS = ("lift", "pick_up", "pickup")
# At most this much stream time of missed steps is caught up after a gap (seconds).
MAX_CATCH_UP_S = 1.0
_EPS = 1e-6


def default_lift_classes(classes) -> tuple[str, ...]:
    """The classes that count as lifts by name (`LIFT_WORDS`, whole words of a snake_case name)."""
    def is_lift(name: str) -> bool:
        padded = f"_{name.lower()}_"
        return any(f"_{word}_" in padded for word in LIFT_WORDS)

    return tuple(c for c in classes if is_lift(c))


class LayoutMap:
    """Joints (J, 3) of one layout -> joints of another, each a weighted mean of source joints (module doc, 1)."""

    def __init__(self, source: str, target: str):
        src, dst = get_layout(source), get_layout(target)
        canonical = canonical_sources(src)
        recipes: list[dict[int, float]] = []
        missing = []
        for name in dst.joints:
            if name in src.joints:
                recipes.append({src.index(name): 1.0})
            elif name in canonical:
                idx = canonical[name]
                recipes.append({i: 1.0 / len(idx) for i in idx})
            elif name == "spine_mid" and {"pelvis", "neck"} <= set(canonical):
                recipe: dict[int, float] = {}
                for part in ("pelvis", "neck"):
                    for i in canonical[part]:
                        recipe[i] = recipe.get(i, 0.0) + 0.5 / len(canonical[part])
                recipes.append(recipe)
            else:
                missing.append(name)
        if missing:
            raise InputError(f"the activity model's layout {target} needs joints the pose layout {source} cannot "
                             f"give: {', '.join(missing)}")
        self.weights = np.zeros((dst.num_joints, src.num_joints))
        for row, recipe in enumerate(recipes):
            for col, w in recipe.items():
                self.weights[row, col] = w
        self._used = self.weights != 0
        self.identity = source == target

    def __call__(self, joints: np.ndarray) -> np.ndarray:
        joints = np.asarray(joints, dtype=np.float64)
        if self.identity:
            return joints.copy()
        unseen = np.isnan(joints).any(axis=1)
        out = self.weights @ np.where(unseen[:, None], 0.0, joints)
        out[(self._used & unseen).any(axis=1)] = np.nan  # a joint made from an unseen one is unseen
        return out


class FrameNormaliser:
    """One stream's frames normalised as `edge.train.normalise.normalise_joints` does a sequence (module doc, 3).
    Returns None for a frame that cannot be normalised yet."""

    def __init__(self, layout: str, norm, fps: float, scale_window_s: float = 30.0):
        self.layout = get_layout(layout)
        self.norm = norm
        self._pelvis = list(canonical_sources(self.layout)["pelvis"])  # to_canonical's pelvis: their mean
        self._up: tuple | None = None
        self._rotation = np.eye(3)
        self._first_root: np.ndarray | None = None
        size = max(1, int(round(scale_window_s * fps)))
        self._ring = np.full((size, self.layout.num_joints, 3), np.nan)
        self._filled = 0
        self._every = max(1, int(round(fps)))  # steps between scale updates once settled
        self._settled = 2 * self._every
        self.scale = float("nan")

    def __call__(self, joints: np.ndarray, up: np.ndarray) -> np.ndarray | None:
        key = tuple(float(v) for v in np.asarray(up).reshape(3))
        if key != self._up:
            self._up, self._rotation = key, rotation_to_z(np.asarray(key))
        rotated = np.asarray(joints, dtype=np.float64) @ self._rotation.T
        scale = 1.0
        if self.norm.scale == "sequence":
            self._ring[self._filled % len(self._ring)] = rotated
            self._filled += 1
            if not np.isfinite(self.scale) or self._filled <= self._settled or self._filled % self._every == 0:
                found = body_scale(self._ring[:self._filled], self.layout.name)
                if np.isfinite(found) and found > 0.05:
                    self.scale = found
            if not np.isfinite(self.scale):
                return None
            scale = self.scale
        if self.norm.root != "none":
            root = rotated[self._pelvis].mean(axis=0)
            if self.norm.root == "first":
                if self._first_root is None:
                    if not np.isfinite(root).all():
                        return None
                    self._first_root = root
                root = self._first_root
            rotated = rotated - root
        return (rotated / scale).astype(np.float32)


class PersonActivity:
    """One tracked person's activity and learned REBA, one frame at a time (module doc)."""

    def __init__(self, model: StreamModel, convert: LayoutMap, lift_classes=(), lift_min_s: float = 0.3,
                 scale_window_s: float = 30.0):
        """convert: pose-layout joints to the model's layout (`LayoutMap(pose_layout, model.layout)`, shared by
        every person)."""
        self.model = model
        self.convert = convert
        self.normalise = FrameNormaliser(model.layout, model.norm, model.fps, scale_window_s)
        self.period = 1.0 / model.fps
        self.stream = model.new_stream()
        self._warming = model.delay_frames  # steps whose outputs label no frame of this stream yet
        self._next: float | None = None
        self._prev: tuple[float, np.ndarray] | None = None
        self.outputs: dict[str, np.ndarray] | None = None
        self._lift_ids = {model.classes.index(c) for c in lift_classes}
        self._lift_min_s = lift_min_s
        self._lift_since: float | None = None
        self._lift_counted = False
        self._lift_times: deque[float] = deque()
        self.wants_offset = model.norm.root != "frame"
        self._offset: np.ndarray | None = None

    def update(self, t: float, joints: np.ndarray, up: np.ndarray, offset: np.ndarray | None = None) -> dict:
        """The metrics of the frame at stream time `t` (pose-layout joints (J, 3) in metres, the up vector):
        activity (class name or None while unknown), activity_confidence, learned_reba, learned_<partial> for
        each partial (NaN while unknown), and lifts_per_min where the model has lift classes. `offset` (3,): what
        places `joints` in the camera's space (NaN: not known this frame; None: the joints are where they are),
        used by a model that reads the pelvis's path (module doc)."""
        joints = np.asarray(joints, dtype=np.float64)
        if offset is not None and self.wants_offset:
            offset = np.asarray(offset, dtype=np.float64).reshape(3)
            if np.isfinite(offset).all():
                self._offset = offset
            elif self._offset is None:  # not placed yet: the stream starts at its first placed frame
                return self._metrics(t)
            joints = joints + self._offset
        frame = self.convert(joints)
        for when, tick in self._ticks(t, frame):
            x = self.normalise(tick, up)
            if x is None:
                continue
            outputs = self.stream.step(x)
            if self._warming:
                self._warming -= 1
                continue
            self.outputs = outputs
            self._count_lift(when - self.model.delay_frames * self.period)
        self._prev = (t, frame)
        return self._metrics(t)

    def _ticks(self, t: float, frame: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """The step times this frame reaches, each with the joints interpolated there (module doc, 2)."""
        if self._next is None:
            self._next = t + self.period
            return [(t, frame)]
        behind = math.floor((t - self._next) / self.period + _EPS)
        cap = max(1, int(round(MAX_CATCH_UP_S / self.period)))
        if behind >= cap:  # a long gap: only the last second of steps
            self._next += (behind - cap + 1) * self.period
        prev_t, prev = self._prev
        ticks = []
        while self._next <= t + _EPS:
            w = 1.0 if t <= prev_t else min(max((self._next - prev_t) / (t - prev_t), 0.0), 1.0)
            ticks.append((self._next, prev * (1.0 - w) + frame * w))
            self._next += self.period
        return ticks

    def _count_lift(self, t: float) -> None:
        if not self._lift_ids:
            return
        current = int(np.argmax(self.outputs["activity_logits"]))
        if current not in self._lift_ids:
            self._lift_since, self._lift_counted = None, False
            return
        if self._lift_since is None:
            self._lift_since = t
        if not self._lift_counted and t - self._lift_since + _EPS >= self._lift_min_s:
            self._lift_counted = True
            self._lift_times.append(self._lift_since)

    def _metrics(self, t: float) -> dict:
        m = self.model
        out: dict = {"activity": None, "activity_confidence": float("nan"), "learned_reba": float("nan")}
        out.update((f"learned_{p}", float("nan")) for p in m.partials)
        if self._lift_ids:
            while self._lift_times and self._lift_times[0] <= t - 60.0:
                self._lift_times.popleft()
            out["lifts_per_min"] = float(len(self._lift_times))
        if self.outputs is None:
            return out
        out["learned_reba"] = float(self.outputs["reba"])
        for p, v in zip(m.partials, self.outputs.get("reba_partials", ())):
            out[f"learned_{p}"] = float(v)
        if m.classes:
            logits = self.outputs["activity_logits"].astype(np.float64)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            best = int(np.argmax(probs))
            out.update(activity=m.classes[best], activity_confidence=float(probs[best]))
        return out
