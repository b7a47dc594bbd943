"""`lifter_2d3d` (temporal 2D -> 3D lifting): output shapes and the root at the origin, MPJPE and the bone term
against hand-computed values (masked frames and unseen joints ignored, the per-sequence heading fit), outputs
independent of batch padding and of doubtful keypoints, the receptive field and lookahead measured, streaming equal
to the whole-sequence run (causal and with lookahead; exported to ONNX too), training on a tiny synthetic set (the loss
falls; held-out MPJPE below the mean pose's), reproducibility from a seed, the parameter count, config checks and
the registry."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.datasets.synth.config import SynthConfig  # noqa: E402
from edge.datasets.synth.generator import generate  # noqa: E402
from edge.errors import InputError  # noqa: E402
from edge.models.base import DataSpec  # noqa: E402
from edge.models.lifter_2d3d import (Lifter2d3dConfig, bone_consistency, build, mpjpe,  # noqa: E402
                                     seen_joints)
from edge.models.registry import MODELS  # noqa: E402
from edge.skeletons import get_layout  # noqa: E402
from edge.train.config import NormConfig  # noqa: E402
from edge.train.normalise import normalise_joints, normalise_keypoints  # noqa: E402
from model_helpers import fit  # noqa: E402  tests/ is on sys.path under pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

J = 17  # coco17
HIPS = [11, 12]


def tiny(**kw) -> Lifter2d3dConfig:
    sizes = dict(channels=16, layers=2, dropout=0.0, keypoint_dropout=0.0)
    sizes.update(kw)
    return Lifter2d3dConfig(**sizes)


def make(config, seed=0):
    torch.manual_seed(seed)
    return build(config)


def random_batch(b, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(b, t, J, 3, generator=g) - 0.5
    kp[..., 2] = 0.5 + 0.5 * torch.rand(b, t, J, generator=g)
    return {"keypoints2d": kp, "joints": torch.randn(b, t, J, 3, generator=g) * 0.3,
            "mask": torch.ones(b, t, dtype=torch.bool)}


@pytest.mark.parametrize("lookahead", [0, 2])
@pytest.mark.parametrize("t", [1, 5, 40])
def test_output_shapes_and_root_at_origin(t, lookahead):
    model = make(tiny(lookahead=lookahead)).eval()
    with torch.no_grad():
        out = model(random_batch(3, t))
    assert set(out) == {"joints3d"}
    assert out["joints3d"].shape == (3, t, J, 3) and torch.isfinite(out["joints3d"]).all()
    assert out["joints3d"][:, :, HIPS].mean(dim=2).abs().max() < 1e-6  # root-relative: mid-hip at 0
    state = model.initial_state(3)
    assert [s.shape for s in state] == [(3, 16, 2), (3, 16, 6)]  # (kernel-1) x dilations 1, 3
    step, state = model.step(state, random_batch(3, 1)["keypoints2d"][:, 0])
    assert step["joints3d"].shape == (3, J, 3) and len(state) == 2


def test_other_layouts_use_their_own_pelvis():
    model = make(tiny(data=DataSpec(layout="h36m17"))).eval()  # 17 joints too, the pelvis is joint 0
    with torch.no_grad():
        out = model(random_batch(1, 6))["joints3d"]
    assert out.shape == (1, 6, 17, 3) and float(out[..., 0, :].abs().max()) == 0.0


def test_mpjpe_by_hand():
    """Two frames of two joints: errors 5 (3-4-5), 0, 1 and 2; the last frame is padding, one joint not seen."""
    target = torch.zeros(1, 3, 2, 3)
    target[0, 0, 0] = torch.tensor([1.0, 0.0, 0.0])
    target[0, 0, 1] = torch.tensor([0.0, 1.0, 0.0])
    target[0, 1, 0] = torch.tensor([0.0, 0.0, 1.0])
    target[0, 1, 1] = float("nan")  # not seen
    target[0, 2] = torch.tensor([5.0, 5.0, 5.0])
    pred = target.clone()
    pred[0, 0, 0] += torch.tensor([3.0, 0.0, 4.0])  # error 5
    pred[0, 1, 0] += torch.tensor([0.0, 0.0, 2.0])  # error 2
    pred[0, 1, 1] = torch.tensor([9.0, 9.0, 9.0])  # any value: the target is not seen
    pred[0, 2] = torch.tensor([-7.0, 3.0, 1.0])  # padding
    mask = torch.tensor([[True, True, False]])
    assert float(mpjpe(pred, target, mask)) == pytest.approx((5 + 0 + 2) / 3)
    # A target of exactly (0, 0, 0) is how a padded batch writes a joint not seen: ignored like NaN.
    target[0, 1, 1] = 0.0
    assert float(mpjpe(pred, target, mask)) == pytest.approx(7 / 3)
    assert seen_joints(target).tolist() == [[[True, True], [True, False], [True, True]]]
    assert float(mpjpe(pred, target, torch.zeros_like(mask))) == 0.0


def test_yaw_alignment_by_hand():
    """A prediction turned 90 deg about z and lifted 0.5 along z: after the heading fit only the 0.5 remains;
    without it, each joint is off by sqrt(2 + 0.25). One angle per sequence: a turn between frames stays an error."""
    target = torch.tensor([[[[1.0, 0.0, 0.2], [-1.0, 0.0, 0.2], [0.0, 0.5, 1.0]]]])  # (1, 1, 3, 3)
    turn = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # +90 deg about z
    pred = target @ turn.T + torch.tensor([0.0, 0.0, 0.5])
    mask = torch.ones(1, 1, dtype=torch.bool)
    assert float(mpjpe(pred, target, mask, align_yaw=True)) == pytest.approx(0.5, abs=1e-6)
    expected = (2 * math.sqrt(2 + 0.25) + math.sqrt(2 * 0.25 + 0.25)) / 3  # x, y off by r*sqrt(2), z by 0.5
    assert float(mpjpe(pred, target, mask, align_yaw=False)) == pytest.approx(expected, rel=1e-6)
    # Frame 2 turned back: the best single angle is 45 deg, each joint of both frames then 45 deg off.
    two_t = torch.cat([target, target], dim=1)
    two_p = torch.cat([target @ turn.T, target], dim=1)
    chord = lambda r: 2 * r * math.sin(math.pi / 8)  # noqa: E731  distance of a point at radius r turned 45 deg
    mask2 = torch.ones(1, 2, dtype=torch.bool)
    assert float(mpjpe(two_p, two_t, mask2, align_yaw=True)) == pytest.approx(
        (2 * chord(1.0) + chord(0.5)) / 3, rel=1e-5)


def test_bone_consistency_by_hand():
    """One bone of length 1, 3 and (padding) 100: mean over real frames 2, mean deviation 1."""
    joints = torch.zeros(1, 3, 2, 3)
    joints[0, :, 1, 0] = torch.tensor([1.0, 3.0, 100.0])
    mask = torch.tensor([[True, True, False]])
    assert float(bone_consistency(joints, [[0], [1]], mask)) == pytest.approx(1.0)
    joints[0, 1, 1, 0] = 1.0
    assert float(bone_consistency(joints, [[0], [1]], mask)) == 0.0


def test_loss_ignores_masked_frames_and_unseen_joints():
    """The loss is the mean joint error over real frames and seen joints (NaN, or 0 as collate writes it), plus
    the weighted bone term; padding and unseen joints change nothing and put no NaN into the gradient."""
    model = make(tiny(bone_weight=0.5, align_yaw=False))
    batch = random_batch(2, 12, seed=1)
    batch["mask"][1, 9:] = False
    batch["joints"][1, 9:] = float("nan")  # padding: anything
    batch["joints"][0, 3, 5] = float("nan")  # a joint not seen ...
    batch["joints"][0, 4, 6] = 0.0  # ... as a padded batch writes it
    outputs = model(batch)
    total, log = model.loss(outputs, batch)
    assert set(log) == {"mpjpe", "bone"}
    assert float(total.detach()) == pytest.approx(log["mpjpe"] + 0.5 * log["bone"], rel=1e-5)
    errors = torch.linalg.vector_norm(outputs["joints3d"] - batch["joints"], dim=-1).detach()
    keep = torch.ones_like(errors, dtype=torch.bool)
    keep[1, 9:] = keep[0, 3, 5] = keep[0, 4, 6] = False
    assert keep.sum() == (12 + 9) * J - 2
    assert log["mpjpe"] == pytest.approx(float(errors[keep].mean()), rel=1e-5)
    lengths = torch.stack([torch.linalg.vector_norm(outputs["joints3d"][:, :, a] - outputs["joints3d"][:, :, b], dim=-1)
                           for a, b in get_layout("coco17").edges], dim=-1).detach()  # (B, T, E)
    deviations = torch.cat([(lengths[0] - lengths[0].mean(0)).abs().flatten(),
                            (lengths[1, :9] - lengths[1, :9].mean(0)).abs().flatten()])
    assert log["bone"] == pytest.approx(float(deviations.mean()), rel=1e-5)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("lookahead", [0, 3])
def test_outputs_do_not_depend_on_padding_batch_or_doubtful_keypoints(lookahead):
    """A sequence alone and padded in a batch (padding holding NaN and noise) gives the same outputs; so does moving
    a keypoint below `min_confidence` or dropped (NaN)."""
    model = make(tiny(lookahead=lookahead)).eval()
    alone = random_batch(1, 20, seed=2)
    batch = random_batch(2, 30, seed=3)
    batch["keypoints2d"][0, :20] = alone["keypoints2d"][0]
    batch["keypoints2d"][0, 20:] = float("nan")
    batch["keypoints2d"][0, 25] = 0.9
    batch["mask"][0, 20:] = False
    with torch.no_grad():
        a = model(alone)["joints3d"][0]
        b = model(batch)["joints3d"][0, :20]
        assert torch.allclose(a, b, atol=1e-6)
        doubtful = {k: v.clone() for k, v in alone.items()}
        doubtful["keypoints2d"][0, 7, 3] = torch.tensor([0.4, -0.3, 0.29])  # below 0.3
        doubtful["keypoints2d"][0, 8, 4] = torch.tensor([float("nan"), float("nan"), 0.0])
        zeroed = {k: v.clone() for k, v in alone.items()}
        zeroed["keypoints2d"][0, 7, 3] = 0.0
        zeroed["keypoints2d"][0, 8, 4] = 0.0
        assert torch.equal(model(doubtful)["joints3d"], model(zeroed)["joints3d"])


@pytest.mark.parametrize("lookahead", [0, 4])
def test_receptive_field_and_lookahead(lookahead):
    """Frame t's output changes with frames t-(R-1-L) .. t+L and with no other (R = 1 + 2 x (1 + 3) = 9)."""
    config = tiny(lookahead=lookahead)
    assert config.receptive_field == 9
    model = make(config).eval()
    batch = random_batch(1, 30, seed=4)
    t = 15
    with torch.no_grad():
        base = model(batch)["joints3d"][0, t]
        moved = []
        for frame in range(30):
            other = {k: v.clone() for k, v in batch.items()}
            other["keypoints2d"][0, frame, :, :2] += 0.3
            moved.append(not torch.allclose(model(other)["joints3d"][0, t], base, atol=1e-7))
    seen = [f for f, m in enumerate(moved) if m]
    assert seen == list(range(t - (9 - 1 - lookahead), t + lookahead + 1))


