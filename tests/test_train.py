"""The training stage (edge/train): data, normalisation and batches by hand; then `ergoedge train` and `ergoedge
evaluate` with a tiny model of the test's own (tests/train_helpers.py) on synthetic data and on a fixture of the
MTL-ERA UW-IOM release: the loss falls, checkpoints rebuild their model, resume continues exactly, early stopping
stops, seeds reproduce, two torchrun processes train on different data into one model, bad input is one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training stage needs torch (the train extra)")

from edge.cli import main
from edge.datasets.sequence import Sequence
from edge.datasets.synth.activities import ACTIVITIES
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.errors import InputError
from edge.models.base import REBA_PARTIALS, DataSpec
from edge.train.batches import collate, make_item, training_items, window_starts
from edge.train.checkpoint import load_checkpoint, save_checkpoint, state_digest
from edge.train.config import DataConfig, NormConfig
from edge.train.data import apply_groups, group_key, split_keys
from edge.train.normalise import body_scale, normalise_joints, normalise_keypoints, rotation_to_z

import train_helpers  # tests/ is on sys.path under pytest
from dataset_fixtures import make_uwiom

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
# Synthetic data of about 4 short recordings (4 people), windows of 64 frames at 10 fps.
SMALL = """
[train]
epochs = {epochs}
batch_size = 4
lr = 0.01
patience = {patience}
min_delta = {min_delta}
[data]
synth_minutes = 1.2
window_s = 6.4
stride_s = 3.2
[data.synth]
recording_minutes = [0.25, 0.4]
"""


@pytest.fixture
def tiny(monkeypatch):
    train_helpers.register(monkeypatch)



def small_config(tmp_path, epochs=4, patience=0, min_delta=0.0, name="c.toml") -> str:
    path = tmp_path / name
    path.write_text(SMALL.format(epochs=epochs, patience=patience, min_delta=min_delta))
    return str(path)


def train_synthetic(tmp_path, out, *extra, **config) -> Path:
    argv = ["train", "--model", "tiny", "--dataset", "synthetic", "--config", small_config(tmp_path, **config),
            "--out", str(tmp_path / out), *extra]
    assert main(argv) == 0
    return tmp_path / out


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------------------- normalisation, data, batches


def test_normalisation_turns_up_to_z_centres_the_pelvis_and_scales_the_body():
    joints_z = example_lift_sequence(seconds=1.0, fps=10, layout="h36m17", up="z")
    # The same body recorded with y down (up = -y): x, y, z -> x, -z, y.
    joints_y = np.stack([joints_z[..., 0], -joints_z[..., 2], joints_z[..., 1]], axis=-1)
    assert np.allclose(rotation_to_z(np.array([0.0, -1.0, 0.0])) @ [0, -1, 0], [0, 0, 1])
    assert np.allclose(rotation_to_z(np.array([0.0, 0.0, -1.0])) @ [0, 0, -1], [0, 0, 1])
    a, scale_a = normalise_joints(joints_z, np.array([0, 0, 1.0]), "h36m17", NormConfig())
    b, scale_b = normalise_joints(joints_y, np.array([0, -1.0, 0]), "h36m17", NormConfig())
    assert np.allclose(a, b, atol=1e-5) and scale_a == pytest.approx(scale_b)
    assert np.abs(a[:, 0]).max() < 1e-6  # h36m joint 0 is the pelvis: at the origin in every frame
    # The scale: median trunk + mean median (thigh + shank), here measured on the example body directly.
    trunk = np.linalg.norm(joints_z[:, 8] - joints_z[:, 0], axis=1)
    legs = [np.linalg.norm(joints_z[:, h] - joints_z[:, k], axis=1) + np.linalg.norm(joints_z[:, k] - joints_z[:, f],
                                                                                     axis=1)
            for h, k, f in ((4, 5, 6), (1, 2, 3))]
    assert scale_a == pytest.approx(np.median(trunk) + np.mean([np.median(x) for x in legs]), rel=1e-3)
    assert body_scale(joints_z, "h36m17") == pytest.approx(scale_a) and 1.2 < scale_a < 1.5  # an adult's, metres
    # "first" keeps the path: the pelvis moves as in metres / scale; "none" keeps metres.
    first, _ = normalise_joints(joints_z, np.array([0, 0, 1.0]), "h36m17", NormConfig(root="first"))
    assert np.allclose(first[:, 0] - first[0, 0], (joints_z[:, 0] - joints_z[0, 0]) / scale_a, atol=1e-5)
    raw, one = normalise_joints(joints_z, np.array([0, 0, 1.0]), "h36m17", NormConfig(root="none", scale="none"))
    assert one == 1.0 and np.allclose(raw, joints_z, atol=1e-6)
    with pytest.raises(InputError, match="body scale is unknown"):
        normalise_joints(np.full_like(joints_z, np.nan), np.array([0, 0, 1.0]), "h36m17", NormConfig())


def test_keypoints_go_into_the_person_box():
    kp = np.array([[[100, 200, 0.9], [300, 600, 0.8], [500, 500, 0.0], [np.nan, np.nan, 0.0]]], dtype=float)
    out = normalise_keypoints(kp)
    # Seen: (100, 200) and (300, 600): box centre (200, 400), longer side 400.
    assert np.allclose(out[0, :2], [[-0.25, -0.5, 0.9], [0.25, 0.5, 0.8]])
    assert np.allclose(out[0, 2:], 0.0)


def test_windows_cover_every_frame_and_collate_pads_at_the_end():
    assert window_starts(10, 64, 32) == [0]
    assert window_starts(100, 64, 32) == [0, 32, 36]
    assert window_starts(100, 64, 32, offset=5) == [5, 36]
    spec = DataSpec(layout="uwiom15", classes=("a", "b"), partials=("reba_trunk",), fps=10.0)
    seqs = [Sequence(layout="uwiom15", fps=10.0, up=np.array([0, 0, 1.0]),
                     joints=example_lift_sequence(seconds=n / 10, fps=10, layout="uwiom15", up="z"),
                     activity=np.arange(n) % 2, activity_names=("a", "b"),
                     targets={"reba_total": np.full(n, 3.0), "reba_trunk": np.full(n, 2.0)},
                     metadata={"source": "t", "video": str(n)}) for n in (5, 8)]
    seqs[0].joints[1, 3] = np.nan  # a joint not seen
    batch = collate([make_item(s, spec, NormConfig()) for s in seqs])
    assert batch["joints"].shape == (2, 8, 15, 3) and batch["reba_partials"].shape == (2, 8, 1)
    assert batch["mask"].sum(1).tolist() == [5, 8] and batch["mask"][0, :5].all()
    assert batch["activity"][0].tolist() == [0, 1, 0, 1, 0, -1, -1, -1]
    assert torch.isnan(batch["reba"][0, 5:]).all() and (batch["reba"][0, :5] == 3).all()
    assert (batch["joints"][0, 5:] == 0).all() and (batch["joints"][0, 1, 3] == 0).all()
    assert torch.isfinite(batch["joints"]).all() and torch.isnan(batch["quality"]).all()
    assert "keypoints2d" not in batch


def test_windows_read_their_context_unscored():
    """data.context_s / context_after_s: each window reads up to that much of the recording before / after it; those
    frames are the model's input and nobody's loss (unlabelled, REBA unknown); at the recording's ends there is none."""
    from edge.train.config import DataConfig

    spec = DataSpec(layout="uwiom15", classes=("a", "b"), partials=("reba_trunk",), fps=10.0)
    n = 100
    seq = Sequence(layout="uwiom15", fps=10.0, up=np.array([0, 0, 1.0]),
                   joints=example_lift_sequence(seconds=n / 10, fps=10, layout="uwiom15", up="z"),
                   activity=np.arange(n) % 2, activity_names=("a", "b"),
                   targets={"reba_total": np.arange(n, dtype=float), "reba_trunk": np.full(n, 2.0)},
                   metadata={"source": "t", "video": "v"})
    whole = make_item(seq, spec, NormConfig())
    plain = training_items([seq], spec, DataConfig(window_s=3.2, stride_s=3.2), whole=False,
                           rng=np.random.default_rng(0))
    assert {i.num_frames for i in plain} == {32}
    for before_s, after_s in ((1.5, 0.0), (0.0, 2.0), (1.5, 2.0)):
        config = DataConfig(window_s=3.2, stride_s=3.2, context_s=before_s, context_after_s=after_s)
        items = training_items([seq], spec, config, whole=False, rng=np.random.default_rng(0))
        assert len(items) == len(plain)
        for item, bare in zip(items, plain):
            start = int(bare.name.rsplit("@", 1)[1])
            first = int(item.name.rsplit("@", 1)[1])
            before, after = start - first, item.num_frames - 32 - (start - first)
            assert before == min(start, round(10 * before_s)) and after == min(n - start - 32, round(10 * after_s))
            np.testing.assert_array_equal(item.joints, whole.joints[first:first + item.num_frames])  # real input
            scored = slice(before, before + 32)
            np.testing.assert_array_equal(item.activity[scored], bare.activity)  # the window scored as before
            np.testing.assert_array_equal(item.reba[scored], bare.reba)
            context = np.r_[0:before, before + 32:item.num_frames]
            assert (item.activity[context] == -1).all() and np.isnan(item.reba[context]).all()
            assert np.isnan(item.partials[context]).all()
        assert any(i.num_frames > 32 for i in items)
    with pytest.raises(InputError, match="data.context_s"):
        DataConfig(context_s=-1.0)


