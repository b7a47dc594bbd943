"""Augmentations: geometric invariants, left/right swaps, missing joints, speed and determinism."""

from dataclasses import replace

import numpy as np
import pytest

from edge.datasets.augment import (
    AugmentConfig,
    change_speed,
    drop_joints,
    mirror,
    random_augment,
    rotate_about_up,
    scale,
)
from edge.datasets.sequence import Sequence
from edge.errors import InputError
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.kinematics import ANGLE_NAMES, joint_angles
from edge.datasets.synth.posing import Posture, posed_joints
from edge.skeletons import get_layout, parse_up

LAYOUT = get_layout("h36m17")


def lift(up="z", seconds=10.0, fps=10.0, with_2d=False):
    joints = example_lift_sequence(seconds=seconds, fps=fps, layout="h36m17", up=up)
    n = len(joints)
    kp = None
    if with_2d:  # a crude side view: pixels from two of the 3D axes, full confidence
        kp = np.concatenate([joints[..., :2] * 200 + 320, np.ones((n, LAYOUT.num_joints, 1))], axis=2)
    return Sequence(layout="h36m17", fps=fps, joints=joints, up=parse_up(up), keypoints2d=kp,
                    activity=(np.arange(n) // 25 % 2), activity_names=("stand", "lift"),
                    targets={"reba_total": np.linspace(1, 7, n), "reba_upper_arm_left": np.full(n, 1.0),
                             "reba_upper_arm_right": np.full(n, 3.0)}, metadata={"video": "x"})


def angles(seq):
    return joint_angles(seq.joints, LAYOUT, seq.up)


def assert_same_angles(a, b, names=ANGLE_NAMES):
    for name in names:
        assert np.allclose(a[name], b[name], atol=1e-6, equal_nan=True), name


def mid_hip(joints):
    return 0.5 * (joints[:, LAYOUT.index("left_hip")] + joints[:, LAYOUT.index("right_hip")])


@pytest.mark.parametrize("up", ["z", "y"])
def test_rotation_keeps_angles_and_turns_about_up_through_mid_hip(up):
    seq = lift(up=up, seconds=4.0)
    out = rotate_about_up(seq, 30.0)
    assert_same_angles(angles(seq), angles(out))
    u = seq.up
    assert np.allclose(out.joints @ u, seq.joints @ u)  # heights unchanged
    pivot = mid_hip(seq.joints).mean(axis=0)
    assert np.allclose(mid_hip(out.joints).mean(axis=0), pivot)
    # Every horizontal offset from the pivot turns by +30 deg about up (right-hand rule).
    before = seq.joints - pivot
    after = out.joints - pivot
    before_h = before - (before @ u)[..., None] * u
    after_h = after - (after @ u)[..., None] * u
    turned = np.degrees(np.arctan2(np.cross(before_h, after_h) @ u, np.einsum("...i,...i", before_h, after_h)))
    off_axis = np.linalg.norm(before_h, axis=-1) > 0.01  # points on the axis have no direction to turn
    assert off_axis.mean() > 0.8 and np.allclose(turned[off_axis], 30.0)
    assert np.allclose(np.linalg.norm(after_h, axis=-1), np.linalg.norm(before_h, axis=-1))
    assert out.metadata["augmentations"] == [{"op": "rotate_about_up", "angle_deg": 30.0}]
    assert seq.metadata == {"video": "x"}  # input untouched


def test_scale_multiplies_bone_lengths_and_keeps_targets():
    seq = lift(seconds=3.0, with_2d=True)
    out = scale(seq, 1.2)
    for a, b in LAYOUT.edges:
        before = np.linalg.norm(seq.joints[:, a] - seq.joints[:, b], axis=-1)
        after = np.linalg.norm(out.joints[:, a] - out.joints[:, b], axis=-1)
        assert np.allclose(after, 1.2 * before)
        before2 = np.linalg.norm(seq.keypoints2d[:, a, :2] - seq.keypoints2d[:, b, :2], axis=-1)
        assert np.allclose(np.linalg.norm(out.keypoints2d[:, a, :2] - out.keypoints2d[:, b, :2], axis=-1),
                           1.2 * before2)
    assert_same_angles(angles(seq), angles(out))
    assert out.targets is seq.targets and np.array_equal(out.keypoints2d[..., 2], seq.keypoints2d[..., 2])
    with pytest.raises(InputError, match="positive"):
        scale(seq, 0.0)


def asymmetric():
    """Left arm rising to 90 deg while the right hangs at 20, elbows unequal, trunk twisted to the left."""
    n = 20
    posture = Posture(left_upper_arm_flexion=np.linspace(0, 90, n), right_upper_arm_flexion=np.full(n, 20.0),
                      left_elbow_flexion=np.full(n, 60.0), right_elbow_flexion=np.full(n, 10.0),
                      trunk_twist=np.full(n, 20.0), heading=np.full(n, 35.0))
    joints = posed_joints(posture, LAYOUT, up=(0, 0, 1), origin=(1.0, -2.0, 0.0))
    return Sequence(layout="h36m17", fps=10.0, joints=joints, up=np.array([0.0, 0.0, 1.0]),
                    targets={"reba_upper_arm_left": np.full(n, 4.0), "reba_upper_arm_right": np.full(n, 2.0),
                             "reba_total": np.full(n, 5.0)})


def test_mirror_swaps_left_and_right():
    seq = asymmetric()
    out = mirror(seq)
    a, m = angles(seq), angles(out)
    for name in ("upper_arm_flexion_deg", "elbow_flexion_deg", "knee_flexion_deg"):
        assert np.allclose(m[f"left_{name}"], a[f"right_{name}"], atol=1e-6)
        assert np.allclose(m[f"right_{name}"], a[f"left_{name}"], atol=1e-6)
    assert np.allclose(m["trunk_twist_deg"], -a["trunk_twist_deg"], atol=1e-6)
    assert np.allclose(m["trunk_flexion_deg"], a["trunk_flexion_deg"], atol=1e-6)
    assert out.targets["reba_upper_arm_left"][0] == 2.0 and out.targets["reba_upper_arm_right"][0] == 4.0
    assert out.targets["reba_total"] is seq.targets["reba_total"]
    # The body's midline stays put: the mid-hip of the first frame is on the mirror plane.
    assert np.allclose(mid_hip(out.joints)[0], mid_hip(seq.joints)[0])


def test_mirror_twice_is_identity_in_3d_and_2d():
    seq = lift(seconds=3.0, with_2d=True)
    twice = mirror(mirror(seq))
    assert np.allclose(twice.joints, seq.joints, atol=1e-9)
    assert np.allclose(twice.keypoints2d, seq.keypoints2d, atol=1e-9)
    assert twice.targets.keys() == seq.targets.keys()
    once = mirror(seq)
    li, ri = LAYOUT.index("left_wrist"), LAYOUT.index("right_wrist")
    assert np.allclose(once.keypoints2d[:, li, 1], seq.keypoints2d[:, ri, 1])  # 2D: rows kept, sides swapped


def test_drop_joints_rate_and_same_joints_in_2d():
    seq = lift(seconds=10.0, with_2d=True)
    out = drop_joints(seq, np.random.default_rng(3), 0.2)
    dropped = np.isnan(out.joints).any(axis=2)
    assert np.array_equal(dropped, np.isnan(out.joints).all(axis=2))
    assert abs(dropped.mean() - 0.2) < 0.04  # 1,700 joint-frames: 4 standard deviations
    assert np.array_equal(out.keypoints2d[..., 2] == 0, dropped)
    assert np.array_equal(out.joints[~dropped], seq.joints[~dropped])
    assert not np.isnan(drop_joints(seq, np.random.default_rng(3), 0.0).joints).any()
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        drop_joints(seq, np.random.default_rng(0), 1.5)


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_change_speed_changes_duration_not_fps(factor):
    seq = lift(seconds=6.0)
    out = change_speed(seq, factor)
    assert out.fps == seq.fps
    assert out.num_frames == int((seq.num_frames - 1) / factor) + 1
    assert abs(out.duration_s - seq.duration_s / factor) <= 1.0 / seq.fps
    assert len(out.activity) == len(out.targets["reba_total"]) == out.num_frames
    # The same moments of the motion, reached sooner or later.
    assert np.allclose(out.joints[-1], seq.joints[round((out.num_frames - 1) * factor)], atol=1e-9)


def test_random_augment_is_deterministic_for_a_seed():
    seq = lift(seconds=4.0, with_2d=True)
    cfg = AugmentConfig(drop_p=0.1)
    a = random_augment(seq, np.random.default_rng(11), cfg)
    b = random_augment(seq, np.random.default_rng(11), cfg)
    c = random_augment(seq, np.random.default_rng(12), cfg)
    assert np.array_equal(a.joints, b.joints, equal_nan=True)
    assert np.array_equal(a.keypoints2d, b.keypoints2d) and a.metadata == b.metadata
    assert a.metadata != c.metadata
    # Off switches: nothing drawn changes the sequence.
    off = AugmentConfig(rotate_deg=0, scale_range=(1, 1), mirror_p=0, drop_p=0, speed_range=(1, 1))
    assert np.array_equal(random_augment(seq, np.random.default_rng(0), off).joints, seq.joints)
    # Every step that is on is applied, in order, and once.
    every = AugmentConfig(tilt_deg=10.0, mirror_p=1.0, drop_p=0.1)
    applied = [step["op"] for step in random_augment(seq, np.random.default_rng(3), every).metadata["augmentations"]]
    assert applied == ["change_speed", "rotate_about_up", "tilt", "scale", "mirror", "drop_joints"]
    for one, op in ((dict(rotate_deg=30.0), "rotate_about_up"), (dict(tilt_deg=10.0), "tilt"),
                    (dict(scale_range=(0.8, 1.2)), "scale"), (dict(mirror_p=1.0), "mirror"),
                    (dict(drop_p=0.1), "drop_joints"), (dict(speed_range=(0.8, 1.2)), "change_speed")):
        out = random_augment(seq, np.random.default_rng(4), replace(off, **one))
        assert [step["op"] for step in out.metadata["augmentations"]] == [op], op
        assert not np.array_equal(out.joints, seq.joints, equal_nan=True), op
    # Dropped joints: about drop_p of the joints of every frame are NaN (binomial, 4 s x 10 fps x 17 joints).
    dropped = random_augment(seq, np.random.default_rng(5), replace(off, drop_p=0.1)).joints
    assert 0.07 < np.isnan(dropped).any(axis=-1).mean() < 0.13


def test_bad_config_and_2d_only_rotation():
    with pytest.raises(InputError, match="scale_range"):
        AugmentConfig(scale_range=(1.2, 0.8))
    with pytest.raises(InputError, match="mirror_p"):
        AugmentConfig(mirror_p=2.0)
    kp_only = Sequence(layout="h36m17", fps=10.0, keypoints2d=lift(seconds=1.0, with_2d=True).keypoints2d)
    with pytest.raises(InputError, match="needs 3D joints"):
        rotate_about_up(kp_only, 10.0)
    assert random_augment(kp_only, np.random.default_rng(0)).joints is None  # rotation skipped for 2D only