@pytest.mark.parametrize("lookahead", [0, 2])
def test_streaming_equals_whole_sequence(lookahead):
    """`step` frame by frame (then `lookahead` unseen frames to flush) gives `forward`'s outputs, `lookahead`
    steps late."""
    model = make(tiny(lookahead=lookahead, layers=3), seed=5).eval()
    batch = random_batch(2, 40, seed=6)
    with torch.no_grad():
        whole = model(batch)["joints3d"]
        streamed = stream(model.step, model.initial_state(2), flushed(batch, lookahead))
    assert torch.allclose(streamed[:, lookahead:], whole, atol=1e-5)


def flushed(batch, lookahead):
    return torch.cat([batch["keypoints2d"], torch.zeros(2, lookahead, J, 3)], dim=1)


def stream(step, state, frames):
    out = []
    for k in range(frames.shape[1]):
        joints, state = step(state, frames[:, k])
        out.append(joints["joints3d"] if isinstance(joints, dict) else joints)
    return torch.stack(out, dim=1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter, as the benchmarks use
def test_step_exports_to_onnx_with_explicit_state(tmp_path):
    """The step function exported to ONNX (state as inputs and outputs) and run by ONNX Runtime streams the same
    outputs as the whole-sequence run."""
    ort = pytest.importorskip("onnxruntime")
    model = make(tiny(lookahead=2, layers=3), seed=5).eval()
    batch = random_batch(2, 40, seed=6)

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, keypoints, *state):
            out, new = self.model.step(state, keypoints)
            return (out["joints3d"],) + new

    state = model.initial_state(2)
    names = [f"state{i}" for i in range(len(state))]
    path = tmp_path / "lifter_step.onnx"
    torch.onnx.export(Step(), (batch["keypoints2d"][:, 0], *state), str(path), input_names=["keypoints", *names],
                      output_names=["joints3d", *[f"new_{n}" for n in names]], opset_version=17, dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(state, keypoints):
        out = session.run(None, {"keypoints": keypoints.numpy(), **{n: s for n, s in zip(names, state)}})
        return torch.from_numpy(out[0]), out[1:]

    with torch.no_grad():
        whole = model(batch)["joints3d"]
    streamed = stream(run, [s.numpy() for s in state], flushed(batch, 2))
    assert torch.allclose(streamed[:, 2:], whole, atol=1e-5)


def synthetic(minutes, seed):
    """Synthetic recordings of 30 s at 10 fps on COCO-17, normalised as training does: 3D joints z up, mid-hip
    at the origin, divided by the body scale; 2D keypoints in the person's box with their confidence."""
    seqs = generate(minutes, seed=seed, config=SynthConfig(layouts=("coco17",), fps=10.0,
                                                           recording_minutes=(0.5, 0.5)))
    joints = np.stack([normalise_joints(s.joints, s.up, "coco17", NormConfig())[0] for s in seqs])
    keypoints = np.stack([normalise_keypoints(s.keypoints2d) for s in seqs])
    return {"joints": torch.from_numpy(joints), "keypoints2d": torch.from_numpy(keypoints),
            "mask": torch.ones(joints.shape[:2], dtype=torch.bool)}


def test_training_on_a_tiny_synthetic_set():
    """4 recordings (2 minutes) to train on, 2 other people and cameras held out. Predicting the training set's
    mean pose misses by 0.17 body scales on them (about 23 cm); the trained tiny model must do clearly better."""
    data, held_out = synthetic(2.0, seed=1), synthetic(1.0, seed=2)
    assert data["joints"].shape == (4, 300, J, 3)
    model = make(tiny(channels=32, dropout=0.1, keypoint_dropout=0.05), seed=0)
    logs = fit(model, data, 80, lr=5e-3)
    assert logs[-1]["mpjpe"] < 0.2 * logs[0]["mpjpe"]
    assert logs[-1]["bone"] < logs[0]["bone"]
    model.eval()
    with torch.no_grad():
        lifted = float(mpjpe(model(held_out)["joints3d"], held_out["joints"], held_out["mask"], align_yaw=True))
    mean_pose = data["joints"].mean(dim=(0, 1)).expand_as(held_out["joints"])
    baseline = float(mpjpe(mean_pose, held_out["joints"], held_out["mask"], align_yaw=True))
    assert 0.15 < baseline < 0.2
    assert lifted < 0.7 * baseline


def test_same_seed_same_model_and_training():
    config = tiny(dropout=0.2, keypoint_dropout=0.1)
    a, b, c = make(config, seed=7), make(config, seed=7), make(config, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    batch = random_batch(2, 16, seed=9)
    runs = []
    for model in (a, b):
        torch.manual_seed(3)  # dropout draws
        runs.append([log["mpjpe"] for log in fit(model, batch, 3, lr=5e-3)])
    assert runs[0] == runs[1]
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in sa)


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_by_hand():
    c, d = 16, J * 3
    residual = (c * c * 3 + c) + (c * c + c)
    assert count(make(tiny())) == (d * c + c) + 2 * residual + (c * d + d)
    default = make(Lifter2d3dConfig())
    assert Lifter2d3dConfig().receptive_field == 27
    assert count(default) == 210_611  # 0.84 MB as float32


def test_config_checks_and_units():
    with pytest.raises(InputError, match="lookahead"):
        tiny(lookahead=9)
    with pytest.raises(InputError, match="kernel"):
        tiny(kernel=1)
    with pytest.raises(InputError, match="dropout"):
        tiny(dropout=1.0)
    assert tiny(lookahead=8).receptive_field == 9
    assert tiny(dilation_base=2, layers=4).receptive_field == 31
    model = make(tiny())
    one = torch.ones(1, 1, J, 3)
    assert float(model.to_metres(one)[0, 0, 0, 0]) == pytest.approx(0.78 * 1.7)
    assert float(model.to_metres(one, 1.2)[0, 0, 0, 0]) == pytest.approx(1.2)


def test_registry_entry():
    entry = MODELS["lifter_2d3d"]
    assert entry.task == "lifting"
    assert entry.config is Lifter2d3dConfig and entry.config().data.layout == "coco17"
    assert isinstance(entry.build(tiny()), torch.nn.Module)