def test_progress_bar_redraws_on_a_terminal_only():
    import io

    from edge.train.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen, log = Terminal(), io.StringIO()
    for stream in (screen, log):
        bar = Progress(stream, 4, "epoch 1/3")
        bar.update(2, "loss 0.5")
        bar.update(4, "loss 0.4")
        bar.clear()
    assert "\repoch 1/3 [############------------] 2/4 loss 0.5" in screen.getvalue()
    assert "[########################] 4/4 loss 0.4" in screen.getvalue() and log.getvalue() == ""


def test_splits_keep_subjects_apart_and_follow_the_seed():
    seqs = [Sequence(layout="uwiom15", fps=10.0, up=np.array([0, 0, 1.0]), joints=np.zeros((3, 15, 3)),
                     metadata={"source": "kimore", "subject": f"s{i % 5}", "exercise": i}) for i in range(10)]
    config = DataConfig(val_fraction=0.2, test_fraction=0.2)
    keys = split_keys(seqs, config, seed=1)
    assert (len(keys["train"]), len(keys["val"]), len(keys["test"])) == (3, 1, 1)
    assert set(keys["train"]) | set(keys["val"]) | set(keys["test"]) == {f"kimore:s{i}" for i in range(5)}
    assert split_keys(seqs, config, seed=1) == keys
    assert any(split_keys(seqs, config, seed=s)["val"] != keys["val"] for s in range(2, 6))
    assert group_key(seqs[7]) == "kimore:s2"
    with pytest.raises(InputError, match="nothing can be held out"):
        split_keys(seqs[:1], config, seed=1)


