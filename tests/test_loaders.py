"""Data set loaders, on small fixtures generated here in each published layout (no data set ships with the project)."""

import hashlib
import json

import numpy as np
import pytest

from edge.datasets.loaders.generic import load_generic
from edge.datasets.loaders.kimore import load_kimore
from edge.datasets.loaders.readers import load_npy
from edge.datasets.loaders.tum_kitchen import load_tum_kitchen
from edge.datasets.loaders.ui_prmd import UIPRMD_JOINTS, load_ui_prmd, uiprmd_absolute
from edge.datasets.loaders.uwiom import UWIOM_CLASSES, load_uwiom, uwiom_splits
from edge.datasets.sequence import UNKNOWN_ACTIVITY, load_sequence, save_sequence
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.errors import InputError
from edge.skeletons import get_layout
from dataset_fixtures import UW_LENGTHS, UW_NAMES, UW_NAMES_SHA256, make_uwiom, uwiom_release_names  # on sys.path

KINECT = get_layout("kinect25")


def assert_round_trip(seqs, tmp_path):
    """save_sequence/load_sequence must give back every field exactly."""
    for i, seq in enumerate(seqs):
        back = load_sequence(save_sequence(seq, tmp_path / "rt" / f"{i}.npz"))
        assert (back.layout, back.fps, back.activity_names, back.quality) == (
            seq.layout, seq.fps, seq.activity_names, seq.quality)
        assert back.metadata == json.loads(json.dumps(seq.metadata)) == seq.metadata
        for name in ("joints", "up", "keypoints2d", "activity"):
            a, b = getattr(seq, name), getattr(back, name)
            assert (a is None) == (b is None)
            if a is not None:
                assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        assert seq.targets.keys() == back.targets.keys()
        assert all(np.array_equal(seq.targets[k], back.targets[k]) for k in seq.targets)


# ------------------------------------------------------------------------------------------------------------- UW-IOM

# The release fixture (Data/UW, 3 videos) lives in dataset_fixtures.py, shared with the training tests.


def test_uwiom_published_class_order_reba_and_splits(tmp_path):
    uw, truth = make_uwiom(tmp_path / "MTL-ERA")
    seqs = load_uwiom(tmp_path / "MTL-ERA")  # the repo root: Data/UW is found
    assert [s.metadata["video"] for s in seqs] == ["01", "02", "03"]
    for seq in seqs:
        joints, labels, reba = truth[seq.metadata["video"]]
        assert seq.layout == "uwiom15" and seq.fps == 10.0 and seq.num_frames == UW_LENGTHS[seq.metadata["video"]]
        assert np.array_equal(seq.up, [0.0, 0.0, 1.0])
        assert seq.joints.dtype == np.float64 and np.array_equal(seq.joints, joints.astype(np.float64))
        assert np.array_equal(seq.activity, labels) and np.array_equal(seq.targets["reba_total"], reba)
        # Index order, not the alphabetical order of uniquelabelnames.npy.
        assert seq.activity_names == UWIOM_CLASSES != tuple(sorted(UWIOM_CLASSES))
        assert [seq.activity_names[i] for i in seq.activity[:2]] == ["walking", "box_walk_hold"]
    assert UWIOM_CLASSES[4] == "standing" and UWIOM_CLASSES[9] == "none_bend_none_none"
    assert {s.metadata["video"]: s.metadata["split"] for s in seqs} == {"01": "train", "02": "val", "03": "train"}
    assert uwiom_splits(uw) == (("03", "01"), ("02",))
    # Data/ and Data/UW/ are accepted as roots too.
    assert [s.num_frames for s in load_uwiom(uw.parent)] == [s.num_frames for s in load_uwiom(uw)] == [12, 15, 9]
    assert_round_trip(seqs, tmp_path)


