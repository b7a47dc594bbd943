"""`ergoedge pose`, `calibrate-scene` and `models` from the command line, on real footage."""

import json

import numpy as np
import pytest

from edge.cli import main
from edge.errors import InputError


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, fragment):
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ergoedge: error: ") and fragment in lines[0], err


def test_pose_on_a_photo(footage, tmp_path, capsys, blazepose_models):
    out = tmp_path / "photo"
    code, stdout, err = _run(capsys, "pose", footage / "opencv" / "messi5.jpg", "--out", out)
    assert code == 0, err
    assert "1 frame(s), people in 1" in stdout
    doc = json.loads((out / "keypoints.json").read_text())
    assert doc["layout"] == "blazepose33" and doc["keypoints_3d"] and doc["approximated_2d"] == []
    from edge.inference.backends import onnx_runtime_for_auto

    # "auto" ran the .onnx models on OpenVINO where it is installed, else ONNX Runtime, and the file says which.
    assert doc["runtime"] == ("OpenVINO:CPU" if onnx_runtime_for_auto() == "openvino" else "CPUExecutionProvider")
    person = doc["frames"][0]["people"][0]
    assert len(person["keypoints"]) == 33 and len(person["world"]) == 33
    import cv2

    annotated = cv2.imread(str(out / "annotated.jpg"))
    original = cv2.imread(str(footage / "opencv" / "messi5.jpg"))
    assert annotated.shape == original.shape
    assert np.abs(annotated.astype(int) - original).sum() > 0  # a skeleton was drawn


def test_pose_on_a_video_is_scoreable(footage, tmp_path, capsys, blazepose_models):
    out = tmp_path / "video"
    # cam02's calibration: 59.7 deg across its 1920 pixels; the person stands 3.8 m away (4 views triangulate it).
    code, stdout, err = _run(capsys, "pose", footage / "pose2sim" / "cam02.mp4", "--out", out, "--max-frames", 20,
                             "--scene-dir", tmp_path / "scenes", "--fov-deg", 59.7)
    assert code == 0, err
    assert "20 frame(s), people in 20, 1 track(s)" in stdout
    assert "no scene calibration" in err  # said once, on stderr, not an error
    with np.load(out / "keypoints.npz") as data:
        assert data["keypoints"].shape == (20, 1, 33, 2) and data["world"].shape == (20, 1, 33, 3)
        assert data["joints"].shape == (20, 33, 3) and float(data["fps"]) == pytest.approx(60.0)
        # The same joints placed in the camera's space: one offset per frame, the hips 3.8 m away.
        placed, joints = data["camera_joints"], data["joints"]
        assert data["camera"].shape == (20, 1, 33, 3) and float(data["camera_fov_deg"]) == 59.7
        offset = placed - joints
        assert np.allclose(offset, offset[:, :1], atol=1e-5) and np.isfinite(offset).all()
        assert 3.4 < np.median(offset[:, 0, 2]) < 4.2 and np.abs(offset[:, 0, :2]).max() < 1.0
    # A folder data set made of it trains on the placed joints.
    from edge.datasets.loaders.generic import load_generic

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "clip.npz").write_bytes((out / "keypoints.npz").read_bytes())
    (seq,) = load_generic(folder, "blazepose33", 60.0, "-y")
    assert np.array_equal(seq.joints, placed.astype(np.float64), equal_nan=True)
    import cv2

    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    cap.release()
    # The world keypoints go straight into scoring.
    code, stdout, err = _run(capsys, "score", out / "keypoints.npz", "--out", tmp_path / "scores")
    assert code == 0, err
    assert json.loads((tmp_path / "scores" / "summary.json").read_text())["frames"] == 20


def test_pose_bad_input(footage, tmp_path, capsys, blazepose_models):
    text = tmp_path / "not_an_image.jpg"
    text.write_text("hello")
    code, _, err = _run(capsys, "pose", text, "--out", tmp_path / "o")
    _one_line_error(code, err, "not a readable image")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    code, _, err = _run(capsys, "pose", broken, "--out", tmp_path / "o")
    _one_line_error(code, err, "broken.mp4")
    code, _, err = _run(capsys, "pose", tmp_path / "missing.mp4", "--out", tmp_path / "o")
    _one_line_error(code, err, "no such file")
    code, _, err = _run(capsys, "pose", footage / "opencv" / "messi5.jpg", "--out", tmp_path / "o", "--fov-deg", 0)
    _one_line_error(code, err, "fov_deg")
    code, _, err = _run(capsys, "pose", footage / "opencv" / "messi5.jpg", "--out", tmp_path / "o",
                        "--model", footage / "opencv" / "messi5.jpg", "--adapter", "yolo-pose")
    _one_line_error(code, err, "messi5.jpg")
    code, _, err = _run(capsys, "pose", footage / "opencv" / "messi5.jpg", "--out", tmp_path / "o",
                        "--model", tmp_path / "model.onnx")
    _one_line_error(code, err, "no such model file")  # not "needs --adapter": the file is what is wrong
    (tmp_path / "model.onnx").write_bytes(b"model")
    code, _, err = _run(capsys, "pose", footage / "opencv" / "messi5.jpg", "--out", tmp_path / "o",
                        "--model", tmp_path / "model.onnx")
    _one_line_error(code, err, "--adapter")
    # A file named .onnx that is not a model, in a fresh process so that anything a runtime's C++ side writes
    # straight to the stderr descriptor is seen too: OpenVINO refuses it, ONNX Runtime refuses it, one line.
    import subprocess
    import sys

    junk = tmp_path / "junk.onnx"
    junk.write_text("junk\n")
    cli = "import sys; from edge.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", cli, "pose", str(footage / "opencv" / "messi5.jpg"),
                           "--out", str(tmp_path / "o"), "--model", str(junk), "--adapter", "yolo-pose"],
                          capture_output=True, text=True, timeout=120)
    _one_line_error(done.returncode, done.stderr, "junk.onnx")


