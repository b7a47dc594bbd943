"""Who is recorded and where: one simulated person and the small work cell of stations they move between.

A person has a stature, sex, body mass (from a BMI range), segment proportions jittered about the posing
model's, a resting posture, pace, walking speed, a lifting style (stooper or squatter), personal activity
preferences, and the 2-4 item masses handled at this cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.datasets.synth.activities import ACTIVITIES, HEAVY_KG
from edge.datasets.synth.body import SEGMENTS, SIDES
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.timeline import POSTURE_FIELDS
from edge.ergonomics.l5s1 import BodyParams


@dataclass
class Person:
    """One simulated worker: body, habits and the items handled at their work cell (module docstring)."""

    height_m: float
    mass_kg: float
    sex: str
    proportions: dict  # segment (see SEGMENTS in edge/datasets/synth/body.py) -> length factor
    rest: dict  # resting posture: every Posture field but heading
    pace: float  # multiplies the duration of deliberate moves
    speed: float  # walking speed, m/s
    stoop_prob: float  # chance of stooping (rather than squatting) to reach the floor
    items: list  # distinct item masses at this cell, kg, ascending
    light_kg: float  # a small part handled while twisting/sorting
    prefs: dict  # activity name -> multiplier of its grammar weights
    gait_scale: float = 1.0  # the gait's excursions x this (SynthConfig.gait_scale)
    arm_swing_deg: float = 15.0  # the arms' swing while walking (SynthConfig.arm_swing_deg)

    def body(self) -> BodyParams:
        """The body parameters L5/S1 scoring needs."""
        return BodyParams(mass_kg=self.mass_kg, height_m=self.height_m, sex=self.sex)


@dataclass
class Station:
    """A place in the work cell where the person works, facing one way."""

    pos: np.ndarray  # (2,) floor position
    heading: float  # direction the worker faces there, degrees


def draw_person(rng: np.random.Generator, cfg: SynthConfig) -> Person:
    """A person drawn from the config's ranges; every cell gets one item in REBA's heaviest load band."""
    height = round(float(rng.uniform(*cfg.height_m)), 3)
    sex = "female" if rng.random() < cfg.female_fraction else "male"
    mass = round(float(rng.uniform(*cfg.bmi)) * height * height, 1)
    j = cfg.proportion_jitter
    proportions = {name: round(float(rng.uniform(1.0 - j, 1.0 + j)), 4) for name in SEGMENTS}
    rest = {name: 0.0 for name in POSTURE_FIELDS if name != "heading"}
    rest.update(trunk_flexion=float(rng.uniform(0.0, 4.0)), neck_flexion=float(rng.uniform(5.0, 15.0)))
    for side in SIDES:
        rest.update({f"{side}_upper_arm_flexion": float(rng.uniform(0.0, 8.0)),
                     f"{side}_upper_arm_abduction": float(rng.uniform(0.0, 8.0)),
                     f"{side}_elbow_flexion": float(rng.uniform(5.0, 20.0)),
                     f"{side}_wrist_flexion": float(rng.uniform(0.0, 10.0)),
                     f"{side}_knee_flexion": float(rng.uniform(0.0, 6.0)),
                     f"{side}_hip_flexion": float(rng.uniform(0.0, 3.0))})
    if cfg.stance_deg[1] > 0:  # drawn only when asked, so that the default people stay as they were
        rest.update({f"{side}_hip_abduction": float(rng.uniform(*cfg.stance_deg)) for side in SIDES})
    n_items = int(rng.integers(cfg.items_per_person[0], cfg.items_per_person[1] + 1))
    items = sorted({round(float(rng.uniform(*cfg.item_kg)) * 2.0) / 2.0 for _ in range(n_items)})
    if items[-1] <= HEAVY_KG < cfg.item_kg[1]:  # every cell has one item in REBA's heaviest load band
        items[-1] = round(float(rng.uniform(HEAVY_KG + 0.5, cfg.item_kg[1])) * 2.0) / 2.0
    prefs = {a: float(np.exp(rng.normal(0.0, cfg.preference_sigma))) for a in ACTIVITIES}
    # Drawn only when asked, after everything else, so that the default people stay as they were.
    gait = float(rng.uniform(*cfg.gait_scale)) if cfg.gait_scale != (1.0, 1.0) else 1.0
    swing = float(rng.uniform(*cfg.arm_swing_deg)) if cfg.arm_swing_deg != (15.0, 15.0) else 15.0
    return Person(height_m=height, mass_kg=mass, sex=sex, proportions=proportions, rest=rest,
                  pace=float(rng.uniform(*cfg.pace)), speed=float(rng.uniform(*cfg.walk_speed_mps)),
                  stoop_prob=float(rng.beta(2.0, 2.0)), items=items,
                  light_kg=round(float(rng.uniform(0.5, 4.0)) * 2.0) / 2.0, prefs=prefs, gait_scale=gait,
                  arm_swing_deg=swing)


def draw_work_cell(rng: np.random.Generator, radius: float) -> list[Station]:
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
    return [Station(pos=p, heading=float(rng.uniform(-180.0, 180.0))) for p in points]


__all__ = ["Person", "Station", "draw_person", "draw_work_cell"]
