"""`edge_stream` (the device model): shapes, frame-by-frame equal to whole-sequence (random weights, random inputs,
after training steps, with unobserved joints), causality, the loss's masking of padded frames and unknown targets,
the loss falling on a tiny synthetic set, reproducible builds, and its registry entry."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.datasets.synth.config import SynthConfig  # noqa: E402
from edge.datasets.synth.generator import generate  # noqa: E402
from edge.models.base import REBA_PARTIALS, DataSpec  # noqa: E402
from edge.models.edge_stream import EdgeStreamConfig, build  # noqa: E402
from edge.models.registry import MODELS  # noqa: E402
from model_helpers import fit  # noqa: E402  tests/ is on sys.path under pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ("walk", "stand", "bend", "reach")
SMALL = dict(channels=16, refine_channels=12, layers=5, kernel=3, stages=3)


def make(seed=0, **overrides):
    torch.manual_seed(seed)
    return build(EdgeStreamConfig(data=DataSpec(classes=CLASSES), **{**SMALL, **overrides}))


def random_batch(b, t, seed=0, classes=len(CLASSES)):
    g = torch.Generator().manual_seed(seed)
    return {"joints": torch.randn(b, t, 15, 3, generator=g), "mask": torch.ones(b, t, dtype=torch.bool),
            "activity": torch.randint(0, classes, (b, t), generator=g),
            "reba": torch.randint(1, 12, (b, t), generator=g).float(),
            "reba_partials": torch.randint(1, 4, (b, t, len(REBA_PARTIALS)), generator=g).float()}


def streamed(model, joints):
    """Outputs of `step` frame by frame, stacked along time like `forward`'s."""
    state, rows = model.initial_state(joints.shape[0]), []
    with torch.no_grad():
        for t in range(joints.shape[1]):
            out, state = model.step(state, joints[:, t])
            rows.append(out)
    return {k: torch.stack([r[k] for r in rows], dim=1) for k in rows[0]}, state


def assert_stream_equals_whole(model, joints):
    model.eval()
    with torch.no_grad():
        whole = model({"joints": joints, "mask": torch.ones(joints.shape[:2], dtype=torch.bool)})
    steps, _ = streamed(model, joints)
    assert set(steps) == {name for name, value in whole.items() if torch.is_tensor(value)}
    for name, value in steps.items():
        assert value.shape == whole[name].shape
        assert torch.isfinite(value).all()
        assert torch.allclose(value, whole[name], rtol=0, atol=1e-5), name


def test_shapes_state_and_size():
    model = make()
    cfg = model.config
    assert cfg.receptive_field == 1 + 2 * (2 ** 5 - 1) == 63
    out = model(random_batch(2, 40))
    assert out["activity_logits"].shape == (2, 40, 4)
    assert [s.shape for s in out["activity_stages"]] == [(2, 40, 4)] * 3
    assert out["activity_stages"][-1] is out["activity_logits"]
    assert out["reba"].shape == (2, 40) and out["reba_partials"].shape == (2, 40, 9)
    state = model.initial_state(2)
    # previous frame, started flag (both read only with velocities), then per stage and layer (B, channels,
    # (kernel-1) * 2^layer) of input history
    assert len(state) == 2 + 3 * 5 and all(isinstance(s, torch.Tensor) for s in state)
    assert state[0].shape == (2, 45) and state[1].shape == (2, 1)
    assert [s.shape for s in state[2:7]] == [(2, 16, 2 * 2 ** i) for i in range(5)]
    assert [s.shape for s in state[7:12]] == [(2, 12, 2 * 2 ** i) for i in range(5)]
    assert all((s == 0).all() for s in state)
    step_out, new = model.step(state, torch.zeros(2, 15, 3))
    assert step_out["activity_logits"].shape == (2, 4) and step_out["reba"].shape == (2,)
    assert step_out["reba_partials"].shape == (2, 9)
    assert [s.shape for s in new] == [s.shape for s in state]
    # the device default stays small: tens of thousands of parameters
    default = build(EdgeStreamConfig(data=DataSpec(classes=tuple(f"c{i}" for i in range(17)))))
    assert 30_000 < sum(p.numel() for p in default.parameters()) < 100_000


