"""Synthetic workplace motion with frame-wise activity and ergonomic labels (see notes/datasets.md).

One recording = one simulated person at a small work cell of 3-5 stations, watched by one fixed camera:

1. Person: stature, sex, body mass (from a BMI range), segment proportions jittered about the posing model's
   (angle-preserving: each segment is scaled along itself), a resting posture, pace, walking speed, a lifting
   style (stooper or squatter), personal activity preferences, and the 2-4 item masses handled at this cell.
2. Activities: a Markov chain over `ACTIVITIES` (`GRAMMAR`, reweighted per person; activities not yet seen in a
   recording are favoured so that short recordings still cover the vocabulary). Each activity is a parametric
   keyframe program over `edge.datasets.synth.posing.Posture` fields (`_PROGRAMS`), drawn afresh at every occurrence. Keys are
   eased with a smooth step (continuous velocity); every segment starts with a 0.4-0.9 s transition from the
   previous posture and ends holding its last key. Walking legs and arm swing are an overlay driven by the
   distance actually travelled, so steps start and stop with the motion. A low-pass "micro-motion" (1.5 deg)
   keeps held postures alive.
3. Targets: the clean 3D joints of each layout are scored by the project's own engine (`score_sequence`), with
   the load of each frame: target[t] = row t of `score_sequence(whole recording, load_kg=load_kg[t])`. The
   sequence is scored once per distinct load (a person handles a few item masses), so the activity terms
   (static / repeated / rapid change) always see the full history. Loads are held per activity segment: the item
   of a lift, carry or place counts for its whole segment (REBA rates the handling task, not the grip force);
   push/pull is 0 kg (a push force is not a held mass). Stored: every `reba_*` / `rula_*` column (partials,
   totals, action levels), `l5s1_compression_n` and `load_kg`.
4. Storage: `joints` is the clean kinematic ground truth the targets were scored from (float32, z up, metres,
   floor at z = 0), so `score_sequence(joints, load)` reproduces the targets exactly. Estimator-like noise goes
   into `keypoints2d`: projection through a pinhole camera looking at the work cell, Gaussian jitter, a
   correlated wobble, lower confidence for limbs on the far side and for the face seen from behind, occlusion
   episodes (one limb low-confidence and displaced for 0.5-2 s), and dropped keypoints (confidence 0, x and y
   NaN). `joint_noise_mm` > 0 adds 3D noise to the stored joints (targets still from the clean ones).

Everything is drawn from numpy Generators seeded from (seed, recording): the same seed gives the same arrays.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge import __version__
from edge.datasets.sequence import Sequence, save_sequence
from edge.ergonomics.l5s1 import BodyParams
from edge.errors import InputError
from edge.datasets.synth.posing import Posture, posed_landmarks
from edge.scoring.offline import ScoreConfig, score_sequence
from edge.signals import butterworth_lowpass
from edge.skeletons import get_layout

ACTIVITIES: tuple[str, ...] = (
    "walk", "stand", "reach_overhead", "stoop_lift", "squat_lift", "carry", "place_low", "place_mid", "place_high",
    "twist", "kneel", "push_pull",
)

# Relative weights of the next activity. Lifts lead to a carry or a placement, a carry to a placement; empty
# hands lead anywhere else. Self-loops are left out: a repeated activity is one longer segment.
_AFTER_PLACING = {"stand": 2.0, "walk": 3.0, "stoop_lift": 1.5, "squat_lift": 1.0, "twist": 1.0, "kneel": 0.5,
                  "reach_overhead": 0.5, "push_pull": 0.5}
GRAMMAR: dict[str, dict[str, float]] = {
    "stand": {"walk": 3.0, "stoop_lift": 1.5, "squat_lift": 1.0, "reach_overhead": 1.0, "twist": 1.2, "kneel": 0.8,
              "push_pull": 0.8},
    "walk": {"stand": 1.5, "stoop_lift": 2.0, "squat_lift": 1.5, "reach_overhead": 1.2, "twist": 1.0, "kneel": 1.0,
             "push_pull": 0.8},
    "stoop_lift": {"carry": 5.0, "place_mid": 2.0, "place_high": 1.5, "place_low": 1.0},
    "squat_lift": {"carry": 5.0, "place_mid": 2.0, "place_high": 1.5, "place_low": 1.0},
    "carry": {"place_mid": 3.0, "place_low": 3.0, "place_high": 2.0},
    "place_low": dict(_AFTER_PLACING),
    "place_mid": dict(_AFTER_PLACING),
    "place_high": dict(_AFTER_PLACING, reach_overhead=1.0),
    "reach_overhead": {"stand": 2.0, "walk": 2.0, "twist": 1.0, "stoop_lift": 1.0, "kneel": 1.0, "push_pull": 0.5},
    "twist": {"stand": 2.0, "walk": 2.0, "stoop_lift": 1.0, "squat_lift": 1.0, "reach_overhead": 1.0,
              "push_pull": 0.5},
    "kneel": {"stand": 3.0, "walk": 3.0, "stoop_lift": 1.0, "twist": 1.0, "push_pull": 0.5},
    "push_pull": {"stand": 3.0, "walk": 2.0, "stoop_lift": 1.0, "squat_lift": 1.0},
}
FIRST_ACTIVITY = "stand"
_TARGET_PREFIXES = ("reba_", "rula_")
_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class SynthConfig:
    """What the generator draws from. Ranges are (low, high), drawn uniformly unless noted."""

    fps: float = 30.0
    layouts: tuple[str, ...] = ("blazepose33",)  # one Sequence per recording and layout
    recording_minutes: tuple[float, float] = (2.0, 5.0)  # length of one recording (one person)
    # Anthropometry.
    height_m: tuple[float, float] = (1.55, 1.95)
    female_fraction: float = 0.5  # selects the L5/S1 segment table
    proportion_jitter: float = 0.05  # each segment length x U(1 - j, 1 + j), both sides alike
    bmi: tuple[float, float] = (19.0, 32.0)  # body mass = BMI x stature^2
    # Activities.
    item_kg: tuple[float, float] = (2.0, 20.0)  # items lifted, carried and placed (rounded to 0.5 kg)
    items_per_person: tuple[int, int] = (2, 4)  # distinct item masses at one work cell
    transition_s: tuple[float, float] = (0.4, 0.9)  # ease from the previous activity's last posture
    preference_sigma: float = 0.4  # per-person activity preference: weights x lognormal(0, sigma)
    novelty_boost: float = 10.0  # weight multiplier for activities not yet seen in the recording
    micro_motion_deg: float = 1.5  # std of the slow (0.5 Hz) wander added to trunk, neck and arm angles
    workcell_radius_m: float = 1.2  # stations lie within this radius (and within 35% of the camera distance)
    # Camera for the 2D projection: fixed per recording, looking at the work cell's centre at mid-body height.
    camera_height_m: tuple[float, float] = (1.0, 3.0)
    camera_pitch_deg: tuple[float, float] = (0.0, 40.0)  # downward; (height, distance) redrawn until inside
    camera_distance_m: tuple[float, float] = (2.0, 6.0)  # horizontal, to the work cell's centre
    focal_px: tuple[float, float] = (500.0, 1500.0)  # capped so a person at the nearest station fits the image
    image_size: tuple[int, int] = (1280, 720)  # width, height in pixels
    # Noise.
    joint_noise_mm: float = 0.0  # 3D noise on the stored joints; 0 keeps them the exact ground truth
    keypoint_jitter_px: float = 1.5  # white, per keypoint and frame (for a person 500 px tall; scales with size)
    wobble_px: float = 3.0  # correlated drift per keypoint (same scaling)
    wobble_hz: float = 1.0  # bandwidth of the drift
    dropout_prob: float = 0.02  # a keypoint missing in a frame: confidence 0, x and y NaN
    occlusions_per_min: float = 3.0  # episodes of one limb (or the face) occluded
    occlusion_s: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self):
        if isinstance(self.layouts, str):
            object.__setattr__(self, "layouts", (self.layouts,))
        object.__setattr__(self, "layouts", tuple(self.layouts))
        if not self.layouts:
            raise InputError("synth config: give at least one layout")
        for name in self.layouts:
            get_layout(name)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from JSON
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            if f.name in ("layouts", "image_size"):
                continue
            numbers = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                       for v in numbers):
                raise InputError(f"synth config: {f.name} must be a number or a (low, high) range, got {value!r}")
            if isinstance(value, tuple):
                if len(value) != 2 or not all(math.isfinite(v) and v >= 0 for v in value) or value[0] > value[1]:
                    raise InputError(f"synth config: {f.name} must be a range (low, high) with 0 <= low <= high, "
                                     f"got {value}")
            elif not (math.isfinite(value) and value >= 0):
                raise InputError(f"synth config: {f.name} must be a finite number >= 0, got {value}")
        if self.fps <= 0:
            raise InputError(f"synth config: fps must be positive, got {self.fps}")
        for name in ("female_fraction", "dropout_prob", "proportion_jitter"):
            if getattr(self, name) > 1:
                raise InputError(f"synth config: {name} must be within 0..1, got {getattr(self, name)}")
        if self.recording_minutes[0] <= 0 or self.height_m[0] < 1.0 or self.items_per_person[0] < 1:
            raise InputError("synth config: recordings, statures and item counts must be positive")
        if len(self.image_size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in self.image_size):
            raise InputError(f"synth config: image_size must be (width, height) in pixels, got {self.image_size}")
        if self.camera_pitch_deg[1] >= 90 or self.camera_distance_m[0] <= 0 or self.focal_px[0] <= 0:
            raise InputError("synth config: camera pitch must be < 90 deg, distance and focal length positive")


# ---------------------------------------------------------------------------------------------------------------
# Keyframe timeline

_POSTURE_FIELDS = tuple(f.name for f in dataclasses.fields(Posture))
_TRACKS = _POSTURE_FIELDS + ("x", "y")  # x, y: position of the body on the floor, metres


class _Timeline:
    """Per-track keys (time, value); tracks are eased independently so heading, position and posture can have
    keys at different instants."""

    def __init__(self):
        self.keys: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in _TRACKS}

    def add(self, t: float, values: dict) -> None:
        for name, value in values.items():
            times, vals = self.keys[name]
            if times and t <= times[-1] + 1e-3:  # same instant: the later key wins
                vals[-1] = float(value)
            else:
                times.append(float(t))
                vals.append(float(value))

    def hold(self, t: float) -> None:
        """Repeat every track's last key at `t`, so that the next segment's transition starts from here."""
        self.add(t, {name: vals[-1] for name, (_, vals) in self.keys.items() if vals})

    def sample(self, t: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for name, (times, vals) in self.keys.items():
            times, vals = np.asarray(times), np.asarray(vals)
            if times.size == 1:
                out[name] = np.full(t.shape, vals[0])
                continue
            i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, times.size - 2)
            s = np.clip((t - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)
            out[name] = vals[i] + (vals[i + 1] - vals[i]) * (s * s * (3.0 - 2.0 * s))
        return out


@dataclass
class _Person:
    height_m: float
    mass_kg: float
    sex: str
    proportions: dict
    rest: dict  # resting posture: every Posture field but heading
    pace: float  # multiplies the duration of deliberate moves
    speed: float  # walking speed, m/s
    stoop_prob: float  # chance of stooping (rather than squatting) to reach the floor
    items: list
    light_kg: float  # a small part handled while twisting/sorting
    prefs: dict

    def body(self) -> BodyParams:
        return BodyParams(mass_kg=self.mass_kg, height_m=self.height_m, sex=self.sex)


@dataclass
class _Station:
    pos: np.ndarray  # (2,) floor position
    heading: float  # direction the worker faces there, degrees


class _Ctx:
    """What an activity program sees: random draws, the person, where they are, and keys relative to the segment."""

    def __init__(self, rng: np.random.Generator, person: _Person, stations: list[_Station], timeline: _Timeline):
        self.rng, self.person, self.stations, self.tl = rng, person, stations, timeline
        self.start = 0.0
        self.tr = 0.5
        self.station = 0
        self.pos = stations[0].pos.copy()
        self.heading = stations[0].heading
        self.item: float | None = None
        self.awkward_done = False

    def r(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def sign(self) -> float:
        return 1.0 if self.rng.random() < 0.5 else -1.0

    def pose(self, t: float, **angles) -> None:
        """A full posture key: fields not given take the person's resting value."""
        self.tl.add(self.start + t, {**self.person.rest, **angles})

    def set(self, t: float, **values) -> None:
        self.tl.add(self.start + t, values)

    def pick_item(self) -> float:
        return float(self.rng.choice(self.person.items))

    def rest(self, name: str) -> float:
        return self.person.rest[name]