def test_data_sets_by_name_read_their_folders(tmp_path):
    from edge.datasets.synth.generator import write_synth
    from edge.train.data import load_dataset

    write_synth(tmp_path / "synth", 0.4, 3)  # what `ergoedge synth` writes: blazepose33
    seqs = load_dataset("synthetic", tmp_path / "synth", DataConfig())
    assert {s.layout for s in seqs} == {"blazepose33"} and seqs[0].activity_names == ACTIVITIES
    assert group_key(seqs[0]) == "synthetic:synth-3-0"
    with pytest.raises(InputError, match="no sequences in layout coco17 \\(found blazepose33\\)"):
        load_dataset("synthetic", tmp_path / "synth", DataConfig(layout="coco17"))
    made = load_dataset("synthetic", None, DataConfig(synth_minutes=0.2))
    assert {s.layout for s in made} == {"uwiom15"} and made[0].fps == 30.0
    with pytest.raises(InputError, match="needs its skeleton layout"):
        load_dataset("folder", tmp_path, DataConfig())
    with pytest.raises(InputError, match="unknown data set 'nope'"):
        load_dataset("nope", tmp_path, DataConfig())


def test_groups_map_classes_and_refuse_unknown_names():
    seq = Sequence(layout="uwiom15", fps=10.0, up=np.array([0, 0, 1.0]), joints=np.zeros((4, 15, 3)),
                   activity=np.array([0, 1, 2, -1]), activity_names=("walk", "carry", "kneel"))
    out = apply_groups([seq], {"move": ("walk", "carry")}, "g.toml")[0]
    assert out.activity.tolist() == [0, 0, -1, -1] and out.activity_names == ("move",)
    with pytest.raises(InputError, match="'crawl' not among the data set's classes"):
        apply_groups([seq], {"move": ("walk", "crawl")}, "g.toml")


# ------------------------------------------------------------------------------------------------ training runs


