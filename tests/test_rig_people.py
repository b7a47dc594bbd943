"""One id and one body per person across a rig's cameras (edge/pose/rig_people.py) and cameras for resized frames."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InputError
from edge.pose.rig_people import RigPeople, RigPeopleConfig
from edge.pose.types import Person
from tests.test_multiview import _ring, _skeleton

HIPS = [23, 24]


def _seen(cam, joints, track_id, rng, noise=1.0):
    """What one camera's BlazePose gives for `joints`: pixels with noise, and world landmarks in the camera's axes
    centred on the hips."""
    kp = cam.project(joints) + rng.normal(0, noise, (len(joints), 2))
    world = (joints - joints[HIPS].mean(axis=0)) @ cam.R.T
    return Person(keypoints=kp, scores=np.full(len(kp), 0.9), layout="blazepose33",
                  box=np.r_[kp.min(axis=0), kp.max(axis=0)], score=1.0, world=world, track_id=track_id)


def _centred(joints):
    return joints - joints[HIPS].mean(axis=0)


def test_people_seen_by_several_cameras_get_one_id_and_a_centred_body():
    rng = np.random.default_rng(1)
    rig = _ring(3)
    a, b = _skeleton(rng, (0.6, -0.3, 0.0)), _skeleton(rng, (-0.5, 0.5, 0.0))
    people = RigPeople(rig, "blazepose33")
    views = {c.name: [_seen(c, a, 10 + v, rng), _seen(c, b, 20 + v, rng)][::(-1) ** v]
             for v, c in enumerate(rig.cameras)}
    found = people(views, 0.0)
    assert sorted(p.person_id for p in found) == [0, 1] and all(p.triangulated for p in found)
    by_truth = {}
    for p in found:
        truth = min((a, b), key=lambda j: np.nanmean(np.abs(p.joints - _centred(j))))
        np.testing.assert_allclose(p.joints, _centred(truth), atol=0.03)
        np.testing.assert_allclose(p.joints[HIPS].mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(p.root, truth[HIPS].mean(axis=0), atol=0.02)  # where the body is: triangulated
        by_truth[id(truth)] = p.person_id
        assert len(p.views) == 3
    # The next instant: one camera's tracker swapped its ids; the other two keep each person's id.
    views = {c.name: [_seen(c, a, 10 + v if v else 20, rng), _seen(c, b, 20 + v if v else 10, rng)]
             for v, c in enumerate(rig.cameras)}
    again = people(views, 0.1)
    for p in again:
        truth = min((a, b), key=lambda j: np.nanmean(np.abs(p.joints - _centred(j))))
        assert p.person_id == by_truth[id(truth)]


def test_one_camera_alone_gives_its_own_3d_in_the_world_axes_and_keeps_the_id():
    rng = np.random.default_rng(2)
    rig = _ring(3)
    a = _skeleton(rng)
    people = RigPeople(rig, "blazepose33")
    both = people({c.name: [_seen(c, a, 5, rng)] for c in rig.cameras}, 0.0)
    assert [p.person_id for p in both] == [0] and both[0].triangulated
    # cam2's track 6 is new and nobody else sees it: a person once seen 3 instants in a row (a person entering
    # two views is often matched a frame or two after the first camera finds them)
    for k in range(2):
        assert people({"cam2": [_seen(rig.cameras[1], a, 6, rng)], "cam1": [], "cam3": []}, 0.05 + 0.01 * k) == []
    alone = people({"cam2": [_seen(rig.cameras[1], a, 6, rng)], "cam1": [], "cam3": []}, 0.1)
    assert len(alone) == 1 and not alone[0].triangulated and alone[0].views == {"cam2": 0}
    assert alone[0].person_id != both[0].person_id
    np.testing.assert_allclose(alone[0].joints, _centred(a), atol=1e-5)  # exact: the world landmarks turned
    np.testing.assert_allclose(alone[0].root, a[HIPS].mean(axis=0), atol=0.03)  # placed by cam2 alone
    kept = people({"cam2": [_seen(rig.cameras[1], a, 5, rng)], "cam1": [], "cam3": []}, 0.2)
    assert kept[0].person_id == both[0].person_id  # cam2's track 5 was part of that person


def test_a_root_one_camera_places_carries_on_from_the_triangulated_one():
    """A camera alone places a body off in depth when its 3D estimate has the wrong size (here 10 % small: about
    30 cm at 3.5 m). Once the person was triangulated, the root a camera alone places is moved by that camera's
    last gap to the triangulation, weighed down linearly over `root_gap_fade_s`; at 0 it is not moved."""
    rng = np.random.default_rng(6)
    rig = _ring(3)
    a = _skeleton(rng)
    truth = a[HIPS].mean(axis=0)

    def small(cam):
        p = _seen(cam, a, 5, rng)
        return Person(keypoints=p.keypoints, scores=p.scores, layout=p.layout, box=p.box, score=1.0,
                      world=0.9 * p.world, track_id=5)

    carried = RigPeople(rig, "blazepose33", RigPeopleConfig(root_gap_fade_s=1.0))
    plain = RigPeople(rig, "blazepose33", RigPeopleConfig(root_gap_fade_s=0.0))
    for t in (0.0, 0.1, 0.2):
        views = {c.name: [small(c)] for c in rig.cameras}
        for people in (carried, plain):
            (found,) = people(views, t)
            assert found.triangulated
            np.testing.assert_allclose(found.root, truth, atol=0.02)
    moved = {}
    for t in (0.3, 0.8, 1.3):  # cam2 alone from now on, the person standing still
        views = {"cam1": [], "cam2": [small(rig.cameras[1])], "cam3": []}
        (c,), (p,) = carried(views, t), plain(views, t)
        assert c.person_id == p.person_id == 0 and not c.triangulated
        moved[t] = c.root - p.root
        if t == 0.3:
            assert np.linalg.norm(p.root - truth) > 0.15  # the jump a camera alone would make
            assert np.linalg.norm(c.root - truth) < 0.2 * np.linalg.norm(p.root - truth)
    # The same gap each time, weighed 0.9, 0.4, then 0 (1 - time since the last triangulated instant / 1 s).
    np.testing.assert_allclose(moved[0.8], moved[0.3] * 0.4 / 0.9, atol=1e-9)
    assert np.array_equal(moved[1.3], np.zeros(3))
    with pytest.raises(InputError):
        RigPeopleConfig(root_gap_fade_s=-1.0)


def test_joints_no_two_views_agree_on_come_from_the_clearest_view():
    rng = np.random.default_rng(3)
    rig = _ring(2)
    a = _skeleton(rng)
    views = {c.name: [_seen(c, a, 1, rng, noise=0.3)] for c in rig.cameras}
    wrist = 15
    for name in views:  # only one camera sees the left wrist
        p = views[name][0]
        scores = p.scores.copy()
        scores[wrist] = 0.0 if name == "cam1" else 0.95
        views[name][0] = Person(p.keypoints, scores, p.layout, p.box, p.score, world=p.world, track_id=1)
    found = RigPeople(rig, "blazepose33")(views, 0.0)
    assert len(found) == 1 and found[0].triangulated
    np.testing.assert_allclose(found[0].joints[wrist], _centred(a)[wrist], atol=0.03)


def test_a_track_forgotten_after_its_time_gets_a_new_id():
    rng = np.random.default_rng(4)
    rig = _ring(2)
    a = _skeleton(rng)
    people = RigPeople(rig, "blazepose33", RigPeopleConfig(forget_after_s=1.0))
    first = people({c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}, 0.0)
    people({c.name: [] for c in rig.cameras}, 0.5)
    soon = people({c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}, 0.9)
    assert soon[0].person_id == first[0].person_id
    people({c.name: [] for c in rig.cameras}, 2.5)
    late = people({c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}, 2.6)
    assert late[0].person_id != first[0].person_id


def test_a_resized_camera_projects_where_the_resized_frame_shows_the_point():
    rng = np.random.default_rng(5)
    cam = _ring(1).cameras[0]
    points = _skeleton(rng)
    small = cam.resized(640, 480)  # 1080x1920 squeezed, as videoscale does with width and height caps
    sx, sy = 640 / 1080, 480 / 1920
    expected = (cam.project(points) + 0.5) * [sx, sy] - 0.5
    np.testing.assert_allclose(small.project(points), expected, atol=1e-6)
    assert small.size == (640, 480) and cam.resized(1080, 1920) is cam
    rig = _ring(2).resized({"cam1": (540, 960)})
    assert rig.camera("cam1").size == (540, 960) and rig.camera("cam2").size == (1080, 1920)
    with pytest.raises(Exception, match="image size"):
        cam.resized(0, 10)


def test_a_view_read_mirrored_is_still_matched_and_the_body_keeps_its_sides():
    from edge.skeletons import get_layout

    rng = np.random.default_rng(6)
    rig = _ring(2)
    a = _skeleton(rng)
    mirror = np.arange(33)
    for left, right in get_layout("blazepose33").mirror_pairs:
        mirror[left], mirror[right] = right, left
    people = RigPeople(rig, "blazepose33")
    first = people({c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}, 0.0)
    views = {c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}
    p = views["cam2"][0]
    views["cam2"][0] = Person(p.keypoints[mirror], p.scores, p.layout, p.box, p.score, world=p.world[mirror],
                              track_id=1)
    again = people(views, 0.033)
    assert len(again) == 1 and again[0].triangulated and again[0].person_id == first[0].person_id
    body = slice(11, 33)  # the face's left and right lie a few cm apart: either reading fits two views
    np.testing.assert_allclose(again[0].joints[body], _centred(a)[body], atol=0.03)
    # Both views mirrored: a consistent but mirrored body, turned back by the person's sides a moment ago.
    both = {c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}
    for name in both:
        p = both[name][0]
        both[name][0] = Person(p.keypoints[mirror], p.scores, p.layout, p.box, p.score, world=p.world[mirror],
                               track_id=1)
    flipped = people(both, 0.066)
    np.testing.assert_allclose(flipped[0].joints[body], _centred(a)[body], atol=0.03)


def test_views_that_do_not_agree_give_one_person_with_the_clearest_views_body():
    rng = np.random.default_rng(7)
    rig = _ring(2)
    a = _skeleton(rng)
    people = RigPeople(rig, "blazepose33")
    people({c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}, 0.0)
    views = {c.name: [_seen(c, a, 1, rng)] for c in rig.cameras}
    p = views["cam2"][0]
    moved = p.keypoints + rng.normal(0, 0.06 * float(p.box[3] - p.box[1]), p.keypoints.shape)  # a poor reading
    views["cam2"][0] = Person(moved, p.scores * 0.8, p.layout, p.box, p.score, world=p.world, track_id=1)
    found = people(views, 0.033)
    # Still one person (the epipolar geometry matches them), drawn in both views, but not triangulated: the body is
    # the clearer view's own 3D estimate
    assert len(found) == 1 and not found[0].triangulated and found[0].views == {"cam1": 0, "cam2": 0}
    np.testing.assert_allclose(found[0].joints, _centred(a), atol=1e-5)
    np.testing.assert_allclose(found[0].root, a[HIPS].mean(axis=0), atol=0.03)  # placed by the clearer view
