"""Kinematics on bodies posed with known angles, in every layout, under rotations and different up axes."""

import numpy as np
import pytest

from edge.errors import InputError
from edge.geometry import frame_from_up, rotation_about
from edge.kinematics import ANGLE_NAMES, joint_angles
from edge.datasets.synth.posing import Posture, posed_joints
from edge.skeletons import LAYOUTS, get_layout, parse_up

ALL_LAYOUTS = sorted(LAYOUTS)
UPS = {"z": "z", "-y": "-y", "x": "x", "oblique": "1,2,-0.5"}


def _measure(posture: Posture, layout_name: str, up_spec: str = "z", **kw):
    layout = get_layout(layout_name)
    up = parse_up(up_spec)
    return joint_angles(posed_joints(posture, layout, up=up, **kw), layout, up)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@pytest.mark.parametrize("up", sorted(UPS))
def test_trunk_angles_round_trip_in_every_layout_and_frame(layout, up):
    flex = np.array([0.0, 20.0, 45.0, 75.0, -15.0, 100.0])
    twist = np.array([0.0, 25.0, -30.0, 10.0, 0.0, 40.0])
    a = _measure(Posture(trunk_flexion=flex, trunk_twist=twist, heading=[0, 90, 180, 33, -120, 270]),
                 layout, UPS[up], origin=(3.0, -2.0, 1.5))
    np.testing.assert_allclose(a["trunk_flexion_deg"], flex, atol=1e-9)
    np.testing.assert_allclose(a["trunk_twist_deg"], twist, atol=1e-9)
    np.testing.assert_allclose(a["trunk_side_bend_deg"], 0.0, atol=1e-9)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_side_bend_sign_and_value_with_flexion(layout):
    side = np.array([-25.0, 12.0, 30.0])
    flex = np.array([0.0, 40.0, 70.0])
    a = _measure(Posture(trunk_flexion=flex, trunk_side_bend=side), layout)
    np.testing.assert_allclose(a["trunk_side_bend_deg"], side, atol=1e-9)
    np.testing.assert_allclose(a["trunk_flexion_deg"], flex, atol=1e-9)


def test_side_bend_positive_is_toward_the_right():
    layout = get_layout("h36m17")
    j = posed_joints(Posture(trunk_side_bend=20.0), layout)
    neck, pelvis = j[0, layout.index("neck")], j[0, layout.index("pelvis")]
    # Facing +y with z up, the body's right is +x.
    assert neck[0] - pelvis[0] > 0.1
    assert joint_angles(j, layout, parse_up("z"))["trunk_side_bend_deg"][0] == pytest.approx(20.0)


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_neck_angles_relative_to_trunk(layout):
    neck = np.array([0.0, 15.0, 35.0, -20.0])
    side = np.array([0.0, 0.0, 18.0, 0.0])
    a = _measure(Posture(trunk_flexion=[0, 30, 60, 10], neck_flexion=neck, neck_side_bend=side), layout, "-y")
    np.testing.assert_allclose(a["neck_flexion_deg"], neck, atol=1e-9)
    np.testing.assert_allclose(a["neck_side_bend_deg"], side, atol=1e-9)


def test_neck_twist_known_only_with_ears():
    posture = Posture(neck_twist=[0.0, 30.0, -45.0], trunk_flexion=[0.0, 20.0, 50.0])
    for layout in ("blazepose33", "coco17"):
        np.testing.assert_allclose(_measure(posture, layout)["neck_twist_deg"], [0.0, 30.0, -45.0], atol=1e-9)
    for layout in ("h36m17", "uwiom15", "kinect25"):
        assert np.isnan(_measure(posture, layout)["neck_twist_deg"]).all()


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_arm_and_leg_angles(layout, side):
    flex = np.array([0.0, 30.0, 60.0, 120.0, -30.0, 170.0])
    elbow = np.array([0.0, 45.0, 90.0, 120.0, 10.0, 5.0])
    knee = np.array([0.0, 20.0, 45.0, 90.0, 0.0, 60.0])
    posture = Posture(**{
        f"{side}_upper_arm_flexion": flex, f"{side}_elbow_flexion": elbow,
        f"{side}_knee_flexion": knee, f"{side}_hip_flexion": knee,
        "trunk_flexion": [0, 10, 30, 60, 0, 20], "trunk_twist": [0, 15, 0, 0, -20, 0],
    })
    a = _measure(posture, layout, "x")
    np.testing.assert_allclose(a[f"{side}_upper_arm_flexion_deg"], flex, atol=1e-9)
    np.testing.assert_allclose(a[f"{side}_upper_arm_abduction_deg"], 0.0, atol=1e-9)
    np.testing.assert_allclose(a[f"{side}_elbow_flexion_deg"], elbow, atol=1e-9)
    np.testing.assert_allclose(a[f"{side}_knee_flexion_deg"], knee, atol=1e-9)


def test_abduction_counts_as_elevation_and_is_reported():
    a = _measure(Posture(left_upper_arm_abduction=[30.0, 90.0], right_upper_arm_abduction=[0.0, 45.0]), "coco17")
    np.testing.assert_allclose(a["left_upper_arm_abduction_deg"], [30.0, 90.0], atol=1e-9)
    np.testing.assert_allclose(a["left_upper_arm_flexion_deg"], [30.0, 90.0], atol=1e-9)
    np.testing.assert_allclose(a["right_upper_arm_abduction_deg"], [0.0, 45.0], atol=1e-9)
    # Forward 60 deg and out 30 deg: elevation from the trunk's down axis is acos(cos30 cos60).
    a = _measure(Posture(left_upper_arm_flexion=60.0, left_upper_arm_abduction=30.0), "coco17")
    expected = np.degrees(np.arccos(np.cos(np.radians(30)) * np.cos(np.radians(60))))
    assert a["left_upper_arm_flexion_deg"][0] == pytest.approx(expected)
    assert a["left_upper_arm_abduction_deg"][0] == pytest.approx(30.0)


