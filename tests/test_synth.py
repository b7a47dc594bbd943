"""Synthetic workplace motion: determinism, coverage, targets equal to the engine's, labels that match the
postures, estimator-like 2D keypoints, data statistics and the synth / data stats commands."""

import json

import numpy as np
import pytest

from edge.cli import main
from edge.datasets.sequence import load_sequence, save_sequence
from edge.datasets.stats import data_stats, format_stats, write_stats_png
from edge.datasets.synth.activities import ACTIVITIES, GRAMMAR
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.generator import generate, write_synth
from edge.ergonomics.l5s1 import BodyParams
from edge.errors import InputError
from edge.kinematics import joint_angles
from edge.scoring.methods import ScoreConfig
from edge.scoring.offline import score_sequence
from edge.skeletons import get_layout

SEED = 11


@pytest.fixture(scope="module")
def seqs():
    return generate(4.0, SEED)  # about 1 s: long enough to cover every activity and REBA 1..11+


def _runs(mask):
    idx = np.flatnonzero(mask)
    return [r for r in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if r.size]


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = generate(0.5, 5), generate(0.5, 5), generate(0.5, 6)
    assert len(a) == len(b) == 1 and a[0].num_frames == 900
    for x, y in zip(a, b):
        assert np.array_equal(x.joints, y.joints)
        assert np.array_equal(x.keypoints2d, y.keypoints2d, equal_nan=True)
        assert np.array_equal(x.activity, y.activity)
        assert x.targets.keys() == y.targets.keys()
        assert all(np.array_equal(x.targets[k], y.targets[k], equal_nan=True) for k in x.targets)
        assert x.metadata == y.metadata
    assert not np.array_equal(a[0].joints, c[0].joints)
    assert not np.array_equal(a[0].activity, c[0].activity) or a[0].metadata["body"] != c[0].metadata["body"]


def test_every_activity_and_reba_1_to_11(seqs):
    assert sum(s.num_frames for s in seqs) == 4 * 60 * 30
    labels = np.concatenate([s.activity for s in seqs])
    assert set(np.unique(labels).tolist()) == set(range(len(ACTIVITIES)))
    reba = np.concatenate([s.targets["reba_total"] for s in seqs])
    assert np.isfinite(reba).all()
    assert reba.min() == 1 and reba.max() >= 11
    for s in seqs:
        assert s.activity_names == ACTIVITIES
        for name in ("reba_total", "rula_grand", "reba_trunk", "reba_neck", "reba_legs", "reba_upper_arm_left",
                     "rula_upper_arm_right", "rula_score_c_left", "l5s1_compression_n", "load_kg"):
            assert s.targets[name].shape == (s.num_frames,), name


def test_segments_follow_the_grammar_and_labels(seqs):
    for s in seqs:
        segs = s.metadata["segments"]
        assert segs[0]["activity"] == "stand"
        for a, b in zip(segs, segs[1:]):
            assert GRAMMAR[a["activity"]].get(b["activity"], 0) > 0, (a["activity"], b["activity"])
            assert b["start_s"] == pytest.approx(a["end_s"], abs=1e-3)
        for seg in segs[:-1]:
            mid = int((seg["start_s"] + seg["end_s"]) / 2 * s.fps)
            assert ACTIVITIES[s.activity[mid]] == seg["activity"]
            assert s.targets["load_kg"][mid] == pytest.approx(seg["load_kg"])


def test_targets_are_the_engines_scores_of_the_stored_joints(seqs):
    layout = get_layout("blazepose33")
    for s in seqs:
        body = BodyParams(**{k: s.metadata["body"][k] for k in ("mass_kg", "height_m", "sex")})
        load = s.targets["load_kg"]
        assert len(np.unique(load)) <= 6  # a few item masses per person keep scoring cheap
        for value in np.unique(load):
            mask = load == value
            cols = score_sequence(s.joints, layout, s.up, s.fps, ScoreConfig(load_kg=float(value), body=body)).columns
            for name in s.targets:
                if name.startswith(("reba_", "rula_")):
                    assert np.array_equal(s.targets[name][mask], cols[name][mask].astype(np.float32)), name
            assert np.allclose(s.targets["l5s1_compression_n"][mask], cols["l5s1_compression_n"][mask], rtol=1e-5)