def test_loss_falls_and_the_run_records_itself(tmp_path, tiny):
    run = train_synthetic(tmp_path, "run", epochs=6)
    lines = history(run)
    assert [h["epoch"] for h in lines] == [1, 2, 3, 4, 5, 6]
    train_loss = [h["train"]["loss"] for h in lines]
    assert train_loss[-1] < 0.8 * train_loss[0]
    val_loss = [h["val"]["loss"] for h in lines]
    assert min(val_loss) < val_loss[0] and lines[int(np.argmin(val_loss))]["best"]
    assert {"f1@10", "edit", "accuracy", "map", "reba_mse", "partials_mse"} <= set(lines[-1]["val"])
    assert 0 <= lines[-1]["val"]["accuracy"] <= 100 and lines[-1]["processes"][0]["windows"] > 4
    record = json.loads((run / "run.json").read_text())
    assert record["model"] == "tiny" and record["dataset"] == "synthetic" and record["seed"] == 0
    assert record["train_config"]["data"]["window_s"] == 6.4 and record["processes"] == 1
    assert record["versions"]["torch"] == torch.__version__ and record["command"]
    assert set(record["splits"]["val"]).isdisjoint(record["splits"]["train"]) and record["splits"]["val"]
    assert record["result"]["epochs"] == 6 and not record["result"]["stopped_early"]
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = load_checkpoint(run / "best.pt")
    assert best.epoch == record["result"]["best_epoch"] and best.spec.classes == ACTIVITIES
    assert best.spec.partials == REBA_PARTIALS and best.spec.fps == 10.0 and best.spec.layout == "uwiom15"


def test_checkpoint_rebuilds_its_model_with_equal_outputs(tmp_path, tiny, capsys):
    spec = DataSpec(layout="uwiom15", classes=("a", "b", "c"), partials=("reba_neck",), fps=10.0)
    config = train_helpers.TinyConfig(data=spec, hidden=7)
    torch.manual_seed(3)
    model = train_helpers.Tiny(config).eval()
    path = save_checkpoint(tmp_path / "m.pt", "tiny", config, model, NormConfig(root="first"), 5,
                           {"seed": np.int64(3), "note": "x"})
    ckpt = load_checkpoint(path)
    assert ckpt.config == config and ckpt.norm == NormConfig(root="first") and ckpt.epoch == 5
    assert ckpt.run == {"seed": 3, "note": "x"} and ckpt.version and ckpt.task == "segmentation+reba"
    rebuilt = ckpt.build()
    batch = {"joints": torch.randn(2, 9, 15, 3), "mask": torch.ones(2, 9, dtype=torch.bool)}
    with torch.no_grad():
        for name, value in model(batch).items():
            assert torch.equal(value, rebuilt(batch)[name]), name
    assert state_digest(rebuilt.state_dict()) == state_digest(model.state_dict())
    raw = torch.load(path, weights_only=True)
    assert (raw["layout"], raw["classes"], raw["partials"]) == ("uwiom15", ["a", "b", "c"], ["reba_neck"])
    raw["state_dict"]["conv.bias"][0] += 1.0
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="do not match their recorded digest"):
        load_checkpoint(tmp_path / "bad.pt")
    raw = torch.load(path, weights_only=True)
    for change, message in (({"model": None}, "field 'model' missing or malformed"),
                            ({"run": []}, "field 'run' missing or malformed"),
                            ({"state_dict": {"conv.bias": "x"}}, "do not match their recorded digest")):
        torch.save({**raw, **change}, tmp_path / "bad.pt")
        with pytest.raises(InputError, match=message):
            load_checkpoint(tmp_path / "bad.pt")
    (tmp_path / "run").mkdir()  # a sound checkpoint that `ergoedge train` did not make: no run record to evaluate by
    shutil.copy(path, tmp_path / "run" / "best.pt")
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", "synthetic", "--split", "val"]) == 2
    assert "its run record lacks 'train_config'" in capsys.readouterr().err


def test_resume_continues_exactly_and_seeds_reproduce(tmp_path, tiny, capsys):
    whole = train_synthetic(tmp_path, "whole", epochs=4)
    part = train_synthetic(tmp_path, "part", epochs=2)
    assert len(history(part)) == 2
    before = (part / "last.pt").read_bytes()
    assert main(["train", "--model", "tiny", "--dataset", "synthetic", "--out", str(part), "--resume",
                 "--epochs", "1"]) == 2  # fewer than done: refused, the run untouched
    assert "has trained 2 epochs already" in capsys.readouterr().err
    assert (part / "last.pt").read_bytes() == before and len(history(part)) == 2
    assert main(["train", "--model", "tiny", "--dataset", "synthetic", "--out", str(part), "--resume",
                 "--epochs", "4"]) == 0
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(part / "last.pt")
    assert b.epoch == 4 and b.training["epoch"] == 4
    assert state_digest(a.state_dict) == state_digest(b.state_dict)
    strip = lambda h: {k: v for k, v in h.items() if k != "seconds"}
    assert [strip(h) for h in history(whole)] == [strip(h) for h in history(part)]
    assert len(json.loads((part / "run.json").read_text())["resumed"]) == 1
    # The same seed gives the same weights; another seed other ones.
    again = train_synthetic(tmp_path, "again", epochs=2)
    other = train_synthetic(tmp_path, "other", "--seed", "5", epochs=2)
    digest = lambda run: load_checkpoint(run / "last.pt").state_dict
    part_two = json.loads((again / "run.json").read_text())["result"]["state_digests"][0]
    assert state_digest(digest(again)) == part_two
    assert history(again)[1]["train"] == history(whole)[1]["train"]
    assert state_digest(digest(other)) != part_two


