"""An example pose sequence for the demo and tests: a worker lifting boxes from the floor onto a shelf.

The motion is built from posture keyframes (stand, stoop to the floor, rise, hold at the waist, place overhead)
eased into each other with a smooth step, with small deterministic sway, at a chosen frame rate and layout.
"""

from __future__ import annotations

import numpy as np

from edge.datasets.synth.posing import Posture, posed_joints
from edge.skeletons import get_layout, parse_up

# (duration of the move into this pose in s, posture angles in degrees). One cycle takes 10 s.
_CYCLE = [
    (2.0, {}),  # stand
    (1.5, dict(trunk_flexion=75, neck_flexion=25, left_upper_arm_flexion=70, right_upper_arm_flexion=70,
               left_elbow_flexion=15, right_elbow_flexion=15, left_hip_flexion=20, right_hip_flexion=20,
               left_knee_flexion=25, right_knee_flexion=25)),  # stoop to the box
    (1.0, dict(trunk_flexion=78, neck_flexion=30, left_upper_arm_flexion=75, right_upper_arm_flexion=75,
               left_elbow_flexion=10, right_elbow_flexion=10, left_hip_flexion=20, right_hip_flexion=20,
               left_knee_flexion=25, right_knee_flexion=25)),  # grasp
    (1.5, dict(trunk_flexion=8, left_upper_arm_flexion=20, right_upper_arm_flexion=20,
               left_elbow_flexion=95, right_elbow_flexion=95)),  # rise, box at the waist
    (1.5, dict(trunk_flexion=5, trunk_twist=30, neck_twist=25, left_upper_arm_flexion=25,
               right_upper_arm_flexion=25, left_elbow_flexion=90, right_elbow_flexion=90)),  # turn to the shelf
    (1.5, dict(trunk_flexion=-10, trunk_twist=30, neck_flexion=-20, left_upper_arm_flexion=120,
               right_upper_arm_flexion=120, left_elbow_flexion=30, right_elbow_flexion=30,
               left_upper_arm_abduction=15, right_upper_arm_abduction=15)),  # place overhead
    (1.0, {}),  # back to standing
]
_FIELDS = sorted({k for _, pose in _CYCLE for k in pose})


def example_lift_sequence(
    seconds: float = 60.0, fps: float = 30.0, layout: str = "blazepose33", up: str = "z", height_m: float = 1.75
) -> np.ndarray:
    """Joints (T, J, 3) in metres of the repeated lifting cycle."""
    num = int(round(seconds * fps))
    t = np.arange(num) / fps
    cycle_s = sum(d for d, _ in _CYCLE)
    phase = np.mod(t, cycle_s)
    starts = np.cumsum([0.0] + [d for d, _ in _CYCLE])
    angles = {}
    for name in _FIELDS:
        keys = [pose.get(name, 0.0) for _, pose in _CYCLE]
        values = np.zeros(num)
        for i, (duration, _) in enumerate(_CYCLE):
            inside = (phase >= starts[i]) & (phase < starts[i + 1])
            s = (phase[inside] - starts[i]) / duration
            ease = s * s * (3 - 2 * s)
            values[inside] = keys[i - 1] + (keys[i] - keys[i - 1]) * ease
        angles[name] = values
    # A little sway so that nothing is perfectly still.
    angles["trunk_side_bend"] = 2.0 * np.sin(2 * np.pi * t / 7.3)
    angles["heading"] = 3.0 * np.sin(2 * np.pi * t / 11.0)
    return posed_joints(Posture(**angles), get_layout(layout), height_m=height_m, up=parse_up(up))
