"""benchmarks/uwiom_folds.py: K-fold cross-validation over UW-IOM's published training videos, on the release
fixture (tests/dataset_fixtures.py) with a tiny edge_stream."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from dataset_fixtures import make_uwiom

from edge.errors import InputError

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def folds_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "uwiom_folds.py"
    spec = importlib.util.spec_from_file_location("uwiom_folds", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_videos_are_cut_into_consecutive_folds_of_near_equal_size(folds_module):
    videos = [f"{i:02d}" for i in range(1, 16)]
    assert folds_module.fold_videos(videos, 5) == [videos[0:3], videos[3:6], videos[6:9], videos[9:12], videos[12:15]]
    assert [len(g) for g in folds_module.fold_videos(videos[:7], 3)] == [3, 2, 2]
    with pytest.raises(InputError, match="between 2 and the 7 training videos"):
        folds_module.fold_videos(videos[:7], 8)


def test_each_fold_trains_on_the_others_and_scores_its_own_videos(tmp_path, folds_module, capsys):
    make_uwiom(tmp_path / "MTL-ERA")
    config = tmp_path / "tiny.toml"
    config.write_text("[train]\nepochs = 1\n[model]\nchannels = 4\nrefine_channels = 4\nlayers = 2\nstages = 2\n")
    out = tmp_path / "cv"
    assert folds_module.main(["--data", str(tmp_path / "MTL-ERA"), "--out", str(out), "--config", str(config),
                              "--folds", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The published train split is 03, 01 (in that order); the published val video 02 is never read.
    assert [f["val"] for f in report["folds"]] == [["03"], ["01"]]
    assert [f["frames"] for f in report["folds"]] == [9, 12]
    for k, (train, val) in enumerate([("01", "03"), ("03", "01")]):
        splits = out / f"fold{k}" / "data" / "Data" / "UW" / "EDTCN" / "TrainValSplits"
        for name, want in (("train.npy", train), ("val.npy", val)):
            saved = np.load(splits / name)
            assert saved.dtype == np.dtype("<U2") and saved.tolist() == [want]
        poses = sorted((out / f"fold{k}" / "data" / "Data" / "UW" / "Poses").iterdir())
        assert [p.name for p in poses] == ["01_pose3d.npy", "03_pose3d.npy"] and all(p.is_symlink() for p in poses)
        assert poses[0].resolve() == (tmp_path / "MTL-ERA" / "Data" / "UW" / "Poses" / "01_pose3d.npy").resolve()
        run = json.loads((out / f"fold{k}" / "run" / "run.json").read_text())
        assert run["splits"]["train"] == [f"uwiom:{train}"] and run["splits"]["published_val"] == [f"uwiom:{val}"]
    f1 = [f["metrics"]["f1@10"] for f in report["folds"]]
    assert report["summary"]["f1@10"]["mean"] == pytest.approx(np.mean(f1))
    assert report["summary"]["f1@10"]["sd"] == pytest.approx(np.std(f1, ddof=1))
    assert set(report["summary"]) >= {"accuracy", "edit", "f1@10", "reba_mse"}
    # Per-class segment counts per fold (what `ergoedge evaluate` gives) and summed over the folds.
    for key in ("true", "missed", "invented"):
        assert sum(c[key] for c in report["segments@10"].values()) == sum(
            c[key] for f in report["folds"] for c in f["segments@10"].values())
    assert sum(c["true"] for c in report["segments@10"].values()) > 0
    # Frames per class likewise, the recall taken from the sums: every labelled frame of every fold once.
    frames = report["frames_by_class"]
    assert sum(c["frames"] for c in frames.values()) == sum(
        c["frames"] for f in report["folds"] for c in f["frames_by_class"].values()) > 0
    for name, c in frames.items():
        assert c["right"] == sum(f["frames_by_class"].get(name, {}).get("right", 0) for f in report["folds"])
        assert c["recall"] == (pytest.approx(100 * c["right"] / c["frames"]) if c["frames"] else None)
    # Every video's own figures (one a fold here) and their means over all the folds' videos.
    videos = [row for f in report["folds"] for row in f["by_sequence"]]
    assert [(v["sequence"], v["frames"]) for v in videos] == [("03", 9), ("01", 12)]
    assert report["sequence_means"]["f1@10"] == pytest.approx(np.mean([v["f1@10"] for v in videos]))
    assert report["sequence_means"]["reba_mse_sd"] == pytest.approx(np.std([v["reba_mse"] for v in videos]))


def test_a_class_put_right(folds_module):
    true = np.array([0, 0, 1, 1, 1, -1, 2, 2])
    pred = np.array([1, 0, 0, 1, 2, 1, 1, 2])
    # Class 1: frames 2-4 are 1; frame 0 (wrongly 1) gets its true 0; frame 5 (unlabelled) and 6 (wrongly 1, true 2)
    # -> 5 keeps its 1 (no truth), 6 gets 2; frames 1, 7 keep theirs.
    assert folds_module.class_put_right(pred, true, 1).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]
    assert pred.tolist() == [1, 0, 0, 1, 2, 1, 1, 2]  # not changed in place


def test_with_val_folds_the_val_videos_too(tmp_path, folds_module, capsys):
    make_uwiom(tmp_path / "MTL-ERA")
    config = tmp_path / "tiny.toml"
    config.write_text("[train]\nepochs = 1\n[model]\nchannels = 4\nrefine_channels = 4\nlayers = 2\nstages = 1\n")
    assert folds_module.main(["--data", str(tmp_path / "MTL-ERA"), "--out", str(tmp_path / "cv"), "--config",
                              str(config), "--folds", "3", "--with-val"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(f["val"], f["frames"]) for f in report["folds"]] == [(["03"], 9), (["01"], 12), (["02"], 15)]
    train = np.load(tmp_path / "cv" / "fold2" / "data" / "Data" / "UW" / "EDTCN" / "TrainValSplits" / "train.npy")
    assert train.tolist() == ["03", "01"]
    # --oracle: each fold scored again with one class put right: never fewer frames right.
    assert folds_module.main(["--data", str(tmp_path / "MTL-ERA"), "--out", str(tmp_path / "cv2"), "--config",
                              str(config), "--folds", "3", "--with-val", "--oracle", "walking"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["oracle"]["class"] == "walking"
    for fold in report["folds"]:
        assert fold["oracle"]["accuracy"] >= fold["metrics"]["accuracy"]
    assert report["oracle"]["summary"]["accuracy"]["mean"] == pytest.approx(
        np.mean([f["oracle"]["accuracy"] for f in report["folds"]]))
    assert folds_module.main(["--data", str(tmp_path / "MTL-ERA"), "--out", str(tmp_path / "cv3"), "--config",
                              str(config), "--folds", "3", "--with-val", "--oracle", "dancing"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the first fold's training progress
    assert last.startswith("uwiom_folds: --oracle 'dancing' is not one of the model's classes: walking, ")


def test_a_folder_without_the_release_splits_is_one_line_and_exit_2(tmp_path, folds_module, capsys):
    assert folds_module.main(["--data", str(tmp_path), "--out", str(tmp_path / "cv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("uwiom_folds: ") and "Data/UW" in err and "\n" not in err