def test_early_stopping_stops_after_patience(tmp_path, tiny):
    run = train_synthetic(tmp_path, "run", epochs=20, patience=2, min_delta=1e6)
    lines = history(run)
    assert [h["best"] for h in lines] == [True, False, False]
    result = json.loads((run / "run.json").read_text())["result"]
    assert result["stopped_early"] and result["best_epoch"] == 1 and result["epochs"] == 3
    assert load_checkpoint(run / "best.pt").epoch == 1 and load_checkpoint(run / "last.pt").epoch == 3
    # keep = "last": the same run goes on to its last epoch, which best.pt then holds; validation still logged.
    config = Path(small_config(tmp_path, epochs=4, patience=2, min_delta=1e6, name="last.toml"))
    config.write_text(config.read_text().replace("[train]\n", '[train]\nkeep = "last"\n'))
    assert main(["train", "--model", "tiny", "--dataset", "synthetic", "--config", str(config), "--out",
                 str(tmp_path / "last")]) == 0
    result = json.loads((tmp_path / "last" / "run.json").read_text())["result"]
    assert not result["stopped_early"] and result["epochs"] == 4
    assert (result["best_epoch"], result["kept_epoch"]) == (1, 4)
    assert load_checkpoint(tmp_path / "last" / "best.pt").epoch == 4
    assert [h["best"] for h in history(tmp_path / "last")] == [True, False, False, False]
    assert all(h["val"]["loss"] > 0 for h in history(tmp_path / "last"))