_SIDES = ("left", "right")
_NONNEGATIVE = ("elbow_flexion", "wrist_flexion", "knee_flexion")


def _arms(c: _Ctx, ua=None, el=None, wr=None, abd=None, lift=None, spread: float = 4.0) -> dict:
    """Both arms at roughly the same angles (each side off by up to `spread` degrees)."""
    out = {}
    for side in _SIDES:
        for name, value in (("upper_arm_flexion", ua), ("elbow_flexion", el), ("wrist_flexion", wr),
                            ("upper_arm_abduction", abd)):
            if value is not None:
                v = value + c.r(-spread, spread)
                out[f"{side}_{name}"] = max(v, 0.0) if name in _NONNEGATIVE else v
        if lift is not None:
            out[f"{side}_shoulder_raise_m"] = lift
    return out


def _jiggle(c: _Ctx, pose: dict, amount: float) -> dict:
    """The same posture with every angle moved by up to `amount` degrees (work movements while holding)."""
    return {k: (v if k.endswith("_m") else v + c.r(-amount, amount)) for k, v in pose.items()}


def _holding(c: _Ctx, item: float) -> dict:
    """An item held in both hands at the waist; heavy items make people lean back a little."""
    lean = -c.r(0.0, 6.0) * min(item, 20.0) / 20.0
    return dict(trunk_flexion=c.rest("trunk_flexion") + c.r(0.0, 6.0) + lean, neck_flexion=c.r(5.0, 20.0),
                **_arms(c, ua=c.r(10.0, 30.0), el=c.r(80.0, 100.0), wr=c.r(0.0, 15.0), abd=c.r(3.0, 12.0)))


