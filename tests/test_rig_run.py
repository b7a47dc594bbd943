"""`ergoedge run` with several calibrated cameras (runtime/views.py RigView): config and command-line errors, and a
real run over two synchronised views of the pose2sim clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.cli import main
from edge.pose.cameras import read_qca, write_rig

VIEWS = ("cam01", "cam02")


@pytest.fixture(scope="module")
def rig_file(footage, tmp_path_factory):
    rig = read_qca(footage / "pose2sim" / "Calib.qca.txt", {"cam01": (1080, 1920), "cam02": (1080, 1920)})
    return write_rig(rig, tmp_path_factory.mktemp("rig") / "cell.toml")


def _one_line_error(capsys, argv, fragment):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_rig_errors_are_one_line(tmp_path, capsys, rig_file):
    out = ["--out", str(tmp_path / "o"), "--events-db", str(tmp_path / "e.db")]
    _one_line_error(capsys, ["run", "--source", "test://", "--source", "test://"] + out, "need --rig")
    _one_line_error(capsys, ["run", "--rig", str(rig_file), "--source", "test://"] + out, "NAME=URI")
    _one_line_error(capsys, ["run", "--rig", str(rig_file), "--source", "cam01=test://"] + out,
                    "at least two cameras")
    _one_line_error(capsys, ["run", "--rig", str(rig_file), "--source", "cam01=test://", "--source",
                             "cam01=test://"] + out, "twice")
    _one_line_error(capsys, ["run", "--rig", str(rig_file), "--source", "cam01=test://", "--source",
                             "cam07=test://"] + out, "cam07")
    _one_line_error(capsys, ["run", "--rig", str(tmp_path / "none.toml"), "--source", "cam01=test://", "--source",
                             "cam02=test://"] + out, "none.toml")
    both = tmp_path / "both.toml"
    both.write_text(f'[source]\nuri = "test://"\n[rig]\ncalibration = "{rig_file}"\n'
                    '[rig.sources]\ncam01 = "test://"\ncam02 = "test://"\n')
    _one_line_error(capsys, ["run", "--config", str(both)] + out, "not both")
    assert not (tmp_path / "o").exists()  # nothing written by a run that could not start


def test_two_real_views_make_one_triangulated_person(tmp_path, footage, blazepose_models, rig_file):
    """The pose2sim clip's cam01 and cam02 (100 frames each, 1080x1920) through `ergoedge run --rig`: every frame
    pair processed, the person triangulated in most instants and always under one id, scored, and drawn in both views
    side by side in the recording; an activity model that reads the pelvis's path gets every body's root."""
    import cv2

    import activity_helpers  # tests/ is on sys.path under pytest
    from edge.train.config import NormConfig
    from export.onnx_stream import export_streaming

    model = export_streaming(activity_helpers.trained_checkpoint(tmp_path / "c.pt", NormConfig(root="first"),
                                                                 layout="blazepose33"), tmp_path / "model").onnx
    (tmp_path / "run.toml").write_text(f'[activity]\nmodel = "{model}"\n')
    folder = footage / "pose2sim"
    out, record = tmp_path / "out", tmp_path / "both.mp4"
    code = main(["run", "--rig", str(rig_file), "--source", f"cam01={folder / 'cam01.mp4'}",
                 "--source", f"cam02={folder / 'cam02.mp4'}", "--out", str(out), "--record", str(record),
                 "--events-db", str(tmp_path / "e.db"), "--privacy", "none", "--config", str(tmp_path / "run.toml")])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 100 and report["camera"] == "cell"
    assert "cam01=" in report["source"] and "cam02=" in report["source"]
    assert report["source_stats"]["sets"] == 100 and report["source_stats"]["skew_max_s"] <= 1e-6
    rig = report["rig"]
    # Triangulated where the two views agree (measured 82 of 100), else from the clearer view: one person a frame
    # (the first two instants wait for the second view to confirm them)
    assert rig["instants"] == 100 and rig["people_triangulated"] >= 75
    assert 97 <= rig["people_triangulated"] + rig["people_one_camera"] <= 100
    people = report["timeline"]["people"]
    assert list(people) == ["0"], people
    placed = report["activity"]["placement"]["frames"]  # a root every instant the person was there
    assert placed["placed"] == rig["people_triangulated"] + rig["people_one_camera"] and placed["not_placed"] == 0
    flexion = np.array([row[4] for row in people["0"]], dtype=float)
    assert np.isfinite(flexion).all() and abs(np.median(flexion)) <= 45.0
    cap = cv2.VideoCapture(str(record))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert size == (1920, 1706) and frames == 100  # two 1080x1920 views scaled to fit 1920 wide
