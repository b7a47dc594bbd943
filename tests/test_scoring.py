"""The score pipeline: posed sequences in, per-frame REBA/RULA/L5-S1 and a summary out."""

import csv
import json

import numpy as np
import pytest

from edge.ergonomics.l5s1 import BodyParams
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.datasets.synth.posing import Posture, posed_joints
from edge.scoring.outputs import write_outputs
from edge.scoring.methods import ScoreConfig
from edge.scoring.offline import score_sequence
from edge.skeletons import get_layout, parse_up
from edge.ergonomics.worksheet import assess

FPS = 30.0


def _hold(posture_kwargs: dict, frames: int = 30) -> dict:
    return {k: np.full(frames, float(v)) for k, v in posture_kwargs.items()}


def _score(posture: Posture, layout="coco17", up="z", config=ScoreConfig()):
    lay = get_layout(layout)
    u = parse_up(up)
    return score_sequence(posed_joints(posture, lay, up=u), lay, u, FPS, config)


def test_neutral_standing_scores_the_minimum():
    r = _score(Posture(**_hold({"left_elbow_flexion": 80, "right_elbow_flexion": 80})), "blazepose33")
    c = r.columns
    assert (c["reba_total"] == 1).all() and (c["reba_action_level"] == 0).all()
    # RULA's minimum with neutral wrists is 1; the elbow at 80 deg is neutral for both methods.
    assert (c["rula_grand"] == 1).all()
    assert r.summary["reba"]["time_s_by_risk"]["negligible"] == pytest.approx(1.0)
    assert (c["unobserved"] == "").all()  # BlazePose sees every item


def test_stoop_with_load_matches_the_worksheet_engine():
    angles = {"trunk_flexion": 70, "neck_flexion": 30, "left_upper_arm_flexion": 80, "right_upper_arm_flexion": 80,
              "left_elbow_flexion": 20, "right_elbow_flexion": 20, "left_knee_flexion": 40,
              "right_knee_flexion": 40, "left_hip_flexion": 40, "right_hip_flexion": 40}
    config = ScoreConfig(load_kg=12.0, coupling="fair")
    c = _score(Posture(**_hold(angles)), "coco17", "-y", config).columns
    sheet = {"method": "reba", "neck": {"flexion_deg": 30}, "trunk": {"flexion_deg": 70},
             "legs": {"bilateral_support": True, "knee_flexion_deg": 40}, "upper_arm": {"flexion_deg": 80},
             "lower_arm": {"flexion_deg": 20}, "wrist": {"flexion_deg": 0}, "load_kg": 12, "coupling": "fair"}
    expected = assess(sheet)["scores"]
    # By hand: neck 2, trunk 4, legs 2 -> A 6 + load 2 = 8; upper 3, lower 2, wrist 1 -> B 4 + 1 = 5; C 10.
    assert expected["total"] == 10
    assert (c["reba_total"] == expected["total"]).all()
    for key in ("neck", "trunk", "legs", "table_a", "score_a"):
        assert (c[f"reba_{key}"] == expected[key]).all(), key
    for key in ("upper_arm", "lower_arm", "wrist", "table_b", "score_b", "table_c"):
        assert (c[f"reba_{key}_left"] == expected[key]).all(), key
    # COCO has no hand points: the wrist is scored neutral and said to be unobserved.
    assert all("wrist_left" in u and "wrist_right" in u for u in c["unobserved"])
    assert (c["reba_action_level"] == 3).all()


def test_left_and_right_scored_separately_worse_side_wins():
    c = _score(Posture(**_hold({"left_upper_arm_flexion": 120, "right_upper_arm_flexion": 10})), "h36m17").columns
    assert (c["reba_upper_arm_left"] == 4).all() and (c["reba_upper_arm_right"] == 1).all()
    assert (c["reba_total"] == c["reba_total_left"]).all()
    assert (c["reba_total_left"] > c["reba_total_right"]).all()
    assert (c["rula_grand"] == np.fmax(c["rula_grand_left"], c["rula_grand_right"])).all()


def test_adjustments_from_thresholds():
    posture = Posture(**_hold({"trunk_flexion": 30, "trunk_twist": 25, "neck_side_bend": 15,
                               "left_upper_arm_flexion": 30, "left_upper_arm_abduction": 30,
                               "left_hip_flexion": 70, "left_knee_flexion": 70}))
    c = _score(posture, "kinect25").columns
    assert (c["reba_trunk"] == 4).all()  # 20-60 -> 3, +1 twisted
    assert (c["reba_neck"] == 2).all()  # 0 -> 1, +1 side bent
    assert (c["reba_legs"] == 4).all()  # one foot lifted -> 2, knee > 60 -> +2
    assert (c["rula_legs"] == 2).all()