def test_stream_equals_whole_on_random_weights_and_inputs():
    model = make(seed=1, velocity=True)
    joints = torch.randn(3, 300, 15, 3, generator=torch.Generator().manual_seed(5))
    joints[1, 40:60, 6] = float("nan")  # unobserved joints: 0 in both paths
    assert_stream_equals_whole(model, joints)


@pytest.mark.parametrize("overrides", [dict(kernel=2, stages=1), dict(kernel=4, stages=2, velocity=True)])
def test_stream_equals_whole_for_other_shapes(overrides):
    assert_stream_equals_whole(make(seed=2, **overrides), torch.randn(2, 120, 15, 3))


def test_stream_equals_whole_after_training_steps():
    model = make(seed=3, velocity=True)
    fit(model, random_batch(2, 80, seed=1), 5)
    assert_stream_equals_whole(model, torch.randn(2, 200, 15, 3))


def test_outputs_are_causal():
    model = make(seed=4).eval()
    joints = torch.randn(1, 100, 15, 3)
    changed = joints.clone()
    changed[:, 60:] = torch.randn(1, 40, 15, 3)
    mask = torch.ones(1, 100, dtype=torch.bool)
    with torch.no_grad():
        a, b = model({"joints": joints, "mask": mask}), model({"joints": changed, "mask": mask})
    for name in ("activity_logits", "reba", "reba_partials"):
        assert torch.equal(a[name][:, :60], b[name][:, :60])
        assert not torch.allclose(a[name][:, 60:], b[name][:, 60:])


def test_the_lookahead_twin_sees_later_frames_keeps_padding_out_and_has_no_step():
    from edge.errors import InputError

    model = make(seed=4, causal=False).eval()
    assert model.input_keys() == ("joints", "mask")
    g = torch.Generator().manual_seed(9)
    joints = torch.randn(1, 100, 15, 3, generator=g)
    changed = joints.clone()
    changed[:, 60:] = torch.randn(1, 40, 15, 3, generator=g)
    mask = torch.ones(1, 100, dtype=torch.bool)
    with torch.no_grad():
        a, b = model({"joints": joints, "mask": mask}), model({"joints": changed, "mask": mask})
        # The first 70 frames padded to 100 with junk give what those 70 frames give alone.
        padded = {"joints": torch.cat([joints[:, :70], 5 * torch.randn(1, 30, 15, 3, generator=g)], dim=1),
                  "mask": torch.arange(100).unsqueeze(0) < 70}
        alone, inside = model({"joints": joints[:, :70], "mask": mask[:, :70]}), model(padded)
    for name in ("activity_logits", "reba", "reba_partials"):
        assert not torch.allclose(a[name][:, 50:60], b[name][:, 50:60])  # frames before the change see it
        assert torch.allclose(inside[name][:, :70], alone[name], rtol=0, atol=1e-5), name
    with pytest.raises(InputError, match="no streaming step"):
        model.initial_state(1)
    with pytest.raises(InputError, match="no streaming step"):
        model.step((), joints[:, 0])


def test_the_example_config_makes_the_offline_twin():
    from pathlib import Path

    from edge.train.config import model_config, read_run_config

    path = Path(__file__).resolve().parents[1] / "examples" / "edge_stream_offline.toml"
    train, table = read_run_config(path, MODELS["edge_stream"].train_defaults)
    config = model_config(EdgeStreamConfig, table, DataSpec(classes=CLASSES))
    assert config.causal is False and train.epochs == 160  # the registry's training defaults still apply
    assert config.layers == 8  # ...but not the causal model's 7 layers: the twin measured better with 8
    assert train.data.context_s == 0.0  # ...but its context before each window: the twin was measured without
    assert build(config).input_keys() == ("joints", "mask")


def test_the_example_config_adds_a_second_of_latency_to_the_registry_defaults():
    from pathlib import Path

    from edge.train.config import model_config, read_run_config

    path = Path(__file__).resolve().parents[1] / "examples" / "edge_stream_delay.toml"
    train, table = read_run_config(path, MODELS["edge_stream"].train_defaults)
    config = model_config(EdgeStreamConfig, table, DataSpec(classes=CLASSES))
    assert config.delay == 10 and config.causal and config.root_lags == (1, 2, 4, 8, 16) and train.epochs == 160
    assert config.layers == 7  # the registry's, as its figures were measured


