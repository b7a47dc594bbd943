"""`mtl_gcn_edtcn` (WACV 2021 multi-task GCN + ED-TCN + LSTM): output shapes for both variants and any length, outputs
independent of padding and batch, the loss against hand-computed values (masked frames, unlabelled classes and NaN
targets ignored; Kendall et al.'s uncertainty weighting), training on a tiny synthetic set (losses fall, the task
weights and edge importances move), reproducible builds, the parameter count, config checks and the registry."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.datasets.synth.config import SynthConfig  # noqa: E402
from edge.datasets.synth.generator import generate  # noqa: E402
from edge.errors import InputError  # noqa: E402
from edge.models.base import REBA_PARTIALS, DataSpec  # noqa: E402
from edge.models.layers import EncoderDecoderTCN  # noqa: E402
from edge.models.mtl_gcn_edtcn import MaskedBatchNorm, MtlGcnEdtcnConfig, build  # noqa: E402
from edge.models.registry import MODELS  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = tuple(f"class{i}" for i in range(5))
J = 15  # uwiom15



def tiny(variant="emb", classes=CLASSES, partials=REBA_PARTIALS, **kw) -> MtlGcnEdtcnConfig:
    sizes = dict(gcn_channels=(16, 16), gcn_kernel=3, feature_dim=32, edtcn_channels=(16, 16), edtcn_kernel=3,
                 lstm_input=32, lstm_hidden=32, lstm_layers=1, dropout=0.0)
    sizes.update(kw)
    return MtlGcnEdtcnConfig(data=DataSpec(layout="uwiom15", classes=classes, partials=partials), variant=variant,
                             **sizes)


def make(config, seed=0):
    torch.manual_seed(seed)
    return build(config)


def random_batch(b, t, classes=len(CLASSES), partials=len(REBA_PARTIALS), seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"joints": torch.randn(b, t, J, 3, generator=g), "mask": torch.ones(b, t, dtype=torch.bool),
            "activity": torch.randint(0, classes, (b, t), generator=g),
            "reba": 1 + 6 * torch.rand(b, t, generator=g),
            "reba_partials": 1 + 2 * torch.rand(b, t, partials, generator=g)}


@pytest.mark.parametrize("variant", ["base", "emb"])
@pytest.mark.parametrize("t", [1, 2, 7, 16, 37])
def test_output_shapes_for_any_length(variant, t):
    model = make(tiny(variant, edtcn_channels=(16, 16, 16))).eval()  # pools by 8: T=1, 7, 37 are padded inside
    with torch.no_grad():
        out = model(random_batch(3, t))
    assert out["activity_logits"].shape == (3, t, len(CLASSES))
    assert out["reba"].shape == (3, t)
    assert out["reba_partials"].shape == (3, t, len(REBA_PARTIALS))
    assert all(torch.isfinite(v).all() for v in out.values())


def test_no_partials_head_without_partials():
    model = make(tiny(partials=())).eval()
    with torch.no_grad():
        out = model(random_batch(2, 9))
    assert set(out) == {"activity_logits", "reba"}
    assert model.reba_head.partials is None


@pytest.mark.parametrize("variant", ["base", "emb"])
def test_outputs_do_not_depend_on_padding_or_batch(variant):
    """In eval mode a sequence gives the same outputs alone and padded in a batch with another, whatever the padded
    frames hold (NaN included): every layer zeroes padded frames, the ED-TCN pools them as zeros, the LSTM runs
    forwards. A missing joint (NaN) in a real frame stays finite."""
    model = make(tiny(variant, edtcn_channels=(16, 16, 16)), seed=1)
    model.train()
    model(random_batch(2, 40, seed=5))  # moves the batch-norm running statistics away from (0, 1)
    model.eval()
    alone = random_batch(1, 37, seed=2)
    alone["joints"][0, 3, 4] = float("nan")
    batch = random_batch(2, 50, seed=3)
    batch["joints"][0, :37] = alone["joints"][0]
    batch["joints"][0, 37:] = float("nan")
    batch["mask"][0, 37:] = False
    with torch.no_grad():
        one, both = model(alone), model(batch)
    for key in one:
        assert torch.isfinite(one[key]).all()
        assert torch.allclose(one[key][0], both[key][0, :37], atol=1e-5), key


def test_encoder_decoder_tcn_any_length_and_padding():
    torch.manual_seed(0)
    tcn = EncoderDecoderTCN(4, (8, 8, 8), 3, kernel_size=3, dropout=0.0).eval()
    for t in range(1, 20):
        x = torch.randn(2, 4, t)
        y = tcn(x, torch.ones(2, 1, t))
        assert y.shape == (2, 3, t)
        padded = torch.cat([x, torch.randn(2, 4, 5)], dim=2)
        mask = torch.cat([torch.ones(2, 1, t), torch.zeros(2, 1, 5)], dim=2)
        assert torch.allclose(tcn(padded, mask)[..., :t], y, atol=1e-6)


def test_masked_batch_norm_uses_real_frames_only():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 10, 5) * 2 + 1
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2, 2:] = False
    norm = MaskedBatchNorm(4)
    y = norm(x, mask)
    real = x.permute(0, 2, 1, 3)[mask]  # (frames, C, J)
    expected = torch.nn.functional.batch_norm(real.transpose(0, 1).reshape(1, 4, -1), None, None, training=True)
    assert torch.allclose(y.permute(0, 2, 1, 3)[mask].transpose(0, 1).reshape(1, 4, -1), expected, atol=1e-4)
    assert (y.permute(0, 2, 1, 3)[~mask] == 0).all()
    values = real.transpose(0, 1).reshape(4, -1)
    assert torch.allclose(norm.running_mean, 0.1 * values.mean(1), atol=1e-5)
    assert torch.allclose(norm.running_var, 0.9 + 0.1 * values.var(1), atol=1e-4)  # unbiased, as BatchNorm


def test_loss_equals_hand_computed_value_and_ignores_what_it_must():
    model = make(tiny())
    batch = random_batch(2, 12, seed=4)
    batch["mask"][1, 8:] = False
    batch["activity"][0, :3] = -1
    batch["reba"][0, 5] = float("nan")
    batch["reba_partials"][1, 2, 4] = float("nan")
    with torch.no_grad():
        model.task_log_vars.copy_(torch.tensor([0.5, -0.3, 1.0]))
    out = model(batch)
    total, log = model.loss(out, batch)

    out = {k: v.detach() for k, v in out.items()}
    m = batch["mask"]
    keep = m & (batch["activity"] >= 0)
    ce = torch.nn.functional.cross_entropy(out["activity_logits"][keep], batch["activity"][keep])
    known = m & ~torch.isnan(batch["reba"])
    mse = ((out["reba"] - batch["reba"])[known] ** 2).mean()
    known_p = m[..., None] & ~torch.isnan(batch["reba_partials"])
    mse_p = ((out["reba_partials"] - batch["reba_partials"])[known_p] ** 2).mean()
    expected = (math.exp(-0.5) * ce + 0.25) + (0.5 * math.exp(0.3) * mse - 0.15) + (0.5 * math.exp(-1.0) * mse_p + 0.5)
    assert float(total.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert log["activity_ce"] == pytest.approx(float(ce), rel=1e-5)
    assert log["reba_mse"] == pytest.approx(float(mse), rel=1e-5)
    assert log["partials_mse"] == pytest.approx(float(mse_p), rel=1e-5)
    assert log["weight_reba"] == pytest.approx(math.exp(0.3), rel=1e-6)

    # Targets behind the mask, at unlabelled frames and at NaN targets change nothing, and no NaN reaches a gradient.
    changed = {k: v.clone() for k, v in batch.items()}
    changed["activity"][1, 8:] = 0
    changed["reba"][1, 8:] = 100.0
    changed["reba_partials"][1, 8:] = -50.0
    again, _ = model.loss(out, changed)
    assert float(again.detach()) == float(total.detach())
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_task_without_targets_contributes_nothing():
    model = make(tiny())
    batch = random_batch(2, 10)
    batch["activity"][:] = -1
    batch["reba"][:] = float("nan")
    del batch["reba_partials"]
    total, log = model.loss(model(batch), batch)
    assert float(total.detach()) == 0.0 and not {"activity_ce", "reba_mse", "partials_mse"} & set(log)
    total.backward()  # the graph holds, and no task's log-variance is pushed
    assert (model.task_log_vars.grad == 0).all()


def synthetic_batch(classes):
    """Four 30 s recordings at 5 fps (9 activities, the commonest on 51 % of the frames) on UW-IOM's skeleton,
    hip-centred and scaled by the trunk, as a batch."""
    seqs = generate(2.0, seed=1, config=SynthConfig(layouts=("uwiom15",), fps=5.0, recording_minutes=(0.5, 0.5)))
    joints = np.stack([s.joints for s in seqs]).astype(np.float32)
    hips = joints[:, :, 4:6].mean(axis=2, keepdims=True)  # 4, 5: right and left hip
    trunk = np.linalg.norm(joints[:, :, 12] - hips[:, :, 0], axis=-1).mean()  # 12: neck
    assert seqs[0].activity_names[: len(classes)] == classes
    return {"joints": torch.from_numpy((joints - hips) / trunk),
            "mask": torch.ones(joints.shape[:2], dtype=torch.bool),
            "activity": torch.from_numpy(np.stack([s.activity for s in seqs]).astype(np.int64)),
            "reba": torch.from_numpy(np.stack([s.targets["reba_total"] for s in seqs]).astype(np.float32)),
            "reba_partials": torch.from_numpy(np.stack([np.stack([s.targets[p] for p in REBA_PARTIALS], -1)
                                                        for s in seqs]).astype(np.float32))}


@pytest.mark.parametrize("variant", ["base", "emb"])
def test_training_on_a_tiny_synthetic_set(variant):
    from edge.datasets.synth.activities import ACTIVITIES

    batch = synthetic_batch(ACTIVITIES)
    model = make(tiny(variant, classes=ACTIVITIES), seed=0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    logs = []
    for _ in range(100):
        total, log = model.loss(model(batch), batch)
        opt.zero_grad()
        total.backward()
        opt.step()
        logs.append(log)
    first, last = logs[0], logs[-1]
    assert last["loss"] < first["loss"] - 5.0
    assert last["activity_ce"] < 0.3 * first["activity_ce"]
    assert last["reba_mse"] < 0.1 * first["reba_mse"]
    assert last["partials_mse"] < 0.1 * first["partials_mse"]
    # The learned task weights moved; each heads for 1 / its loss (1 / 2CE for the activities), so the partials',
    # whose error is now far below 1, has risen above 1.
    assert (model.task_log_vars.detach().abs() > 0.05).all()
    assert last["weight_partials"] > 1.1
    for name, value in model.named_parameters():
        if name.endswith("importance"):
            assert not torch.equal(value.detach(), before[name]), name
    model.eval()
    with torch.no_grad():
        pred = model(batch)["activity_logits"].argmax(-1)
    assert float((pred == batch["activity"]).float().mean()) > 0.7  # the commonest activity: 51 % of the frames


def test_same_config_and_seed_build_the_same_model():
    config = tiny("base")
    a, b, c = make(config, seed=7), make(config, seed=7), make(config, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    batch = random_batch(2, 11)
    with torch.no_grad():
        assert torch.equal(a.eval()(batch)["reba"], b.eval()(batch)["reba"])


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("variant", ["base", "emb"])
def test_parameter_count_by_hand(variant):
    c, p, k = len(CLASSES), len(REBA_PARTIALS), 3  # classes, partials, graph partitions
    importance = k * J * J
    unit1 = importance + (3 * 16 * k + 16 * k) + 2 * 16 + (16 * 16 * 3 + 16) + 2 * 16  # no residual
    unit2 = importance + (16 * 16 * k + 16 * k) + 2 * 16 + (16 * 16 * 3 + 16) + 2 * 16  # identity residual
    backbone = 2 * 3 * J + unit1 + unit2 + (16 * J * 32 + 32)
    edtcn = (32 * 16 * 3 + 16) + 3 * (16 * 16 * 3 + 16) + (16 * c + c)
    reba_in = 32 + (c if variant == "emb" else 0)
    lstm = 4 * 32 * (32 + 32) + 2 * 4 * 32
    reba = (reba_in * 32 + 32) + lstm + (32 + 1) + (32 * p + p)
    assert count(make(tiny(variant))) == backbone + edtcn + reba + 3


def test_default_size():
    """The defaults on UW-IOM (15 joints, 17 classes, 9 partials): 713,636 parameters, 2.9 MB as float32."""
    data = DataSpec(layout="uwiom15", classes=tuple(f"c{i}" for i in range(17)))
    assert count(make(MtlGcnEdtcnConfig(data=data))) == 713_636
    assert count(make(MtlGcnEdtcnConfig(data=data, variant="base"))) == 713_636 - 17 * 128


def test_config_checks():
    with pytest.raises(InputError, match="variant"):
        tiny("fancy")
    with pytest.raises(InputError, match="edtcn_kernel"):
        tiny(edtcn_kernel=4)
    with pytest.raises(InputError, match="gcn_channels"):
        tiny(gcn_channels=())
    with pytest.raises(InputError, match="class names"):
        build(MtlGcnEdtcnConfig())
    assert tiny(gcn_channels=[8, 8]).gcn_channels == (8, 8)  # lists from JSON/TOML become tuples


def test_registry_entry():
    entry = MODELS["mtl_gcn_edtcn"]
    assert entry.task == "segmentation+reba"
    assert entry.config is MtlGcnEdtcnConfig and entry.config().variant == "emb"
    # Trained as edge_stream is (the registry's comment has the figures): every training video, the last of 80
    # cosine epochs, playback speed changed and nothing else.
    assert entry.train_defaults == {
        "train": {"epochs": 80, "schedule": "cosine", "keep": "last"},
        "data": {"val_fraction": 0.0, "augment": {"speed_range": [0.8, 1.25], "rotate_deg": 0.0,
                                                  "scale_range": [1.0, 1.0], "mirror_p": 0.0, "drop_p": 0.0}}}
    assert isinstance(entry.build(tiny()), torch.nn.Module)
