"""What the synthetic data generator draws from: one frozen, validated config (`SynthConfig`).

Kept apart from the generator so that every stage (person, motion, camera) can read it without importing the
stage that calls it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

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


__all__ = ["SynthConfig"]
