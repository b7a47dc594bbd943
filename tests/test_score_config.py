"""`ergoedge score --config FILE`: the run config's [scoring] table, overridden by the command line."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.datasets.synth.posing import Posture, posed_joints
from edge.skeletons import get_layout

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bending(tmp_path):
    """3 s of a trunk flexing steadily from 0 to 60 deg (COCO-17, z up, 15 fps)."""
    joints = posed_joints(Posture(trunk_flexion=np.linspace(0, 60, 45)), get_layout("coco17"))
    path = tmp_path / "bend.npy"
    np.save(path, joints)
    return [str(path), "--layout", "coco17", "--up", "z", "--fps", "15"]


def _score(capsys, tmp_path, name, poses, toml=None, *options):
    out = tmp_path / name
    argv = ["score", *poses, "--out", str(out), *options]
    if toml is not None:
        config = tmp_path / f"{name}.toml"
        config.write_text(toml)
        argv += ["--config", str(config)]
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 0, err
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {key: np.array([float(r[key]) if r[key] else np.nan for r in rows]) for key in rows[0]
               if key != "unobserved"}
    return columns, json.loads((out / "summary.json").read_text())


def test_thresholds_from_the_config_change_the_scores(tmp_path, capsys, bending):
    default, _ = _score(capsys, tmp_path, "default", bending)
    changed, summary = _score(capsys, tmp_path, "changed", bending,
                              "[scoring]\nneutral_tolerance_deg = 15.0\n[scoring.activity]\nrapid_range_deg = 10.0\n")
    assert summary["config"]["neutral_tolerance_deg"] == 15.0
    flexion = default["trunk_flexion_deg"]
    np.testing.assert_array_equal(changed["trunk_flexion_deg"], flexion)
    # Upright now means within 15 deg: REBA trunk 1 up to 15 deg, where the default gave 2 beyond 5 deg.
    assert ((default["reba_trunk"] == 1) == (flexion <= 5.0)).all()
    assert ((changed["reba_trunk"] == 1) == (flexion <= 15.0)).all()
    assert (changed["reba_trunk"][(flexion > 15.0) & (flexion <= 20.0)] == 2).all()
    # 20 deg/s of trunk motion is a rapid change at 10 deg within 1 s, never at the default 45 deg.
    assert not default["rapid_change"].any() and changed["rapid_change"][15:].all()
    both = (default["reba_trunk"] == changed["reba_trunk"]) & (changed["rapid_change"] == 1)
    assert both.any()
    np.testing.assert_array_equal(changed["reba_total"][both], default["reba_total"][both] + 1)


def test_posture_only_has_no_activity_terms(tmp_path, capsys):
    path = tmp_path / "lift.npz"
    np.savez(path, joints=example_lift_sequence(seconds=75.0, fps=30.0), fps=30.0, layout="blazepose33", up="z")
    full, _ = _score(capsys, tmp_path, "full", [str(path)])
    posture, summary = _score(capsys, tmp_path, "posture", [str(path)], "[scoring.activity]\nenabled = false\n")
    assert summary["config"]["activity"]["enabled"] is False
    activity = full["static"] + full["repeated"] + full["rapid_change"]
    assert full["repeated"].any() and full["rapid_change"].any()  # the lifting sequence has activity terms
    for flag in ("static", "repeated", "rapid_change"):
        assert (posture[flag] == 0).all()
    # The posture-only REBA is table C of the worse side; with activity terms each flag adds 1.
    np.testing.assert_array_equal(posture["reba_total"],
                                  np.fmax(posture["reba_table_c_left"], posture["reba_table_c_right"]))
    np.testing.assert_array_equal(posture["reba_total"], full["reba_total"] - activity)
    assert (posture["rula_grand"] <= full["rula_grand"]).all()


@pytest.mark.parametrize("toml, fragments", [
    ("[scoring]\nload_kilos = 3\n", ["cfg.toml.scoring", "unknown key 'load_kilos'"]),
    ("[scoring.activity]\nenable = false\n", ["cfg.toml.scoring.activity", "unknown key 'enable'"]),
    ("[scoring.activity]\nenabled = \"no\"\n", ["scoring.activity.enabled", "expected true or false"]),
    ("[scoring]\ncoupling = \"great\"\n", ["coupling must be one of"]),
    ("[scoring\n", ["not valid TOML"]),
])
def test_bad_scoring_tables_name_the_problem(tmp_path, capsys, bending, toml, fragments):
    config = tmp_path / "cfg.toml"
    config.write_text(toml)
    code = main(["score", *bending, "--out", str(tmp_path / "o"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("ergoedge: error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "o").exists()


def test_a_run_config_serves_its_other_tables_are_ignored(tmp_path, capsys, bending):
    config = REPO / "examples" / "demo-run.toml"  # camera, [scoring] load_kg = 5, [[alerts.rules]]
    assert main(["score", *bending, "--out", str(tmp_path / "o"), "--config", str(config)]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["config"]["load_kg"] == 5.0


def test_command_line_beats_the_file(tmp_path, capsys, bending):
    toml = ('[scoring]\nload_kg = 20.0\ncoupling = "poor"\n'
            '[scoring.body]\nmass_kg = 90\nheight_m = 1.6\nsex = "female"\n')
    _, from_file = _score(capsys, tmp_path, "file", bending, toml)
    assert from_file["config"]["load_kg"] == 20.0 and from_file["config"]["coupling"] == "poor"
    assert from_file["config"]["body"] == {"mass_kg": 90.0, "height_m": 1.6, "sex": "female"}
    _, overridden = _score(capsys, tmp_path, "cli", bending, toml, "--load-kg", "3", "--body-mass", "70",
                           "--sex", "male", "--coupling", "fair")
    assert overridden["config"]["load_kg"] == 3.0 and overridden["config"]["coupling"] == "fair"
    # What the command line does not give stays the file's.
    assert overridden["config"]["body"] == {"mass_kg": 70.0, "height_m": 1.6, "sex": "male"}
    _, defaults = _score(capsys, tmp_path, "none", bending)
    assert defaults["config"]["load_kg"] == 0.0 and defaults["config"]["body"]["mass_kg"] == 75.0