def test_up_axis_and_heading_do_not_change_scores():
    seq = dict(trunk_flexion=np.linspace(0, 80, 60), left_upper_arm_flexion=np.linspace(0, 130, 60),
               neck_flexion=np.linspace(-10, 40, 60))
    a = _score(Posture(**seq), "h36m17", "z").columns
    b = _score(Posture(**seq, heading=np.full(60, 140.0)), "h36m17", "1,-2,0.5").columns
    for key in ("reba_total", "rula_grand", "l5s1_moment_extension_nm", "l5s1_compression_n"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


def test_missing_joints_are_unknown_not_zero():
    lay = get_layout("coco17")
    u = parse_up("z")
    joints = posed_joints(Posture(**_hold({"trunk_flexion": 40}, 10)), lay, up=u)
    joints[3, lay.index("left_hip")] = np.nan
    joints[6, lay.index("right_elbow")] = np.nan
    c = score_sequence(joints, lay, u, FPS).columns
    assert np.isnan(c["reba_total"][3]) and np.isnan(c["trunk_flexion_deg"][3])
    assert np.isnan(c["l5s1_moment_nm"][3])
    assert np.isnan(c["reba_total_right"][6]) and not np.isnan(c["reba_total_left"][6])
    assert c["reba_total"][6] == c["reba_total_left"][6]
    assert "lower_arm_right" in c["unobserved"][6] and "trunk" in c["unobserved"][3]
    assert np.isfinite(c["reba_total"][[0, 1, 2, 4, 5, 7, 8, 9]]).all()


def test_example_sequence_summary_and_files(tmp_path, monkeypatch):
    lay = get_layout("blazepose33")
    joints = example_lift_sequence(seconds=40.0, fps=FPS)
    config = ScoreConfig(load_kg=10.0, body=BodyParams(mass_kg=80.0))
    result = score_sequence(joints, lay, parse_up("z"), FPS, config)
    s = result.summary
    assert s["frames"] == 1200 and s["duration_s"] == pytest.approx(40.0)
    assert sum(s["reba"]["time_s_by_risk"].values()) == pytest.approx(40.0)
    assert sum(s["rula"]["time_s_by_action_level"].values()) == pytest.approx(40.0)
    # The stoop to the floor with 10 kg is the riskiest moment: trunk near 78 deg, compression over 3400 N.
    assert s["peak_trunk_flexion_deg"]["value"] == pytest.approx(78.0, abs=0.5)
    assert 3400 < s["l5s1"]["peak_compression_n"]["value"] < 6000
    assert 150 < s["l5s1"]["peak_extension_moment_nm"]["value"] < 300
    assert s["riskiest_episodes"]["l5s1_compression_over_limit"]
    assert s["reba"]["peak"]["value"] >= 8
    # Six lifts a minute: repetition shows up once more than four cycles fall in the last minute.
    assert result.columns["repeated"][-1]

    paths = write_outputs(result, tmp_path / "out", {"command": ["test"]})
    with open(paths["scores"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1200
    for column in ("time_s", "trunk_flexion_deg", "left_upper_arm_flexion_deg", "reba_neck", "reba_total",
                   "rula_wrist_twist_left", "rula_grand", "l5s1_moment_nm", "l5s1_moment_extension_nm",
                   "l5s1_moment_lateral_nm", "l5s1_moment_twist_nm", "l5s1_compression_n"):
        assert column in rows[0], column
    assert float(rows[600]["time_s"]) == pytest.approx(20.0)
    assert int(rows[600]["reba_total"]) == int(result.columns["reba_total"][600])
    summary = json.loads(paths["summary"].read_text())
    assert summary["run"] == {"command": ["test"]} and summary["config"]["load_kg"] == 10.0
    assert paths["timeline"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Interrupted while drawing the timeline, scores.csv and summary.json already written: the three files stay the
    # earlier run's, and nothing else is left in the folder.
    before = {name: p.read_bytes() for name, p in paths.items()}

    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr("edge.scoring.outputs.plot_timeline", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(result, tmp_path / "out", {"command": ["again"]})
    assert {name: p.read_bytes() for name, p in paths.items()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scores.csv", "summary.json", "timeline.png"]
    assert not list((tmp_path / "out").glob("*.tmp*"))
