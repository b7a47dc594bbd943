"""vae_reba (Sensors 2022 variational REBA model): Heron joint-line distances against hand-computed triangles, the
KL terms against their closed form, streams and distances for every layout, shapes, masked frames and NaN targets,
padding, the two training phases on a tiny synthetic set (the loss falls in each, the alignment term shrinks in
phase 2, each phase leaves the other network alone), the "auto" schedule, deterministic evaluation and seeding."""

import math

import numpy as np
import pytest
import torch

from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.generator import generate
from edge.models.base import REBA_PARTIALS, DataSpec
from edge.models.registry import MODELS
from edge.models.vae_reba import (
    JOINT_LINE_TRIPLES,
    VaeRebaConfig,
    build,
    gaussian_kl,
    heron_distance,
    parameter_count,
    stream_joints,
    triples_for,
)
from edge.skeletons import LAYOUTS, get_layout
from edge.train.config import NormConfig
from edge.train.normalise import normalise_joints
from model_helpers import fit  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {"stream_width": 8, "model_dim": 16, "heads": 2, "layers": 1, "ff_dim": 32, "latent": 4, "decoder_width": 16,
        "teacher_width": 16, "attention_radius": 8, "dropout": 0.0}


def tiny(**changes) -> VaeRebaConfig:
    return VaeRebaConfig(**{**TINY, **changes})


def made(config: VaeRebaConfig, seed: int = 0):
    torch.manual_seed(seed)
    return build(config)


@pytest.fixture(scope="module")
def batch():
    """Windows of 32 frames from 30 s of synthetic uwiom15 recordings at 10 fps: joints normalised root-relative
    (edge.train.normalise), targets straight from the sequences (edge/models/base.py's batch)."""
    seqs = generate(0.5, 5, SynthConfig(layouts=("uwiom15",), fps=10.0, recording_minutes=(0.5, 0.5)))
    joints, reba, partials = [], [], []
    for seq in seqs:
        norm, _ = normalise_joints(seq.joints, seq.up, seq.layout, NormConfig())
        for start in range(0, seq.num_frames - 32 + 1, 32):
            joints.append(norm[start:start + 32])
            reba.append(seq.targets["reba_total"][start:start + 32])
            partials.append(np.stack([seq.targets[p][start:start + 32] for p in REBA_PARTIALS], axis=1))
    n = len(joints)
    return {"joints": torch.tensor(np.stack(joints)), "mask": torch.ones(n, 32, dtype=torch.bool),
            "reba": torch.tensor(np.stack(reba), dtype=torch.float32),
            "reba_partials": torch.tensor(np.stack(partials), dtype=torch.float32)}


