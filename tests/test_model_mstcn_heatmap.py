"""`mstcn_heatmap` (ICRA 2024 skeleton heatmaps + MS-TCN++): the joint and limb Gaussians land where the keypoints
say, nothing is drawn for an unseen joint, every stage has the batch's shape, the smoothing loss equals a
hand-computed value, padding and unlabelled frames change nothing, the loss falls on a tiny synthetic set, and a
seed fixes everything."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.generator import generate
from edge.errors import InputError
from edge.models.base import DataSpec
from edge.models.layers import smoothing_loss
from edge.models.mstcn_heatmap import (MstcnHeatmapConfig, SkeletonHeatmaps, body_part, build, channel_members,
                                       front_view)
from edge.models.registry import MODELS
from edge.skeletons import get_layout
from model_helpers import fit  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAYOUT = get_layout("uwiom15")
S, MARGIN = 32, 0.1
TINY = dict(heatmap_size=16, cnn_channels=(8, 16), feature_dim=32, tcn_channels=16, pg_layers=5,
            refinement_layers=4)



def box_coordinate(pixel: float) -> float:
    """The box coordinate (centred at 0, longer side 1) drawn at the centre of pixel `pixel` of a 32-pixel map."""
    return ((pixel + 0.5) / S - MARGIN) / (1 - 2 * MARGIN) - 0.5


def unseen_skeleton(frames: int = 1) -> torch.Tensor:
    return torch.zeros(frames, LAYOUT.num_joints, 3)


def renderer(mode: str = "each") -> SkeletonHeatmaps:
    return SkeletonHeatmaps("uwiom15", S, 1.0, MARGIN, mode, chunk=32)


def test_a_joint_peaks_at_its_pixel_and_nothing_else_is_drawn():
    wrist = LAYOUT.index("left_wrist")
    kp = unseen_skeleton()
    kp[0, wrist] = torch.tensor([box_coordinate(20), box_coordinate(7), 1.0])
    maps = renderer()(kp)[0]
    assert maps.shape == (LAYOUT.num_joints + len(LAYOUT.edges), S, S)
    peak = maps[wrist]
    assert divmod(int(peak.argmax()), S) == (7, 20)  # row y, column x
    assert peak[7, 20] == pytest.approx(1.0, abs=1e-5)
    assert peak[7, 21] == pytest.approx(math.exp(-0.5), abs=1e-5)
    assert peak[9, 20] == pytest.approx(math.exp(-2.0), abs=1e-5)
    others = torch.cat([maps[:wrist], maps[wrist + 1:]])
    assert float(others.abs().max()) == 0.0  # unseen joints and their limbs draw nothing
    # In "parts" mode the wrist is drawn in the left arm's joint channel, at the same place.
    parts = renderer("parts")(kp)[0]
    arm = channel_members("uwiom15", "parts").index(tuple(LAYOUT.index(f"left_{j}")
                                                          for j in ("wrist", "elbow", "shoulder")))
    assert parts.shape == (10, S, S)
    torch.testing.assert_close(parts[arm], peak)


def test_a_limb_gaussian_lies_along_its_bone_with_the_weaker_confidence():
    elbow, wrist = LAYOUT.index("right_elbow"), LAYOUT.index("right_wrist")
    limb = LAYOUT.num_joints + LAYOUT.edges.index((elbow, wrist))
    kp = unseen_skeleton()
    kp[0, elbow] = torch.tensor([box_coordinate(5), box_coordinate(10), 1.0])
    kp[0, wrist] = torch.tensor([box_coordinate(25), box_coordinate(10), 0.5])
    maps = renderer()(kp)[0]
    bone = maps[limb]
    torch.testing.assert_close(bone[10, 5:26], torch.full((21,), 0.5), atol=1e-4, rtol=0)  # on the bone
    assert bone[12, 15] == pytest.approx(0.5 * math.exp(-2.0), abs=1e-4)  # 2 px beside it
    assert bone[10, 28] == pytest.approx(0.5 * math.exp(-4.5), abs=1e-4)  # 3 px beyond its end
    assert bone[10, 2] == pytest.approx(0.5 * math.exp(-4.5), abs=1e-4)
    assert float(maps[wrist].max()) == pytest.approx(0.5, abs=1e-5)  # a joint scaled by its confidence


def test_unseen_joints_draw_nothing_and_nan_does_not_leak():
    rng = np.random.default_rng(0)
    kp = torch.from_numpy(np.concatenate([rng.uniform(-0.5, 0.5, (4, LAYOUT.num_joints, 2)),
                                          np.ones((4, LAYOUT.num_joints, 1))], axis=-1).astype(np.float32))
    head, neck = LAYOUT.index("head"), LAYOUT.index("neck")
    kp[1, head, 2] = 0.0  # not seen
    kp[2, head, :2] = float("nan")  # not seen, as the synthetic data and pose models mark it
    maps = renderer()(kp)
    assert torch.isfinite(maps).all()
    head_limb = LAYOUT.num_joints + LAYOUT.edges.index((neck, head))
    for frame in (1, 2):
        assert float(maps[frame, head].abs().max()) == 0.0
        assert float(maps[frame, head_limb].abs().max()) == 0.0
        assert float(maps[frame, neck].max()) > math.exp(-0.25)  # its neighbour still drawn (<= 0.71 px off)
    assert float(maps[0, head].max()) > math.exp(-0.25)


def test_body_parts_and_channels():
    assert [body_part(n) for n in ("left_shoulder", "right_wrist", "left_hip", "right_toe", "neck", "left_ear")] \
        == ["left_arm", "right_arm", "left_leg", "right_leg", "trunk", "trunk"]
    members = channel_members("uwiom15", "parts")
    n = LAYOUT.num_joints
    # trunk joints, 4 limbs' joints, then limbs: the trunk's holds every bone joining two parts
    assert members[0] == tuple(LAYOUT.index(j) for j in ("neck", "head", "spine_mid"))
    trunk_limbs = {LAYOUT.edges[i - n] for i in members[5]}
    assert (LAYOUT.index("left_shoulder"), LAYOUT.index("left_hip")) in trunk_limbs
    assert (LAYOUT.index("left_hip"), LAYOUT.index("right_hip")) in trunk_limbs
    assert sorted(i for m in members for i in m) == list(range(n + len(LAYOUT.edges)))
    assert len(channel_members("blazepose33", "parts")) == 10
    assert len(channel_members("coco17", "each")) == 17 + len(get_layout("coco17").edges)


def test_front_view_puts_the_3d_joints_in_their_box():
    joints = torch.zeros(1, 1, LAYOUT.num_joints, 3)
    joints[..., 0] = torch.linspace(-0.2, 0.2, LAYOUT.num_joints)  # 0.4 wide
    joints[..., 2] = torch.linspace(0.0, 1.6, LAYOUT.num_joints)  # 1.6 tall: the longer side
    kp = front_view(joints)[0, 0]
    torch.testing.assert_close(kp[:, 0], torch.linspace(-0.125, 0.125, LAYOUT.num_joints))
    torch.testing.assert_close(kp[:, 1], torch.linspace(0.5, -0.5, LAYOUT.num_joints))  # up is drawn upwards
    assert torch.equal(kp[:, 2], torch.ones(LAYOUT.num_joints))


def spec(classes: int = 5) -> DataSpec:
    return DataSpec(layout="uwiom15", classes=tuple(f"c{i}" for i in range(classes)))


def random_batch(b: int, t: int, classes: int = 5, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(b, t, LAYOUT.num_joints, 3, generator=g)
    kp[..., :2] -= 0.5
    return {"keypoints2d": kp, "mask": torch.ones(b, t, dtype=torch.bool),
            "activity": torch.randint(0, classes, (b, t), generator=g)}


def test_every_stage_has_the_batch_shape_and_the_published_dilations():
    torch.manual_seed(0)
    model = build(MstcnHeatmapConfig(data=spec(5)))
    out = model(random_batch(2, 40))
    assert len(out["activity_stages"]) == 4  # prediction generation + 3 refinements
    assert all(s.shape == (2, 40, 5) for s in out["activity_stages"])
    assert out["activity_logits"] is out["activity_stages"][-1]
    assert [(layer.d1, layer.d2) for layer in model.generation.layers] == [(2 ** i, 2 ** (10 - i)) for i in range(11)]
    assert [layer.dilation for layer in model.refinements[0].layers] == [2 ** i for i in range(10)]
    assert model.heatmaps.num_channels == 10
    # CNN 155,792 (flattened 4x4x64 -> 128 is 131,200 of it); generation 8,256 in + 11 x 32,960 + 325 out;
    # refinements 3 x (384 in + 10 x 16,512 + 325 out)
    assert sum(p.numel() for p in model.parameters()) == 155_792 + 371_141 + 3 * 165_829 == 1_024_420


def test_smoothing_loss_equals_the_hand_computed_value():
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [10.0, -10.0]]], requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.bool)
    # log-probabilities: frame 0 (ln 1/2, ln 1/2), frame 1 (ln 3/4, ln 1/4), frame 2 (-ln(1 + e^-20), -20 - same)
    tiny = math.log1p(math.exp(-20.0))
    deltas = [math.log(1.5), math.log(0.5), -tiny - math.log(0.75), min(abs(-20.0 - tiny - math.log(0.25)), 4.0)]
    assert deltas[3] == 4.0  # truncated at tau
    expected = sum(d * d for d in deltas) / 4
    assert float(smoothing_loss(logits, mask, tau=4.0).detach()) == pytest.approx(expected, rel=1e-5)
    # only the pair of real frames counts; the earlier frame is not pulled towards the later one
    mask[0, 2] = False
    value = smoothing_loss(logits, mask, tau=4.0)
    assert float(value.detach()) == pytest.approx((deltas[0] ** 2 + deltas[1] ** 2) / 2, rel=1e-5)
    value.backward()
    assert float(logits.grad[0, 0].abs().max()) == 0.0 and float(logits.grad[0, 1].abs().max()) > 0.1
    assert float(logits.grad[0, 2].abs().max()) == 0.0


def test_padding_and_unlabelled_frames_change_nothing():
    torch.manual_seed(0)
    model = build(MstcnHeatmapConfig(data=spec(5), **TINY)).eval()
    alone = random_batch(1, 30, seed=1)
    padded = random_batch(2, 45, seed=2)  # padding holds other keypoints and labels
    padded["keypoints2d"][0, :30], padded["activity"][0, :30] = alone["keypoints2d"][0], alone["activity"][0]
    padded["mask"][0, 30:] = False
    with torch.no_grad():
        out_alone, out_padded = model(alone), model(padded)
    for a, p in zip(out_alone["activity_stages"], out_padded["activity_stages"]):
        torch.testing.assert_close(p[0, :30], a[0], atol=1e-5, rtol=1e-5)
        assert float(p[0, 30:].abs().max()) == 0.0
    # the loss: per stage, mean cross-entropy over labelled real frames + 0.15 x smoothing over real frames
    padded["activity"][1, 5:20] = -1
    total, logs = model.loss(out_padded, padded)
    labelled = padded["mask"] & (padded["activity"] >= 0)
    ce = sum(F.cross_entropy(s[labelled], padded["activity"][labelled]) for s in out_padded["activity_stages"])
    smooth = sum(smoothing_loss(s, padded["mask"]) for s in out_padded["activity_stages"])
    assert float(total) == pytest.approx(float(ce + 0.15 * smooth), rel=1e-5)
    assert logs["ce"] == pytest.approx(float(ce), rel=1e-5) and logs["smooth"] == pytest.approx(float(smooth), rel=1e-5)
    padded["activity"][0, 30:] = 3  # labels under padding are never read
    assert float(model.loss(out_padded, padded)[0]) == pytest.approx(float(total), rel=1e-6)
    padded["activity"][:] = -1  # nothing labelled: smoothing only, finite
    total, logs = model.loss(out_padded, padded)
    assert logs["ce"] == 0.0 and float(total) == pytest.approx(0.15 * float(smooth), rel=1e-5)


def box_normalised(keypoints: np.ndarray) -> np.ndarray:
    """Pixel keypoints (T, J, 3) -> per frame the box of the seen ones, centred at 0, longer side 1."""
    xy, conf = keypoints[..., :2], np.nan_to_num(keypoints[..., 2])
    seen = (conf > 0) & np.isfinite(xy).all(-1)
    lo = np.where(seen[..., None], xy, np.inf).min(1, keepdims=True)
    hi = np.where(seen[..., None], xy, -np.inf).max(1, keepdims=True)
    size = (hi - lo).max(-1, keepdims=True)
    out = np.where(seen[..., None], (xy - (lo + hi) / 2) / size, 0.0)
    return np.concatenate([out, np.where(seen, conf, 0.0)[..., None]], -1).astype(np.float32)


@pytest.fixture(scope="module")
def synthetic_batch():
    seqs = generate(1.0, 7, SynthConfig(fps=10.0, layouts=("uwiom15",), recording_minutes=(0.5, 0.5)))
    n = min(s.num_frames for s in seqs)
    return seqs[0].activity_names, {
        "keypoints2d": torch.from_numpy(np.stack([box_normalised(s.keypoints2d[:n]) for s in seqs])),
        "joints": torch.from_numpy(np.stack([s.joints[:n] - s.joints[:n].mean(1, keepdims=True) for s in seqs])),
        "mask": torch.ones(len(seqs), n, dtype=torch.bool),
        "activity": torch.from_numpy(np.stack([s.activity[:n] for s in seqs]).astype(np.int64))}


def train(config: MstcnHeatmapConfig, batch: dict, steps: int, seed: int = 0) -> tuple[list[float], torch.nn.Module]:
    torch.manual_seed(seed)
    model = build(config)
    return [terms["loss"] for terms in fit(model, batch, steps, lr=5e-3)], model


def test_the_loss_falls_on_a_tiny_synthetic_set(synthetic_batch):
    names, batch = synthetic_batch
    config = MstcnHeatmapConfig(data=DataSpec(layout="uwiom15", classes=names), dropout=0.1, **TINY)
    losses, model = train(config, batch, steps=80)
    assert losses[-1] < 0.25 * losses[0]
    with torch.no_grad():
        stages = model.eval()(batch)["activity_stages"]
    labelled = batch["activity"] >= 0
    accuracy = [float((s.argmax(-1) == batch["activity"])[labelled].float().mean()) for s in stages]
    majority = float(np.bincount(batch["activity"][labelled].numpy()).max() / int(labelled.sum()))
    # the first stage fits first; the refinements follow it, more slowly, in 80 steps
    assert accuracy[0] > 0.9 and accuracy[-1] > majority + 0.1


def test_3d_joints_are_drawn_from_the_front(synthetic_batch):
    names, batch = synthetic_batch
    model = build(MstcnHeatmapConfig(data=DataSpec(layout="uwiom15", classes=names), source="joints_xz", **TINY))
    torch.testing.assert_close(model.keypoints(batch), front_view(batch["joints"]))
    without_2d = {k: v for k, v in batch.items() if k != "keypoints2d"}
    assert model(without_2d)["activity_logits"].shape == batch["activity"].shape + (len(names),)


def test_a_seed_fixes_weights_outputs_and_training(synthetic_batch):
    names, batch = synthetic_batch
    config = MstcnHeatmapConfig(data=DataSpec(layout="uwiom15", classes=names), **TINY)
    first, model_a = train(config, batch, steps=3, seed=11)
    second, model_b = train(config, batch, steps=3, seed=11)
    assert first == second
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), name
    third, _ = train(config, batch, steps=3, seed=12)
    assert third != first


def test_registry_entry_and_config_checks():
    entry = MODELS["mstcn_heatmap"]
    assert entry.config is MstcnHeatmapConfig and entry.task == "segmentation"
    assert entry.train_defaults["train"] == {"batch_size": 2, "epochs": 40, "schedule": "cosine", "keep": "last"}
    assert entry.train_defaults["data"]["val_fraction"] == 0.0
    assert entry.train_defaults["data"]["augment"]["speed_range"] == [0.8, 1.25]
    model = entry.build(MstcnHeatmapConfig(data=spec(3), **TINY))
    assert model(random_batch(1, 8, classes=3))["activity_logits"].shape == (1, 8, 3)
    with pytest.raises(InputError, match="channels"):
        MstcnHeatmapConfig(channels="rgb")
    with pytest.raises(InputError, match="source"):
        MstcnHeatmapConfig(source="depth")
    with pytest.raises(InputError, match="too small"):
        MstcnHeatmapConfig(heatmap_size=4)
    with pytest.raises(InputError, match="two activity classes"):
        build(MstcnHeatmapConfig())
    # 3D joints only (UW-IOM as released): "auto" draws them from the front; "keypoints2d" names the setting.
    joints_only = {"joints": torch.randn(1, 8, 15, 3), "mask": torch.ones(1, 8, dtype=torch.bool)}
    assert model(joints_only)["activity_logits"].shape == (1, 8, 3)
    with pytest.raises(InputError, match="joints_xz"):
        entry.build(MstcnHeatmapConfig(data=spec(3), source="keypoints2d", **TINY))(joints_only)