def test_model_defaults_under_the_file_and_coarse_class_groups(tmp_path, tiny, monkeypatch, capsys):
    from dataclasses import replace

    from edge.models.registry import MODELS

    # The registry's train_defaults sit under the --config file: where both set a value the file wins.
    monkeypatch.setitem(MODELS, "tiny", replace(MODELS["tiny"], train_defaults={
        "train": {"epochs": 2, "weight_decay": 0.05}, "data": {"window_s": 12.8, "val_fraction": 0.3}}))
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "coarse.toml").write_text(  # twist is left out: unlabelled
        'move = ["walk", "carry", "push_pull"]\nlow = ["stoop_lift", "squat_lift", "place_low", "kneel"]\n'
        'up = ["stand", "reach_overhead", "place_mid", "place_high"]\n')
    config = small_config(tmp_path, epochs=3)
    text = Path(config).read_text().replace("[data]\n", '[data]\ngroups = "groups/coarse.toml"\n')
    Path(config).write_text(text)  # relative to the config file's folder
    assert main(["train", "--model", "tiny", "--dataset", "synthetic", "--config", config, "--out",
                 str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    used = record["train_config"]
    assert (used["epochs"], used["weight_decay"], used["data"]["window_s"], used["data"]["val_fraction"]) == (
        3, 0.05, 6.4, 0.3)
    assert record["groups"]["move"] == ["walk", "carry", "push_pull"] and len(record["groups"]) == 3
    assert load_checkpoint(tmp_path / "run" / "best.pt").spec.classes == ("move", "low", "up")
    capsys.readouterr()
    # The run's groups serve its own data set again at evaluation (the file is no longer needed).
    (tmp_path / "groups" / "coarse.toml").unlink()
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", "synthetic", "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["classes"] == ["move", "low", "up"] and result["groups"] == "the run's"
    assert 0 <= result["metrics"]["accuracy"] <= 100


def test_uwiom_release_trains_and_evaluates_end_to_end(tmp_path, tiny, capsys):
    make_uwiom(tmp_path / "MTL-ERA")
    data = str(tmp_path / "MTL-ERA")
    (tmp_path / "u.toml").write_text("[train]\nepochs = 2\n[data]\nval_fraction = 0.5\n"
                                     "[data.augment]\nrotate_deg = 30.0\n")  # augmented per video and epoch
    run = tmp_path / "run"
    assert main(["train", "--model", "tiny", "--dataset", "uwiom", "--data", data, "--config",
                 str(tmp_path / "u.toml"), "--out", str(run)]) == 0
    splits = json.loads((run / "run.json").read_text())["splits"]
    assert sorted(splits["train"] + splits["val"]) == ["uwiom:01", "uwiom:03"]
    assert splits["published_val"] == ["uwiom:02"] and len(splits["val"]) == 1
    capsys.readouterr()
    assert main(["evaluate", str(run), "--dataset", "uwiom", "--data", data, "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["sequences"], result["frames"], result["split"], result["model"]) == (1, 15, "val", "tiny")
    metrics = result["metrics"]
    assert set(metrics) == {"accuracy", "edit", "f1@10", "f1@25", "f1@50", "map", "reba_mse", "reba_mae",
                            "reba_spearman"}
    assert 0 <= metrics["accuracy"] <= 100 and metrics["reba_mse"] > 0 and len(result["classes"]) == 17
    # Per class, F1@10's own counts: they give back its F1.
    segments = result["segments@10"]
    assert set(segments) <= set(result["classes"]) and segments
    tp = sum(c["true"] - c["missed"] for c in segments.values())
    fp, fn = (sum(c[k] for c in segments.values()) for k in ("invented", "missed"))
    assert metrics["f1@10"] == pytest.approx(100 * 2 * tp / (2 * tp + fp + fn))
    assert all(0 <= c["missed"] <= c["true"] and 0 <= c["invented"] <= c["predicted"] for c in segments.values())
    # Per class, frames: every labelled frame once on each side, and the right ones give back the accuracy.
    frames = result["frames_by_class"]
    assert set(frames) <= set(result["classes"]) and frames
    labelled = sum(c["frames"] for c in frames.values())
    assert 0 < labelled <= result["frames"] and sum(c["predicted"] for c in frames.values()) == labelled
    assert metrics["accuracy"] == pytest.approx(100 * sum(c["right"] for c in frames.values()) / labelled)
    assert all(c["recall"] == (pytest.approx(100 * c["right"] / c["frames"]) if c["frames"] else None)
               for c in frames.values())
    # One sequence: its own figures are the pooled ones.
    (row,) = result["by_sequence"]
    assert (row["sequence"], row["frames"]) == ("02", 15)
    assert all(row[k] == pytest.approx(metrics[k])
               for k in ("accuracy", "edit", "f1@10", "reba_mse", "reba_spearman"))
    assert result["sequence_means"]["reba_mse_sd"] == 0.0
    # test: what the run neither trained nor validated on, here the published val video too.
    assert main(["evaluate", str(run), "--dataset", "uwiom", "--data", data, "--split", "test"]) == 0
    text = capsys.readouterr().out
    assert "1 sequence(s), 15 frames" in text and "f1@10" in text and "segments (F1@10 matching)" in text
    assert "frames by class" in text and "mean recall over" in text
    assert "by sequence: sequence  frames      accuracy" in text and "as WACV 2021 reports it" in text
    groups = tmp_path / "coarse.toml"
    groups.write_text('moving = ["walking", "box_walk_hold"]\n')
    assert main(["evaluate", str(run), "--dataset", "uwiom", "--data", data, "--split", "val",
                 "--groups", str(groups)]) == 2
    assert "'moving' are not among the model's" in capsys.readouterr().err


def test_sequence_means_average_each_sequence_s_own_figures_as_wacv_2021_does():
    from edge.train.batches import Item
    from edge.train.evaluate import Prediction, by_sequence, sequence_means, task_metrics

    def item(name, labels, reba):
        n = len(labels)
        return Item(name, name, np.array(labels), np.array(reba, np.float32), np.full((n, 0), np.nan, np.float32),
                    float("nan"), 1.0)

    def pred(labels, reba):
        return Prediction({"activity_logits": np.eye(2, dtype=np.float32)[labels], "reba": np.array(reba, np.float32)})

    items = [item("a", [0, 0, 0, 0], [1, 2, 3, 6]), item("b", [0, 0, 1, 1, 1, 1], [4, 3, 2, 1, 1, 1])]
    preds = [pred([0, 0, 0, 0], [1, 2, 3, 4]), pred([0, 1, 0, 1, 1, 1], [1, 2, 3, 4, 1, 1])]
    rows = by_sequence("segmentation+reba", items, preds)
    assert [(r["sequence"], r["frames"]) for r in rows] == [("a", 4), ("b", 6)]
    # b: predicted 0 1 0 1 against 0 1; the first 0 and the last 1 match (IoU 1/2, 3/4), the middle two are
    # invented: TP 2, FP 2, FN 0, F1 = 2*2 / (2*2 + 2) = 66.7; edit 1 - 2/4 = 50.
    assert [r["f1@10"] for r in rows] == pytest.approx([100.0, 200 / 3])
    assert [r["edit"] for r in rows] == pytest.approx([100.0, 50.0])
    # REBA: a's errors 0 0 0 2 (MSE 1), b's 3 1 1 3 0 0 (MSE 20/6)
    assert [r["reba_mse"] for r in rows] == pytest.approx([1.0, 20 / 6])
    means = sequence_means(rows)
    assert means["f1@10"] == pytest.approx(250 / 3) and means["edit"] == pytest.approx(75.0)
    assert means["reba_mse"] == pytest.approx((1 + 20 / 6) / 2)
    assert means["reba_mse_sd"] == pytest.approx((20 / 6 - 1) / 2)  # population sd, as WACV's numpy std
    # The pooled metrics (MS-TCN's way) sum F1's counts and every frame's error: TP 3, FP 2 -> 75; MSE 24 / 10.
    pooled = task_metrics("segmentation+reba", items, preds)
    assert pooled["f1@10"] == pytest.approx(75.0) and pooled["reba_mse"] == pytest.approx(2.4)
    assert pooled["edit"] == pytest.approx(means["edit"])
    # a's REBA prediction and truth rank alike; b's three 1s on each side share rank 2: ranks 2 4 5 6 2 2
    # against 6 5 4 2 2 2, rho = -1.5 / 15.5.
    assert [r["reba_spearman"] for r in rows] == pytest.approx([1.0, -3 / 31])
    assert by_sequence("quality", items, preds) == []


def test_torchrun_trains_two_processes_on_different_data_into_one_model(tmp_path, tiny):
    torchrun = Path(sys.executable).parent / "torchrun"
    config = small_config(tmp_path, epochs=2)
    # torchelastic keeps a log directory under the temporary directory: this test's, not the machine's /tmp
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(REPO / "tests" /
                           "train_helpers.py"), "train", "--model", "tiny", "--dataset", "synthetic", "--config",
                           config, "--out", str(tmp_path / "run")], check=False, capture_output=True, text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained 2 epoch(s) on 2 process(es)") == 1  # rank 0 alone reports
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (record["processes"], record["backend"]) == (2, "gloo")
    for line in history(tmp_path / "run"):
        first, second = line["processes"]
        assert first["windows"] == second["windows"] > 0 and first["data"] != second["data"]
    digests = record["result"]["state_digests"]
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert len(digests) == 2 and digests[0] == digests[1] == state_digest(last.state_dict)


# ---------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "nope", "--dataset", "synthetic", "--out", "{tmp}/r"], "unknown model 'nope'"),
    (["train", "--model", "tiny", "--dataset", "uwiom", "--data", "{tmp}/none", "--out", "{tmp}/r"],
     "no UW-IOM data"),
    (["train", "--model", "tiny", "--dataset", "kimore", "--out", "{tmp}/r"], "--data is needed"),
    (["train", "--model", "tiny", "--dataset", "synthetic", "--config", "{tmp}/bad.toml", "--out", "{tmp}/r"],
     "data: unknown key 'windows'"),
    (["train", "--model", "tiny", "--dataset", "synthetic", "--config", "{tmp}/keep.toml", "--out", "{tmp}/r"],
     "train.keep must be one of best, last, got 'first'"),
    (["train", "--model", "tiny", "--dataset", "synthetic", "--config", "{tmp}/groups.toml", "--out", "{tmp}/r"],
     "no such class groups file"),
    (["train", "--model", "tiny", "--dataset", "synthetic", "--out", "{tmp}/r", "--resume"], "no run to resume"),
    (["train", "--model", "tiny", "--dataset", "synthetic", "--out", "{tmp}/r", "--epochs", "x"],
     "expected a whole number"),
    (["train", "--model", "tiny", "--dataset", "synthetic", "--out", "{tmp}/r", "--epochs", "0"],
     "--epochs: must be at least 1, got 0"),
    (["evaluate", "{tmp}", "--dataset", "synthetic", "--split", "val"], "no checkpoint"),
    (["evaluate", "{tmp}", "--dataset", "synthetic", "--split", "train"], "invalid choice"),
])
def test_bad_input_is_one_line(tmp_path, tiny, capsys, argv, message):
    (tmp_path / "bad.toml").write_text("[data]\nwindows = 3\n")
    (tmp_path / "keep.toml").write_text('[train]\nkeep = "first"\n')
    (tmp_path / "groups.toml").write_text(f'[data]\ngroups = "{tmp_path / "none.toml"}"\n')
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ergoedge: error:") and message in err
    assert not (tmp_path / "r").exists()


def test_early_stopping_on_a_value_the_validation_videos_cannot_give_is_refused(tmp_path, tiny, capsys):
    from edge.train.evaluate import check_monitor

    def seq(activity=None, reba=None, partial=None, quality=None):
        targets = {} if reba is None else {"reba_total": np.asarray(reba, float)}
        if partial is not None:
            targets[REBA_PARTIALS[0]] = np.asarray(partial, float)
        return Sequence(layout="uwiom15", fps=10.0, joints=np.zeros((3, 15, 3)), up=np.array([0.0, 0.0, 1.0]),
                        activity=activity, activity_names=("a", "b") if activity is not None else (),
                        targets=targets, quality=quality)

    unlabelled = seq(activity=np.full(3, -1), reba=[np.nan] * 3, partial=[np.nan] * 3)
    for monitor, needs in (("f1@10", "activity labels"), ("edit", "activity labels"), ("reba_mse", "REBA scores"),
                           ("reba_spearman", "REBA scores"), ("partials_mse", "REBA partial scores"),
                           ("mad", "quality scores")):
        with pytest.raises(InputError, match=f"train.monitor '{monitor}' is scored against {needs}, which none of "
                                             "the 2 validation sequence"):
            check_monitor(monitor, [unlabelled, seq()])
    # One sequence that carries it is enough; "loss" needs nothing; no validation at all is not refused here.
    check_monitor("f1@10", [unlabelled, seq(activity=np.array([-1, 0, 1]))])
    check_monitor("reba_mse", [unlabelled, seq(reba=[np.nan, 3.0, np.nan])])
    check_monitor("partials_mse", [seq(partial=[1.0, 2.0, 1.0])])
    check_monitor("mad", [seq(quality=0.5)])
    check_monitor("loss", [unlabelled])
    check_monitor("reba_mse", [])
    # Through the command: UW-IOM as released has REBA totals but no partials.
    make_uwiom(tmp_path / "MTL-ERA")
    (tmp_path / "p.toml").write_text('[train]\nepochs = 2\nmonitor = "partials_mse"\n[data]\nval_fraction = 0.5\n')
    argv = ["train", "--model", "tiny", "--dataset", "uwiom", "--data", str(tmp_path / "MTL-ERA"), "--config",
            str(tmp_path / "p.toml"), "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'partials_mse' is scored against REBA partial scores" in err
    assert not (tmp_path / "run").exists()
    # With keep = "last" the monitored value keeps nothing, so it is not refused.
    (tmp_path / "p.toml").write_text('[train]\nepochs = 1\nmonitor = "partials_mse"\nkeep = "last"\n'
                                     '[data]\nval_fraction = 0.5\n')
    assert main(argv) == 0 and load_checkpoint(tmp_path / "run" / "best.pt").epoch == 1


def test_a_finished_run_is_not_overwritten(tmp_path, tiny, capsys):
    run = train_synthetic(tmp_path, "run", epochs=1)
    before = (run / "last.pt").read_bytes()
    assert main(["train", "--model", "tiny", "--dataset", "synthetic", "--out", str(run)]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    (tmp_path / "m.toml").write_text("[model]\nhidden = 8\n")
    assert main(["train", "--model", "tiny", "--dataset", "synthetic", "--out", str(run), "--resume",
                 "--config", str(tmp_path / "m.toml")]) == 2
    assert "differs from the run's own config" in capsys.readouterr().err
    assert (run / "last.pt").read_bytes() == before


def test_lifting_metrics_fit_the_heading_only_in_mpjpe_heading():
    from edge.train.batches import Item
    from edge.train.evaluate import Prediction, task_metrics

    rng = np.random.default_rng(3)
    target = rng.normal(size=(20, 17, 3)).astype(np.float32)
    target[4, 2] = np.nan  # an unseen joint is left out of every error
    turn = np.deg2rad(30.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]], np.float32)
    pred = np.nan_to_num(target) @ rotation.T
    item = Item(name="s", key="s", activity=np.full(20, -1), reba=np.full(20, np.nan, np.float32),
                partials=np.zeros((20, 0), np.float32), quality=float("nan"), scale=2.0, joints=target)
    metrics = task_metrics("lifting", [item], [Prediction(outputs={"joints3d": pred})])
    horizontal = np.linalg.norm((pred - target)[..., :2], axis=-1)
    assert metrics["mpjpe"] == pytest.approx(float(np.nanmean(horizontal)), rel=1e-5)
    assert metrics["mpjpe_m"] == pytest.approx(2.0 * metrics["mpjpe"], rel=1e-5)
    assert metrics["mpjpe"] > 0.5 and metrics["mpjpe_heading"] < 1e-5
