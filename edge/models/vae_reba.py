"""`vae_reba`: the variational REBA model of Chatzis, Konstantinidis and Dimitropoulos, "Automatic Ergonomic Risk
Assessment Using a Variational Deep Network Architecture" (Sensors 22(16), 6051, 2022), written here from the
paper's description: 3D joints plus joint-line distances, a multi-stream encoder, a transformer encoder, a VAE
latent and a decoder of the partial and total REBA scores; a REBA-to-REBA teacher VAE; two-phase variational
alignment of the pose latent to the teacher's.

Pose VAE (what predicts, in training and on the device):

    features     per stream (trunk, arms, legs: `stream_joints`) the stream's normalised joints and its
                 joint-line distances (`JOINT_LINE_TRIPLES`, Heron's formula: `heron_distance`)
    streams      per stream a frame-wise MLP: Linear -> GELU -> Linear -> GELU, `stream_width` wide
    fusion       the streams concatenated -> Linear to `model_dim`, plus a depthwise temporal convolution of it
                 (relative position: frame order without absolute indices, so 25 s training windows carry over to
                 whole recordings at evaluation)
    transformer  `layers` pre-norm encoder layers over time, `heads` heads; a frame attends to the real frames
                 within `attention_radius` of it (0: all), never to padding
    latent       per frame mu and log sigma^2 (`latent` wide); z = mu + sigma * eps in training, mu in evaluation
    decoder      MLP on z -> REBA total and partials per frame

Teacher VAE (REBA-to-REBA, used in training only): per frame the known scores (total and partials, centred and
scaled, 0 where unknown) and a known flag each -> MLP -> mu, log sigma^2 -> z -> MLP -> the scores again.

Phases (`VaeRebaConfig.phase`; the generic loop only calls `model(batch)` and `model.loss(outputs, batch)`):

    "teacher"  phase 1: only the teacher learns: reba_weight x MSE(total) + partials_weight x MSE(partials) of its
               reconstruction + teacher_beta x KL(q_teacher || N(0, I)).
    "pose"     phase 2: the teacher is frozen (run without gradient); the pose VAE learns reba_weight x MSE(total)
               + partials_weight x MSE(partials) + beta x KL(q_pose || N(0, I)) + align_weight x
               KL(q_teacher || q_pose). Load the phase-1 weights first (same state dict).
    "auto"     one run: phase 1 for the first `teacher_steps` training calls of `loss` (one per optimiser step),
               then phase 2. During phase 1 the pose VAE already learns its own terms (not the alignment), so its
               validation loss falls from the start; in evaluation `loss` is always the phase-2 objective, so
               early stopping compares like with like across the switch. The count is the buffer `steps`, saved
               in the state dict: a resumed run goes on in its phase.

A phase leaves the other network's parameters without a gradient (None), so the optimiser leaves them as they are
(`zero_grad(set_to_none=True)`, torch's default); data-parallel training needs `find_unused_parameters=True`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from edge.models.base import DataSpec, masked_mean
from edge.skeletons import Layout, canonical_sources, get_layout

PHASES = ("teacher", "pose", "auto")
STREAMS = ("trunk", "arms", "legs")

# Joint-line distances (stream, joint, line through two joints), all canonical points (edge.skeletons), so every
# layout has them (a neck, head or pelvis a layout lacks is built from the shoulders, ears or hips). Each one
# grows with a REBA posture term:
JOINT_LINE_TRIPLES: tuple[tuple[str, str, str, str], ...] = (
    ("trunk", "head", "neck", "pelvis"),  # neck flexion / side bending against the trunk axis
    ("trunk", "head", "left_shoulder", "right_shoulder"),  # head height over the shoulder line (neck)
    ("trunk", "left_shoulder", "left_hip", "left_knee"),  # trunk against the thigh: flexion at the hip
    ("trunk", "right_shoulder", "right_hip", "right_knee"),
    ("arms", "left_elbow", "left_shoulder", "left_hip"),  # upper arm flexion / abduction
    ("arms", "right_elbow", "right_shoulder", "right_hip"),
    ("arms", "left_wrist", "left_shoulder", "left_elbow"),  # elbow flexion (lower arm)
    ("arms", "right_wrist", "right_shoulder", "right_elbow"),
    ("arms", "left_wrist", "left_shoulder", "left_hip"),  # reach: the hand away from the side of the body
    ("arms", "right_wrist", "right_shoulder", "right_hip"),
    ("legs", "left_knee", "left_hip", "left_ankle"),  # knee flexion (legs)
    ("legs", "right_knee", "right_hip", "right_ankle"),
)

# Landmark names (without left_/right_) of the arm and leg streams; every other landmark is trunk. Shoulders and
# hips are in the trunk stream too: each limb stream sees where its limb starts.
_ARM_PARTS = frozenset({"shoulder", "elbow", "wrist", "hand", "hand_tip", "index", "pinky", "thumb"})
_LEG_PARTS = frozenset({"hip", "knee", "ankle", "heel", "toe", "foot"})
_SHARED_PARTS = frozenset({"shoulder", "hip"})

# Scores in and out of the networks as centre + scale x value: REBA totals of working postures are mostly 1-7,
# partials 1-3, so the heads start at typical scores and the teacher sees values near [-1, 1].
_TOTAL_CENTRE, _TOTAL_SCALE = 4.0, 3.0
_PARTIAL_CENTRE, _PARTIAL_SCALE = 2.0, 1.0
# log sigma^2 is clipped to this range: exp() of it stays finite in float32 at any learning rate.
_LOGVAR_RANGE = (-12.0, 8.0)


@dataclass(frozen=True)
class VaeRebaConfig:
    """Sizes, loss weights and training phase of `vae_reba`.

    data: what it is trained on (layout -> joints and streams, partials predicted).
    stream_width: width of each stream's frame MLP (trunk, arms, legs).
    model_dim, heads, layers, ff_dim: the transformer encoder (model_dim divisible by heads).
    position_kernel: taps of the depthwise temporal convolution that gives the transformer frame order (odd).
    attention_radius: frames on each side a frame attends to (0: the whole sequence; memory is T^2 either way).
    latent: width of the per-frame latent of both VAEs; decoder_width, teacher_width: their hidden MLP widths.
    dropout: in the stream MLPs and the transformer (training only; the teacher has none).
    reba_weight, partials_weight: weights of the MSE of the total and of the mean over partials (both VAEs).
    beta: weight of KL(q_pose || N(0, I)) (per frame, summed over latent dimensions); teacher_beta: the same for
      the teacher. Small: both VAEs are regressors first, the prior only keeps the latents tidy.
    align_weight: weight of the alignment KL(q_teacher || q_pose) in phase 2.
    phase: "teacher" (1), "pose" (2) or "auto" (1 then 2 after teacher_steps training steps); see the module doc.
    teacher_steps: length of phase 1 in optimiser steps with phase = "auto".
    """

    data: DataSpec = DataSpec()
    stream_width: int = 32
    model_dim: int = 64
    heads: int = 4
    layers: int = 2
    ff_dim: int = 128
    position_kernel: int = 5
    attention_radius: int = 32
    latent: int = 16
    decoder_width: int = 64
    teacher_width: int = 64
    dropout: float = 0.1
    reba_weight: float = 1.0
    partials_weight: float = 1.0
    beta: float = 1e-3
    teacher_beta: float = 1e-2
    align_weight: float = 0.1
    phase: str = "auto"
    teacher_steps: int = 300

    def __post_init__(self):
        for name in ("stream_width", "model_dim", "heads", "layers", "ff_dim", "latent", "decoder_width",
                     "teacher_width", "position_kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"VaeRebaConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.model_dim % self.heads:
            raise ValueError(f"VaeRebaConfig.model_dim ({self.model_dim}) must be divisible by heads ({self.heads})")
        if self.position_kernel % 2 == 0:
            raise ValueError(f"VaeRebaConfig.position_kernel must be odd, got {self.position_kernel}")
        if self.attention_radius < 0 or self.teacher_steps < 0:
            raise ValueError("VaeRebaConfig.attention_radius and teacher_steps must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"VaeRebaConfig.dropout must be in [0, 1), got {self.dropout}")
        for name in ("reba_weight", "partials_weight", "beta", "teacher_beta", "align_weight"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"VaeRebaConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.phase not in PHASES:
            raise ValueError(f"VaeRebaConfig.phase must be one of {', '.join(PHASES)}, got {self.phase!r}")


# ---------------------------------------------------------------- geometry: Heron distances, streams


def heron_distance(point: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Distance from `point` to the line through `a` and `b` (all (..., 3)) -> (...): the triangle's area from its
    three sides by Heron's formula, in Kahan's ordering (sides sorted, no cancellation for needle-thin triangles),
    over half the base |a - b|. Where a and b coincide (|a - b| <= eps) there is no line: the plain distance
    |point - a|. An input feature: not meant to be differentiated (the square root's slope is infinite at 0)."""
    point, a, b = torch.broadcast_tensors(point, a, b)
    base = (a - b).norm(dim=-1)
    sides = torch.stack([base, (point - a).norm(dim=-1), (point - b).norm(dim=-1)], dim=-1)
    x, y, z = sides.sort(dim=-1, descending=True).values.unbind(-1)
    product = (x + (y + z)) * (z - (x - y)) * (z + (x - y)) * (x + (y - z))
    area = 0.25 * product.clamp(min=0.0).sqrt()
    line = base > eps
    return torch.where(line, 2.0 * area / torch.where(line, base, torch.ones_like(base)), sides[..., 1])