def _legs(knee_left: float, knee_right: float, hip_left: float, hip_right: float) -> dict:
    return dict(left_knee_flexion=knee_left, right_knee_flexion=knee_right, left_hip_flexion=hip_left,
                right_hip_flexion=hip_right)


def _stoop_down(c: _Ctx, twist_prob: float) -> dict:
    """Bent at the waist, knees nearly straight, hands near the floor (arm elevation follows the trunk angle,
    since it is measured from the trunk)."""
    trunk = c.r(60.0, 95.0)
    knee = c.r(0.0, 30.0)
    twist = c.sign() * c.r(15.0, 45.0) if c.rng.random() < twist_prob else c.r(-8.0, 8.0)
    return dict(trunk_flexion=trunk, trunk_twist=twist, trunk_side_bend=c.r(-10.0, 10.0),
                neck_flexion=c.r(-15.0, 25.0), neck_twist=0.4 * twist,
                **_legs(knee + c.r(-3, 3), knee + c.r(-3, 3), knee * c.r(0.3, 0.7), knee * c.r(0.3, 0.7)),
                **_arms(c, ua=float(np.clip(trunk + c.r(-15.0, 10.0), 40.0, 110.0)), el=c.r(5.0, 25.0),
                        wr=c.r(0.0, 25.0), abd=c.r(0.0, 15.0)))


def _squat_down(c: _Ctx, twist_prob: float) -> dict:
    """Knees deep, shins leaning forward (hip = knee - 20..40 deg), trunk moderately forward."""
    trunk = c.r(20.0, 45.0)
    knee = c.r(90.0, 120.0)
    twist = c.sign() * c.r(15.0, 35.0) if c.rng.random() < twist_prob else c.r(-8.0, 8.0)
    return dict(trunk_flexion=trunk, trunk_twist=twist, trunk_side_bend=c.r(-6.0, 6.0),
                neck_flexion=c.r(-20.0, 10.0), neck_twist=0.4 * twist,
                **_legs(knee + c.r(-4, 4), knee + c.r(-4, 4), knee - c.r(20, 40), knee - c.r(20, 40)),
                **_arms(c, ua=trunk + c.r(10.0, 40.0), el=c.r(5.0, 30.0), wr=c.r(0.0, 25.0), abd=c.r(0.0, 15.0)))


def _floor_pose(c: _Ctx, twist_prob: float) -> dict:
    return _stoop_down(c, twist_prob) if c.rng.random() < c.person.stoop_prob else _squat_down(c, twist_prob)


def _nearest_angle(angle: float, reference: float) -> float:
    """`angle` plus a multiple of 360 closest to `reference` (so that easing turns the short way)."""
    return angle + 360.0 * round((reference - angle) / 360.0)


def _travel(c: _Ctx, speed: float, posture: dict, backward: bool = False) -> float:
    """Turn toward another station, move there (facing away from it when `backward`), turn to its work direction.
    Returns the segment duration. The legs' gait is added later from the actual speed."""
    dest = int(c.rng.choice([i for i in range(len(c.stations)) if i != c.station]))
    p0, p1 = c.pos, c.stations[dest].pos
    delta = p1 - p0
    distance = float(np.linalg.norm(delta))
    facing = math.degrees(math.atan2(-delta[0], delta[1])) + (180.0 if backward else 0.0)
    facing = _nearest_angle(facing, c.heading)
    t_turn = c.tr + 0.6 * abs(facing - c.heading) / 180.0
    c.pose(c.tr, **posture)
    c.set(t_turn, heading=facing)
    t_go = 0.6 * t_turn  # set off while still turning
    t_move = 1.5 * distance / speed  # eased: the peak speed is 1.5 x the mean
    c.set(t_go, x=p0[0], y=p0[1])
    c.set(t_go + t_move, x=p1[0], y=p1[1])
    c.set(max(t_go + t_move - 0.4, t_turn + 0.05), heading=facing)
    arrive = _nearest_angle(c.stations[dest].heading, facing)
    end = t_go + t_move + c.r(0.5, 0.9)
    c.set(end, heading=arrive)
    c.pose(end, **posture)
    c.pos, c.heading, c.station = p1.copy(), arrive, dest
    return end


# ---------------------------------------------------------------------------------------------------------------
# Activity programs: each adds its keys and returns (duration s, load kg, arm swing while moving).

def _stand(c: _Ctx):
    duration = c.r(3.0, 20.0)
    if c.rng.random() < 0.6:
        arms = _arms(c, ua=c.r(0.0, 10.0), el=c.r(5.0, 20.0), wr=c.r(0.0, 10.0))
    else:  # hands in front: checking, using a device
        arms = _arms(c, ua=c.r(10.0, 25.0), el=c.r(60.0, 90.0), wr=c.r(0.0, 15.0))
    t = c.tr
    c.pose(t, **arms)
    while t + 2.0 < duration:  # small weight shifts and glances
        t += c.r(2.0, 5.0)
        c.pose(min(t, duration), trunk_flexion=c.rest("trunk_flexion") + c.r(-2.0, 3.0),
               trunk_side_bend=c.r(-3.0, 3.0), neck_flexion=c.rest("neck_flexion") + c.r(-5.0, 8.0),
               neck_twist=c.r(-10.0, 10.0), **arms)
    return duration, 0.0, 0.0


def _walk(c: _Ctx):
    posture = dict(trunk_flexion=c.rest("trunk_flexion") + c.r(1.0, 5.0), neck_flexion=c.r(5.0, 20.0),
                   **_arms(c, ua=c.r(0.0, 8.0), el=c.r(10.0, 25.0), wr=c.r(0.0, 10.0)))
    return _travel(c, c.person.speed * c.r(0.9, 1.1), posture), 0.0, 1.0