def test_arm_behind_is_extension_only_below_the_shoulder():
    a = _measure(Posture(left_upper_arm_flexion=[-40.0, 200.0]), "h36m17")
    # -40: behind and below the shoulder = extension; 200 deg forward = overhead past vertical = flexion 160.
    np.testing.assert_allclose(a["left_upper_arm_flexion_deg"], [-40.0, 160.0], atol=1e-9)


def test_wrist_angles_need_hand_points():
    posture = Posture(left_wrist_flexion=[0.0, 30.0, 0.0], left_wrist_deviation=[0.0, 0.0, 20.0],
                      left_elbow_flexion=90.0, left_upper_arm_flexion=30.0)
    blaze = _measure(posture, "blazepose33")
    np.testing.assert_allclose(blaze["left_wrist_flexion_deg"], [0.0, 30.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(blaze["left_wrist_deviation_deg"], [0.0, 0.0, 20.0], atol=1e-9)
    kinect = _measure(posture, "kinect25")  # one hand point: total bend, no deviation
    np.testing.assert_allclose(kinect["left_wrist_flexion_deg"], [0.0, 30.0, 20.0], atol=1e-9)
    assert np.isnan(kinect["left_wrist_deviation_deg"]).all()
    for layout in ("coco17", "h36m17", "uwiom15"):
        assert np.isnan(_measure(posture, layout)["left_wrist_flexion_deg"]).all()


def test_shoulder_raise_with_and_without_a_neck_joint():
    posture = Posture(right_shoulder_raise_m=[0.0, 0.04])
    h36m = _measure(posture, "h36m17")
    half_width = 0.1295 * 1.75
    assert h36m["right_shoulder_raise_deg"][1] == pytest.approx(np.degrees(np.arctan2(0.04, half_width)))
    assert h36m["left_shoulder_raise_deg"][1] == pytest.approx(0.0, abs=1e-9)
    coco = _measure(posture, "coco17")  # mid-shoulder neck: the raise shows as one side up, the other down
    assert coco["right_shoulder_raise_deg"][1] > 5.0
    assert coco["left_shoulder_raise_deg"][1] == pytest.approx(-coco["right_shoulder_raise_deg"][1])


def test_support_from_foot_heights_and_lateral_wrist_position():
    a = _measure(Posture(left_hip_flexion=[0.0, 60.0], left_knee_flexion=[0.0, 60.0]), "coco17")
    assert a["foot_height_difference_m"][0] == pytest.approx(0.0, abs=1e-9)
    assert a["foot_height_difference_m"][1] > 0.15  # left foot lifted
    # A hanging arm holds the wrist under the shoulder: one shoulder half-width from the midline.
    np.testing.assert_allclose(a["left_wrist_lateral_ratio"], 1.0, atol=1e-9)


def test_missing_points_give_nan_not_zero():
    layout = get_layout("coco17")
    joints = posed_joints(Posture(trunk_flexion=[10.0, 20.0, 30.0]), layout)
    joints[1, layout.index("left_hip")] = np.nan
    joints[2, layout.index("left_elbow")] = np.nan
    a = joint_angles(joints, layout, parse_up("z"))
    assert np.isnan(a["trunk_flexion_deg"][1])
    assert a["trunk_flexion_deg"][2] == pytest.approx(30.0)
    assert np.isnan(a["left_elbow_flexion_deg"][2]) and np.isnan(a["left_upper_arm_flexion_deg"][2])
    assert a["right_elbow_flexion_deg"][2] == pytest.approx(0.0, abs=1e-9)
    assert set(a) == set(ANGLE_NAMES)


def test_invariant_to_rigid_motion():
    layout = get_layout("kinect25")
    posture = Posture(trunk_flexion=35.0, trunk_twist=15.0, neck_flexion=20.0, left_upper_arm_flexion=80.0,
                      right_elbow_flexion=60.0, left_knee_flexion=30.0, left_hip_flexion=30.0)
    base = posed_joints(posture, layout)
    rot = rotation_about(np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8]), np.radians(57.0))
    moved = base @ rot.T + np.array([10.0, -4.0, 2.0])
    a0 = joint_angles(base, layout, parse_up("z"))
    a1 = joint_angles(moved, layout, rot @ np.array([0.0, 0.0, 1.0]))
    for name in ANGLE_NAMES:
        np.testing.assert_allclose(a1[name], a0[name], atol=1e-9, equal_nan=True)


def test_parse_up():
    np.testing.assert_allclose(parse_up("-y"), [0, -1, 0])
    np.testing.assert_allclose(parse_up("+Z"), [0, 0, 1])
    np.testing.assert_allclose(parse_up("0, 0, 2"), [0, 0, 1])
    np.testing.assert_allclose(frame_from_up(parse_up("1,1,0"))[:, 2], np.array([1, 1, 0]) / np.sqrt(2))
    for bad in ("up", "0,0", "0,0,0", "nan,0,1", "w"):
        with pytest.raises(InputError):
            parse_up(bad)
