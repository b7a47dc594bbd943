"""What the synthetic data generator draws from: one frozen, validated config (`SynthConfig`).

Kept apart from the generator so that every stage (person, motion, camera) can read it without importing the
stage that calls it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from edge.datasets.synth.estimate import EstimateConfig
from edge.errors import InputError
from edge.skeletons import get_layout


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
    pace: tuple[float, float] = (0.85, 1.2)  # per person, multiplies the duration of deliberate moves
    preference_sigma: float = 0.4  # per-person activity preference: weights x lognormal(0, sigma)
    novelty_boost: float = 10.0  # weight multiplier for activities not yet seen in the recording
    gait_scale: tuple[float, float] = (1.0, 1.0)  # per person, the gait's hip, knee and arm swing x this: monocular
    # estimates shorten strides (UW-IOM's walking ankles swing half as far apart as this gait's at scale 1)
    arm_swing_deg: tuple[float, float] = (15.0, 15.0)  # per person, the arms' swing while walking (UW-IOM's wrists
    # move no more while walking than the estimate's jitter: little swing over a few steps)
    micro_motion_deg: float = 1.5  # std of the slow (0.5 Hz) wander added to trunk, neck and arm angles
    stand_s: tuple[float, float] = (3.0, 20.0)  # how long a person stands between tasks
    stand_hands_front: float = 0.4  # chance of standing with the hands in front (checking, using a device)
    stoop_trunk_deg: tuple[float, float] = (60.0, 95.0)  # trunk flexion at the bottom of a stoop (lifts, placing low)
    squat_trunk_deg: tuple[float, float] = (20.0, 45.0)  # trunk flexion at the bottom of a squat
    grasp_s: tuple[float, float] = (0.4, 1.2)  # a lift's time at the bottom, taking hold of the item
    lift_hold_s: tuple[float, float] = (0.3, 0.8)  # a lift's segment ends this long after standing up with the item
    place_s: tuple[float, float] = (0.3, 0.9)  # placing: time at the destination (letting go, adjusting)
    return_to_rest: bool = True  # placing and reaching end back at rest (False: the next activity brings the arms
    # back, as UW-IOM labels them)
    stand_up_after_low: bool = False  # placing low ends standing up again even when return_to_rest is False, as UW-IOM
    # labels the rise (trunk flexion over a bend's last fifth: 11 deg real, 32 deg synthetic without); on in the
    # default weights' recipe, whose model labels each frame a second late (benchmarks/uwiom_experiments.md)
    handling_weight: float = 0.0  # grammar weight of handling at mid height with empty hands...
    handling_high: float = 0.33  # ...of which this share at shelf height
    stand_turn_deg: tuple[float, float] = (0.0, 0.0)  # a stand turns on the spot by this much, either way (UW-IOM's
    # stands: 31, 57, 87 deg at the 25th, 50th, 75th percentile)
    work_turn_deg: tuple[float, float] = (0.0, 0.0)  # handling at mid or shelf height and reaching up turn this
    # much, either way, on the way to the work (UW-IOM: 20 deg median over a handling, 66 over a reach)
    turn_first: float = 0.0  # chance that a walk starts facing its way, turned toward on the spot in a stand before
    # it (and ends facing its way): UW-IOM's walks turn 16 deg (median, whole segment), its stands 57 deg
    handle_near_body: float = 0.0  # chance that a handling at mid height also holds the item at the body: picking up
    # ends so, placing starts so (UW-IOM's handling: wrists 0.09 body scales in front of the mid-hip when handling
    # frames are taken for walking, 0.15 otherwise)
    pause_weight: float = 0.0  # grammar weight of a stand after an activity that leaves the hands empty (UW-IOM:
    # a stand of 0.4-1.4 s between most tasks)
    handle_arm_deg: tuple[float, float] = (35.0, 70.0)  # handling at mid height: upper arm elevation,
    handle_elbow_deg: tuple[float, float] = (20.0, 60.0)  # elbow flexion
    handle_trunk_deg: tuple[float, float] = (10.0, 35.0)  # and trunk flexion
    stance_deg: tuple[float, float] = (0.0, 0.0)  # per person, each leg turned out this much (feet apart)
    reach_hold_s: tuple[float, float] = (2.0, 8.0)  # working overhead, arms up...
    overhead_arm_deg: tuple[float, float] = (120.0, 170.0)  # ...this high (upper arm elevation)
    place_high_arm_deg: tuple[float, float] = (100.0, 150.0)  # placing on a shelf
    shuffle_m: tuple[float, float] = (0.0, 0.0)  # half the stands, handlings and reaches: a step of this length
    walk_speed_mps: tuple[float, float] = (1.0, 1.4)  # per person, top walking speed (eased in and out: the mean is
    # two thirds of it); strides shorten and the cadence slows with it (UW-IOM's walks: a gait cycle in 11 frames)
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
    # What a monocular 3D estimator makes of the joints (edge/datasets/synth/estimate.py); the default: exact joints.
    estimate: EstimateConfig = field(default_factory=EstimateConfig)

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
            if f.name in ("layouts", "image_size", "estimate", "return_to_rest", "stand_up_after_low"):
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
        for name in ("female_fraction", "dropout_prob", "proportion_jitter", "stand_hands_front", "turn_first",
                     "handle_near_body"):
            if getattr(self, name) > 1:
                raise InputError(f"synth config: {name} must be within 0..1, got {getattr(self, name)}")
        if max(self.stoop_trunk_deg[1], self.squat_trunk_deg[1]) > 135 or self.stand_s[0] <= 0:
            raise InputError("synth config: bend trunk flexion must stay within 0..135 deg, stand_s above 0 s")
        if max(self.stand_turn_deg[1], self.work_turn_deg[1]) > 180:
            raise InputError(f"synth config: stand_turn_deg and work_turn_deg must be within 0..180 deg, got "
                             f"{self.stand_turn_deg}, {self.work_turn_deg}")
        if self.gait_scale[1] > 2 or self.arm_swing_deg[1] > 45:
            raise InputError(f"synth config: gait_scale must be within 0..2, arm_swing_deg within 0..45 deg, got "
                             f"{self.gait_scale}, {self.arm_swing_deg}")
        if (self.recording_minutes[0] <= 0 or self.height_m[0] < 1.0 or self.items_per_person[0] < 1
                or self.walk_speed_mps[0] <= 0):
            raise InputError("synth config: recordings, statures, item counts and walking speeds must be positive")
        if len(self.image_size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in self.image_size):
            raise InputError(f"synth config: image_size must be (width, height) in pixels, got {self.image_size}")
        for name in ("return_to_rest", "stand_up_after_low"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"synth config: {name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.estimate, dict):  # from JSON
            object.__setattr__(self, "estimate", EstimateConfig(**self.estimate))
        if not isinstance(self.estimate, EstimateConfig):
            raise InputError(f"synth config: estimate must be an EstimateConfig, got {self.estimate!r}")
        if self.camera_pitch_deg[1] >= 90 or self.camera_distance_m[0] <= 0 or self.focal_px[0] <= 0:
            raise InputError("synth config: camera pitch must be < 90 deg, distance and focal length positive")


__all__ = ["SynthConfig"]