def _carry(c: _Ctx):
    item = c.item if c.item is not None else c.pick_item()
    duration = _travel(c, c.person.speed * c.r(0.7, 0.9), _holding(c, item))
    c.item = item
    return duration, item, 0.15


def _push_pull(c: _Ctx):
    push = c.rng.random() < 0.5
    posture = dict(trunk_flexion=c.r(10.0, 30.0) if push else c.r(-20.0, -5.0), neck_flexion=c.r(0.0, 20.0),
                   **_arms(c, ua=c.r(60.0, 90.0), el=c.r(20.0, 60.0), wr=c.r(0.0, 20.0), abd=c.r(5.0, 15.0)))
    return _travel(c, c.r(0.4, 0.8), posture, backward=not push), 0.0, 0.0


def _lift(c: _Ctx, item: float, down: dict):
    slow = c.person.pace * (1.0 + item / 40.0)  # heavier items are handled more slowly
    t1 = c.tr + c.r(0.7, 1.3) * c.person.pace
    c.pose(t1, **down)
    t2 = t1 + c.r(0.4, 1.2)  # grasp
    c.pose(t2, **_jiggle(c, down, 3.0))
    t3 = t2 + c.r(0.9, 1.6) * slow
    c.pose(t3, **_holding(c, item))
    c.item = item
    return t3 + c.r(0.3, 0.8), item, 0.0


# Heavy items come off low pallets and out of bins: those lifts are more often twisted (asymmetric). They give
# the highest REBA scores (trunk > 60 deg and twisted, load > 10 kg, rapid change), so the first stoop lift of
# every recording is such an awkward heavy lift: short recordings still reach the top of the REBA range.
_HEAVY_KG = 10.0


def _stoop_lift(c: _Ctx):
    if not c.awkward_done:
        c.awkward_done = True
        # Deep stoop, twisted and bent sideways, head down and turned, knees half bent, arms below the body.
        down = _stoop_down(c, twist_prob=1.0)
        trunk, twist, knee = c.r(75.0, 95.0), c.sign() * c.r(30.0, 45.0), c.r(35.0, 55.0)
        down.update(trunk_flexion=trunk, trunk_twist=twist, trunk_side_bend=c.sign() * c.r(10.0, 20.0),
                    neck_flexion=c.r(25.0, 35.0), neck_twist=0.7 * twist,
                    **_legs(knee, knee + c.r(-5, 5), 0.5 * knee, 0.5 * knee),
                    **_arms(c, ua=trunk + c.r(5.0, 15.0), el=c.r(5.0, 20.0), wr=c.r(16.0, 30.0), abd=c.r(22.0, 30.0),
                            spread=2.0))
        return _lift(c, max(c.person.items), down)
    item = c.pick_item()
    return _lift(c, item, _stoop_down(c, twist_prob=0.7 if item > _HEAVY_KG else 0.35))


def _squat_lift(c: _Ctx):
    item = c.pick_item()
    return _lift(c, item, _squat_down(c, twist_prob=0.4 if item > _HEAVY_KG else 0.15))


def _place(c: _Ctx, at: dict, release_s=(0.3, 0.9)):
    """Move the held item to `at`, let go, return to the resting posture."""
    item = c.item if c.item is not None else c.pick_item()
    slow = c.person.pace * (1.0 + item / 40.0)
    t1 = c.tr + c.r(0.6, 1.2) * slow
    c.pose(t1, **at)
    t2 = t1 + c.r(*release_s)
    c.pose(t2, **_jiggle(c, at, 3.0))
    t3 = t2 + c.r(0.6, 1.1) * c.person.pace
    c.pose(t3)
    c.item = None
    return t3 + c.r(0.2, 0.6), item, 0.0


def _place_low(c: _Ctx):
    return _place(c, _floor_pose(c, twist_prob=0.2))


def _place_mid(c: _Ctx):
    twist = c.sign() * c.r(15.0, 35.0) if c.rng.random() < 0.35 else c.r(-6.0, 6.0)
    return _place(c, dict(trunk_flexion=c.r(10.0, 35.0), trunk_twist=twist, neck_twist=0.5 * twist,
                          neck_flexion=c.r(10.0, 30.0),
                          **_arms(c, ua=c.r(35.0, 70.0), el=c.r(20.0, 60.0), wr=c.r(0.0, 25.0))))


def _place_high(c: _Ctx):
    return _place(c, dict(trunk_flexion=c.r(-12.0, -2.0), neck_flexion=c.r(-30.0, -10.0),
                          **_arms(c, ua=c.r(100.0, 150.0), el=c.r(20.0, 60.0), wr=c.r(0.0, 25.0),
                                  abd=c.r(0.0, 25.0), lift=c.r(0.0, 0.03))))


def _reach_overhead(c: _Ctx):
    """Work above the head (fastening, adjusting), sometimes one-handed, sometimes holding a part or tool."""
    arms = _arms(c, ua=c.r(120.0, 170.0), el=c.r(5.0, 40.0), wr=c.r(0.0, 30.0), abd=c.r(0.0, 20.0),
                 lift=c.r(0.0, 0.04))
    if c.rng.random() < 0.3:
        other = "left" if c.rng.random() < 0.5 else "right"
        arms.update({f"{other}_upper_arm_flexion": c.r(15.0, 40.0), f"{other}_elbow_flexion": c.r(60.0, 100.0),
                     f"{other}_upper_arm_abduction": c.r(0.0, 10.0), f"{other}_shoulder_raise_m": 0.0})
    body = dict(trunk_flexion=c.r(-12.0, 0.0), neck_flexion=c.r(-35.0, -10.0), trunk_side_bend=c.r(-5.0, 5.0))
    t = c.tr + c.r(0.6, 1.2) * c.person.pace
    c.pose(t, **body, **arms)
    until = t + c.r(2.0, 8.0)
    while t < until:
        t += c.r(0.6, 1.5)
        c.pose(t, **body, **_jiggle(c, arms, 8.0))
    t += c.r(0.6, 1.2) * c.person.pace
    c.pose(t)
    light = [m for m in c.person.items if m <= 10.0]
    load = float(c.rng.choice(light)) if light and c.rng.random() < 0.4 else 0.0
    return t + c.r(0.2, 0.5), load, 0.0


