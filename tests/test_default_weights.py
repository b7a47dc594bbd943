"""The default weights (edge/train/defaults.py): their manifest and cache, and that the weights set-up trains load,
run, and recognise synthetic activities they never saw."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from edge.artifacts import (  # noqa: E402
    DEFAULT_WEIGHTS,
    WEIGHTS_MANIFEST,
    ModelError,
    load_weights_manifest,
    models_dir,
    weights_path,
)
from edge.train import defaults  # noqa: E402
from edge.streaming.model import stepped_frames  # noqa: E402
from edge.train.batches import make_item  # noqa: E402
from edge.train.checkpoint import load_checkpoint  # noqa: E402
from edge.train.config import read_run_config  # noqa: E402
from edge.train.data import apply_groups, prepare, read_groups  # noqa: E402
from edge.train.evaluate import predict, task_metrics  # noqa: E402


def _fake_training(calls):
    """A stand-in for `_train_one` that writes a small file and records the call."""

    def train_one(d, name, key, log):
        calls.append(name)
        (d / f"{name}.pt").write_bytes(f"{name}:{key}".encode())
        from edge.artifacts import sha256_file

        return {"file": f"{name}.pt", "sha256": sha256_file(d / f"{name}.pt"), "bytes": 10, "key": key}

    return train_one


def test_install_trains_once_per_recipe_and_code(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(defaults, "_train_one", _fake_training(calls))
    manifest = defaults.install_default_weights(tmp_path, log=lambda _m: None)
    assert calls == list(DEFAULT_WEIGHTS) and sorted(manifest["models"]) == sorted(DEFAULT_WEIGHTS)
    assert weights_path("edge_stream", tmp_path) == tmp_path / "edge_stream.pt"
    defaults.install_default_weights(tmp_path, log=lambda _m: None)
    assert calls == list(DEFAULT_WEIGHTS)  # up to date: nothing trained
    real_key = defaults.recipe_key
    monkeypatch.setattr(defaults, "recipe_key", lambda name: real_key(name) + ("x" if name == "lifter_2d3d" else ""))
    defaults.install_default_weights(tmp_path, log=lambda _m: None)
    assert calls == [*DEFAULT_WEIGHTS, "lifter_2d3d"]  # only the model whose recipe or code changed
    (tmp_path / "edge_stream.pt").write_bytes(b"tampered")
    with pytest.raises(ModelError, match=r"edge_stream.pt \(changed\)"):
        weights_path("edge_stream", tmp_path)
    defaults.install_default_weights(tmp_path, log=lambda _m: None)  # a changed file is made again
    assert calls[-1] == "edge_stream" and weights_path("edge_stream", tmp_path).read_bytes() != b"tampered"
    assert not list(tmp_path.glob(".train-*"))


def test_weights_manifest_errors(tmp_path):
    with pytest.raises(ModelError, match="no default weights.*train-defaults"):
        weights_path("edge_stream", tmp_path)
    with pytest.raises(ModelError, match="unknown default model"):
        weights_path("mtl_gcn_edtcn", tmp_path)
    (tmp_path / WEIGHTS_MANIFEST).write_text(json.dumps({"format": 1, "models": {"edge_stream": {
        "file": "edge_stream.pt", "sha256": "0" * 64}}}))
    with pytest.raises(ModelError, match=r"edge_stream.pt \(missing\)"):
        load_weights_manifest(tmp_path)
    (tmp_path / WEIGHTS_MANIFEST).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        weights_path("edge_stream", tmp_path)
    # JSON of the wrong shape is one line too, not an AttributeError
    for wrong, message in ([], "another version"), ({"format": 1}, "incomplete"), \
            ({"format": 1, "models": {"edge_stream": "edge_stream.pt"}}, r"edge_stream.pt \(not a manifest entry\)"):
        (tmp_path / WEIGHTS_MANIFEST).write_text(json.dumps(wrong))
        with pytest.raises(ModelError, match=message):
            weights_path("edge_stream", tmp_path)


def test_the_recipe_key_follows_recipe_code_and_versions(tmp_path, monkeypatch):
    key = defaults.recipe_key("edge_stream")
    assert key == defaults.recipe_key("edge_stream") != defaults.recipe_key("lifter_2d3d")
    assert len(defaults.code_digest()) == 64
    # Each input changes the key: the recipe's text, a file of the code that decides the weights, every version.
    recipe = tmp_path / "edge_stream.toml"
    recipe.write_text(defaults.recipe_path("edge_stream").read_text() + "\n# changed\n")
    with monkeypatch.context() as m:
        m.setattr(defaults, "recipe_path", lambda name: recipe)
        assert defaults.recipe_key("edge_stream") != key
    code = tmp_path / "edge"
    shutil.copytree(defaults.EDGE_ROOT, code, ignore=shutil.ignore_patterns("__pycache__"))
    with monkeypatch.context() as m:
        m.setattr(defaults, "EDGE_ROOT", code)
        assert defaults.recipe_key("edge_stream") == key  # the same files elsewhere: the same key
        (code / "models" / "edge_stream.py").write_text((code / "models" / "edge_stream.py").read_text() + "\n")
        assert defaults.recipe_key("edge_stream") != key
    for module, attribute in ((defaults, "__version__"), (torch, "__version__"), (np, "__version__")):
        with monkeypatch.context() as m:
            m.setattr(module, attribute, "0.0.0")
            assert defaults.recipe_key("edge_stream") != key, (module.__name__, attribute)
    assert defaults.training_command("edge_stream") == [
        "ergoedge", "train", "--model", "edge_stream", "--dataset", "synthetic", "--config",
        "edge/data/recipes/edge_stream.toml", "--out", "RUN"]


# --------------------------------------------------------------------------------- the weights set-up provides


@pytest.fixture(scope="module")
def default_weights():
    """The models directory with the default weights (set-up trains them; instant when they are there)."""
    defaults.install_default_weights(log=lambda _m: None)
    return models_dir()


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _fresh_synthetic(name: str, minutes: float, seed: int):
    """Synthetic data like the recipe's, from a seed its training never used (recordings are seeded by (seed, k))."""
    from edge.datasets.synth.generator import generate

    config = read_run_config(defaults.recipe_path(name))[0]
    data = config.data
    assert data.synth_seed != seed
    return generate(minutes, seed, replace(data.synth, layouts=(data.layout,))), config


