"""What a monocular 3D pose estimator makes of a synthetic body: the errors put on the stored joints.

The targets of a recording stay the clean joints' scores (`edge/datasets/synth/generator.py`); with
`SynthConfig.estimate` set, the stored `joints` look like an estimator's output instead of the ground truth:

- posture biases, per recording: knees and elbows estimated more bent than they are (monocular estimators seldom
  straighten them: on UW-IOM's training videos a standing person's knees are bent 18-22 deg, elbows 30-40 deg),
  upper arms further out and back than the posing model holds them, and segment lengths that differ from the
  body's (each estimator puts the joints a little elsewhere; UW-IOM and BlazePose both give narrower shoulders and
  shorter forearms);
- a whole-body jitter, white per frame, mostly along the camera's line of sight ("depth"): UW-IOM's mid-hip moves
  about 10 cm from frame to frame while standing, 8x more along the line of sight than across it; and a slow
  whole-body wander along it: over 0.4 and 0.8 s the same mid-hip moves 0.19 and 0.26 body scales in the
  horizontal plane while standing or handling (0.35 and 0.63 while walking), far more than white jitter gives
  (off in the default recipe: it matters only to a model fed the root's motion, `EdgeStreamConfig.root_lags`);
- per-joint errors relative to the body: white jitter and a slow drift (low-passed), larger for limb ends, larger
  along the line of sight (BlazePose world landmarks: 2-3x), and a slow whole-body scale error; together they make
  bone lengths vary (coefficient of variation 3-12 % on UW-IOM, 4-13 % on BlazePose);
- left/right confusions of one limb for a fraction of a second, single-frame outliers, missing joints (NaN);
- timing: each frame taken at a slightly wrong instant, and frames that repeat the previous estimate.

Everything is drawn from its own random stream (`generator` passes one), so turning the errors on never changes
the motion, the camera or the 2D keypoints of a recording. All amounts 0 (the default): the joints stay exact.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from edge.datasets.synth.body import SIDES, UP
from edge.datasets.synth.noise import correlated_noise
from edge.errors import InputError

# Limb ends get `limb_gain` times the per-joint error, joints half-way along a limb (elbows, knees) half as much more.
_LIMB_ENDS = ("wrist", "hand", "index", "pinky", "thumb", "hand_tip", "ankle", "heel", "toe")
_LIMB_MIDDLES = ("elbow", "knee")
# Joints that change places with their other side when an estimator confuses the left and right limb.
_SWAP_LIMBS = {"arm": ("elbow", "wrist", "hand", "index", "pinky", "thumb", "hand_tip"),
               "leg": ("knee", "ankle", "heel", "toe")}


@dataclass(frozen=True)
class EstimateConfig:
    """Errors of a monocular 3D pose estimate (module doc); metres unless named otherwise. "Across" is the plane
    perpendicular to the line of sight from the camera to the person; `depth_gain` multiplies along it."""

    level: tuple[float, float] = (1.0, 1.0)  # per recording, every amount below x U(low, high): views differ
    knee_bias_deg: tuple[float, float] = (0.0, 0.0)  # per recording, knees this much more bent...
    knee_bias_hip: tuple[float, float] = (0.5, 0.5)  # ...and hips this fraction of it (UW-IOM's standing thighs stay
    # vertical, the shins lean back: ankles 10 % of the body scale behind the mid-hip)
    elbow_bias_deg: tuple[float, float] = (0.0, 0.0)  # per recording, elbows this much more bent
    abduction_bias_deg: tuple[float, float] = (0.0, 0.0)  # per recording, upper arms this much further out to the
    # side (UW-IOM's elbows lie 4-6 % of the body scale outside the shoulders in every class, arms at rest too)
    arm_back_deg: tuple[float, float] = (0.0, 0.0)  # per recording, upper arms this much further back (less flexed):
    # UW-IOM's elbows lie 3-8 % of the body scale further back relative to the shoulders than the posing model's
    segment_jitter: float = 0.0  # per recording, each body segment's length x U(1 - j, 1 + j): where an estimator
    # puts hips, shoulders and wrists differs (UW-IOM's arms are 15 % shorter than the posing model's, relative to
    # the legs; BlazePose's thighs 30 % longer)
    shoulder_scale: tuple[float, float] = (1.0, 1.0)  # per recording, shoulder width x U(low, high): estimators put
    # the shoulder joints inside the posing model's (UW-IOM 0.83, BlazePose world landmarks 0.79-0.88 of its width)
    arm_scale: tuple[float, float] = (1.0, 1.0)  # per recording, forearm and hand x U(low, high), upper arm x the
    # mean of that and 1 (UW-IOM: forearms 0.82, upper arms 0.93 of the posing model's; BlazePose 0.76-1.0)
    leg_sway_deg: float = 0.0  # both hips' flexion off by this (std), low-passed at sway_hz: UW-IOM's ankles sway
    # fore and aft together relative to the mid-hip (std 0.04-0.07 body scales in 1.5 s, the knees half as much),
    # standing and walking alike
    trunk_sway_deg: float = 0.0  # the trunk's flexion off by this (std), low-passed at sway_hz
    sway_hz: float = 1.0  # UW-IOM's sway: autocorrelation 0.7, 0.5, 0.2, 0.0 at 1, 2, 3, 5 frames (10 fps)
    root_depth_m: float = 0.0  # whole body, white per frame, along the line of sight
    root_across_m: float = 0.0  # whole body, white per frame, across it
    root_drift_m: float = 0.0  # whole body, low-passed at root_drift_hz, along the line of sight (std)
    root_drift_hz: float = 0.5
    jitter_m: float = 0.0  # each joint, white per frame, across the line of sight
    drift_m: float = 0.0  # each joint, low-passed at drift_hz, across the line of sight
    drift_hz: float = 0.5
    depth_gain: float = 1.0  # jitter and drift along the line of sight x this
    limb_gain: float = 1.0  # wrists, hands, ankles, feet x this; elbows and knees x (1 + limb_gain) / 2
    scale_sd: float = 0.0  # whole-body size about the mid-hip, low-passed at drift_hz (fraction)
    swaps_per_min: float = 0.0  # episodes of one arm or leg taken for the other
    swap_s: tuple[float, float] = (0.1, 0.5)
    outlier_prob: float = 0.0  # per joint and frame: off by N(0, outlier_m) in each axis
    outlier_m: float = 0.25
    missing_prob: float = 0.0  # per joint and frame: not estimated (NaN)
    repeat_prob: float = 0.0  # per frame: the previous frame's estimate again
    timing_jitter: float = 0.0  # std of each frame's instant, in frame periods (within +-0.5)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, f.name, value)
            numbers = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                       for v in numbers) or (isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1])):
                raise InputError(f"synth estimate: {f.name} must be a number >= 0 or a range (low, high), got "
                                 f"{value!r}")
        for name in ("outlier_prob", "missing_prob", "repeat_prob", "knee_bias_hip"):
            if np.max(getattr(self, name)) > 1:
                raise InputError(f"synth estimate: {name} must be within 0..1, got {getattr(self, name)}")
        if not all(0 < v <= 2 for v in self.shoulder_scale + self.arm_scale):
            raise InputError("synth estimate: shoulder_scale and arm_scale must be within (0, 2]")
        if min(self.drift_hz, self.sway_hz, self.root_drift_hz, self.depth_gain, self.limb_gain) <= 0:
            raise InputError("synth estimate: drift_hz, sway_hz, root_drift_hz, depth_gain and limb_gain must be "
                             "positive")
        if max(self.leg_sway_deg, self.trunk_sway_deg) > 30:
            raise InputError("synth estimate: leg_sway_deg and trunk_sway_deg must be at most 30 deg")

    @property
    def enabled(self) -> bool:
        return self != EstimateConfig()


def biased_tracks(rng: np.random.Generator, cfg: EstimateConfig, tracks: dict, level: float, fps: float) -> dict:
    """The posture tracks with this recording's knee, elbow and upper arm biases and the legs' and trunk's sway
    added (a new dict; `tracks` is kept)."""
    out = dict(tracks)
    n = len(tracks["trunk_flexion"])
    for name, amount in (("trunk", cfg.trunk_sway_deg), ("legs", cfg.leg_sway_deg)):
        if amount > 0:  # drawn only when asked (as the ranges below): the default stream stays as it was
            sway = level * amount * correlated_noise(rng, (n,), fps, cfg.sway_hz)
            for track in (("trunk_flexion",) if name == "trunk" else ("left_hip_flexion", "right_hip_flexion")):
                out[track] = tracks[track] + sway
    knee = level * rng.uniform(*cfg.knee_bias_deg)
    elbow = level * rng.uniform(*cfg.elbow_bias_deg)
    out_deg = level * rng.uniform(*cfg.abduction_bias_deg) if cfg.abduction_bias_deg[1] > 0 else 0.0
    back = level * rng.uniform(*cfg.arm_back_deg) if cfg.arm_back_deg[1] > 0 else 0.0
    lo, hi = cfg.knee_bias_hip
    hip = knee * (rng.uniform(lo, hi) if hi > lo else lo)
    for side in SIDES:
        out[f"{side}_knee_flexion"] = tracks[f"{side}_knee_flexion"] + knee
        out[f"{side}_hip_flexion"] = out[f"{side}_hip_flexion"] + hip
        out[f"{side}_elbow_flexion"] = tracks[f"{side}_elbow_flexion"] + elbow
        out[f"{side}_upper_arm_abduction"] = tracks[f"{side}_upper_arm_abduction"] + out_deg
        out[f"{side}_upper_arm_flexion"] = tracks[f"{side}_upper_arm_flexion"] - back
    return out


def estimated_proportions(rng: np.random.Generator, cfg: EstimateConfig, proportions: dict, level: float) -> dict:
    """The person's segment length factors as this recording's estimator sees them (`segment_jitter`)."""
    j = min(level * cfg.segment_jitter, 0.9)
    out = {name: value * float(rng.uniform(1.0 - j, 1.0 + j)) if j > 0 else value
           for name, value in proportions.items()}
    if cfg.shoulder_scale != (1.0, 1.0):  # drawn only when asked: the default stream stays as it was
        out["shoulder_width"] *= float(rng.uniform(*cfg.shoulder_scale))
    if cfg.arm_scale != (1.0, 1.0):
        arm = float(rng.uniform(*cfg.arm_scale))
        out.update(forearm=out["forearm"] * arm, hand=out["hand"] * arm, upper_arm=out["upper_arm"] * 0.5 * (1 + arm))
    return out


def _sight_frames(points: np.ndarray, names: list[str], camera: np.ndarray) -> np.ndarray:
    """(T, 3, 3) per frame: rows depth (camera -> mid-hip), across-horizontal, across-vertical-ish (orthonormal)."""
    mid = 0.5 * (points[:, names.index("left_hip")] + points[:, names.index("right_hip")])
    depth = mid - camera
    depth /= np.maximum(np.linalg.norm(depth, axis=-1, keepdims=True), 1e-9)
    side = np.cross(depth, UP)
    side /= np.maximum(np.linalg.norm(side, axis=-1, keepdims=True), 1e-9)
    return np.stack([depth, side, np.cross(side, depth)], axis=1)


def _joint_gain(names: list[str], limb_gain: float) -> np.ndarray:
    def gain(name: str) -> float:
        part = name.split("_", 1)[-1]
        if part in _LIMB_ENDS:
            return limb_gain
        return 0.5 * (1.0 + limb_gain) if part in _LIMB_MIDDLES else 1.0

    return np.array([gain(n) for n in names])


def _swap_limbs(rng: np.random.Generator, out: np.ndarray, names: list[str], count: int, lengths: tuple,
                fps: float) -> None:
    n = len(out)
    for _ in range(count):
        parts = _SWAP_LIMBS[("arm", "leg")[int(rng.integers(2))]]
        start = int(rng.integers(0, n))
        stop = min(n, start + max(1, int(round(rng.uniform(*lengths) * fps))))
        left = [names.index(f"left_{p}") for p in parts if f"left_{p}" in names]
        right = [names.index(f"right_{p}") for p in parts if f"right_{p}" in names]
        out[start:stop, left + right] = out[start:stop, right + left]


def _retimed(points: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Each frame taken at its instant + N(0, jitter) frame periods (within half a period; linear between frames)."""
    n = len(points)
    if jitter <= 0 or n < 2:
        return points
    at = np.clip(np.arange(n) + np.clip(rng.normal(0.0, jitter, n), -0.5, 0.5), 0, n - 1)
    lo = np.minimum(np.floor(at).astype(int), n - 2)
    w = (at - lo)[:, None, None]
    return (1.0 - w) * points[lo] + w * points[lo + 1]