def _twist(c: _Ctx):
    """Sorting between two sides (conveyor to bin): repeated trunk twists of 30-60 deg."""
    base = dict(trunk_flexion=c.r(5.0, 20.0), neck_flexion=c.r(10.0, 30.0),
                **_arms(c, ua=c.r(20.0, 50.0), el=c.r(40.0, 80.0), wr=c.r(0.0, 20.0)))
    side, amount = c.sign(), c.r(30.0, 60.0)
    t = c.tr
    c.pose(t, **base)
    for _ in range(int(c.rng.integers(2, 5))):
        turned = dict(base, trunk_twist=side * amount * c.r(0.85, 1.05), neck_twist=side * amount * c.r(0.3, 0.6))
        t += c.r(0.6, 1.2) * c.person.pace
        c.pose(t, **turned)
        t += c.r(0.3, 0.8)
        c.pose(t, **_jiggle(c, turned, 3.0))
        t += c.r(0.6, 1.2) * c.person.pace
        c.pose(t, **dict(base, trunk_twist=c.r(-5.0, 5.0)))
    load = c.person.light_kg if c.rng.random() < 0.6 else 0.0
    return t + c.r(0.3, 0.8), load, 0.0


def _kneel(c: _Ctx):
    """Down on one knee (that thigh vertical, shin back along the floor), the other foot forward; floor work."""
    kneeling, forward = ("left", "right") if c.rng.random() < 0.5 else ("right", "left")
    # Choose the front shin's lean so that the kneeling knee reaches the floor: the hip-to-front-ankle drop must
    # equal the kneeling thigh's drop less the knee's extra clearance (floor contact rule in `_body`).
    thigh_fr, shank_fr, ankle_fr = _standing_geometry()
    p, h = c.person.proportions, c.person.height_m
    thigh, shank = thigh_fr * p["thigh"] * h, shank_fr * p["shank"] * h
    back_hip = c.r(-5.0, 5.0)
    drop = thigh * math.cos(math.radians(back_hip)) - (ankle_fr - _KNEE_RADIUS) * h
    # A front thigh raised too far leaves the shin too short to reach the floor; keep 2 deg of lean at least.
    highest = math.degrees(math.acos(float(np.clip((drop - shank) / thigh, -1.0, 1.0)))) - 2.0
    front_hip = min(c.r(85.0, 100.0), highest)
    lean = math.degrees(math.acos(float(np.clip((drop - thigh * math.cos(math.radians(front_hip))) / shank,
                                                -1.0, 1.0))))
    work = {f"{kneeling}_hip_flexion": back_hip, f"{kneeling}_knee_flexion": c.r(90.0, 110.0),
            f"{forward}_hip_flexion": front_hip, f"{forward}_knee_flexion": front_hip + lean,
            "trunk_flexion": c.r(10.0, 40.0), "neck_flexion": c.r(10.0, 35.0),
            **_arms(c, ua=c.r(30.0, 70.0), el=c.r(20.0, 70.0), wr=c.r(0.0, 25.0))}
    arm_keys = [k for k in work if "arm" in k or "elbow" in k or "wrist" in k]
    t = c.tr + c.r(1.0, 1.6) * c.person.pace
    c.pose(t, **work)
    until = t + c.r(4.0, 15.0)
    while t < until:
        t += c.r(0.8, 2.0)
        c.pose(t, **dict(work, **_jiggle(c, {k: work[k] for k in arm_keys}, 10.0)))
    t += c.r(1.0, 1.6) * c.person.pace
    c.pose(t)
    return t + c.r(0.2, 0.5), 0.0, 0.0


_PROGRAMS = {
    "walk": _walk, "stand": _stand, "reach_overhead": _reach_overhead, "stoop_lift": _stoop_lift,
    "squat_lift": _squat_lift, "carry": _carry, "place_low": _place_low, "place_mid": _place_mid,
    "place_high": _place_high, "twist": _twist, "kneel": _kneel, "push_pull": _push_pull,
}


# ---------------------------------------------------------------------------------------------------------------
# Person, work cell, motion

def _person(rng: np.random.Generator, cfg: SynthConfig) -> _Person:
    height = round(float(rng.uniform(*cfg.height_m)), 3)
    sex = "female" if rng.random() < cfg.female_fraction else "male"
    mass = round(float(rng.uniform(*cfg.bmi)) * height * height, 1)
    j = cfg.proportion_jitter
    proportions = {name: round(float(rng.uniform(1.0 - j, 1.0 + j)), 4) for name in _SEGMENTS}
    rest = {name: 0.0 for name in _POSTURE_FIELDS if name != "heading"}
    rest.update(trunk_flexion=float(rng.uniform(0.0, 4.0)), neck_flexion=float(rng.uniform(5.0, 15.0)))
    for side in _SIDES:
        rest.update({f"{side}_upper_arm_flexion": float(rng.uniform(0.0, 8.0)),
                     f"{side}_upper_arm_abduction": float(rng.uniform(0.0, 8.0)),
                     f"{side}_elbow_flexion": float(rng.uniform(5.0, 20.0)),
                     f"{side}_wrist_flexion": float(rng.uniform(0.0, 10.0)),
                     f"{side}_knee_flexion": float(rng.uniform(0.0, 6.0)),
                     f"{side}_hip_flexion": float(rng.uniform(0.0, 3.0))})
    n_items = int(rng.integers(cfg.items_per_person[0], cfg.items_per_person[1] + 1))
    items = sorted({round(float(rng.uniform(*cfg.item_kg)) * 2.0) / 2.0 for _ in range(n_items)})
    if items[-1] <= _HEAVY_KG < cfg.item_kg[1]:  # every cell has one item in REBA's heaviest load band
        items[-1] = round(float(rng.uniform(_HEAVY_KG + 0.5, cfg.item_kg[1])) * 2.0) / 2.0
    prefs = {a: float(np.exp(rng.normal(0.0, cfg.preference_sigma))) for a in ACTIVITIES}
    return _Person(height_m=height, mass_kg=mass, sex=sex, proportions=proportions, rest=rest,
                   pace=float(rng.uniform(0.85, 1.2)), speed=float(rng.uniform(1.0, 1.4)),
                   stoop_prob=float(rng.beta(2.0, 2.0)), items=items,
                   light_kg=round(float(rng.uniform(0.5, 4.0)) * 2.0) / 2.0, prefs=prefs)


def _work_cell(rng: np.random.Generator, radius: float) -> list[_Station]:
    """3-5 stations at least 1 m apart (fewer if the cell is too small) within `radius` of the origin."""
    wanted = int(rng.integers(3, 6))
    spacing = min(1.0, radius)
    points: list[np.ndarray] = []
    for _ in range(200):
        if len(points) == wanted:
            break
        r, a = radius * math.sqrt(rng.random()), rng.uniform(0.0, 2.0 * math.pi)
        p = np.array([r * math.cos(a), r * math.sin(a)])
        if all(np.linalg.norm(p - q) >= spacing for q in points):
            points.append(p)
    while len(points) < 2:  # a degenerate cell still needs somewhere to walk to
        points.append(-points[0] if np.linalg.norm(points[0]) > 0.1 else np.array([0.5, 0.0]))
    return [_Station(pos=p, heading=float(rng.uniform(-180.0, 180.0))) for p in points]