def test_uwiom_accepts_the_release_label_name_file_byte_for_byte(tmp_path):
    uw, _ = make_uwiom(tmp_path)
    path = uw / "Labels" / "uniquelabelnames.npy"
    data = path.read_bytes()
    assert len(data) == 1624 and hashlib.sha256(data).hexdigest() == UW_NAMES_SHA256  # the released file itself
    assert list(UW_NAMES) == sorted(UW_NAMES) and np.load(path).dtype == np.dtype("<U22")
    seqs = load_uwiom(uw)
    assert [s.num_frames for s in seqs] == [12, 15, 9] and seqs[0].activity_names == UWIOM_CLASSES
    # The file's order is alphabetical, the class ids follow the config: release spelling i names class i.
    from edge.datasets.loaders.uwiom import UWIOM_RELEASE_NAMES

    assert sorted(n + "\n" for n in UWIOM_RELEASE_NAMES) == list(UW_NAMES)
    pairs = dict(zip(UWIOM_RELEASE_NAMES, UWIOM_CLASSES))
    assert (pairs["none_walk_none_none"], pairs["none_stand_none_none"], pairs["box_walk_hold_none"],
            pairs["box_bend_pick-up_low"], pairs["none_stand_reach_top"], pairs["rod_stand_pick-up_mid"]) == (
        "walking", "standing", "box_walk_hold", "box_bend_pick_up_low", "stand_reach_top", "rod_stand_pick_up_mid")
    assert [UWIOM_RELEASE_NAMES.index(n.strip()) for n in UW_NAMES[:3]] == [15, 11, 7]
    # Without the newlines, or in another order, it names the same classes.
    np.save(path, np.array(UWIOM_RELEASE_NAMES))
    assert [s.num_frames for s in load_uwiom(uw)] == [12, 15, 9]


@pytest.mark.parametrize("breakage, message", [
    (lambda uw: (uw / "RebaScoreFrameWise" / "02.txt").unlink(), "missing REBA score file"),
    (lambda uw: np.savetxt(uw / "RebaScoreFrameWise" / "01.txt", np.ones(11)), "lengths differ"),
    (lambda uw: np.save(uw / "Labels" / "ClassNumber" / "03.npy", np.zeros(8, np.int64)), "lengths differ"),
    (lambda uw: np.save(uw / "Poses" / "01_pose3d.npy", np.zeros((12, 14, 3))), "(T, 15, 3)"),
    (lambda uw: np.save(uw / "Labels" / "ClassNumber" / "01.npy", np.full(12, 17)), "class ids must be 0..16"),
    (lambda uw: np.save(uw / "Labels" / "uniquelabelnames.npy", np.append(uwiom_release_names()[:-1], "carrying")),
     r"17 label names differ .* \['carrying'\]; missing: \['rod_stand_place_top'\]"),
    (lambda uw: np.save(uw / "Labels" / "uniquelabelnames.npy", uwiom_release_names()[:16]), "16 label names"),
    (lambda uw: np.save(uw / "Labels" / "uniquelabelnames.npy", np.arange(17)), "label name strings"),
    (lambda uw: (uw / "EDTCN" / "TrainValSplits" / "val.npy").unlink(), "missing UW-IOM split file"),
    (lambda uw: np.save(uw / "EDTCN" / "TrainValSplits" / "val.npy", np.array(["02", "01"])), "in both"),
    (lambda uw: np.save(uw / "Poses" / "04_pose3d.npy", np.zeros((5, 15, 3))), "missing class label file"),
])
def test_uwiom_errors_name_the_problem(tmp_path, breakage, message):
    uw, _ = make_uwiom(tmp_path)
    breakage(uw)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_uwiom(uw)