def estimated_joints(rng: np.random.Generator, cfg: EstimateConfig, names: list[str], points: np.ndarray,
                     camera: np.ndarray, fps: float, level: float) -> np.ndarray:
    """(T, M, 3) landmarks as an estimator would report them (module doc): `points` are the landmarks to start from
    (already posed with `biased_tracks`), `camera` the camera's position, `level` this recording's error level."""
    n, m = points.shape[:2]
    out = _retimed(points, rng, cfg.timing_jitter)
    sight = _sight_frames(out, names, camera)  # (T, 3, 3)
    axis_gain = np.array([cfg.depth_gain, 1.0, 1.0])
    mid = 0.5 * (out[:, names.index("left_hip")] + out[:, names.index("right_hip")])
    if cfg.scale_sd > 0:
        scale = 1.0 + level * cfg.scale_sd * correlated_noise(rng, (n, 1), fps, cfg.drift_hz)
        out = mid[:, None] + (out - mid[:, None]) * scale[:, :, None]
    gain = _joint_gain(names, cfg.limb_gain)[None, :, None] * axis_gain
    local = level * gain * (cfg.jitter_m * rng.normal(size=(n, m, 3))
                            + cfg.drift_m * correlated_noise(rng, (n, m, 3), fps, cfg.drift_hz))
    root = level * np.array([cfg.root_depth_m, cfg.root_across_m, cfg.root_across_m]) * rng.normal(size=(n, 1, 3))
    if cfg.root_drift_m > 0:  # drawn only when asked: the default stream stays as it was
        root[:, :, 0] += level * cfg.root_drift_m * correlated_noise(rng, (n, 1), fps, cfg.root_drift_hz)
    out = out + np.einsum("tjk,tkl->tjl", local + root, sight)  # sight-frame offsets -> world
    if cfg.swaps_per_min > 0:
        count = int(rng.poisson(level * cfg.swaps_per_min * n / fps / 60.0))
        _swap_limbs(rng, out, names, count, cfg.swap_s, fps)
    if cfg.outlier_prob > 0:
        wild = rng.random((n, m)) < min(1.0, level * cfg.outlier_prob)
        out[wild] += rng.normal(0.0, cfg.outlier_m, (int(wild.sum()), 3))
    if cfg.missing_prob > 0:
        out[rng.random((n, m)) < min(1.0, level * cfg.missing_prob)] = np.nan
    if cfg.repeat_prob > 0 and n > 1:
        repeat = rng.random(n) < cfg.repeat_prob
        repeat[0] = False
        out = out[np.maximum.accumulate(np.where(repeat, 0, np.arange(n)))]  # a run of repeats holds the last fresh one
    return out


__all__ = ["EstimateConfig", "biased_tracks", "estimated_joints", "estimated_proportions"]