def test_labels_match_postures(seqs):
    layout = get_layout("blazepose33")
    knees = [layout.index("left_knee"), layout.index("right_knee")]
    hips = [layout.index("left_hip"), layout.index("right_hip")]
    checked = set()
    for s in seqs:
        a = joint_angles(s.joints, layout, s.up)
        knee = np.fmax(a["left_knee_flexion_deg"], a["right_knee_flexion_deg"])
        arm = np.fmax(a["left_upper_arm_flexion_deg"], a["right_upper_arm_flexion_deg"])
        pelvis = s.joints[:, hips, :2].mean(axis=1)
        for i, name in enumerate(ACTIVITIES):
            for run in _runs(s.activity == i):
                if run[-1] == s.num_frames - 1:
                    continue  # cut short by the end of the recording
                checked.add(name)
                load = s.targets["load_kg"][run]
                if name == "stoop_lift":
                    assert a["trunk_flexion_deg"][run].max() > 55 and knee[run].max() < 60
                if name == "squat_lift":
                    assert knee[run].max() > 80
                if name in ("stoop_lift", "squat_lift", "carry", "place_low", "place_mid", "place_high"):
                    assert 2.0 <= load.min() and load.max() <= 20.0
                if name in ("walk", "push_pull", "stand", "kneel"):
                    assert load.max() == 0.0
                if name == "reach_overhead":
                    assert arm[run].max() > 110
                if name == "place_high":
                    assert arm[run].max() > 90
                if name == "kneel":
                    assert knee[run].max() > 80 and s.joints[run][:, knees, 2].min() < 0.1
                if name == "twist":
                    assert np.abs(a["trunk_twist_deg"][run]).max() > 25
                if name in ("walk", "carry", "push_pull"):
                    assert np.linalg.norm(pelvis[run[-1]] - pelvis[run[0]]) > 0.5
                if name == "stand":
                    assert a["trunk_flexion_deg"][run[len(run) // 2:]].max() < 20
        assert s.joints[:, :, 2].min() > -0.05  # nothing goes through the floor
    assert checked == set(ACTIVITIES)


def test_placing_low_stands_up_again_within_its_segment():
    """Without return_to_rest the next activity brings the body back, except after placing low, whose rise UW-IOM
    labels as part of the bend (stand_up_after_low)."""
    layout = get_layout("blazepose33")
    ends = {}
    for rise in (True, False):
        cfg = SynthConfig(return_to_rest=False, stand_up_after_low=rise)
        flexion = []
        for s in generate(8.0, SEED, cfg):
            trunk = joint_angles(s.joints, layout, s.up)["trunk_flexion_deg"]
            flexion += [trunk[run[-1]] for run in _runs(s.activity == ACTIVITIES.index("place_low"))
                        if run[-1] < s.num_frames - 1]
        assert len(flexion) >= 3
        ends[rise] = np.median(flexion)
    assert ends[True] < 15 < 30 < ends[False]
    with pytest.raises(InputError, match="stand_up_after_low"):
        SynthConfig(stand_up_after_low=1)


def test_keypoints2d_look_like_an_estimators(seqs):
    p = SynthConfig().dropout_prob
    for s in seqs:
        kp = s.keypoints2d
        cam = s.metadata["camera"]
        width, height = cam["image_size"]
        missing = np.isnan(kp[..., 0])
        assert np.array_equal(missing, kp[..., 2] == 0)
        assert 0.7 * p < missing.mean() < 1.3 * p
        seen = kp[~missing]
        assert (seen[:, 2] >= 0).all() and (seen[:, 2] <= 1).all() and seen[:, 2].mean() > 0.6
        inside = (seen[:, 0] >= 0) & (seen[:, 0] < width) & (seen[:, 1] >= 0) & (seen[:, 1] < height)
        assert inside.mean() > 0.9
        # The stored camera projects the clean joints close to the noisy keypoints.
        k, r = np.array(cam["K"]), np.array(cam["R"])
        c = (s.joints.astype(np.float64) - np.array(cam["position"])) @ r.T
        uv = c[..., :2] / c[..., 2:] * k[0, 0] + k[:2, 2]
        err = np.linalg.norm(uv - kp[..., :2], axis=-1)[~missing]
        assert np.median(err) < 8.0
        assert 1.0 <= cam["height_m"] <= 3.0 + 1e-6 and 0.0 <= cam["pitch_deg"] <= 40.0 + 1e-6


def test_other_layouts_and_config_checks():
    (coco, h36m) = generate(0.2, 1, SynthConfig(layouts=("coco17", "h36m17")))
    assert coco.joints.shape == (360, 17, 3) and h36m.keypoints2d.shape == (360, 17, 3)
    assert np.array_equal(coco.activity, h36m.activity)
    assert np.isfinite(coco.targets["reba_total"]).all()
    noisy = generate(0.2, 1, SynthConfig(layouts=("coco17",), joint_noise_mm=5.0))[0]
    error_mm = 1000 * np.linalg.norm(noisy.joints - coco.joints, axis=-1)
    assert 4.0 < np.median(error_mm) < 12.0  # 3D noise on the stored joints only...
    assert np.array_equal(noisy.targets["reba_total"], coco.targets["reba_total"])  # ...targets from clean joints
    assert noisy.metadata["joints"].startswith("noisy")
    for bad in ({"layouts": ("nope",)}, {"fps": "30"}, {"fps": 0.0}, {"dropout_prob": 1.5}, {"height_m": (1.9, 1.6)},
                {"image_size": (1280,)}):
        with pytest.raises(InputError):
            SynthConfig(**bad)
    for minutes, seed in ((0, 1), (-2, 1), (float("nan"), 1), (1, -1), (1, 1.5)):
        with pytest.raises(InputError):
            generate(minutes, seed)


def test_write_synth_and_stats(tmp_path):
    out = tmp_path / "data"
    manifest = write_synth(out, 0.4, 3, SynthConfig(layouts=("blazepose33", "coco17")))
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert [f["file"] for f in manifest["files"]] == ["synth_3_0.npz", "synth_3_1.npz"]
    assert manifest["seed"] == 3 and manifest["counts"]["frames"] == 2 * 720
    assert manifest["config"]["layouts"] == ["blazepose33", "coco17"] and "numpy" in manifest["versions"]
    again = generate(0.4, 3, SynthConfig(layouts=("blazepose33", "coco17")))
    loaded = load_sequence(out / "synth_3_1.npz")
    assert np.array_equal(loaded.joints, again[1].joints) and loaded.metadata == again[1].metadata

    stats = data_stats(out)
    assert stats["files"] == 2 and stats["frames"] == 1440 and stats["layouts"] == {"blazepose33": 1, "coco17": 1}
    assert sum(a["frames"] for a in stats["activities"].values()) == stats["frames"]
    assert sum(stats["reba_total_histogram"].values()) == stats["reba_frames"] - stats["reba_unscored"] == 1440
    assert stats["fps"] == [30.0] and stats["duration_s"] == pytest.approx(48.0)
    assert stats["activities"]["stand"]["frames"] > 0
    single = data_stats(out / "synth_3_0.npz")
    assert single["frames"] == 720
    text = format_stats(stats)
    assert "2 sequence file(s)" in text and "stand" in text and "REBA" in text
    png = write_stats_png(stats, tmp_path / "fig" / "s.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    unlabelled = again[0].__class__(layout="coco17", fps=30.0, keypoints2d=again[1].keypoints2d[:10])
    save_sequence(unlabelled, out / "z.npz")
    stats = data_stats(out)
    assert stats["activities"]["(unlabelled)"]["frames"] == 10
    assert sum(a["frames"] for a in stats["activities"].values()) == stats["frames"] == 1450


def _one_line_error(code, err, fragment):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ergoedge: error: ") and fragment in lines[0], err


def test_cli_synth_and_data_stats(tmp_path, capsys, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--minutes", "0.3", "--seed", "2", "--layout", "coco17"]) == 0
    printed = capsys.readouterr().out
    assert "540 frames" in printed and str(out / "manifest.json") in printed
    assert (out / "synth_2_0.npz").is_file() and load_sequence(out / "synth_2_0.npz").layout == "coco17"

    listed = sorted(p.name for p in out.iterdir())
    assert main(["data", "stats", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "540 frames" in printed and "figure" not in printed
    assert sorted(p.name for p in out.iterdir()) == listed and list(cwd.iterdir()) == []  # nothing written
    assert main(["data", "stats", str(out), "--png", str(tmp_path / "other.png")]) == 0
    assert f"figure: {tmp_path / 'other.png'}" in capsys.readouterr().out
    assert (tmp_path / "other.png").is_file()
    # An earlier figure is replaced; any other file, the data included, is refused with one line.
    assert main(["data", "stats", str(out), "--png", str(tmp_path / "other.png")]) == 0
    capsys.readouterr()
    data = out / "synth_2_0.npz"
    before = data.read_bytes()
    assert main(["data", "stats", str(out), "--png", str(data)]) == 2
    assert "exists and is not a PNG" in capsys.readouterr().err and data.read_bytes() == before
    assert list(cwd.iterdir()) == []  # nothing written into the working directory

    (tmp_path / "junk").mkdir()
    np.savez(tmp_path / "junk" / "x.npz", a=np.zeros(3))
    for argv, fragment in (
        (["synth", "--out", str(out), "--minutes", "0", "--seed", "1"], "minutes"),
        (["synth", "--out", str(out), "--minutes", "1", "--seed", "1", "--layout", "foo"], "unknown layout"),
        (["synth", "--out", str(out), "--minutes", "1"], "--seed"),
        (["synth", "--out", str(out / "synth_2_0.npz"), "--minutes", "0.1", "--seed", "1"], "not a directory"),
        (["synth", "--out", str(out), "--minutes", "0.1", "--seed", "1"], "already holds"),
        (["data", "stats", str(tmp_path / "missing")], "no such file"),
        (["data", "stats", str(cwd)], "no .npz"),
        (["data", "stats", str(tmp_path / "junk")], "not an ergo-edge sequence"),
        (["data"], "required"),
    ):
        code = main(argv)
        _one_line_error(code, capsys.readouterr().err, fragment)


def test_a_huge_request_is_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match="at most 1440"):
        write_synth(tmp_path / "big", 1e9, seed=1)
    assert not (tmp_path / "big").exists()


def test_recordings_are_made_and_written_one_at_a_time(tmp_path, monkeypatch):
    """Only one recording is in memory: each file is written before the next recording is generated."""
    from edge.datasets.synth import generator

    made, written = [], []
    real_record, real_save = generator._record, generator.save_sequence
    monkeypatch.setattr(generator, "_record", lambda *a: made.append(a[1]) or real_record(*a))
    monkeypatch.setattr(generator, "save_sequence", lambda seq, path: written.append(len(made)) or real_save(seq, path))
    config = SynthConfig(recording_minutes=(0.05, 0.05))
    manifest = write_synth(tmp_path / "s", 0.2, seed=3, config=config)
    assert manifest["counts"]["sequences"] == len(made) == 4
    assert written == [1, 2, 3, 4]  # recording k was written before recording k + 1 was made
