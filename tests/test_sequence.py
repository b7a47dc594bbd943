"""The sequence format: exact save/load, resampling, windows, subject splits, validation."""

import numpy as np
import pytest

from edge.datasets.sequence import Sequence, load_sequence, resample, save_sequence, scorable_joints, split_by, windows
from edge.errors import InputError
from edge.datasets.synth.example_lift import example_lift_sequence


def _seq(frames=90, fps=30.0, subject="s1"):
    joints = example_lift_sequence(seconds=frames / fps, fps=fps, layout="h36m17")
    activity = (np.arange(frames) // 30 % 2).astype(np.int64)
    kp2d = np.concatenate([joints[:, :, :2] * 100, np.ones((frames, 17, 1))], axis=2)
    return Sequence(layout="h36m17", fps=fps, joints=joints, up=np.array([0.0, 0.0, 1.0]), keypoints2d=kp2d,
                    activity=activity, activity_names=("stand", "lift"),
                    targets={"reba_total": np.linspace(1, 9, frames), "rula_grand": np.full(frames, 3.0)},
                    quality=0.75, metadata={"subject": subject, "video": "v01", "nested": {"k": [1, 2]}})


def test_save_load_is_exact(tmp_path):
    seq = _seq()
    back = load_sequence(save_sequence(seq, tmp_path / "a" / "seq.npz"))
    for name in ("joints", "up", "keypoints2d", "activity"):
        np.testing.assert_array_equal(getattr(back, name), getattr(seq, name))
        assert getattr(back, name).dtype == getattr(seq, name).dtype
    assert back.targets.keys() == seq.targets.keys()
    for k in seq.targets:
        np.testing.assert_array_equal(back.targets[k], seq.targets[k])
    assert (back.layout, back.fps, back.activity_names, back.quality, back.metadata) == (
        seq.layout, seq.fps, seq.activity_names, seq.quality, seq.metadata)
    two_d = Sequence(layout="coco17", fps=10.0, keypoints2d=np.zeros((5, 17, 3)))
    assert load_sequence(save_sequence(two_d, tmp_path / "b.npz")).joints is None


def test_resample_and_windows():
    seq = _seq(frames=90)
    half = resample(seq, 15.0)
    assert half.num_frames == 45 and half.fps == 15.0
    np.testing.assert_allclose(half.joints, seq.joints[::2])
    np.testing.assert_array_equal(half.activity, seq.activity[::2])
    up = resample(seq, 60.0)
    assert up.num_frames == 179
    np.testing.assert_allclose(up.joints[1], 0.5 * (seq.joints[0] + seq.joints[1]))
    np.testing.assert_allclose(up.targets["reba_total"][::2], seq.targets["reba_total"])
    wins = windows(seq, length_s=1.0, stride_s=0.5)
    assert len(wins) == 5 and all(w.num_frames == 30 for w in wins)
    np.testing.assert_array_equal(wins[1].joints, seq.joints[15:45])
    assert wins[2].metadata["window_start_frame"] == 30 and wins[2].metadata["subject"] == "s1"


def test_split_by_subject_never_shares_a_subject():
    seqs = [_seq(frames=30, subject=s) for s in ("a", "b", "c", "a")]
    train, test = split_by(seqs, "subject", ["a"])
    assert len(train) == 2 and len(test) == 2
    assert {s.metadata["subject"] for s in train}.isdisjoint({s.metadata["subject"] for s in test})
    with pytest.raises(InputError, match="no metadata key"):
        split_by(seqs, "camera", ["x"])


def test_validation(tmp_path):
    joints = np.zeros((10, 17, 3))
    with pytest.raises(InputError, match="shape"):
        Sequence(layout="coco17", fps=30.0, joints=np.zeros((10, 15, 3)), up=np.array([0, 0, 1.0]))
    with pytest.raises(InputError, match="up vector"):
        Sequence(layout="coco17", fps=30.0, joints=joints)
    with pytest.raises(InputError, match="differ in length"):
        Sequence(layout="coco17", fps=30.0, joints=joints, up=np.array([0, 0, 1.0]), targets={"x": np.zeros(9)})
    with pytest.raises(InputError, match="has no name"):
        Sequence(layout="coco17", fps=30.0, joints=joints, up=np.array([0, 0, 1.0]),
                 activity=np.full(10, 2), activity_names=("a",))
    with pytest.raises(InputError, match="fps"):
        Sequence(layout="coco17", fps=0.0, joints=joints, up=np.array([0, 0, 1.0]))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable numpy .npz file"):
        load_sequence(tmp_path / "junk.npz")
    (tmp_path / "fake.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable sequence"):
        load_sequence(tmp_path / "fake.npz")
    with pytest.raises(InputError, match="no such"):
        load_sequence(tmp_path / "missing.npz")


@pytest.mark.parametrize("field, value, message", [
    ("format", np.array([1, 1]), "not a readable sequence"),
    ("activity_names", np.str_("stand"), "not a readable sequence"),
    ("activity", np.int64(0), "activity must have one value a frame"),
    ("target/reba_total", np.float64(3.0), "target 'reba_total' must have one value a frame"),
    ("up", np.array([0.0, 1.0]), "the up vector must be 3 numbers"),
    ("up", np.str_("z"), "the up vector must be 3 numbers"),
    ("joints", np.zeros((90, 17, 3)).astype(str), "joints must be numbers"),
])
def test_a_stored_field_of_the_wrong_shape_is_one_error(tmp_path, field, value, message):
    path = save_sequence(_seq(), tmp_path / "seq.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(path, **{**arrays, field: value})
    with pytest.raises(InputError, match=message):
        load_sequence(path)


def test_an_empty_stored_up_of_a_pose_file_is_one_error(tmp_path):
    with pytest.raises(InputError, match="not a readable sequence"):
        load_sequence(_pose_file(tmp_path, np.zeros((10, 17, 3)), layout="coco17", fps=30.0,
                                 up=np.array([], dtype=str)))


def _pose_file(tmp_path, joints, **stored):
    path = tmp_path / "poses.npz"
    np.savez(path, joints=joints, **stored)
    return path


def test_plain_pose_files_read_as_sequences(tmp_path):
    joints = example_lift_sequence(seconds=2, fps=30, layout="coco17")
    seq = load_sequence(_pose_file(tmp_path, joints.astype(np.float32), fps=30.0, layout="coco17", up="z"))
    assert (seq.layout, seq.fps, seq.num_frames) == ("coco17", 30.0, 60)
    np.testing.assert_array_equal(seq.up, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(scorable_joints(seq), joints.astype(np.float32).astype(np.float64))
    # Given values win over stored ones.
    assert load_sequence(tmp_path / "poses.npz", fps=15.0, up="-y").fps == 15.0
    np.save(tmp_path / "poses.npy", joints)
    with pytest.raises(InputError, match="no layout given"):
        load_sequence(tmp_path / "poses.npy")


@pytest.mark.parametrize("up, share", [("x", "100%"), ("-z", "100%"), ("y", "78%")])
def test_an_up_vector_that_stands_the_body_on_its_head_is_refused(tmp_path, up, share):
    joints = example_lift_sequence(seconds=10, fps=30, layout="blazepose33", up="z")
    seq = load_sequence(_pose_file(tmp_path, joints, fps=30.0, layout="blazepose33"), up=up)
    with pytest.raises(InputError, match=f"neck is not above the ankles in {share} of frames"):
        scorable_joints(seq)
    # The right axis passes, stoops to the floor included.
    assert scorable_joints(load_sequence(tmp_path / "poses.npz", up="z")).shape == joints.shape


@pytest.mark.parametrize("scale, message", [(1e300, "must be metres"), (1e4, "must be metres"),
                                            (0.0, "not a body"), (1e-3, "not a body")])
def test_joints_that_are_not_a_body_in_metres_are_refused(tmp_path, scale, message):
    joints = example_lift_sequence(seconds=2, fps=30, layout="coco17") * scale
    with np.errstate(over="ignore"):
        seq = load_sequence(_pose_file(tmp_path, joints, fps=30.0, layout="coco17", up="z"))
        with pytest.raises(InputError, match=message):
            scorable_joints(seq)


@pytest.mark.parametrize("fps", [1e-300, 0.5, 1e300, 2000.0])
def test_a_frame_rate_outside_the_documented_range_is_refused(tmp_path, fps):
    joints = example_lift_sequence(seconds=2, fps=30, layout="coco17")
    with pytest.raises(InputError, match="frame rate must be a number from 1 to 1000"):
        load_sequence(_pose_file(tmp_path, joints, layout="coco17", up="z"), fps=fps)


def test_unseen_joints_of_a_pose_estimate_are_scored_as_not_observed(tmp_path):
    joints = example_lift_sequence(seconds=2, fps=30, layout="blazepose33")
    joints[10:20] = np.nan  # the person left the view
    with pytest.raises(InputError, match="--allow-missing"):
        scorable_joints(load_sequence(_pose_file(tmp_path, joints, fps=30.0, layout="blazepose33", up="z")))
    marked = load_sequence(_pose_file(tmp_path, joints, fps=30.0, layout="blazepose33", up="z", missing="unobserved"))
    assert np.isnan(scorable_joints(marked)[10:20]).all()


def test_a_body_never_seen_whole_is_not_measured_and_prints_nothing(tmp_path):
    """Shoulders and hips unseen in every frame: no trunk to check the units by, so the check passes quietly (no
    numpy all-NaN warning on stderr) and those joints are scored as not observed."""
    import warnings

    joints = example_lift_sequence(seconds=2, fps=30, layout="coco17")
    joints[:, [5, 6, 11, 12]] = np.nan
    path = _pose_file(tmp_path, joints.astype(np.float32), fps=30.0, layout="coco17", up="z", missing="unobserved")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scored = scorable_joints(load_sequence(path))
    assert np.isnan(scored[:, [5, 6, 11, 12]]).all() and np.isfinite(scored[:, [0, 13, 15]]).all()