def test_uwiom_video_outside_the_splits_and_missing_folder(tmp_path):
    uw, _ = make_uwiom(tmp_path)
    np.save(uw / "EDTCN" / "TrainValSplits" / "train.npy", np.array(["01"], dtype="<U2"))
    with pytest.raises(InputError, match="video 03 is in neither"):
        load_uwiom(uw)
    with pytest.raises(InputError, match="no UW-IOM data"):
        load_uwiom(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------- generic and TUM Kitchen


def test_generic_folder_labels_and_reba(tmp_path):
    h36m = get_layout("h36m17")
    a = example_lift_sequence(seconds=0.6, fps=10, layout="h36m17", up="y")
    b = example_lift_sequence(seconds=0.4, fps=10, layout="h36m17", up="y")
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", joints=b, other=np.zeros(3))
    np.save(tmp_path / "c.npy", b[:3])  # unlabelled video
    (tmp_path / "a.labels.txt").write_text("walk\nwalk\nlift\n\nlift\ncarry\n")
    (tmp_path / "b.labels.csv").write_text("frame,label\n0,stand\n3,lift\n1,stand\n")
    np.savetxt(tmp_path / "a.reba.txt", [1, 2, 3, 4, 5, 6])
    seqs = load_generic(tmp_path, "h36m17", fps=10, up="y")
    assert [s.metadata["video"] for s in seqs] == ["a", "b", "c"]
    names = ("carry", "lift", "stand", "walk")  # sorted across videos
    assert seqs[0].activity_names == seqs[1].activity_names == names
    assert [names[i] if i >= 0 else None for i in seqs[0].activity] == ["walk", "walk", "lift", None, "lift", "carry"]
    assert seqs[1].activity.tolist() == [2, 2, UNKNOWN_ACTIVITY, 1]
    assert seqs[2].activity is None and seqs[2].num_frames == 3
    assert np.array_equal(seqs[0].targets["reba_total"], np.arange(1, 7.0)) and not seqs[1].targets
    assert np.array_equal(seqs[1].joints, b) and seqs[0].joints.shape == (6, h36m.num_joints, 3)
    assert np.array_equal(seqs[0].up, [0, 1, 0]) and seqs[0].fps == 10.0
    assert_round_trip(seqs, tmp_path)


@pytest.mark.parametrize("setup, message", [
    (lambda d: (d / "a.labels.txt").write_text("walk\n"), "1 labels for 4 frames"),
    (lambda d: (d / "a.labels.csv").write_text("frame,label\n4,walk\n"), "outside 0..3"),
    (lambda d: (d / "a.labels.csv").write_text("0,walk\n0,lift\n"), "labelled twice"),
    (lambda d: (d / "a.labels.csv").write_text('0,"' + "x" * 200_000 + '"\n'), "not a readable CSV label file"),
    (lambda d: np.save(d / "a.npy", np.zeros((4, 16, 3))), r"\(T, 17, 3\)"),
    (lambda d: np.savez(d / "a.npz", x=np.zeros(1)), "both a.npy and a.npz"),
    (lambda d: np.savetxt(d / "a.reba.txt", [1.0, 2.0]), "2 scores for 4 frames"),
    (lambda d: _npz_instead(d, b"PK\x03\x04 not a zip"), "not a readable numpy array"),
    (lambda d: _npz_instead(d, None), "not a readable numpy array.*CRC"),
    (lambda d: (d / "a.npy").unlink() or np.savez(d / "a.npz", x=np.zeros(1), y=np.zeros(1)),
     "several arrays \\(x, y\\) and none named camera_joints or joints"),
])
def test_generic_errors(tmp_path, setup, message):
    np.save(tmp_path / "a.npy", np.zeros((4, 17, 3)))
    setup(tmp_path)
    with pytest.raises(InputError, match=message):
        load_generic(tmp_path, "h36m17", fps=10, up="z")


def _npz_instead(d, content):
    """a.npy replaced by an a.npz holding `content`, or (None) a real one whose stored array is damaged: the archive
    opens and the array fails its CRC when read."""
    (d / "a.npy").unlink()
    if content is None:
        np.savez(d / "a.npz", joints=np.zeros((4, 17, 3)))
        content = (d / "a.npz").read_bytes().replace(b"\x93NUMPY", b"\x93NUMPZ")
    (d / "a.npz").write_bytes(content)


def test_an_archive_where_one_array_is_expected_is_one_error(tmp_path):
    np.savez(tmp_path / "train.npy.npz", ids=np.arange(3))
    (tmp_path / "train.npy.npz").rename(tmp_path / "train.npy")
    with pytest.raises(InputError, match="an .npz archive, where UW-IOM split file is one .npy array"):
        load_npy(tmp_path / "train.npy", "UW-IOM split file")


def write_csv_mm(path, joints_m, header=True):
    rows = (joints_m * 1000.0).reshape(len(joints_m), -1)
    lines = ([",".join(f"j{i // 3}{'xyz'[i % 3]}" for i in range(rows.shape[1]))] if header else [])
    path.write_text("\n".join(lines + [",".join(f"{v:.6f}" for v in row) for row in rows]) + "\n")


def test_tum_kitchen_exported_csv_in_mm(tmp_path):
    joints = example_lift_sequence(seconds=0.5, fps=25, layout="h36m17", up="z")  # 12-13 frames
    n = len(joints)
    write_csv_mm(tmp_path / "0-0.csv", joints)
    write_csv_mm(tmp_path / "0-1.csv", joints[:5], header=False)
    # TUM's tiered label file: choose the trunk tier.
    tiers = ["instance,left_hand,right_hand,trunk"] + [
        f"{i},Reaching,Reaching,{'StandingStill' if i < 6 else 'Bending'}" for i in range(n)]
    (tmp_path / "0-0_labels.csv").write_text("\n".join(tiers) + "\n")
    seqs = load_tum_kitchen(tmp_path, layout="h36m17", label_column="trunk")
    assert [s.metadata["video"] for s in seqs] == ["0-0", "0-1"]
    s0, s1 = seqs
    assert s0.fps == 25.0 and np.array_equal(s0.up, [0, 0, 1]) and s0.layout == "h36m17"
    assert np.allclose(s0.joints, joints, atol=1e-9)  # mm -> m
    assert s0.activity_names == ("Bending", "StandingStill")
    assert s0.activity.tolist() == [1] * 6 + [0] * (n - 6) and s1.activity is None
    assert_round_trip(seqs, tmp_path)
    with pytest.raises(InputError, match="several label columns"):
        load_tum_kitchen(tmp_path)
    (tmp_path / "0-1.csv").write_text("1,2,3\n")
    with pytest.raises(InputError, match="3 values, expected 51"):
        load_tum_kitchen(tmp_path, label_column="trunk")


# ------------------------------------------------------------------------------------------------------------ KIMORE


def make_kimore(root, group, subject, exercise, joints, states, scores, xlsx=False):
    """One exercise folder as the release lays it out. The scores as a CSV saved from the spreadsheet, or (`xlsx`)
    as the release's workbook: its first sheet, the subject ID then TS, PO and CF of exercises 1-5, numbers as
    numbers (assumed: written here with openpyxl, not a byte copy of a release file, which we could not see)."""
    es = root / group / subject / f"Es{exercise}"
    (es / "Raw").mkdir(parents=True)
    (es / "Label").mkdir()
    values = np.concatenate([joints, states[..., None]], axis=2).reshape(len(joints), 100)
    # Kinect exports end each line with a comma.
    (es / "Raw" / "JointPosition240101.csv").write_text("".join(
        ",".join(f"{v:.6f}" for v in row) + ",\n" for row in values))
    header = ["Subject ID"] + [f"clinical {k} Ex#{e}" for k in ("TS", "PO", "CF") for e in range(1, 6)]
    row = [subject] + [scores[k][e - 1] for k in ("TS", "PO", "CF") for e in range(1, 6)]
    if xlsx:
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.Workbook()
        book.active.append(header)
        book.active.append(row)
        book.save(es / "Label" / f"ClinicalAssessment_{subject}.xlsx")
    else:
        (es / "Label" / f"ClinicalAssessment_{subject}.csv").write_text(
            ",".join(header) + "\n" + ",".join(map(str, row)) + "\n")
    return es


def test_kimore_positions_states_and_total_score(tmp_path):
    joints = example_lift_sequence(seconds=0.2, fps=30, layout="kinect25", up="y")  # 6 frames, Kinect y up
    states = np.full(joints.shape[:2], 2.0)
    states[2, 7] = 0.0  # not tracked
    scores = {"TS": [41.5, 38.0, 45.0, 30.0, 44.0], "PO": [13, 12, 14, 10, 15], "CF": [28.5, 26, 31, 20, 29]}
    make_kimore(tmp_path, "CG/Expert", "E_ID1", 1, joints, states, scores)
    make_kimore(tmp_path, "GPP/Stroke", "S_ID2", 3, joints[:4], states[:4], scores, xlsx=True)
    seqs = load_kimore(tmp_path)
    assert [(s.metadata["group"], s.metadata["subject"], s.metadata["exercise"]) for s in seqs] == [
        ("CG/Expert", "E_ID1", 1), ("GPP/Stroke", "S_ID2", 3)]
    first, second = seqs
    assert (first.quality, second.quality) == (41.5, 45.0)  # TS of each one's exercise
    assert (second.metadata["clinical_po"], second.metadata["clinical_cf"]) == (14.0, 31.0)
    assert first.layout == "kinect25" and first.fps == 30.0 and np.array_equal(first.up, [0, 1, 0])
    assert np.isnan(first.joints[2, 7]).all() and np.isfinite(np.delete(first.joints[2], 7, axis=0)).all()
    assert np.allclose(np.delete(first.joints, 7, axis=1), np.delete(joints, 7, axis=1), atol=1e-6)
    assert second.num_frames == 4
    assert_round_trip(seqs, tmp_path)


def test_kimore_errors(tmp_path):
    joints = np.zeros((3, 25, 3))
    es = make_kimore(tmp_path, "CG/Expert", "E_ID1", 2, joints, np.full((3, 25), 2.0),
                     {"TS": [1] * 5, "PO": [1] * 5, "CF": [1] * 5})
    label = next((es / "Label").glob("*.csv"))
    label.write_text("Subject ID,clinical TS Ex#1\nE_ID1,40\n")
    with pytest.raises(InputError, match="no total score \\(TS\\) column for exercise 2"):
        load_kimore(tmp_path)
    # A header that names no score is read by position, as the release lays the sheet out.
    label.write_text("ID," + ",".join(f"c{i}" for i in range(15)) + "\nE_ID1," + ",".join(map(str, range(15))) + "\n")
    assert load_kimore(tmp_path)[0].quality == 1.0 and load_kimore(tmp_path)[0].metadata["clinical_cf"] == 11.0
    label.rename(label.with_suffix(".xlsx"))  # a CSV named .xlsx: not a workbook
    with pytest.raises(InputError, match="ClinicalAssessment_E_ID1.xlsx: not a readable .xlsx workbook"):
        load_kimore(tmp_path)
    label.with_suffix(".xlsx").unlink()
    with pytest.raises(InputError, match="expected one ClinicalAssessment\\*.xlsx or .csv"):
        load_kimore(tmp_path)
    raw = next((es / "Raw").glob("*.csv"))
    raw.write_text("1,2,3,2,\n")
    with pytest.raises(InputError, match="4 values, expected 100"):
        load_kimore(tmp_path)


def test_kimore_leaves_out_exercises_without_positions(tmp_path, caplog):
    joints = example_lift_sequence(seconds=0.2, fps=30, layout="kinect25", up="y")
    scores = {"TS": [40.0] * 5, "PO": [10] * 5, "CF": [30] * 5}
    make_kimore(tmp_path, "CG/Expert", "E_ID1", 1, joints, np.full(joints.shape[:2], 2.0), scores)
    empty = make_kimore(tmp_path, "CG/Expert", "E_ID1", 2, joints, np.full(joints.shape[:2], 2.0), scores)
    gone = make_kimore(tmp_path, "CG/Expert", "E_ID1", 3, joints, np.full(joints.shape[:2], 2.0), scores)
    next((empty / "Raw").glob("*.csv")).write_text("\n")
    next((gone / "Raw").glob("*.csv")).unlink()
    with caplog.at_level("WARNING"):
        seqs = load_kimore(tmp_path)
    assert [s.metadata["exercise"] for s in seqs] == [1]
    assert "2 exercise folder(s) without joint positions left out: CG/Expert/E_ID1/Es2, CG/Expert/E_ID1/Es3" in \
        caplog.text
    (tmp_path / "CG" / "Expert" / "E_ID1" / "Es1" / "Raw" / "JointPosition240101.csv").unlink()
    with pytest.raises(InputError, match="no exercise folder holds joint positions"):
        load_kimore(tmp_path)


# ----------------------------------------------------------------------------------------------------------- UI-PRMD

# Rest offsets (cm) of a standing body in the UI-PRMD hierarchy: bones along the parent's local axes.
REST = {"spine": (0, 28, 0), "chest": (0, 20, 0), "neck": (0, 1, 0), "head": (0, 6, 0), "head_tip": (0, 14, 0),
        "left_collar": (1, 0, 0), "left_upper_arm": (15, 0, 0), "left_forearm": (25, 0, 0), "left_hand": (26, 0, 0),
        "right_collar": (-1, 0, 0), "right_upper_arm": (-15, 0, 0), "right_forearm": (-25, 0, 0),
        "right_hand": (-26, 0, 0), "left_upper_leg": (8, 0, 0), "left_lower_leg": (0, -40, 0),
        "left_foot": (0, -40, 0), "left_toes": (0, 0, 15), "right_upper_leg": (-8, 0, 0),
        "right_lower_leg": (0, -40, 0), "right_foot": (0, -40, 0), "right_toes": (0, 0, 15)}
WAIST_CM = (10.0, 90.0, -200.0)


def uiprmd_rows(frames, unit=1.0):
    rel = np.array([WAIST_CM] + [REST[name] for name in UIPRMD_JOINTS[1:]], dtype=float) * unit
    return np.tile(rel.reshape(1, 66), (frames, 1))


def uiprmd_angles(frames):
    """Waist turned 90 deg about y; left upper arm 90 deg about its z (the arm from sideways to straight up)."""
    ang = np.zeros((frames, 22, 3))
    ang[:, UIPRMD_JOINTS.index("waist"), 1] = 90.0
    ang[:, UIPRMD_JOINTS.index("left_upper_arm"), 2] = 90.0
    return ang.reshape(frames, 66)


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in rows))