def _next_activity(rng: np.random.Generator, current: str, person: _Person, seen: set, boost: float) -> str:
    row = GRAMMAR[current]
    names = list(row)
    weights = np.array([row[n] * person.prefs[n] * (boost if n not in seen else 1.0) for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _motion(rng, cfg: SynthConfig, person: _Person, stations: list[_Station], n: int):
    """Eased keyframe tracks for `n` frames, with frame-wise activity ids, loads and the segment list."""
    fps = cfg.fps
    tl = _Timeline()
    c = _Ctx(rng, person, stations, tl)
    tl.add(0.0, {**person.rest, "heading": c.heading, "x": c.pos[0], "y": c.pos[1]})
    end_s = n / fps
    activity, seen, t = FIRST_ACTIVITY, set(), 0.0
    segments = []
    while t < end_s:
        c.start, c.tr = t, float(rng.uniform(*cfg.transition_s))
        duration, load, swing = _PROGRAMS[activity](c)
        tl.hold(t + duration)
        segments.append((activity, t, t + duration, load, swing))
        seen.add(activity)
        t += duration
        activity = _next_activity(rng, activity, person, seen, cfg.novelty_boost)

    tracks = tl.sample(np.arange(n) / fps)
    labels = np.zeros(n, dtype=np.int64)
    load = np.zeros(n, dtype=np.float32)
    swing = np.zeros(n)
    for name, s, e, kg, arm_swing in segments:
        a, b = int(round(s * fps)), min(int(round(e * fps)), n)
        labels[a:b], load[a:b], swing[a:b] = ACTIVITIES.index(name), kg, arm_swing
    _add_gait(tracks, swing, person, fps)
    _add_micro_motion(rng, tracks, cfg, fps)
    for side in _SIDES:
        for name in _NONNEGATIVE:
            np.maximum(tracks[f"{side}_{name}"], 0.0, out=tracks[f"{side}_{name}"])
    seg_meta = [{"activity": a, "start_s": round(s, 3), "end_s": round(min(e, end_s), 3), "load_kg": kg}
                for a, s, e, kg, _ in segments]
    return tracks, labels, load, seg_meta


def _add_gait(tracks: dict, arm_swing: np.ndarray, person: _Person, fps: float) -> None:
    """Alternating hip/knee cycles and opposite arm swing, in phase with the distance travelled; the amplitude
    follows the speed, so steps fade in and out with the eased motion."""
    if len(tracks["x"]) < 2:
        return
    speed = np.hypot(np.gradient(tracks["x"]), np.gradient(tracks["y"])) * fps
    stride = person.height_m * (0.45 + 0.35 * np.minimum(speed, 1.4) / 1.4)  # one left+right cycle, metres
    phase = 2.0 * np.pi * np.cumsum(speed / stride) / fps
    amp = np.clip(speed / 0.8, 0.0, 1.0)
    for side, shift in (("left", 0.0), ("right", np.pi)):
        p = phase + shift
        tracks[f"{side}_hip_flexion"] += 22.0 * amp * np.sin(p)
        # The knee bends most in mid-swing, while the hip swings forward (cos > 0).
        tracks[f"{side}_knee_flexion"] += amp * (5.0 + 55.0 * np.maximum(np.cos(p), 0.0) ** 2)
        # Each arm swings with the opposite leg.
        tracks[f"{side}_upper_arm_flexion"] -= 15.0 * amp * arm_swing * np.sin(p)
    tracks["trunk_flexion"] += 2.0 * amp


_MICRO = ("trunk_flexion", "trunk_side_bend", "trunk_twist", "neck_flexion", "neck_side_bend", "neck_twist",
          "left_upper_arm_flexion", "right_upper_arm_flexion", "left_upper_arm_abduction",
          "right_upper_arm_abduction", "left_elbow_flexion", "right_elbow_flexion", "heading")


def _correlated_noise(rng: np.random.Generator, shape: tuple, fps: float, cutoff_hz: float) -> np.ndarray:
    """Unit-variance noise low-passed along axis 0 (frame to frame correlated)."""
    white = rng.normal(size=shape)
    if shape[0] < 3:
        return white
    low = butterworth_lowpass(white.reshape(shape[0], -1), fps, cutoff_hz)
    return (low / np.maximum(low.std(axis=0), 1e-9)).reshape(shape)


def _add_micro_motion(rng, tracks: dict, cfg: SynthConfig, fps: float) -> None:
    if cfg.micro_motion_deg <= 0:
        return
    noise = _correlated_noise(rng, (len(tracks["x"]), len(_MICRO)), fps, 0.5) * cfg.micro_motion_deg
    for i, name in enumerate(_MICRO):
        tracks[name] += noise[:, i]


# Segment lengths are scaled along themselves, child after parent, so every direction (hence every angle
# kinematics measures) is kept; (landmark, parent, segment) in an order where parents come first.
_SEGMENTS = ("pelvis_width", "thigh", "shank", "foot", "trunk", "head", "shoulder_width", "upper_arm", "forearm",
             "hand")
_HEAD_POINTS = ("head", "upper_neck", "head_top", "nose", "left_ear", "left_eye", "left_eye_inner", "left_eye_outer",
                "right_ear", "right_eye", "right_eye_inner", "right_eye_outer", "mouth_left", "mouth_right")
_TREE: tuple[tuple[str, str, str], ...] = (
    *((p, "pelvis", "trunk") for p in ("spine_mid", "neck")),
    *((p, "neck", "head") for p in _HEAD_POINTS),
    *(item for s in _SIDES for item in (
        (f"{s}_hip", "pelvis", "pelvis_width"), (f"{s}_knee", f"{s}_hip", "thigh"),
        (f"{s}_ankle", f"{s}_knee", "shank"), (f"{s}_heel", f"{s}_ankle", "foot"),
        (f"{s}_toe", f"{s}_ankle", "foot"), (f"{s}_shoulder", "neck", "shoulder_width"),
        (f"{s}_elbow", f"{s}_shoulder", "upper_arm"), (f"{s}_wrist", f"{s}_elbow", "forearm"),
        *((f"{s}_{p}", f"{s}_wrist", "hand") for p in ("hand", "index", "pinky", "thumb", "hand_tip")))),
)


_KNEE_RADIUS = 0.03  # knee centre above the floor when kneeling, fraction of stature


@functools.lru_cache(maxsize=1)
def _standing_geometry() -> tuple[float, float, float]:
    """Thigh and shank lengths and the ankle's height above the floor, as fractions of stature, measured on the
    posing model (so they follow it)."""
    lm = {k: v[0] for k, v in posed_landmarks(Posture(), height_m=1.0).items()}
    return (float(np.linalg.norm(lm["left_knee"] - lm["left_hip"])),
            float(np.linalg.norm(lm["left_ankle"] - lm["left_knee"])), float(lm["left_ankle"][2]))


def _body(tracks: dict, person: _Person) -> tuple[list[str], np.ndarray]:
    """All landmarks (T, M, 3), world z up, floor at z = 0, at the tracked floor position."""
    posture = Posture(**{name: tracks[name] for name in _POSTURE_FIELDS})
    old = posed_landmarks(posture, height_m=person.height_m)
    new = {"pelvis": old["pelvis"]}
    for name, parent, segment in _TREE:
        new[name] = new[parent] + person.proportions[segment] * (old[name] - old[parent])
    missing = set(old) - set(new)
    if missing:
        raise RuntimeError(f"posing landmarks without a segment: {sorted(missing)}")
    names = list(old)
    points = np.stack([new[name] for name in names], axis=1)
    # Floor contact: the lower of an ankle (at its standing height) and a knee (its radius, when kneeling).
    ankles = [names.index("left_ankle"), names.index("right_ankle")]
    knees = [names.index("left_knee"), names.index("right_knee")]
    clearance = np.minimum(points[:, ankles, 2].min(axis=1) - _standing_geometry()[2] * person.height_m,
                           points[:, knees, 2].min(axis=1) - _KNEE_RADIUS * person.height_m)
    points[:, :, 2] -= clearance[:, None]
    points[:, :, 0] += tracks["x"][:, None]
    points[:, :, 1] += tracks["y"][:, None]
    return names, points


# ---------------------------------------------------------------------------------------------------------------
# Camera and 2D keypoints

def _camera(rng: np.random.Generator, cfg: SynthConfig, distance: float, person: _Person, radius: float) -> dict:
    """A fixed pinhole camera at `distance` from the work cell's centre, looking at it at mid-body height."""
    aim_z = 0.5 * person.height_m
    lo, hi = cfg.camera_pitch_deg
    for _ in range(100):
        height = float(rng.uniform(*cfg.camera_height_m))
        pitch = math.degrees(math.atan2(height - aim_z, distance))
        if lo <= pitch <= hi:
            break
    else:  # no height in range gives a pitch in range at this distance: keep the pitch, move the camera
        pitch = float(np.clip(pitch, lo, hi))
        height = aim_z + distance * math.tan(math.radians(pitch))
    azimuth = float(rng.uniform(0.0, 2.0 * math.pi))
    centre = np.array([distance * math.cos(azimuth), distance * math.sin(azimuth), height])
    forward = np.array([0.0, 0.0, aim_z]) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, _UP)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # world -> camera (x right, y down, z forward)
    width, img_h = cfg.image_size
    nearest = max(distance - radius, 0.8)
    fit = 0.9 * img_h * nearest / (person.height_m + 0.15)  # a person at the nearest station fits the height
    focal = float(rng.uniform(cfg.focal_px[0], max(cfg.focal_px[0], min(cfg.focal_px[1], fit))))
    k = np.array([[focal, 0.0, width / 2.0], [0.0, focal, img_h / 2.0], [0.0, 0.0, 1.0]])
    return {"K": k, "R": rotation, "position": centre, "pitch_deg": pitch, "height_m": height,
            "distance_m": distance, "image_size": [int(width), int(img_h)]}


_FACE = ("nose", "left_eye", "left_eye_inner", "left_eye_outer", "right_eye", "right_eye_inner", "right_eye_outer",
         "mouth_left", "mouth_right")
_LIMBS = {
    **{f"{s}_arm": (f"{s}_elbow", f"{s}_wrist", f"{s}_hand", f"{s}_index", f"{s}_pinky", f"{s}_thumb",
                    f"{s}_hand_tip") for s in _SIDES},
    **{f"{s}_leg": (f"{s}_knee", f"{s}_ankle", f"{s}_heel", f"{s}_toe") for s in _SIDES},
    "face": _FACE,
}


def _keypoints2d(rng: np.random.Generator, cfg: SynthConfig, names: list[str], points: np.ndarray, cam: dict,
                 fps: float) -> np.ndarray:
    """(T, M, 3) x, y, confidence of every landmark as a pose estimator would report them."""
    n, m = points.shape[:2]
    cam_pts = (points - cam["position"]) @ cam["R"].T
    depth = cam_pts[..., 2]
    k = cam["K"]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = k[0, 0] * cam_pts[..., :2] / depth[..., None] + k[:2, 2]
    # Estimator errors grow with the person's size in the image: px figures are for a person 500 px tall.
    pelvis = names.index("pelvis")
    scale = np.clip(k[0, 0] * cfg.height_m[1] / np.maximum(depth[:, pelvis], 0.1) / 500.0, 0.3, 3.0)[:, None, None]
    uv += scale * (rng.normal(0.0, cfg.keypoint_jitter_px, (n, m, 2))
                   + cfg.wobble_px * _correlated_noise(rng, (n, m, 2), fps, cfg.wobble_hz))

    conf = np.clip(rng.normal(0.92, 0.04, (n, m)), 0.0, 1.0)
    # Self-occlusion: the side turned away from the camera, and the face seen from behind, are less certain.
    left = points[:, names.index("left_hip"), :2] - points[:, names.index("right_hip"), :2]
    left /= np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-9)
    forward = np.stack([-left[:, 1], left[:, 0]], axis=-1)  # left x up, on the floor plane
    to_cam = cam["position"][:2] - points[:, pelvis, :2]
    to_cam /= np.maximum(np.linalg.norm(to_cam, axis=-1, keepdims=True), 1e-9)
    toward_left = np.einsum("ti,ti->t", left, to_cam)
    facing = np.einsum("ti,ti->t", forward, to_cam)
    is_left = np.array([nm.startswith("left_") for nm in names])
    is_right = np.array([nm.startswith("right_") for nm in names])
    is_face = np.isin(names, _FACE)
    conf -= 0.35 * np.maximum(-toward_left, 0.0)[:, None] * is_left
    conf -= 0.35 * np.maximum(toward_left, 0.0)[:, None] * is_right
    conf -= 0.5 * np.maximum(-facing, 0.0)[:, None] * is_face
    width, img_h = cam["image_size"]
    outside = (uv[..., 0] < 0) | (uv[..., 0] >= width) | (uv[..., 1] < 0) | (uv[..., 1] >= img_h)
    conf = np.where(outside, 0.3 * conf, conf)

    # Occlusion episodes: a limb behind an object or the body, guessed with low confidence and off by a few px.
    minutes = n / fps / 60.0
    limbs = list(_LIMBS)
    for _ in range(int(rng.poisson(cfg.occlusions_per_min * minutes))):
        cols = [names.index(p) for p in _LIMBS[limbs[int(rng.integers(len(limbs)))]] if p in names]
        start = int(rng.integers(0, n))
        stop = min(n, start + max(1, int(round(rng.uniform(*cfg.occlusion_s) * fps))))
        conf[start:stop, cols] *= rng.uniform(0.1, 0.4)
        uv[start:stop, cols] += scale[start:stop] * rng.normal(0.0, 8.0, (1, len(cols), 2))

    dropped = (rng.random((n, m)) < cfg.dropout_prob) | ~(depth > 0.1)
    conf = np.clip(conf, 0.0, 1.0)
    conf[dropped] = 0.0
    uv[dropped] = np.nan
    return np.concatenate([uv, conf[..., None]], axis=-1)