def test_real_data_trains_with_speed_augmentation_and_root_motion_and_the_recipe_keeps_its_own(tmp_path):
    from dataclasses import replace
    from pathlib import Path

    from edge.datasets.augment import AugmentConfig
    from edge.train.config import model_config, read_run_config

    defaults = MODELS["edge_stream"].train_defaults
    speed_only = AugmentConfig(rotate_deg=0.0, scale_range=(1.0, 1.0), mirror_p=0.0, drop_p=0.0,
                               speed_range=(0.8, 1.25))
    config, table = read_run_config(None, defaults)
    assert config.data.augment == speed_only
    # A window's length of each video before it read unscored: what a causal stage of 7 layers looks back over.
    assert config.data.context_s == config.data.window_s == 25.6 and config.data.context_after_s == 0.0
    # Root motion over 1-16 frames, on joints that keep their path through the room.
    assert config.data.norm.root == "first"
    real_model = model_config(EdgeStreamConfig, table, DataSpec())
    assert real_model.root_lags == (1, 2, 4, 8, 16) and real_model.layers == 7
    assert real_model.receptive_field == 255  # frames: 25.5 s at 10 fps, within the 25.6 s read before each window
    # The synthetic recipe of the default weights: rotation, scale and mirror as AugmentConfig's defaults, each
    # frame centred on its pelvis and no root motion.
    recipe = Path(__file__).resolve().parents[1] / "edge" / "data" / "recipes" / "edge_stream.toml"
    config, table = read_run_config(recipe, defaults)
    assert config.data.augment == AugmentConfig(drop_p=0.0, speed_range=(0.8, 1.25))
    assert config.data.context_s == 0.0  # no unscored history before the windows, unlike the registry's
    assert config.data.norm.root == "frame"
    recipe_model = model_config(EdgeStreamConfig, table, DataSpec())
    assert recipe_model.root_lags == () and recipe_model.delay == 10  # a second of latency (the recipe)
    assert recipe_model.layers == 6  # the recipe's own, not the registry's 7
    assert config.data.synth.stand_up_after_low and config.keep == "last"
    # A user's file changes the defaults key by key: here speed off (no augmentation at all) and 16 channels,
    # the root motion kept.
    path = tmp_path / "off.toml"
    path.write_text("[data.augment]\nspeed_range = [1.0, 1.0]\n[model]\nchannels = 16\n")
    config, table = read_run_config(path, defaults)
    assert config.data.augment == replace(speed_only, speed_range=(1.0, 1.0))
    assert model_config(EdgeStreamConfig, table, DataSpec()) == EdgeStreamConfig(channels=16, layers=7,
                                                                                root_lags=(1, 2, 4, 8, 16))


@pytest.mark.parametrize("lags, root, refused", [
    ((1, 2), "first", None), ((), "frame", None), ((1,), "none", None), ((), "none", None),
    ((1, 2), "frame", "which data.norm.root = \"frame\" takes away"),
    ((), "first", "takes where a person stands for their pose"),
])
def test_root_motion_and_normalisation_go_together(lags, root, refused):
    from edge.errors import InputError
    from edge.train.config import NormConfig

    config = EdgeStreamConfig(root_lags=lags)
    if refused is None:
        config.check_norm(NormConfig(root=root))
    else:
        with pytest.raises(InputError, match=refused):
            config.check_norm(NormConfig(root=root))


