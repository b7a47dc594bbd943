"""Placing a pose model's hip-centred 3D keypoints in the camera's space from one view (edge/pose/placement.py):
exact on ideal projections, robust to keypoints the 2D and 3D readings disagree on, and checked on real footage
against four calibrated views triangulating the same person."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InputError
from edge.pose.placement import (FramePlacement, PlacementConfig, Pinhole, camera_translation, person_translation,
                                 pinhole)
from edge.pose.types import Person


def _body(rng, joints=33):
    """Hip-centred keypoints spread like a standing person's (metres, y down)."""
    return np.column_stack([rng.uniform(-0.3, 0.3, joints), rng.uniform(-0.9, 0.9, joints),
                            rng.uniform(-0.15, 0.15, joints)])


def _seen(body, T, camera: Pinhole):
    cam = body + T
    return np.column_stack([camera.fx * cam[:, 0] / cam[:, 2] + camera.cx,
                            camera.fy * cam[:, 1] / cam[:, 2] + camera.cy])


def test_pinhole_takes_the_field_of_view_across_the_longer_side():
    cam = pinhole(640, 480, 90.0)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == pytest.approx((320.0, 320.0, 320.0, 240.0))
    portrait = pinhole(1080, 1920, 60.0)
    assert portrait.fx == pytest.approx(960.0 / np.tan(np.radians(30.0)))
    assert portrait.normalise(np.array([[540.0, 960.0], [540.0 + portrait.fx, 960.0]])) == pytest.approx(
        np.array([[0.0, 0.0], [1.0, 0.0]]))
    for bad in ((0, 480, 60.0), (640, 480, 0.0), (640, 480, 180.0)):
        with pytest.raises(InputError):
            pinhole(*bad)


def test_an_ideal_projection_gives_back_the_translation_exactly():
    rng = np.random.default_rng(0)
    camera = pinhole(1280, 720, 70.0)
    for T in ([0.4, -0.2, 3.5], [-1.5, 0.3, 6.0], [0.0, 0.0, 1.2]):
        body = _body(rng)
        got = camera_translation(body, camera.normalise(_seen(body, np.array(T), camera)), np.ones(len(body)))
        assert got == pytest.approx(T, abs=1e-9)


def test_keypoints_the_readings_disagree_on_are_weighed_down_and_low_scores_left_out():
    rng = np.random.default_rng(1)
    camera, T = pinhole(1280, 720, 70.0), np.array([0.5, 0.1, 4.0])
    body = _body(rng)
    pixels = _seen(body, T, camera) + rng.normal(0.0, 1.0, (len(body), 2))  # a pixel of 2D noise
    pixels[:4] += 150.0  # four keypoints the 2D model put elsewhere
    scores = np.full(len(body), 0.9)
    robust = camera_translation(body, camera.normalise(pixels), scores)
    plain = camera_translation(body, camera.normalise(pixels), scores, PlacementConfig(reweight_steps=0))
    assert np.linalg.norm(robust - T) < 0.05 < np.linalg.norm(plain - T)
    scores[:4] = 0.2  # scored low: not used at all
    assert camera_translation(body, camera.normalise(pixels), scores) == pytest.approx(T, abs=0.03)


def test_no_placement_without_enough_good_keypoints_or_in_front_of_the_camera():
    rng = np.random.default_rng(2)
    camera, T = pinhole(640, 480), np.array([0.0, 0.0, 3.0])
    body = _body(rng, 8)
    seen = camera.normalise(_seen(body, T, camera))
    scores = np.full(8, 0.9)
    assert np.isfinite(camera_translation(body, seen, scores)).all()
    scores[:3] = 0.1  # 5 left, 6 needed
    assert np.isnan(camera_translation(body, seen, scores)).all()
    seen_nan = seen.copy()
    seen_nan[:3] = np.nan
    assert np.isnan(camera_translation(body, seen_nan, np.full(8, 0.9))).all()
    behind = camera_translation(body, seen, np.full(8, 0.9), PlacementConfig(min_keypoints=3))
    assert behind[2] == pytest.approx(3.0)
    assert np.isnan(camera_translation(body * [-1, -1, 1], seen, np.full(8, 0.9))).all()  # only fits behind the lens
    with pytest.raises(InputError, match="expected world"):
        camera_translation(body, seen[:5], scores)
    with pytest.raises(InputError):
        PlacementConfig(min_keypoints=2)


def test_a_person_is_placed_from_its_own_keypoints_and_scores():
    rng = np.random.default_rng(3)
    camera, T = pinhole(640, 480, 65.0), np.array([-0.3, 0.2, 2.5])
    body = _body(rng)
    person = Person(keypoints=_seen(body, T, camera), scores=np.full(33, 0.95), layout="blazepose33",
                    box=np.array([0, 0, 640, 480]), score=1.0, world=body)
    assert person_translation(person, camera) == pytest.approx(T, abs=1e-4)  # float32 keypoints
    placed = FramePlacement(PlacementConfig(fov_deg=65.0))  # the run's: a pinhole per frame size
    assert np.array_equal(placed(person, (480, 640, 3)), person_translation(person, camera))
    flat = Person(keypoints=person.keypoints, scores=person.scores, layout="blazepose33", box=person.box, score=1.0)
    assert np.isnan(person_translation(flat, camera)).all()


def test_on_real_footage_one_view_places_the_person_where_four_views_triangulate_them(pose2sim_views):
    """The pose2sim clip (a person stepping on a treadmill deck 3.1-3.8 m from each of 4 calibrated cameras), first
    40 frames: each camera's monocular mid-hip against the 4-view triangulation's, in that camera's frame.
    Measured: 0.5-5.3 cm off across the image and 0.8-6.6 % off in depth (medians), the depth error's sd 3-6 cm."""
    from edge.pose.multiview_clip import ClipConfig, reconstruct_clip

    rig, views = pose2sim_views
    names = rig.names
    kp = np.stack([views[n]["keypoints"] for n in names])
    sc = np.stack([views[n]["scores"] for n in names])
    res = reconstruct_clip(rig, kp, sc, views["cam01"]["fps"], ClipConfig(max_sync_frames=6))
    hips = res.filtered[:, [23, 24]].mean(axis=1)  # BlazePose's hips: the world keypoints' origin
    for v, cam in enumerate(rig.cameras):
        view = views[cam.name]
        frames = res.frames + res.shifts[v]
        cameras = {"calibrated": cam, "60 deg": pinhole(*cam.size, 60.0)}
        for label, seen_by in cameras.items():
            T = np.array([camera_translation(view["world"][f], seen_by.normalise(view["keypoints_unflipped"][f]),
                                             view["scores_unflipped"][f]) for f in frames])
            truth = hips @ cam.R.T + cam.t  # the triangulated mid-hip in this camera's frame
            ok = np.isfinite(T).all(axis=1) & np.isfinite(truth).all(axis=1)
            assert ok.mean() > 0.9, (cam.name, label)
            off = T[ok] - truth[ok]
            across = np.median(np.abs(off[:, 0])), np.median(np.abs(off[:, 1]))
            depth = np.median(np.abs(off[:, 2])) / np.median(truth[ok, 2])
            print(cam.name, label, "across %.3f %.3f m, depth %.1f %%, sd %.3f m" % (*across, 100 * depth,
                                                                                   np.std(off[:, 2])))
            assert max(across) < 0.08 and depth < 0.1, (cam.name, label, across, depth)