# ---------------------------------------------------------------------------------------------------------------
# Targets, recordings, files

def _targets(joints: np.ndarray, layout, fps: float, load: np.ndarray, body: BodyParams) -> dict[str, np.ndarray]:
    """Every REBA/RULA column and L5/S1 compression of each frame, scored with that frame's load (module doc)."""
    out: dict[str, np.ndarray] = {}
    for value in np.unique(load):
        mask = load == value
        columns = score_sequence(joints, layout, _UP, fps, ScoreConfig(load_kg=float(value), body=body)).columns
        for name, column in columns.items():
            if name.startswith(_TARGET_PREFIXES) or name == "l5s1_compression_n":
                out.setdefault(name, np.full(load.shape, np.nan, dtype=np.float32))[mask] = column[mask]
    out["load_kg"] = load.astype(np.float32)
    return out


def _json_ready(value):
    if isinstance(value, np.ndarray):
        return np.round(value, 6).tolist()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    return value


def _record(seed: int, k: int, cfg: SynthConfig, n: int) -> list[Sequence]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    person = _person(rng, cfg)
    distance = float(rng.uniform(*cfg.camera_distance_m))
    radius = min(cfg.workcell_radius_m, 0.35 * distance)
    stations = _work_cell(rng, radius)
    cam = _camera(rng, cfg, distance, person, radius)
    tracks, labels, load, segments = _motion(rng, cfg, person, stations, n)
    names, points = _body(tracks, person)
    stored = points
    if cfg.joint_noise_mm > 0:
        stored = points + rng.normal(0.0, cfg.joint_noise_mm / 1000.0, points.shape)
    kp2d = _keypoints2d(rng, cfg, names, points, cam, cfg.fps)

    meta = {
        "source": "synthetic", "generator": "edge.datasets.synth.generator", "ergo_edge_version": __version__,
        "seed": seed, "recording": k, "subject": f"synth-{seed}-{k}",
        "body": {"height_m": person.height_m, "mass_kg": person.mass_kg, "sex": person.sex,
                 "proportions": person.proportions},
        "camera": _json_ready({**cam, "t": -cam["R"] @ cam["position"]}),
        "joints": "clean" if cfg.joint_noise_mm <= 0 else f"noisy ({cfg.joint_noise_mm} mm); targets from clean",
        "targets": "score_sequence of the clean joints, each frame with its own load_kg (see edge.datasets.synth.generator)",
        "segments": segments,
    }
    out = []
    for layout_name in cfg.layouts:
        layout = get_layout(layout_name)
        idx = [names.index(j) for j in layout.joints]
        clean = points[:, idx].astype(np.float32)
        out.append(Sequence(
            layout=layout_name, fps=float(cfg.fps), joints=stored[:, idx].astype(np.float32), up=_UP.copy(),
            keypoints2d=kp2d[:, idx].astype(np.float32), activity=labels.copy(), activity_names=ACTIVITIES,
            targets=_targets(clean, layout, cfg.fps, load, person.body()), metadata=dict(meta)))
    return out