def test_default_weights_are_small_and_rebuild_their_models(default_weights):
    manifest = load_weights_manifest(default_weights)
    for name in DEFAULT_WEIGHTS:
        path = weights_path(name, default_weights)
        assert path.stat().st_size <= defaults.MAX_BYTES
        info = manifest["models"][name]
        assert info["key"] == defaults.recipe_key(name) and info["command"].startswith("ergoedge train --model")
        ckpt = load_checkpoint(path)
        assert ckpt.model == name and ckpt.run["dataset"] == "synthetic" and ckpt.run["data"] is None
    stream = load_checkpoint(weights_path("edge_stream", default_weights))
    assert stream.spec.layout == "uwiom15"  # what UW-IOM is scored in; the device maps BlazePose onto it
    assert stream.spec.classes == ("walk", "stand", "bend", "reach_high", "handle_mid")
    assert "reba_trunk" in stream.spec.partials
    assert load_checkpoint(weights_path("lifter_2d3d", default_weights)).spec.layout == "coco17"


def test_default_edge_stream_recognises_unseen_synthetic_activities(default_weights, torch_threads):
    ckpt = load_checkpoint(weights_path("edge_stream", default_weights))
    seqs, config = _fresh_synthetic("edge_stream", 6.0, seed=2024)
    groups = read_groups(config.data.groups)
    seqs = prepare(apply_groups(seqs, groups, "test"), replace(config.data, fps=ckpt.spec.fps))
    items = [make_item(s, ckpt.spec, ckpt.norm) for s in seqs]
    model = ckpt.build()
    metrics = task_metrics(ckpt.task, items, predict(model, items), ckpt.spec.partials)
    assert metrics["accuracy"] > 60.0  # chance: 20 % (5 classes); measured 85.7 %
    assert metrics["reba_mae"] < 1.5  # measured 0.96
    # one frame at a time, as the device runs it, gives the same classes, each `delay` steps later (a second)
    delay = ckpt.config.delay
    assert delay == 10
    item = items[0]
    joints = torch.from_numpy(np.nan_to_num(item.joints[:200], nan=0.0))[None]
    whole = model({"joints": joints, "mask": torch.ones(1, 200, dtype=torch.bool)})["activity_logits"][0]
    state = model.initial_state(1)
    with torch.no_grad():
        steps = []
        for t in stepped_frames(200, delay):
            out, state = model.step(state, joints[:, t])
            steps.append(out["activity_logits"][0])
    assert torch.allclose(torch.stack(steps[delay:]), whole, atol=1e-4)


def test_default_lifter_lifts_unseen_synthetic_keypoints(default_weights, torch_threads):
    ckpt = load_checkpoint(weights_path("lifter_2d3d", default_weights))
    seqs, config = _fresh_synthetic("lifter_2d3d", 2.0, seed=2024)
    seqs = prepare(seqs, replace(config.data, fps=ckpt.spec.fps))
    items = [make_item(s, ckpt.spec, ckpt.norm) for s in seqs]
    metrics = task_metrics(ckpt.task, items, predict(ckpt.build(), items))
    # the mean pose of the sequence (no lifting at all) as the baseline to beat
    mean_pose = np.mean([np.nanmean(np.linalg.norm(i.joints - np.nanmean(i.joints, axis=0), axis=-1))
                         for i in items])
    assert metrics["mpjpe_heading"] < 0.5 * mean_pose  # measured: 0.055 against 0.135 (body-scale units)
