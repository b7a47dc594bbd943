"""Privacy in every output: person masks from BlazePose's segmentation output, silhouettes, face blur, none; the
config and CLI options; and a real `ergoedge run --privacy silhouette --record` whose video shows the silhouette."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.errors import InputError
from runtime.video.overlay import SILHOUETTE_COLOUR, apply_privacy, blur_faces, face_box

FRAME_INDEX = 30  # of pose2sim cam01 (1080x1920, one person bending, a bystander far to the left)
TORSO = ("left_shoulder", "right_shoulder", "right_hip", "left_hip")


def _frame(footage, index: int = FRAME_INDEX) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(footage / "pose2sim" / "cam01.mp4"))
    for _ in range(index + 1):
        ok, frame = cap.read()
        assert ok
    cap.release()
    return frame


def _pose(models, backend: str, segmentation: bool):
    from edge.inference.backends import open_backend
    from edge.pose.blazepose import BlazePose, BlazePoseConfig

    detector, landmarks = models
    return BlazePose(open_backend(detector, backend), open_backend(landmarks, backend),
                     BlazePoseConfig(segmentation=segmentation))


def _polygon(frame_shape, points: np.ndarray) -> np.ndarray:
    """(H, W) bool: inside the convex hull of points."""
    import cv2

    out = np.zeros(frame_shape[:2], np.uint8)
    cv2.fillConvexPoly(out, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return out.astype(bool)


def _regions(person, shape):
    from edge.skeletons import get_layout

    layout = get_layout(person.layout)
    torso = _polygon(shape, person.keypoints[[layout.index(n) for n in TORSO]])
    return _polygon(shape, person.keypoints), torso


def _far_from(person, shape, margin: int = 60) -> np.ndarray:
    """(H, W) bool: farther than `margin` pixels from anything the mask gives a tenth of a chance of being the
    person, from the face region, and (without a mask) from the person box."""
    import cv2

    near = np.zeros(shape[:2], np.uint8)
    m = person.mask
    if m is not None:
        h, w = m.probability.shape
        near[m.y:m.y + h, m.x:m.x + w] = m.probability >= 26
    else:
        x1, y1, x2, y2 = (int(v) for v in person.box)
        near[y1:y2, x1:x2] = 1
    x0, y0, x1, y1 = face_box(person, shape)
    near[y0:y1, x0:x1] = 1
    return cv2.dilate(near, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) == 0


@pytest.fixture(scope="module")
def scene(footage, blazepose_models):
    """The frame and its one person with a mask, after a few frames of tracking (onnxruntime)."""
    frame = _frame(footage)
    pose = _pose(blazepose_models, "onnxruntime", segmentation=True)
    for i in range(3):
        people = pose(frame, i / 60)
    assert len(people) == 1
    return frame, people[0]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_masks_only_when_asked_and_they_cover_the_person(footage, blazepose_models, backend):
    if backend == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is installed on x86_64 only")
    frame = _frame(footage)
    plain = _pose(blazepose_models, backend, segmentation=False)(frame)
    assert len(plain) == 1 and plain[0].mask is None
    assert "segmentation" not in _pose(blazepose_models, backend, False)._lm_outputs
    person = _pose(blazepose_models, backend, segmentation=True)(frame)[0]
    mask = person.mask
    assert mask is not None and mask.probability.dtype == np.uint8
    h, w = mask.probability.shape
    assert 0 <= mask.x and mask.x + w <= frame.shape[1] and 0 <= mask.y and mask.y + h <= frame.shape[0]
    full = np.zeros(frame.shape[:2], np.uint8)
    full[mask.y:mask.y + h, mask.x:mask.x + w] = mask.probability
    hull, torso = _regions(person, frame.shape)
    assert (full[torso] >= 128).mean() > 0.9  # the trunk is solidly the person
    assert (full[hull] >= 128).mean() > 0.5  # the keypoint hull also spans the air between limbs
    assert (full[~hull] >= 128).mean() < 0.05  # and the mask is not the whole crop
    # Same keypoints with or without the segmentation output: it only adds a head.
    np.testing.assert_allclose(person.keypoints, plain[0].keypoints, atol=1e-3)


def test_silhouette_covers_the_person_and_keeps_the_background(scene):
    frame, person = scene
    out = apply_privacy(frame.copy(), [person], "silhouette")
    flat = (out == SILHOUETTE_COLOUR).all(axis=2)
    hull, torso = _regions(person, frame.shape)
    assert flat[torso].mean() > 0.95 and flat[hull].mean() > 0.5
    far = _far_from(person, frame.shape)
    assert far.mean() > 0.6 and np.array_equal(out[far], frame[far])
    # The face is gone: the head's pixels are the flat colour or blurred, never the camera's.
    x0, y0, x1, y1 = face_box(person, frame.shape)
    assert not np.array_equal(out[y0:y1, x0:x1], frame[y0:y1, x0:x1])
    assert flat[y0:y1, x0:x1].mean() > 0.3


def test_a_person_without_a_mask_is_blurred_never_raw(scene):
    import cv2

    frame, person = scene
    bare = dataclasses.replace(person, mask=None)
    out = apply_privacy(frame.copy(), [bare], "silhouette")
    x1, y1, x2, y2 = (int(v) for v in person.box)
    sharp = cv2.Laplacian(cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    after = cv2.Laplacian(cv2.cvtColor(out[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
    assert after < 0.05 * sharp  # detail gone, not merely changed
    assert np.abs(out[y1:y2, x1:x2].astype(int) - frame[y1:y2, x1:x2]).mean() > 5
    far = _far_from(bare, frame.shape, margin=int(0.15 * (y2 - y1)))
    assert np.array_equal(out[far], frame[far])


def test_face_blur_and_none_behave_as_before(scene):
    frame, person = scene
    assert np.array_equal(apply_privacy(frame.copy(), [person], "face-blur"), blur_faces(frame.copy(), [person]))
    assert np.array_equal(apply_privacy(frame.copy(), [person], "none"), frame)
    with pytest.raises(InputError, match="privacy must be one of"):
        apply_privacy(frame.copy(), [person], "pixelate")


def test_privacy_in_the_config_and_its_older_alias(tmp_path):
    from edge.config import with_overrides
    from runtime.config import OutputConfig, RunConfig, load_config, privacy_mode

    assert privacy_mode(RunConfig().output) == "face-blur"
    assert privacy_mode(OutputConfig(face_blur=False)) == "none"
    path = tmp_path / "run.toml"
    path.write_text('[output]\nprivacy = "silhouette"\n[pose]\nsegmentation = true\n')
    config = load_config(path)
    assert privacy_mode(config.output) == "silhouette" and config.output.face_blur  # faces are hidden
    assert config.pose.segmentation and not RunConfig().pose.segmentation
    # privacy wins over the alias; face_blur then follows it (the dashboard reads it).
    path.write_text('[output]\nface_blur = false\nprivacy = "face-blur"\n')
    assert load_config(path).output.face_blur is True
    none = with_overrides(load_config(path), **{"output.privacy": "none"})
    assert privacy_mode(none.output) == "none" and none.output.face_blur is False
    path.write_text('[output]\nprivacy = "blur"\n')
    with pytest.raises(InputError, match=r"^run.toml.output: output.privacy must be one of silhouette, face-blur, "
                                         r"none, got 'blur'$"):
        load_config(path)


@pytest.mark.parametrize("argv, message", [
    (["--privacy", "blur"], "output.privacy must be one of silhouette, face-blur, none, got 'blur'"),
    (["--privacy", "none", "--face-blur"], "--privacy none and --face-blur contradict each other"),
    (["--privacy", "silhouette", "--no-face-blur"], "--privacy silhouette and --no-face-blur contradict"),
])
def test_bad_privacy_options_are_one_line(capsys, tmp_path, argv, message):
    from edge.cli import main

    code = main(["run", "--source", "test://", "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("ergoedge: error: ")  # edge.cli: input errors exit 2
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_cli_maps_the_older_switch():
    from runtime.cli import _privacy_option

    assert _privacy_option(None, None) is None
    assert _privacy_option(None, True) == "face-blur" and _privacy_option(None, False) == "none"
    assert _privacy_option("silhouette", None) == "silhouette" and _privacy_option("none", False) == "none"


def test_real_run_records_silhouettes(footage, tmp_path, blazepose_models, capsys):
    import cv2

    from edge.cli import main

    video = tmp_path / "annotated.mp4"
    code = main(["run", "--source", str(footage / "pose2sim" / "cam01.mp4"), "--out", str(tmp_path / "out"),
                 "--privacy", "silhouette", "--record", str(video), "--max-seconds", "0.3",
                 "--events-db", str(tmp_path / "events.db"), "--scene-dir", str(tmp_path / "scenes")])
    assert code == 0, capsys.readouterr().err
    # The person in the source's first frame, found the same way the run finds them (masks on).
    from edge.pose.estimator import EstimatorSpec, open_estimator

    source = _frame(footage, 0)
    person = open_estimator(EstimatorSpec(segmentation=True))(source, 0.0)[0]
    cap = cv2.VideoCapture(str(video))
    ok, recorded = cap.read()
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert ok and recorded.shape == source.shape and frames >= 15
    _, torso = _regions(person, source.shape)
    # H.264 moves colours a little; the overlay draws the skeleton over the trunk.
    near = np.abs(recorded.astype(int) - SILHOUETTE_COLOUR).max(axis=2) <= 30
    assert near[torso].mean() > 0.7
    assert (np.abs(source.astype(int) - SILHOUETTE_COLOUR).max(axis=2) <= 30)[torso].mean() < 0.05
    far = _far_from(person, source.shape, margin=200)
    far[-120:] = False  # the status line
    # Away from the person the camera's picture stays: H.264 noise only, bar the label drawn beside the head.
    diff = np.abs(recorded[far].astype(int) - source[far]).max(axis=1)
    assert np.median(diff) <= 8 and (diff > 40).mean() < 0.05