def _part(name: str) -> str:
    for side in ("left_", "right_"):
        if name.startswith(side):
            return name[len(side):]
    return name


def stream_joints(layout: Layout) -> dict[str, tuple[int, ...]]:
    """The joint indices of each stream (`STREAMS`) of `layout`, chosen by landmark name: arms (shoulder to
    fingers), legs (hip to toes), trunk (everything else, with shoulders and hips). A layout without a joint in
    some stream is an error."""
    out: dict[str, list[int]] = {s: [] for s in STREAMS}
    for i, name in enumerate(layout.joints):
        part = _part(name)
        if part in _ARM_PARTS:
            out["arms"].append(i)
        elif part in _LEG_PARTS:
            out["legs"].append(i)
        if part in _SHARED_PARTS or not (part in _ARM_PARTS or part in _LEG_PARTS):
            out["trunk"].append(i)
    empty = [s for s in STREAMS if not out[s]]
    if empty:
        raise ValueError(f"vae_reba: layout {layout.name} has no joint for the {empty[0]} stream")
    return {s: tuple(v) for s, v in out.items()}


def triples_for(layout: Layout) -> list[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """The `JOINT_LINE_TRIPLES` `layout` can build, as (stream, joint sources, line sources, line sources): each
    point is the mean of its source joints (edge.skeletons.canonical_sources)."""
    sources = canonical_sources(layout)
    return [(stream, sources[p], sources[a], sources[b]) for stream, p, a, b in JOINT_LINE_TRIPLES
            if p in sources and a in sources and b in sources]


def _mean_matrix(groups: list[tuple[int, ...]], num_joints: int) -> torch.Tensor:
    """(len(groups), J): row k averages the joints of groups[k]."""
    m = torch.zeros(len(groups), num_joints)
    for k, group in enumerate(groups):
        m[k, list(group)] = 1.0 / len(group)
    return m


class JointLineFeatures(nn.Module):
    """(B, T, J, 3) joints -> {stream: (B, T, K_stream)} joint-line distances; 0 where a joint involved is not
    seen (NaN)."""

    def __init__(self, layout: Layout):
        super().__init__()
        triples = triples_for(layout)
        self.streams = {s: [k for k, t in enumerate(triples) if t[0] == s] for s in STREAMS}
        for slot, name in ((1, "point"), (2, "line_a"), (3, "line_b")):
            self.register_buffer(name, _mean_matrix([t[slot] for t in triples], layout.num_joints), persistent=False)

    def forward(self, joints: torch.Tensor) -> dict[str, torch.Tensor]:
        seen = torch.isfinite(joints).all(dim=-1).to(joints.dtype)  # (B, T, J)
        clean = torch.where(torch.isfinite(joints), joints, torch.zeros_like(joints))
        pts, vis = [], []
        for m in (self.point, self.line_a, self.line_b):
            pts.append(torch.einsum("kj,btjc->btkc", m, clean))
            vis.append(torch.einsum("kj,btj->btk", (m > 0).to(joints.dtype), 1.0 - seen) == 0)
        dist = heron_distance(*pts)
        dist = torch.where(vis[0] & vis[1] & vis[2], dist, torch.zeros_like(dist))
        return {s: dist[..., idx] for s, idx in self.streams.items()}


# ---------------------------------------------------------------- networks


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | None = None,
                logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mu_q, diag e^logvar_q) || N(mu_p, diag e^logvar_p)) summed over the last dimension, in closed form:
    1/2 sum(logvar_p - logvar_q + (e^logvar_q + (mu_q - mu_p)^2) / e^logvar_p - 1). Without p: the standard
    normal, 1/2 sum(e^logvar_q + mu_q^2 - 1 - logvar_q)."""
    if mu_p is None:
        return 0.5 * (logvar_q.exp() + mu_q ** 2 - 1.0 - logvar_q).sum(dim=-1)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) * (-logvar_p).exp() - 1.0).sum(dim=-1)


def _mlp(widths: list[int], dropout: float = 0.0, last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_act:
            layers += [nn.GELU(), nn.Dropout(dropout)] if dropout else [nn.GELU()]
    return nn.Sequential(*layers)


class ScoreDecoder(nn.Module):
    """z (..., latent) -> REBA total (...) and partials (..., P), each as centre + scale x output."""

    def __init__(self, latent: int, width: int, partials: int):
        super().__init__()
        self.net = _mlp([latent, width, width, 1 + partials])
        centre = [_TOTAL_CENTRE] + [_PARTIAL_CENTRE] * partials
        scale = [_TOTAL_SCALE] + [_PARTIAL_SCALE] * partials
        self.register_buffer("centre", torch.tensor(centre), persistent=False)
        self.register_buffer("scale", torch.tensor(scale), persistent=False)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.centre + self.scale * self.net(z)
        return scores[..., 0], scores[..., 1:]


class Gaussian(nn.Module):
    """features -> (mu, log sigma^2), log sigma^2 clipped to `_LOGVAR_RANGE`."""

    def __init__(self, width: int, latent: int):
        super().__init__()
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(h), self.logvar(h).clamp(*_LOGVAR_RANGE)


class TeacherVae(nn.Module):
    """REBA-to-REBA VAE: per frame the (1 + P) scores and their known flags -> latent -> the scores."""

    def __init__(self, partials: int, width: int, latent: int):
        super().__init__()
        self.encoder = _mlp([2 * (1 + partials), width, width], last_act=True)
        self.gaussian = Gaussian(width, latent)
        self.decoder = ScoreDecoder(latent, width, partials)
        centre = [_TOTAL_CENTRE] + [_PARTIAL_CENTRE] * partials
        scale = [_TOTAL_SCALE] + [_PARTIAL_SCALE] * partials
        self.register_buffer("centre", torch.tensor(centre), persistent=False)
        self.register_buffer("scale", torch.tensor(scale), persistent=False)

    def encode(self, scores: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """scores (B, T, 1 + P) with NaN where unknown, known (B, T, 1 + P) bool -> (mu, logvar)."""
        x = torch.where(known, (scores - self.centre) / self.scale, torch.zeros_like(scores))
        return self.gaussian(self.encoder(torch.cat([x, known.to(x.dtype)], dim=-1)))


class PoseEncoder(nn.Module):
    """(B, T, J, 3) joints and (B, T) mask -> per-frame (mu, logvar) of the pose latent."""

    def __init__(self, config: VaeRebaConfig, layout: Layout):
        super().__init__()
        c = config
        self.joints = stream_joints(layout)
        self.distances = JointLineFeatures(layout)
        self.streams = nn.ModuleDict({
            s: _mlp([3 * len(self.joints[s]) + len(self.distances.streams[s]), c.stream_width, c.stream_width],
                    c.dropout, last_act=True) for s in STREAMS})
        self.fuse = nn.Linear(len(STREAMS) * c.stream_width, c.model_dim)
        self.position = nn.Conv1d(c.model_dim, c.model_dim, c.position_kernel, padding=c.position_kernel // 2,
                                  groups=c.model_dim)
        layer = nn.TransformerEncoderLayer(c.model_dim, c.heads, c.ff_dim, c.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, c.layers, norm=nn.LayerNorm(c.model_dim),
                                                 enable_nested_tensor=False)
        self.gaussian = Gaussian(c.model_dim, c.latent)
        self.heads, self.radius = c.heads, c.attention_radius

    def attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, T) bool, True = may attend: real keys within the radius; a frame always sees itself, so no row
        is empty (an empty softmax row would put NaN into the padded frames)."""
        idx = torch.arange(mask.shape[1], device=mask.device)
        allowed = mask[:, None, :] | (idx[:, None] == idx[None, :])  # not torch.eye: ONNX Runtime has no bool EyeLike
        if self.radius:
            allowed = allowed & ((idx[:, None] - idx[None, :]).abs() <= self.radius)
        return allowed[:, None]

    def forward(self, joints: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = mask[..., None].to(joints.dtype)
        distances = self.distances(joints)
        clean = torch.where(torch.isfinite(joints), joints, torch.zeros_like(joints))
        parts = [self.streams[s](torch.cat([clean[:, :, list(self.joints[s])].flatten(2), distances[s]], dim=-1))
                 for s in STREAMS]
        h = self.fuse(torch.cat(parts, dim=-1)) * keep  # padding is zero before the convolution sees it
        h = h + self.position(h.transpose(1, 2)).transpose(1, 2) * keep
        h = encoder_forward(self.transformer, h, self.attention_mask(mask))
        return self.gaussian(h)


def encoder_forward(encoder: nn.TransformerEncoder, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """`encoder(x)` for a batch-first, pre-norm, GELU `nn.TransformerEncoder`, written out with its own weights:
    the same computation, but its time axis stays dynamic in an exported ONNX graph (torch's multi-head attention
    freezes the traced sequence length into a Reshape). `allowed`: (B, 1, T, T) bool, True where a frame may
    attend."""
    for layer in encoder.layers:
        x = x + layer.dropout1(_self_attention(layer.self_attn, layer.norm1(x), allowed))
        x = x + layer.dropout2(layer.linear2(layer.dropout(nn.functional.gelu(layer.linear1(layer.norm2(x))))))
    return encoder.norm(x)


def _self_attention(attention: nn.MultiheadAttention, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    b, d, heads = x.shape[0], x.shape[2], attention.num_heads

    def split(z):  # (B, T, D) -> (B, heads, T, D / heads)
        return z.reshape(b, -1, heads, d // heads).transpose(1, 2)

    q, k, v = nn.functional.linear(x, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
    out = nn.functional.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=allowed,
                                                     dropout_p=attention.dropout if attention.training else 0.0)
    return attention.out_proj(out.transpose(1, 2).reshape(b, -1, d))


# ---------------------------------------------------------------- the model


class VaeReba(nn.Module):
    """The module `build` returns: `forward(batch)` and `loss(outputs, batch)` follow `edge.models.base`."""

    def __init__(self, config: VaeRebaConfig):
        super().__init__()
        self.config = config
        layout = get_layout(config.data.layout)
        self.num_partials = len(config.data.partials)
        self.encoder = PoseEncoder(config, layout)
        self.decoder = ScoreDecoder(config.latent, config.decoder_width, self.num_partials)
        self.teacher = TeacherVae(self.num_partials, config.teacher_width, config.latent)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    @property
    def active_phase(self) -> int:
        """1 (the teacher learns) or 2 (the pose VAE learns with alignment), from `config.phase` and `steps`."""
        phase = self.config.phase
        if phase == "auto":
            return 1 if int(self.steps) < self.config.teacher_steps else 2
        return 1 if phase == "teacher" else 2

    def _targets(self, batch: dict, like: torch.Tensor) -> torch.Tensor | None:
        """(B, T, 1 + P) REBA total and partials of the batch, NaN where unknown or on padded frames; None when
        the batch carries neither."""
        if batch.get("reba") is None and batch.get("reba_partials") is None:
            return None
        b, t = like.shape[:2]
        nan = like.new_full((b, t, 1), float("nan"))
        total = batch["reba"][..., None].to(like.dtype) if batch.get("reba") is not None else nan
        partials = batch.get("reba_partials")
        partials = (partials.to(like.dtype) if partials is not None
                    else like.new_full((b, t, self.num_partials), float("nan")))
        scores = torch.cat([total, partials], dim=-1)
        return torch.where(batch["mask"][..., None], scores, torch.full_like(scores, float("nan")))

    def _sample(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + (0.5 * logvar).exp() * torch.randn_like(mu) if self.training else mu

    def input_keys(self) -> tuple[str, ...]:
        """The batch entries inference reads (the exported graph's inputs)."""
        return ("joints", "mask")

    def forward(self, batch: dict) -> dict:
        joints = batch["joints"]
        mask = _mask(batch, joints)
        phase, grad = self.active_phase, torch.is_grad_enabled()
        pose_learns = phase == 2 or self.config.phase == "auto"
        with torch.set_grad_enabled(grad and pose_learns):
            mu, logvar = self.encoder(joints, mask)
            reba, partials = self.decoder(self._sample(mu, logvar))
        out = {"reba": reba, "reba_partials": partials, "pose_mu": mu, "pose_logvar": logvar}
        scores = self._targets({**batch, "mask": mask}, joints)
        if scores is not None:
            known = ~torch.isnan(scores)
            with torch.set_grad_enabled(grad and phase == 1):
                t_mu, t_logvar = self.teacher.encode(scores, known)
                t_reba, t_partials = self.teacher.decoder(self._sample(t_mu, t_logvar) if phase == 1 else t_mu)
            out.update(teacher_mu=t_mu, teacher_logvar=t_logvar, teacher_reba=t_reba, teacher_partials=t_partials,
                       teacher_frames=known.any(dim=-1))
        return out

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective of the active phase (module doc) and every term that could be computed, as floats.
        In training mode each call counts one step (`steps`)."""
        c, mask = self.config, _mask(batch, outputs["reba"])
        terms = {"kl": masked_mean(gaussian_kl(outputs["pose_mu"], outputs["pose_logvar"]), mask)}
        terms.update(_regression_terms(outputs["reba"], outputs["reba_partials"], batch, mask, ""))
        if "teacher_mu" in outputs:
            frames = outputs["teacher_frames"]
            t_mu, t_logvar = outputs["teacher_mu"], outputs["teacher_logvar"]
            terms.update(_regression_terms(outputs["teacher_reba"], outputs["teacher_partials"], batch, mask,
                                           "teacher_"))
            terms["teacher_kl"] = masked_mean(gaussian_kl(t_mu, t_logvar), frames)
            terms["align"] = masked_mean(gaussian_kl(t_mu.detach(), t_logvar.detach(), outputs["pose_mu"],
                                                     outputs["pose_logvar"]), frames)
        zero = outputs["pose_mu"].sum() * 0.0 if outputs["pose_mu"].requires_grad else \
            sum(p.sum() * 0.0 for p in self.teacher.parameters())  # a graph even for a batch without targets

        def weighted(prefix: str, kl_name: str, kl_weight: float) -> torch.Tensor:
            return (zero + c.reba_weight * terms.get(f"{prefix}reba_mse", 0.0)
                    + c.partials_weight * terms.get(f"{prefix}partials_mse", 0.0)
                    + kl_weight * terms.get(kl_name, 0.0))

        pose = weighted("", "kl", c.beta)
        phase = self.active_phase if self.training or c.phase != "auto" else 2
        if phase == 1:
            total = weighted("teacher_", "teacher_kl", c.teacher_beta) + (pose if c.phase == "auto" else 0.0)
        else:
            total = pose + c.align_weight * terms.get("align", 0.0)
        if self.training:
            with torch.no_grad():
                self.steps.add_(1)
        log = {name: float(v.detach()) for name, v in terms.items()}
        log.update(phase=float(phase), loss=float(total.detach()))
        return total, log


def _mask(batch: dict, like: torch.Tensor) -> torch.Tensor:
    """The batch's (B, T) frame mask as bool; every frame real when the batch has none."""
    mask = batch.get("mask")
    return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device) if mask is None else mask.bool()


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over real frames with a known target. NaN targets are replaced by the (detached)
    prediction before the difference, so their discarded terms put no NaN into the gradient."""
    known = ~torch.isnan(target)
    sq = (pred - torch.where(known, target, pred.detach())) ** 2
    return masked_mean(torch.where(known, sq, torch.full_like(sq, float("nan"))), mask)


def _regression_terms(reba, partials, batch: dict, mask: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
    """MSE of the total and of the partials (mean over the known ones) against the batch's targets, when known."""
    terms = {}
    if batch.get("reba") is not None and bool((mask & ~torch.isnan(batch["reba"])).any()):
        terms[f"{prefix}reba_mse"] = _masked_mse(reba, batch["reba"].to(reba.dtype), mask)
    target = batch.get("reba_partials")
    if partials.shape[-1] and target is not None and bool((mask[..., None] & ~torch.isnan(target)).any()):
        terms[f"{prefix}partials_mse"] = _masked_mse(partials, target.to(partials.dtype), mask)
    return terms


def parameter_count(model: nn.Module, part: str = "") -> int:
    """Trainable parameters of `model`, or of its submodule `part` ("encoder", "decoder", "teacher")."""
    module = getattr(model, part) if part else model
    return sum(p.numel() for p in module.parameters())


def build(config: VaeRebaConfig) -> VaeReba:
    """The model for `config`, with torch's current random state (seed it first for a reproducible build)."""
    return VaeReba(config)