def _check_request(minutes, seed) -> None:
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not (math.isfinite(minutes)
                                                                                     and minutes > 0):
        raise InputError(f"minutes must be a positive number, got {minutes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")


def generate(minutes: float, seed: int, config: SynthConfig = SynthConfig()) -> list[Sequence]:
    """About `minutes` of synthetic recordings (rounded to whole frames), one Sequence per recording and layout,
    recordings of `config.recording_minutes` each (a short remainder joins the last one)."""
    _check_request(minutes, seed)
    total = int(round(minutes * 60.0 * config.fps))
    if total < 1:
        raise InputError(f"{minutes} minutes is less than one frame at {config.fps} fps")
    plan = np.random.default_rng(seed)
    lo, hi = (max(1, int(round(m * 60.0 * config.fps))) for m in config.recording_minutes)
    lengths, remaining = [], total
    while remaining > 0:
        n = int(plan.integers(lo, hi + 1))
        if remaining - n < lo // 2:
            n = remaining
        lengths.append(n)
        remaining -= n
    return [seq for k, n in enumerate(lengths) for seq in _record(int(seed), k, config, n)]


def write_synth(out_dir, minutes: float, seed: int, config: SynthConfig = SynthConfig()) -> dict:
    """Generate and write `<out>/synth_<seed>_<k>.npz` (one per sequence) and `<out>/manifest.json`; returns the
    manifest."""
    _check_request(minutes, seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory")
    # Never mix two data sets (stale files of a larger run would be read as part of this one), never delete.
    if out.is_dir() and ((out / "manifest.json").exists() or any(out.glob("synth_*.npz"))):
        raise InputError(f"{out} already holds a synthetic data set; choose a new or empty directory")
    sequences = generate(minutes, seed, config)
    files = []
    counts = {name: 0 for name in ACTIVITIES}
    for k, seq in enumerate(sequences):
        path = save_sequence(seq, out / f"synth_{seed}_{k}.npz")
        files.append({"file": path.name, "recording": seq.metadata["recording"], "layout": seq.layout,
                      "frames": seq.num_frames, "duration_s": round(seq.duration_s, 3)})
        for i, c in enumerate(np.bincount(seq.activity, minlength=len(ACTIVITIES))):
            counts[ACTIVITIES[i]] += int(c)
    frames = sum(f["frames"] for f in files)
    manifest = {
        "generator": "edge.datasets.synth.generator",
        "seed": int(seed),
        "minutes": float(minutes),
        "config": _json_ready(dataclasses.asdict(config)),
        "counts": {"sequences": len(sequences), "recordings": len({f["recording"] for f in files}),
                   "frames": frames, "duration_s": round(frames / config.fps, 3), "activity_frames": counts},
        "activities": list(ACTIVITIES),
        "targets": sorted(sequences[0].targets) if sequences else [],
        "files": files,
        "versions": {"ergo_edge": __version__, "numpy": np.__version__, "python": platform.python_version()},
    }
    text = json.dumps(manifest, indent=2)
    tmp = out / "manifest.json.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(out / "manifest.json")
    return manifest


__all__ = ["ACTIVITIES", "GRAMMAR", "SynthConfig", "generate", "write_synth"]