def test_training_refuses_root_lags_off_on_joints_that_keep_their_path(tmp_path, capsys):
    from edge.cli import main

    (tmp_path / "half.toml").write_text("[data]\nsynth_minutes = 0.3\n[model]\nroot_lags = []\n")
    assert main(["train", "--model", "edge_stream", "--dataset", "synthetic", "--config",
                 str(tmp_path / "half.toml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set data.norm.root = \"frame\" too" in err
    assert not (tmp_path / "r").exists()


def test_loss_ignores_padding_unlabelled_frames_and_nan_targets():
    model = make(seed=5)
    model.eval()  # no dropout: the same outputs for both batches
    batch = random_batch(2, 30, seed=2)
    batch["mask"][1, 20:] = False
    batch["activity"][0, :5] = -1
    batch["reba"][0, 10:15] = float("nan")
    batch["reba_partials"][:, :, 7:] = float("nan")  # wrists not observable
    out = model(batch)
    loss, terms = model.loss(out, batch)
    # REBA MSE by hand over the real frames with a known target
    keep = batch["mask"] & ~torch.isnan(batch["reba"])
    assert keep.sum() == 60 - 10 - 5
    expected = ((out["reba"] - batch["reba"])[keep] ** 2).mean().item()
    assert terms["reba_mse"] == pytest.approx(expected, rel=1e-6)
    known = batch["mask"][..., None] & ~torch.isnan(batch["reba_partials"])
    assert terms["partials_mse"] == pytest.approx(
        ((out["reba_partials"] - batch["reba_partials"])[known] ** 2).mean().item(), rel=1e-6)
    # what sits in padded frames, unlabelled frames and unknown targets changes nothing
    other = {k: v.clone() for k, v in batch.items()}
    other["joints"][1, 20:] = 100.0
    other["activity"][1, 20:] = 3
    other["reba"][1, 20:] = 50.0
    other["reba_partials"][1, 20:] = 9.0
    loss2, terms2 = model.loss(model(other), other)
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-6) and terms2 == pytest.approx(terms, rel=1e-6)
    # NaN targets leave every gradient finite
    model.zero_grad()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    # only the smoothing term is left when nothing is labelled
    none = {k: v.clone() for k, v in batch.items()}
    none["activity"][:] = -1
    none["reba"][:] = float("nan")
    none["reba_partials"][:] = float("nan")
    _, terms3 = model.loss(model(none), none)
    assert terms3["ce"] == terms3["reba_mse"] == terms3["partials_mse"] == 0.0
    assert terms3["smooth"] == pytest.approx(terms["smooth"], rel=1e-6)


def synthetic_batch():
    """Two 30 s synthetic recordings (UW-IOM's 15 joints, 10 fps), converted by hand to a batch: joints relative
    to the mid-hip and scaled by the pelvis-to-neck distance, as `edge.models.base` describes."""
    seqs = generate(1.0, seed=0, config=SynthConfig(fps=10.0, layouts=("uwiom15",), recording_minutes=(0.5, 0.5)))
    names = seqs[0].activity_names
    joints, activity, reba, partials = [], [], [], []
    for s in seqs:
        root = (s.joints[:, 4] + s.joints[:, 5]) / 2
        scale = np.median(np.linalg.norm(s.joints[:, 12] - root, axis=1))
        joints.append((s.joints - root[:, None]) / scale)
        activity.append(s.activity)
        reba.append(s.targets["reba_total"])
        partials.append(np.stack([s.targets[p] for p in REBA_PARTIALS], axis=1))
    batch = {"joints": torch.tensor(np.stack(joints), dtype=torch.float32),
             "activity": torch.tensor(np.stack(activity), dtype=torch.int64),
             "reba": torch.tensor(np.stack(reba), dtype=torch.float32),
             "reba_partials": torch.tensor(np.stack(partials), dtype=torch.float32)}
    batch["mask"] = torch.ones(batch["activity"].shape, dtype=torch.bool)
    return names, batch


@pytest.mark.parametrize("causal", [True, False])
def test_loss_falls_on_a_tiny_synthetic_set(causal):
    names, batch = synthetic_batch()
    assert batch["joints"].shape == (2, 300, 15, 3)
    torch.manual_seed(0)
    model = build(EdgeStreamConfig(data=DataSpec(classes=names), dropout=0.0, causal=causal, **SMALL))
    history = fit(model, batch, 60)
    first, last = history[0], history[-1]
    assert last["ce"] < 0.5 * first["ce"]
    assert last["reba_mse"] < 0.25 * first["reba_mse"] and last["partials_mse"] < 0.5 * first["partials_mse"]
    model.eval()
    with torch.no_grad():
        out = model(batch)
    labels = batch["activity"]
    accuracy = (out["activity_logits"].argmax(-1) == labels).float().mean().item()
    majority = np.bincount(labels.flatten().numpy()).max() / labels.numel()
    assert accuracy > max(0.6, majority + 0.2)
    if causal:
        assert_stream_equals_whole(model, batch["joints"])


def test_same_config_and_seed_build_the_same_model():
    a, b, c = make(seed=7), make(seed=7), make(seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    batch = random_batch(1, 20)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(batch)["reba"], b(batch)["reba"])


def test_without_classes_it_predicts_reba_only():
    torch.manual_seed(0)
    model = build(EdgeStreamConfig(data=DataSpec(classes=(), partials=()), **SMALL))
    out = model(random_batch(1, 30))
    assert "activity_logits" not in out and out["reba"].shape == (1, 30) and out["reba_partials"].shape == (1, 30, 0)
    assert len(model.initial_state(1)) == 2 + 5  # one stage
    assert_stream_equals_whole(model, torch.randn(1, 50, 15, 3))


def test_with_a_delay_the_stream_gives_each_frame_delay_steps_later():
    delay, n = 4, 60
    model = make(seed=6, velocity=True, root_lags=(1, 3), delay=delay).eval()
    joints = torch.randn(2, n, 15, 3, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        whole = model({"joints": joints, "mask": torch.ones(2, n, dtype=torch.bool)})
    # After the last frame, `delay` more steps with it repeated give the last frames' outputs.
    tail = joints[:, -1:].expand(-1, delay, -1, -1)
    steps, _ = streamed(model, torch.cat([joints, tail], dim=1))
    for name, value in steps.items():
        assert whole[name].shape[1] == n
        assert torch.allclose(value[:, delay:], whole[name], rtol=0, atol=1e-5), name


def test_a_delayed_frame_sees_exactly_delay_frames_ahead_and_padding_stays_out():
    delay = 5
    model = make(seed=7, delay=delay).eval()
    joints = torch.randn(1, 80, 15, 3, generator=torch.Generator().manual_seed(9))
    changed = joints.clone()
    changed[:, 50:] += 1.0
    mask = torch.ones(1, 80, dtype=torch.bool)
    with torch.no_grad():
        a, b = model({"joints": joints, "mask": mask}), model({"joints": changed, "mask": mask})
        alone = model({"joints": joints[:, :30], "mask": mask[:, :30]})
        padded = torch.cat([joints[:, :30], torch.zeros(1, 50, 15, 3)], dim=1)
        batch = model({"joints": torch.cat([joints, padded]),
                       "mask": torch.cat([mask, torch.arange(80).unsqueeze(0) < 30])})
    logits = "activity_logits"
    assert torch.equal(a[logits][:, :50 - delay], b[logits][:, :50 - delay])
    assert not torch.allclose(a[logits][:, 50 - delay], b[logits][:, 50 - delay])
    # A shorter item of a batch ends as it does alone: its last real frame repeated, not the padding.
    assert torch.allclose(batch[logits][1, :30], alone[logits][0], rtol=0, atol=1e-5)
    assert torch.allclose(batch[logits][0], a[logits][0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("bad", [dict(delay=-1), dict(delay=2.5), dict(delay=601), dict(delay=3, causal=False)])
def test_delay_checks(bad):
    with pytest.raises(ValueError, match="delay"):
        EdgeStreamConfig(**bad)


@pytest.mark.parametrize("bad", [dict(layers=0), dict(kernel=1), dict(dropout=1.0), dict(stages=0), dict(members=0)])
def test_config_checks(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        EdgeStreamConfig(**bad)


def test_registry_entry():
    entry = MODELS["edge_stream"]
    assert entry.config is EdgeStreamConfig and entry.task == "segmentation+reba"
    model = entry.build(EdgeStreamConfig(data=DataSpec(classes=CLASSES), **SMALL))
    assert model.num_classes == 4 and model.num_joints == 15


# ------------------------------------------------------------------------------------------- the root's motion


def walking_joints(b=2, t=150, seed=6):
    """Random postures carried along a path (the pelvis moves, as with data.norm.root = "first")."""
    g = torch.Generator().manual_seed(seed)
    path = torch.cumsum(0.1 * torch.randn(b, t, 1, 3, generator=g), dim=1)
    return 0.3 * torch.randn(b, t, 15, 3, generator=g) + path


def test_root_motion_features_by_hand():
    model = make(seed=9, velocity=True, root_lags=(1, 3)).eval()
    joints = walking_joints(1, 12)
    h = model.features(joints)[0].T  # (T, D)
    assert h.shape == (12, 15 * 3 * 2 + 4)
    root = (joints[0, :, 4] + joints[0, :, 5]) / 2  # uwiom15's pelvis: the mean of the hips
    pose = joints[0] - root[:, None]
    assert torch.allclose(h[:, :45], pose.flatten(1), atol=1e-6)  # positions relative to each frame's pelvis
    assert torch.allclose(h[1:, 45:90], ((pose[1:] - pose[:-1]) * 10.0).flatten(1), atol=1e-4)
    for k, lag in enumerate((1, 3)):
        d = root[lag:] - root[:-lag]
        assert torch.allclose(h[lag:, 90 + k], d[:, :2].norm(dim=1), atol=1e-6)  # horizontal distance
        assert torch.allclose(h[lag:, 92 + k], d[:, 2], atol=1e-6)  # vertical displacement
        assert (h[:lag, [90 + k, 92 + k]] == 0).all()  # before the sequence: nothing
    # a constant offset (where the path started) changes nothing
    assert torch.allclose(model.features(joints + torch.tensor([5.0, -3.0, 0.2])), model.features(joints), atol=1e-5)


def test_root_motion_streams_like_the_whole_sequence():
    model = make(seed=10, velocity=True, root_lags=(1, 2, 4, 8))
    joints = walking_joints()
    joints[1, 30:40, 4] = float("nan")  # an unobserved hip: 0 in both paths
    assert_stream_equals_whole(model, joints)
    state = model.initial_state(3)
    # previous frame, started, the pelvis of the last 8 frames and whether each exists, then the layers' history
    assert len(state) == 4 + 3 * 5 and state[2].shape == (3, 8, 3) and state[3].shape == (3, 8)
    assert_stream_equals_whole(make(seed=11, root_lags=(5,), stages=1), walking_joints(1, 4))  # shorter than a lag


def test_root_motion_tells_walking_from_standing_with_the_same_legs():
    """Two sequences whose postures are identical frame for frame, one carried along a path: only the root's
    motion tells them apart, and the model learns it."""
    torch.manual_seed(0)
    model = build(EdgeStreamConfig(data=DataSpec(classes=("walk", "stand")), dropout=0.0, root_lags=(1, 4),
                                   **{**SMALL, "layers": 3, "stages": 1}))
    pose = 0.3 * torch.randn(1, 60, 15, 3, generator=torch.Generator().manual_seed(1))
    moving = pose + torch.linspace(0, 6, 60)[None, :, None, None] * torch.tensor([1.0, 0.0, 0.0])
    batch = {"joints": torch.cat([moving, pose]), "mask": torch.ones(2, 60, dtype=torch.bool),
             "activity": torch.tensor([[0] * 60, [1] * 60])}
    fit(model, batch, 80)
    model.eval()
    with torch.no_grad():
        predicted = model(batch)["activity_logits"].argmax(-1)
    assert (predicted[:, 8:] == batch["activity"][:, 8:]).all()  # once the lags and layers have seen the path
    assert_stream_equals_whole(model, batch["joints"])


@pytest.mark.parametrize("lags", [(0,), (2, 2), (601,)])
def test_root_lags_are_checked(lags):
    with pytest.raises(ValueError, match="root_lags"):
        EdgeStreamConfig(root_lags=lags)


# ----------------------------------------------------------------------------------- ensembles (members trained apart)


def test_an_ensemble_averages_its_members_and_streams_like_the_whole_sequence():
    ensemble = make(seed=4, members=3, velocity=True, delay=2)
    assert len(ensemble.members) == 3 and ensemble.config.members == 3
    assert all(m.config.members == 1 for m in ensemble.members)
    batch = random_batch(2, 60, seed=3)
    ensemble.eval()
    with torch.no_grad():
        out = ensemble(batch)
        alone = [member(batch) for member in ensemble.members]
    probs = torch.stack([torch.softmax(o["activity_logits"], -1) for o in alone]).mean(0)
    assert torch.allclose(out["activity_logits"].exp(), probs, atol=1e-6)
    assert not torch.allclose(probs, torch.softmax(alone[0]["activity_logits"], -1), atol=1e-3)
    for name in ("reba", "reba_partials"):
        assert torch.allclose(out[name], torch.stack([o[name] for o in alone]).mean(0), atol=1e-6)
    total, terms = ensemble.loss(out, batch)
    losses = [member.loss(o, batch) for member, o in zip(ensemble.members, alone)]
    assert float(total) == pytest.approx(np.mean([float(v) for v, _ in losses]), rel=1e-6)
    assert terms["ce"] == pytest.approx(np.mean([t["ce"] for _, t in losses]), rel=1e-6)
    # One frame state for all, then each layer's history of the three side by side.
    state, alone = ensemble.initial_state(2), ensemble.members[0].initial_state(2)
    assert len(state) == len(alone) and [s.shape for s in state[:2]] == [s.shape for s in alone[:2]]
    assert all(s.shape == (2, 3 * a.shape[1], a.shape[2]) for s, a in zip(state[2:], alone[2:]))
    # Step by step as the whole sequence, `delay` steps later (the last frame repeated past the end).
    joints = batch["joints"].clone()
    joints[0, 10:20, 4] = float("nan")
    with torch.no_grad():
        whole = ensemble({"joints": joints, "mask": batch["mask"]})
    steps, _ = streamed(ensemble, torch.cat([joints, joints[:, -1:], joints[:, -1:]], dim=1))
    for name in ("activity_logits", "reba", "reba_partials"):
        assert torch.allclose(steps[name][:, 2:], whole[name], rtol=0, atol=1e-5), name


@pytest.mark.parametrize("classes", [CLASSES, ()])
def test_an_ensemble_with_root_motion_or_without_classes_streams_like_the_whole_sequence(classes):
    torch.manual_seed(2)
    ensemble = build(EdgeStreamConfig(data=DataSpec(classes=classes), members=2, root_lags=(1, 3), **SMALL))
    assert len(ensemble.initial_state(1)) == 4 + (SMALL["stages"] if classes else 1) * SMALL["layers"]
    assert_stream_equals_whole(ensemble, walking_joints(t=80))


ENSEMBLE = """
[train]
epochs = {epochs}
batch_size = 4
lr = 0.01
keep = "last"

[data]
synth_minutes = 1.2
window_s = 6.4
stride_s = 3.2
val_fraction = 0.3
test_fraction = 0.2

[data.synth]
recording_minutes = [0.2, 0.3]

[model]
members = {members}
channels = 8
refine_channels = 6
layers = 3
stages = 2
"""


def train_run(tmp_path, out, epochs=2, members=2, *extra):
    from edge.cli import main

    config = tmp_path / f"m{members}e{epochs}.toml"
    config.write_text(ENSEMBLE.format(epochs=epochs, members=members))
    assert main(["train", "--model", "edge_stream", "--dataset", "synthetic", "--config", str(config), "--out",
                 str(tmp_path / out), *extra]) == 0
    return tmp_path / out


def test_an_ensemble_trains_its_members_apart_and_joins_them(tmp_path, capsys):
    import json

    from edge.cli import main
    from edge.train.checkpoint import load_checkpoint, state_digest

    run = train_run(tmp_path, "ens", epochs=2, members=2)
    assert "trained 2 members; kept epochs 2, 2" in capsys.readouterr().out
    joined = load_checkpoint(run / "best.pt")
    members = [load_checkpoint(run / f"member_{i}" / "best.pt") for i in range(2)]
    assert joined.config.members == 2 and [m.config.members for m in members] == [1, 1]
    assert [m.run["seed"] for m in members] == [0, 1]  # seed + i: their own weights, order and split
    assert members[0].run["splits"]["val"] != members[1].run["splits"]["val"]
    for i, member in enumerate(members):
        assert all(torch.equal(joined.state_dict[f"members.{i}.{k}"], v) for k, v in member.state_dict.items())
    # Member 1 is exactly the run that seed alone makes.
    alone = train_run(tmp_path, "alone", 2, 1, "--seed", "1")
    assert state_digest(load_checkpoint(alone / "best.pt").state_dict) == state_digest(members[1].state_dict)
    # Splits: trained on what either trained on, validated and tested on what both held out.
    record = json.loads((run / "run.json").read_text())
    splits = [m.run["splits"] for m in members]
    assert set(record["splits"]["train"]) == set(splits[0]["train"]) | set(splits[1]["train"])
    assert set(record["splits"]["val"]) == set(splits[0]["val"]) & set(splits[1]["val"])
    assert set(record["splits"]["test"]) == set(splits[0]["test"]) & set(splits[1]["test"])
    assert record["result"]["kept_epoch"] == [2, 2] and record["model_table"]["members"] == 2
    # It is scored as one model: every held-out sequence, the members' averaged probabilities.
    capsys.readouterr()
    if record["splits"]["test"]:
        assert main(["evaluate", str(run), "--dataset", "synthetic", "--split", "test", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["model"] == "edge_stream" and 0 <= result["metrics"]["accuracy"] <= 100
    # And exported as one streaming step (parity against the whole-sequence ensemble).
    from export.onnx_stream import export_streaming

    artifact = export_streaming(run, tmp_path / "exported")
    manifest = json.loads(artifact.manifest.read_text())
    assert artifact.max_abs_diff <= 1e-4 and manifest["delay_frames"] == 0
    # One member's state, its layers' histories twice as wide: the members run side by side as one network.
    alone = json.loads(export_streaming(run / "member_0", tmp_path / "member").manifest.read_text())
    layers = 2 * 3  # stages x layers
    shapes, single = [s["shape"] for s in manifest["state"]], [s["shape"] for s in alone["state"]]
    assert shapes[:-layers] == single[:-layers]
    assert shapes[-layers:] == [[2 * c, h] for c, h in single[-layers:]]


def test_an_ensemble_resumes_member_by_member(tmp_path, capsys):
    from edge.cli import main
    from edge.train.checkpoint import load_checkpoint, state_digest

    whole = train_run(tmp_path, "whole", epochs=3, members=2)
    part = train_run(tmp_path, "part", epochs=1, members=2)
    assert main(["train", "--model", "edge_stream", "--dataset", "synthetic", "--out", str(part), "--resume",
                 "--epochs", "3", "--seed", "0"]) == 0  # the ensemble's seed: member i's is seed + i
    a, b = load_checkpoint(whole / "best.pt"), load_checkpoint(part / "best.pt")
    assert state_digest(a.state_dict) == state_digest(b.state_dict) and b.epoch == 3
    # A config asking for another number of members is refused in one line.
    capsys.readouterr()
    other = tmp_path / "three.toml"
    other.write_text(ENSEMBLE.format(epochs=3, members=3))
    assert main(["train", "--model", "edge_stream", "--dataset", "synthetic", "--config", str(other), "--out",
                 str(part), "--resume"]) == 2
    assert "another number of members than the run's 2" in capsys.readouterr().err
    # A finished ensemble is not trained over.
    capsys.readouterr()
    config = tmp_path / "m2e3.toml"
    assert main(["train", "--model", "edge_stream", "--dataset", "synthetic", "--config", str(config), "--out",
                 str(whole)]) == 2
    assert "already holds a training run" in capsys.readouterr().err


def test_an_ensemble_is_not_trained_on_several_processes(tmp_path):
    from edge.errors import InputError
    from edge.train.ensemble import train_ensemble
    from edge.train.loop import TrainRequest

    request = TrainRequest(model="edge_stream", dataset="synthetic", data_dir=None, out=str(tmp_path / "r"))
    with pytest.raises(InputError, match="without torchrun"):
        train_ensemble(request, 2, None, 2, None)
    assert not (tmp_path / "r").exists()
