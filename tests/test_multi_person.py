"""Several people, faces covered or not (issue 14): BlazePose with detector tiles and re-acquisition on footage
composed from the real pose2sim clips (benchmarks/multi_person_compose.py composes it; the single-person runs on
the source clips are the ground truth), against today's pipeline (tiles and re-acquisition off); and the pieces of
edge.pose.finding on their own."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from edge.errors import InputError
from edge.pose.blazepose import BlazePose, BlazePoseConfig, Roi
from edge.pose.finding import merge_found, roi_iou, search_square, tile_squares
from edge.pose.types import Person

FRAMES = 60
TODAY = {"detector_tiles": 0, "reacquire_frames": 0, "remember_lost_s": 0.0}
NO_MEMORY = {"remember_lost_s": 0.0}  # tiles and re-acquisition on, the lost people's ids not kept


@pytest.fixture(scope="module")
def sources(compose, backends, footage):
    """cam01 and cam02 (the first 40 frames), each with its person's keypoints from today's single-person run."""
    truth = BlazePose(*backends, BlazePoseConfig(max_people=1, **TODAY))
    return [compose.make_source(truth, compose.clip_frames(footage, clip)[:40]) for clip in (0, 1)]


def _run(compose, backends, sources, placements, frames=FRAMES, **config):
    """Per frame: which true people (shown in that frame) a skeleton matches, their track ids, the number of
    skeletons matching nobody, and the number of true people shown."""
    pose = BlazePose(*backends, BlazePoseConfig(max_people=3, **config))
    rows = []
    for t, (frame, truths) in enumerate(compose.compose(sources, placements, frames)):
        people = pose(frame, t / 60.0)
        matched = compose.match(people, truths)
        ids = {j: people[i].track_id for i, j in matched.items()}
        rows.append(({j for j in ids if truths[j][2]}, ids, len(people) - len(matched),
                     sum(bool(s) for _, _, s in truths)))
    return rows


def test_a_person_with_a_covered_face_is_found(compose, backends, sources):
    # The small person's face is covered: today's detector never finds them beside the large one.
    placements = [compose.Placement(1, 0.6, (0.28, 0.28), mask_face=True, offset=10),
                  compose.Placement(0, 0.95, (0.72, 0.72))]
    today = _run(compose, backends, sources, placements, **TODAY)
    improved = _run(compose, backends, sources, placements)
    assert all(shown == 2 for *_, shown in today)
    both_today = np.mean([len(found) == 2 for found, *_ in today])
    both_now = np.mean([len(found) == 2 for found, *_ in improved])
    assert both_today <= 0.1  # measured: 0.0
    assert both_now >= 0.85  # measured: 1.0
    assert all(found >= {1} for found, *_ in improved)  # the large, visible person throughout
    # No skeleton on the background or the grey around the people: every one matches a true person.
    assert sum(false for _, _, false, _ in improved) == 0


def test_ids_stay_on_people_who_do_not_cross(compose, backends, sources):
    placements = [compose.Placement(0, 0.9, (0.27, 0.27)), compose.Placement(1, 0.7, (0.75, 0.75), offset=20)]
    rows = _run(compose, backends, sources, placements)
    ids_of = {0: set(), 1: set()}
    for _, ids, false, _ in rows:
        assert false == 0
        for j, tid in ids.items():
            ids_of[j].add(tid)
    assert len(ids_of[0]) == 1 and len(ids_of[1]) == 1 and ids_of[0] != ids_of[1]
    assert np.mean([len(found) == 2 for found, *_ in rows]) >= 0.95


@pytest.mark.parametrize("reacquire,remember,same_id", [(15, 0.0, True), (0, 0.0, False), (0, 1.5, True)])
def test_a_person_hidden_for_a_moment_keeps_the_id(compose, backends, sources, reacquire, remember, same_id):
    # Frames 10-14 are empty (a passer-by right in front of the camera): the track is lost, then found again.
    pose = BlazePose(*backends, BlazePoseConfig(max_people=3, reacquire_frames=reacquire, remember_lost_s=remember))
    ids = []
    for t, (frame, _) in enumerate(compose.compose(sources, [compose.Placement(0, 0.9, (0.5, 0.5))], 25)):
        if 10 <= t < 15:
            frame[:] = compose.GREY
        ids.append([p.track_id for p in pose(frame, t / 60.0)])
    assert ids[:10] == [[0]] * 10 and ids[10:15] == [[]] * 5
    assert ids[15:] == ([[0]] * 10 if same_id else [[1]] * 10)


def _ids_of(rows) -> dict[int, set[int]]:
    ids_of: dict[int, set[int]] = {}
    for _, ids, _, _ in rows:
        for j, tid in ids.items():
            ids_of.setdefault(j, set()).add(tid)
    return ids_of


@pytest.mark.parametrize("config,kept", [({}, True), (NO_MEMORY, False)])
def test_a_person_covered_for_half_a_second_keeps_the_id(compose, backends, sources, config, kept):
    # The left person is covered whole for 0.5 s (frames 15-44 at 60 fps, longer than the 15 frames the lost crop
    # is retried): found again, they get their id back from the memory of lost people.
    placements = [compose.Placement(0, 0.9, (0.3, 0.3), hidden=((15, 45),)),
                  compose.Placement(1, 0.7, (0.75, 0.75), offset=20)]
    rows = _run(compose, backends, sources, placements, **config)
    ids_of = _ids_of(rows)
    assert len(ids_of[1]) == 1  # the other person throughout
    assert len(ids_of[0]) == (1 if kept else 2)  # measured: {0} now; {0, 2} without the memory
    assert all(0 not in found for found, *_ in rows[16:44])  # really gone meanwhile
    assert all(found == {0, 1} for found, *_ in rows[50:])  # and back under the same id as before
    assert sum(false for _, _, false, _ in rows) == 0


@pytest.mark.parametrize("config,switches", [({}, 0), (NO_MEMORY, 1)])
def test_two_people_walking_past_each_other_keep_their_ids(compose, backends, sources, config, switches):
    # A large person walks left to right in front of a smaller one walking right to left: the one behind is
    # out of view for about a second and comes out on the other side.
    placements = [compose.Placement(1, 0.65, (0.85, 0.15), offset=10), compose.Placement(0, 0.95, (0.1, 0.9))]
    rows = _run(compose, backends, sources, placements, frames=240)
    base = _run(compose, backends, sources, placements, frames=240, **config) if config else rows
    behind = [ids[0] for _, ids, _, _ in base if 0 in ids]
    assert sum(a != b for a, b in itertools.pairwise(behind)) == switches  # measured: 0 now, 1 without the memory
    ids_of = _ids_of(rows)
    assert len(ids_of[0]) == 1 and len(ids_of[1]) == 1 and ids_of[0] != ids_of[1]
    assert sum(shown < 2 for *_, shown in rows) >= 50  # the one behind was out of view (measured: 69 frames)
    recall = sum(len(found) for found, *_ in rows) / sum(shown for *_, shown in rows)
    assert recall >= 0.87  # measured: 0.898


@pytest.mark.parametrize("recoloured,same_id", [(False, True), (True, False)])
def test_someone_else_where_a_person_was_lost_gets_a_new_id(compose, backends, sources, recoloured, same_id):
    # A person, then 0.5 s of nobody, then at the same place the same clip again, or the same clip with every hue
    # turned by 60 degrees (someone dressed differently): only the first gets the lost person's id back.
    import cv2

    def hue_turned(frame):
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 30) % 180  # OpenCV hue: 2 degrees a unit
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

    first = sources[0]
    second = dataclasses.replace(first, frames=[hue_turned(f) for f in first.frames]) if recoloured else first
    place = [compose.Placement(0, 0.9, (0.5, 0.5))]
    nobody = np.full((compose.HEIGHT, compose.WIDTH, 3), compose.GREY, np.uint8)
    frames = [f for f, _ in compose.compose([first], place, 15)] + [nobody] * 30
    frames += [f for f, _ in compose.compose([second], place, 75)][45:]
    pose = BlazePose(*backends, BlazePoseConfig(max_people=3))
    ids = [[p.track_id for p in pose(frame, t / 60.0)] for t, frame in enumerate(frames)]
    assert ids[:15] == [[0]] * 15 and ids[20:45] == [[]] * 25
    # Found again at once (the person first: tracks seen before come first), under one id throughout: measured
    # 0 for the same person, 1 for the recoloured one (torso colours 0.9+ apart against at most 0.7).
    assert all(row for row in ids[45:])
    assert {row[0] for row in ids[45:]} == ({0} if same_id else {1})


def test_no_skeleton_on_an_empty_room(compose, backends, sources):
    # The office behind the person in cam01 (above their head, tiled to fill the frame): furniture, no people.
    import cv2

    top = sources[0].crop[1]
    empty = sources[0].frames[0][:top, :]
    frame = cv2.resize(np.ascontiguousarray(empty), (640, 480), interpolation=cv2.INTER_AREA)
    pose = BlazePose(*backends, BlazePoseConfig(max_people=3, redetect_every=1))
    assert all(pose(frame, t / 30.0) == [] for t in range(20))
    assert pose.stats.detector_runs == 20 * 3 and pose.stats.landmark_runs == 0  # the frame and two tiles


# --------------------------------------------------------------------------------------------- the pieces
def test_tile_squares_two_sizes_edge_to_edge():
    tiles = [(t.cx, t.cy, t.size, t.rotation) for t in tile_squares(640, 480)]
    # The short side (two squares overlapping on the long side), then two thirds of it (3 x 2, half overlapping).
    assert tiles[:2] == [(240.0, 240.0, 480.0, 0.0), (400.0, 240.0, 480.0, 0.0)]
    assert tiles[2:] == [(x, y, 320.0, 0.0) for y in (160.0, 320.0) for x in (160.0, 320.0, 480.0)]
    portrait = tile_squares(1080, 1920)
    assert [(t.cx, t.cy, t.size) for t in portrait[:3]] == [(540.0, 540.0, 1080.0), (540.0, 960.0, 1080.0),
                                                            (540.0, 1380.0, 1080.0)]
    assert len(portrait) == 3 + 2 * 5 and {t.size for t in portrait[3:]} == {720.0}
    for w, h in ((640, 480), (1080, 1920), (481, 479)):
        for t in tile_squares(w, h):  # inside the frame
            x1, y1, x2, y2 = t.bounds()
            assert x1 >= -1e-6 and y1 >= -1e-6 and x2 <= w + 1e-6 and y2 <= h + 1e-6
    # A square frame: the whole frame is the first size already.
    assert {t.size for t in tile_squares(480, 480)} == {320.0}


def test_merge_found_keeps_the_best_of_overlapping_rois():
    a, b, c = Roi(100, 100, 200, 0.0), Roi(110, 100, 200, 0.0), Roi(400, 100, 200, 0.0)
    assert roi_iou(a, b) == pytest.approx(190 / 210)
    assert roi_iou(a, c) == 0.0
    merged = merge_found([(a, 0.6), (b, 0.9), (c, 0.7)], 0.3)
    assert [(r.cx, s) for r, s in merged] == [(110, 0.9), (400, 0.7)]


def test_detect_in_a_region_is_the_detector_on_that_crop(backends, sources):
    pose = BlazePose(*backends)
    frame = sources[0].frames[0]
    region = Roi(540.0, 900.0, 1080.0, 0.0)
    crop = np.ascontiguousarray(frame[360:1440, 0:1080])
    in_region, on_crop = pose.detect(frame, region), pose.detect(crop)
    assert len(in_region) == len(on_crop) >= 1
    for (r, s), (c, t) in zip(in_region, on_crop):
        assert s == pytest.approx(t, abs=1e-3)
        np.testing.assert_allclose([r.cx, r.cy - 360, r.size, r.rotation], [c.cx, c.cy, c.size, c.rotation],
                                   atol=0.5)


@pytest.mark.parametrize("field,value", [("detector_tiles", -1), ("detector_tiles", 9), ("detector_tiles", 1.5),
                                         ("reacquire_frames", -1), ("reacquire_frames", 301),
                                         ("reacquire_frames", True), ("remember_lost_s", -0.5),
                                         ("remember_lost_s", 61.0)])
def test_config_ranges(field, value):
    with pytest.raises(InputError, match=field):
        BlazePoseConfig(**{field: value})


def test_search_square_around_a_lost_person_inside_the_frame():
    # A person 200 px tall: 1.6 x 200 = 320 px (two thirds of the short side, the least); centred on them.
    assert search_square(np.array([300.0, 200.0, 360.0, 400.0]), 640, 480) == Roi(330.0, 300.0, 320.0, 0.0)
    # A tall one at the edge: the square grows with them up to the short side and moves inside the frame.
    square = search_square(np.array([0.0, 10.0, 80.0, 470.0]), 640, 480)
    assert (square.cx, square.cy, square.size) == (240.0, 240.0, 480.0)


def _person(box, track_id, layout="coco17"):
    """A person standing in `box`: shoulders and hips at a quarter and a half of its height."""
    x1, y1, x2, y2 = box
    kp = np.zeros((17, 2), np.float32)
    kp[[5, 6, 11, 12]] = [[x1, y1 + (y2 - y1) / 4], [x2, y1 + (y2 - y1) / 4], [x1, (y1 + y2) / 2], [x2, (y1 + y2) / 2]]
    return Person(kp, np.ones(17, np.float32), layout, np.array(box, np.float32), 1.0, track_id=track_id)


def test_lost_people_keep_an_id_while_covered_and_give_it_to_who_fits():
    from edge.pose.tracking import LostPeople, ReidConfig

    frame = np.full((480, 640, 3), 114, np.uint8)
    memory = LostPeople(ReidConfig(keep_s=1.0))
    for t in range(10):  # seen for 0.3 s, standing still
        memory.observe(_person((100, 100, 160, 300), 0), frame, t / 30)
    memory.lose(0)
    passer = _person((90, 80, 200, 320), 5)  # someone tracked stands over the spot
    for t in range(10, 100):
        memory.observe(passer, frame, t / 30)
        memory.update([passer], t / 30)
    assert memory.lost_ids == [0]  # 3 s on: still kept, since covered
    np.testing.assert_allclose(memory.predicted_box(0, 100 / 30), [100, 100, 160, 300])
    # Too far, or too small, for the lost person: a new person.
    assert memory.claim(_person((500, 100, 560, 300), 7), frame, 100 / 30) is None  # 2 heights off
    assert memory.claim(_person((100, 240, 130, 300), 8), frame, 100 / 30) is None
    assert memory.claim(_person((110, 105, 170, 305), 9), frame, 100 / 30) == 0
    assert memory.lost_ids == []
    # Not covered: forgotten keep_s after last seen.
    memory.observe(_person((100, 100, 160, 300), 0), frame, 4.0)
    memory.observe(_person((100, 100, 160, 300), 0), frame, 4.2)
    memory.lose(0)
    memory.update([], 5.1)
    assert memory.lost_ids == [0]
    memory.update([], 5.3)
    assert memory.lost_ids == []
    # Seen too briefly to be anyone: not remembered.
    memory.observe(_person((100, 100, 160, 300), 3), frame, 6.0)
    memory.lose(3)
    assert memory.lost_ids == []