def snapshot(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- geometry


def test_heron_distance_hand_computed_triangles():
    t = torch.tensor
    # Sides 3 (the line), 4 and 5: s = 6, area = sqrt(6*3*2*1) = 6, distance = 2*6/3 = 4.
    assert heron_distance(t([0.0, 4, 0]), t([0.0, 0, 0]), t([3.0, 0, 0])).item() == pytest.approx(4.0, abs=1e-6)
    # In 3D, off the axes; the foot of the perpendicular beyond b: the distance to the line, not the segment.
    a = t([1.0, 1.0, 1.0])
    b = a + t([0.0, 0.0, 2.0])
    assert heron_distance(a + t([2.0, 0.0, 1.0]), a, b).item() == pytest.approx(2.0, abs=1e-5)
    assert heron_distance(a + t([0.6, 0.8, 5.0]), a, b).item() == pytest.approx(1.0, abs=1e-4)
    # A point on the line (a flat triangle): 0, not NaN; batched shapes broadcast.
    d = heron_distance(t([[2.0, 0, 0], [0.0, 0, 7]]), t([0.0, 0, 0]), t([1.0, 0, 0]))
    assert d.shape == (2,) and d[0].item() == pytest.approx(0.0, abs=1e-3) and d[1].item() == pytest.approx(7.0)


def test_heron_distance_degenerate_line_is_the_plain_distance():
    p, a = torch.tensor([3.0, 4.0, 12.0]), torch.tensor([0.0, 0.0, 0.0])
    d = heron_distance(p, a, a.clone())
    assert torch.isfinite(d) and d.item() == pytest.approx(13.0)
    assert heron_distance(a, a, a).item() == 0.0


def test_streams_and_triples_for_every_layout():
    uw = get_layout("uwiom15")
    named = {s: {uw.joints[i] for i in idx} for s, idx in stream_joints(uw).items()}
    assert named["arms"] == {f"{side}_{p}" for side in ("left", "right") for p in ("shoulder", "elbow", "wrist")}
    assert named["legs"] == {f"{side}_{p}" for side in ("left", "right") for p in ("hip", "knee", "ankle")}
    assert named["trunk"] == {"neck", "head", "spine_mid", "left_shoulder", "right_shoulder", "left_hip",
                              "right_hip"}
    for name, layout in LAYOUTS.items():
        assert len(triples_for(layout)) == len(JOINT_LINE_TRIPLES) == 12, name
        assert sum(map(len, stream_joints(layout).values())) >= layout.num_joints, name
    # coco17 has no neck or head joint: the head is the mid-ears, the neck the mid-shoulders.
    coco = get_layout("coco17")
    head = next(t for t in triples_for(coco) if t[0] == "trunk")
    assert head[1] == (coco.index("left_ear"), coco.index("right_ear"))
    assert head[2] == (coco.index("left_shoulder"), coco.index("right_shoulder"))


def test_distance_features_on_a_known_pose():
    """Right knee bent at 90 degrees (hip above knee, ankle behind it): its distance to the hip-ankle line is the
    right triangle's height; a joint not seen (NaN) gives 0 for every distance it enters."""
    layout = get_layout("uwiom15")
    model = made(tiny())
    joints = torch.zeros(1, 2, layout.num_joints, 3)
    joints[..., layout.index("right_hip"), :] = torch.tensor([0.0, 0.0, 1.0])
    joints[..., layout.index("right_knee"), :] = torch.tensor([0.0, 0.0, 0.6])
    joints[..., layout.index("right_ankle"), :] = torch.tensor([0.0, -0.4, 0.6])
    joints[0, 1, layout.index("right_ankle"), 0] = float("nan")
    legs = model.encoder.distances(joints)["legs"]  # left knee, right knee
    # legs 0.4 and 0.4, hypotenuse 0.4 * sqrt(2): height 0.4 / sqrt(2).
    assert legs[0, 0, 1].item() == pytest.approx(0.4 / math.sqrt(2), abs=1e-5)
    assert legs[0, 1, 1].item() == 0.0


# ---------------------------------------------------------------- KL terms


def test_gaussian_kl_closed_form_on_hand_cases():
    mu, logvar = torch.tensor([1.0, 0.0]), torch.tensor([0.0, math.log(4.0)])
    # 1/2 (1 + 1 - 1 - 0) + 1/2 (4 + 0 - 1 - log 4)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(0.5 + 0.5 * (3 - math.log(4.0)), abs=1e-6)
    # KL(N(1, 1) || N(0, 4)) = log 2 + (1 + 1) / 8 - 1/2
    kl = gaussian_kl(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([math.log(4.0)]))
    assert kl.item() == pytest.approx(math.log(2.0) + 0.25 - 0.5, abs=1e-6)
    assert gaussian_kl(mu, logvar, mu, logvar).item() == pytest.approx(0.0, abs=1e-7)


def test_loss_terms_are_the_closed_forms_over_real_frames(batch):
    model = made(tiny(phase="pose")).eval()
    b = {k: v[:2] for k, v in batch.items()}
    b["mask"] = b["mask"].clone()
    b["mask"][1, 20:] = False
    with torch.no_grad():
        out = model(b)
        _, log = model.loss(out, b)
    keep = b["mask"]
    kl = 0.5 * (out["pose_logvar"].exp() + out["pose_mu"] ** 2 - 1 - out["pose_logvar"]).sum(-1)
    assert log["kl"] == pytest.approx(kl[keep].mean().item(), rel=1e-5)
    mt, lt, mp, lp = out["teacher_mu"], out["teacher_logvar"], out["pose_mu"], out["pose_logvar"]
    align = 0.5 * (lp - lt + (lt.exp() + (mt - mp) ** 2) / lp.exp() - 1).sum(-1)
    assert log["align"] == pytest.approx(align[keep].mean().item(), rel=1e-5)
    c = model.config
    expected = (c.reba_weight * log["reba_mse"] + c.partials_weight * log["partials_mse"] + c.beta * log["kl"]
                + c.align_weight * log["align"])
    assert log["loss"] == pytest.approx(expected, rel=1e-5) and log["phase"] == 2.0


# ---------------------------------------------------------------- contract


def test_shapes_registry_and_parameter_count(batch):
    entry = MODELS["vae_reba"]
    assert entry.config is VaeRebaConfig and entry.task == "reba"
    # Early stopping watches the REBA error: the validation loss also holds the alignment KL (registry comment).
    assert entry.train_defaults == {"train": {"monitor": "reba_mse", "patience": 15}}
    model = made(entry.config())
    assert parameter_count(model) == 100_596
    assert parameter_count(model, "teacher") == 13_482
    b = {k: v[:3, :20] for k, v in batch.items()}
    out = made(tiny()).eval()(b)
    assert out["reba"].shape == (3, 20) and out["reba_partials"].shape == (3, 20, 9)
    assert out["pose_mu"].shape == out["pose_logvar"].shape == out["teacher_mu"].shape == (3, 20, 4)
    for layout in ("coco17", "h36m17", "blazepose33", "kinect25"):
        spec = DataSpec(layout=layout, partials=REBA_PARTIALS[:3])
        j = torch.randn(2, 7, get_layout(layout).num_joints, 3)
        out = made(tiny(data=spec)).eval()({"joints": j, "mask": torch.ones(2, 7, dtype=torch.bool)})
        assert out["reba"].shape == (2, 7) and out["reba_partials"].shape == (2, 7, 3) and "teacher_mu" not in out


def test_config_is_checked():
    for bad in ({"phase": "both"}, {"model_dim": 30, "heads": 4}, {"position_kernel": 4}, {"dropout": 1.0},
                {"beta": -1.0}, {"latent": 0}):
        with pytest.raises(ValueError):
            VaeRebaConfig(**bad)


def test_masked_frames_and_nan_targets_are_ignored(batch):
    model = made(tiny(phase="pose")).eval()
    b = {k: v[:2].clone() for k, v in batch.items()}
    b["mask"][0, 24:] = False
    b["reba"][1, :5] = float("nan")
    b["reba_partials"][1, 3:9, 2] = float("nan")
    with torch.no_grad():
        out = model(b)
        _, log = model.loss(out, b)
    keep = b["mask"] & ~torch.isnan(b["reba"])
    assert log["reba_mse"] == pytest.approx(((out["reba"] - b["reba"])[keep] ** 2).mean().item(), rel=1e-5)
    pk = b["mask"][..., None] & ~torch.isnan(b["reba_partials"])
    err = (out["reba_partials"] - b["reba_partials"])[pk] ** 2
    assert log["partials_mse"] == pytest.approx(err.mean().item(), rel=1e-5)
    # Garbage (huge joints, NaN joints, wild targets) on padded frames changes nothing on real ones.
    g = {k: v.clone() for k, v in b.items()}
    g["joints"][0, 24:] = 1e3
    g["joints"][0, 26, 3] = float("nan")
    g["reba"][0, 24:] = 99.0
    g["reba_partials"][0, 24:] = float("nan")
    with torch.no_grad():
        out2 = model(g)
        _, log2 = model.loss(out2, g)
    assert torch.allclose(out2["reba"][b["mask"]], out["reba"][b["mask"]], atol=1e-5)
    assert log2["loss"] == pytest.approx(log["loss"], rel=1e-5)
    # Training on it: finite loss and gradients despite the NaN targets.
    for phase in ("teacher", "pose"):
        m = made(tiny(phase=phase)).train()
        loss, _ = m.loss(m(g), g)
        loss.backward()
        grads = [p.grad for p in m.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(gr).all() for gr in grads)


def test_outputs_do_not_depend_on_padding(batch):
    model = made(tiny(attention_radius=0)).eval()
    alone = {"joints": batch["joints"][:1, :20], "mask": torch.ones(1, 20, dtype=torch.bool)}
    padded = {"joints": batch["joints"][:2].clone(), "mask": torch.ones(2, 32, dtype=torch.bool)}
    padded["mask"][0, 20:] = False
    with torch.no_grad():
        a, p = model(alone), model(padded)
    assert torch.allclose(a["reba"][0], p["reba"][0, :20], atol=1e-5)
    assert torch.allclose(a["reba_partials"][0], p["reba_partials"][0, :20], atol=1e-5)


# ---------------------------------------------------------------- training phases


def test_two_phase_training_on_synthetic_data(batch):
    """Phase 1 trains the teacher only; phase 2 (from phase 1's weights) trains the pose VAE only, its loss and the
    alignment KL(q_teacher || q_pose) fall (weighted 1 here: the default 0.1 lets regression dominate a model this
    small), and it ends up predicting REBA better than the mean does."""
    teacher = made(tiny(phase="teacher"))
    pose_before = snapshot(teacher.encoder)
    logs = fit(teacher, batch, 40, optimiser=torch.optim.AdamW)
    assert logs[-1]["loss"] < 0.5 * logs[0]["loss"]
    assert logs[-1]["teacher_reba_mse"] < 0.5 * logs[0]["teacher_reba_mse"]
    assert same(pose_before, snapshot(teacher.encoder))

    pose = made(tiny(phase="pose", align_weight=1.0), seed=1)
    pose.load_state_dict(teacher.state_dict())
    teacher_before = snapshot(pose.teacher)
    logs = fit(pose, batch, 60, optimiser=torch.optim.AdamW)
    first, last = np.mean([g["loss"] for g in logs[:5]]), np.mean([g["loss"] for g in logs[-5:]])
    assert last < 0.6 * first
    assert np.mean([g["align"] for g in logs[-5:]]) < 0.5 * np.mean([g["align"] for g in logs[:5]])
    assert same(teacher_before, snapshot(pose.teacher))
    pose.eval()
    with torch.no_grad():
        _, log = pose.loss(pose(batch), batch)
    assert log["reba_mse"] < 0.75 * batch["reba"].var().item()  # 0.08-0.64 over seeds 0-2


def test_auto_phase_switches_after_teacher_steps_and_resumes(batch):
    b = {k: v[:4] for k, v in batch.items()}
    model = made(tiny(teacher_steps=3))
    logs = fit(model, b, 5, optimiser=torch.optim.AdamW)
    assert [g["phase"] for g in logs] == [1.0, 1.0, 1.0, 2.0, 2.0]
    assert int(model.state_dict()["steps"]) == 5
    # In phase 1 the pose VAE learns its own terms too (not the alignment); evaluation is always phase 2's loss.
    assert logs[0]["loss"] > logs[0]["teacher_reba_mse"] + logs[0]["reba_mse"]
    again = made(tiny(teacher_steps=3), seed=9)
    again.load_state_dict(model.state_dict())
    assert again.active_phase == 2
    fresh = made(tiny(teacher_steps=3)).eval()
    with torch.no_grad():
        _, log = fresh.loss(fresh(b), b)
    assert log["phase"] == 2.0 and int(fresh.steps) == 0


# ---------------------------------------------------------------- determinism


def test_evaluation_uses_the_latent_mean(batch):
    b = {k: v[:2] for k, v in batch.items()}
    model = made(tiny(phase="pose"))
    with torch.no_grad():
        model.eval()
        e1, e2 = model(b), model(b)
        model.train()
        t1 = model(b)
    assert torch.equal(e1["reba"], e2["reba"])
    assert not torch.allclose(t1["reba"], e1["reba"])
    assert torch.allclose(model.decoder(e1["pose_mu"])[0], e1["reba"])


def test_same_seed_same_model_and_training(batch):
    b = {k: v[:4] for k, v in batch.items()}
    a, c = made(tiny(), seed=3), made(tiny(), seed=3)
    assert same(snapshot(a), snapshot(c))
    assert not same(snapshot(a), snapshot(made(tiny(), seed=4)))
    torch.manual_seed(7)
    la = fit(a, b, 4, optimiser=torch.optim.AdamW)
    torch.manual_seed(7)
    lc = fit(c, b, 4, optimiser=torch.optim.AdamW)
    assert [g["loss"] for g in la] == [g["loss"] for g in lc]