def make_uiprmd(root):
    for folder, suffix, frames in (("Segmented Movements", "", 4), ("Incorrect Segmented Movements", "_inc", 3)):
        base = root / folder / "Kinect"
        write_rows(base / "Positions" / f"m01_s01_e01_positions{suffix}.txt", uiprmd_rows(frames))
        write_rows(base / "Angles" / f"m01_s01_e01_angles{suffix}.txt", uiprmd_angles(frames))
    vicon = root / "Segmented Movements" / "Vicon"
    write_rows(vicon / "Positions" / "m07_s02_e10_positions.txt", uiprmd_rows(5, unit=10.0))  # mm
    write_rows(vicon / "Angles" / "m07_s02_e10_angles.txt", np.zeros((5, 66)))


def kinect_point(seq, name):
    return seq.joints[:, KINECT.index(name)]


def test_uiprmd_forward_kinematics_mapping_and_quality(tmp_path):
    make_uiprmd(tmp_path)
    seqs = load_ui_prmd(tmp_path, "kinect")
    assert [(s.metadata["movement"], s.metadata["subject"], s.metadata["repetition"], s.quality) for s in seqs] == [
        ("m01", "s01", "e01", 1.0), ("m01", "s01", "e01", 0.0)]
    good = seqs[0]
    assert good.layout == "kinect25" and good.fps == 30.0 and np.array_equal(good.up, [0, 1, 0])
    assert good.metadata["length_unit"] == "cm" and good.num_frames == 4 and seqs[1].num_frames == 3
    # By hand: Ry(90) maps (x, y, z) -> (z, y, -x) for everything below the waist. The left shoulder sits 16 cm
    # out and 48 cm up -> (0, 48, -16); the raised upper arm then points up: elbow +25, wrist +26 along y.
    expected_cm = {"pelvis": (10, 90, -200), "neck": (10, 138, -200), "head": (10, 159, -200),
                   "left_shoulder": (10, 138, -216), "left_elbow": (10, 163, -216), "left_wrist": (10, 189, -216),
                   "right_wrist": (10, 138, -133), "left_hip": (10, 90, -208), "left_knee": (10, 50, -208),
                   "left_toe": (25, 10, -208)}
    for name, cm in expected_cm.items():
        assert np.allclose(kinect_point(good, name), np.array(cm) / 100.0, atol=1e-9), name
    missing = ["left_hand", "right_hand", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb"]
    assert all(np.isnan(kinect_point(good, n)).all() for n in missing)
    assert np.isfinite(np.delete(good.joints, [KINECT.index(n) for n in missing], axis=1)).all()
    assert_round_trip(seqs, tmp_path)


def test_uiprmd_summed_offsets_vicon_and_units(tmp_path):
    make_uiprmd(tmp_path)
    plain = load_ui_prmd(tmp_path, "kinect", use_angles=False)[0]
    # Offsets summed along the chain: wrist = waist + 48 up + 1 + 15 + 25 + 26 out.
    assert np.allclose(kinect_point(plain, "left_wrist"), np.array([77, 138, -200]) / 100.0)
    assert plain.metadata["reconstruction"] == "summed_offsets"
    vicon = load_ui_prmd(tmp_path, "vicon")
    assert len(vicon) == 1 and vicon[0].fps == 100.0 and vicon[0].metadata["length_unit"] == "mm"
    assert (vicon[0].metadata["movement"], vicon[0].metadata["repetition"]) == ("m07", "e10")
    assert np.allclose(kinect_point(vicon[0], "left_wrist"), np.array([0.77, 1.38, -2.0]))
    # The helper alone: zero angles equal plain summation.
    rows = uiprmd_rows(2)
    assert np.allclose(uiprmd_absolute(rows, np.zeros((2, 66))), uiprmd_absolute(rows))


def test_uiprmd_errors(tmp_path):
    make_uiprmd(tmp_path)
    with pytest.raises(InputError, match="unknown UI-PRMD modality"):
        load_ui_prmd(tmp_path, "xsens")
    angles = tmp_path / "Segmented Movements" / "Kinect" / "Angles" / "m01_s01_e01_angles.txt"
    write_rows(angles, uiprmd_angles(2))
    with pytest.raises(InputError, match="2 frames, but m01_s01_e01_positions.txt has 4"):
        load_ui_prmd(tmp_path)
    angles.unlink()
    with pytest.raises(InputError, match="missing UI-PRMD angles file for m01_s01_e01_positions.txt"):
        load_ui_prmd(tmp_path)
    write_rows(tmp_path / "Segmented Movements" / "Kinect" / "Positions" / "m01_s01_e01_positions.txt",
               np.zeros((2, 65)))
    with pytest.raises(InputError, match="65 values, expected 66"):
        load_ui_prmd(tmp_path, use_angles=False)
    with pytest.raises(InputError, match="no m<NN>_s<NN>_e<NN>_positions.txt"):
        load_ui_prmd(tmp_path / "Segmented Movements" / "Vicon" / "Angles")