def test_pose_finds_nobody_in_an_empty_scene(tmp_path, capsys, blazepose_models):
    import cv2

    empty = tmp_path / "wall.png"
    cv2.imwrite(str(empty), np.full((480, 640, 3), 200, np.uint8))
    code, stdout, err = _run(capsys, "pose", empty, "--out", tmp_path / "o", "--scene-dir", tmp_path)
    assert code == 0, err
    assert "people in 0" in stdout
    assert json.loads((tmp_path / "o" / "keypoints.json").read_text())["frames"][0]["people"] == []


def test_calibrate_scene_by_pitch_roll_and_errors(tmp_path, capsys, blazepose_models):
    scenes = tmp_path / "scenes"
    code, stdout, err = _run(capsys, "calibrate-scene", "--camera", "dock-2", "--pitch", 20, "--roll", -5,
                             "--scene-dir", scenes)
    assert code == 0, err
    saved = json.loads((scenes / "dock-2.json").read_text())
    assert saved["method"] == "pitch_roll" and saved["pitch_deg"] == pytest.approx(20.0)
    code, _, err = _run(capsys, "calibrate-scene", "--camera", "x", "--pitch", 20, "--scene-dir", scenes)
    _one_line_error(code, err, "--pitch and --roll")
    code, _, err = _run(capsys, "calibrate-scene", "--scene-dir", scenes)
    _one_line_error(code, err, "SOURCE")
    wall = tmp_path / "wall.png"
    import cv2

    cv2.imwrite(str(wall), np.full((480, 640, 3), 90, np.uint8))
    code, _, err = _run(capsys, "calibrate-scene", wall, "--scene-dir", scenes)
    _one_line_error(code, err, "no person found")


def test_models_show_lists_the_manifest(capsys, blazepose_models):
    code, stdout, _ = _run(capsys, "models", "show")
    assert code == 0
    manifest = json.loads(stdout)
    assert set(manifest["models"]) == {"pose_detection", "pose_landmark_full"}
    code, stdout, _ = _run(capsys, "models", "fetch")
    assert code == 0 and "models ready" in stdout


def _png_header_only(path, width, height):
    """A PNG whose header declares width x height and whose pixel data is a stub: readers that trust the header
    before decoding see the size; a decoder would have to allocate it."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(30000, 30000), (10000, 6000)])
def test_an_oversized_image_is_refused_before_decoding(tmp_path, capsys, size):
    import resource

    image = _png_header_only(tmp_path / "huge.png", *size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, _, err = _run(capsys, "pose", image, "--out", tmp_path / "out")
    _one_line_error(code, err, "megapixels")
    # Nothing near the decoded size (30000 x 30000 BGR is 2.7 GB) was ever allocated.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


class _Counting:
    """A stand-in estimator that sees nobody, and fails on frame `fail_at` (a model or a camera failing midway)."""

    layout, runtime = "blazepose33", "stand-in"

    def __init__(self, fail_at: int | None = None):
        self.fail_at, self.frames = fail_at, 0

    def reset(self):
        self.frames = 0

    def __call__(self, frame, time_s):
        self.frames += 1
        if self.frames == self.fail_at:
            raise RuntimeError("the model failed")
        return []


def test_pose_keeps_its_input_and_an_earlier_result(footage, tmp_path, capsys):
    import shutil

    from edge.pose.estimate_file import estimate_file

    out = tmp_path / "out"
    out.mkdir()
    clip = out / "annotated.mp4"  # a video where `pose` writes its annotated copy
    shutil.copy(footage / "pose2sim" / "cam01.mp4", clip)
    before = clip.read_bytes()
    with pytest.raises(InputError, match="annotated.mp4 is where `pose` writes its annotated.mp4: give another"):
        estimate_file(clip, out, _Counting())
    assert clip.read_bytes() == before
    # A whole result, then a run that fails on its 4th frame: the first result stays as it was, nothing beside it.
    result = tmp_path / "result"
    estimate_file(footage / "pose2sim" / "cam02.mp4", result, _Counting(), max_frames=6)
    kept = {p.name: p.read_bytes() for p in result.iterdir()}
    assert sorted(kept) == ["annotated.mp4", "keypoints.json", "keypoints.npz"]
    with pytest.raises(RuntimeError, match="the model failed"):
        estimate_file(footage / "pose2sim" / "cam01.mp4", result, _Counting(fail_at=4), max_frames=6)
    assert {p.name: p.read_bytes() for p in result.iterdir()} == kept
