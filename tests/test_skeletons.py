"""Skeleton layouts as data: joint orders, bones, mirror pairs and the canonical mapping."""

import numpy as np
import pytest

from edge.errors import InputError
from edge.skeletons import CANONICAL_POINTS, LAYOUTS, canonical_sources, get_layout, neck_is_derived, to_canonical

REQUIRED = {"pelvis", "neck", "head", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"}


def test_joint_counts_and_published_orders():
    assert {name: layout.num_joints for name, layout in LAYOUTS.items()} == {
        "blazepose33": 33, "coco17": 17, "h36m17": 17, "uwiom15": 15, "kinect25": 25}
    uw = get_layout("uwiom15").joints  # the MTL-ERA release's order
    assert uw[0] == "right_ankle" and uw[6] == "right_wrist" and uw[12:] == ("neck", "head", "spine_mid")
    coco = get_layout("coco17").joints
    assert coco[0] == "nose" and coco[5] == "left_shoulder" and coco[16] == "right_ankle"
    blaze = get_layout("blazepose33").joints
    assert blaze[11] == "left_shoulder" and blaze[24] == "right_hip" and blaze[32] == "right_toe"
    # The COCO-17 subset of BlazePose: the same body points, in COCO's order.
    subset = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    assert tuple(blaze[i] for i in subset) == coco
    kinect = get_layout("kinect25").joints
    assert kinect[0] == "pelvis" and kinect[20] == "neck" and kinect[24] == "right_thumb"
    h36m = get_layout("h36m17").joints
    assert h36m[0] == "pelvis" and h36m[8] == "neck" and h36m[10] == "head" and h36m[16] == "right_wrist"


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_integrity(name):
    layout = LAYOUTS[name]
    assert len(set(layout.joints)) == layout.num_joints
    for a, b in layout.edges:
        assert 0 <= a < layout.num_joints and 0 <= b < layout.num_joints and a != b
    # Every joint is connected to the skeleton.
    touched = {i for edge in layout.edges for i in edge}
    assert touched == set(range(layout.num_joints))
    assert REQUIRED <= set(canonical_sources(layout))
    perm = layout.mirror_permutation
    assert np.array_equal(perm[perm], np.arange(layout.num_joints))
    for i, j in layout.mirror_pairs:
        assert layout.joints[i].replace("left_", "") == layout.joints[j].replace("right_", "")


def test_canonical_mapping_means_and_derived_points():
    layout = get_layout("coco17")
    joints = np.arange(2 * 17 * 3, dtype=float).reshape(2, 17, 3)
    points = to_canonical(joints, layout)
    np.testing.assert_allclose(points["pelvis"], joints[:, [11, 12]].mean(axis=1))
    np.testing.assert_allclose(points["neck"], joints[:, [5, 6]].mean(axis=1))
    np.testing.assert_allclose(points["head"], joints[:, [3, 4]].mean(axis=1))
    assert "left_hand" not in points
    assert set(points) <= set(CANONICAL_POINTS)
    assert neck_is_derived(layout) and not neck_is_derived(get_layout("h36m17"))
    kinect = canonical_sources(get_layout("kinect25"))
    assert kinect["neck"] == (20,) and kinect["left_hand"] == (7,) and kinect["head"] == (3,)
    blaze = canonical_sources(get_layout("blazepose33"))
    assert blaze["left_hand"] == (19, 17)


def test_unknown_layout_names_the_choices():
    with pytest.raises(InputError, match="unknown layout 'openpose'.*coco17"):
        get_layout("openpose")
