"""How real a skeleton data set looks: the posture of each activity class and the noise of the pose estimates.

Used to compare synthetic data (`edge.datasets.synth`) with real skeletons (UW-IOM, BlazePose world landmarks)
with the same numbers (`benchmarks/synth_realism.py` prints them side by side):

- `posture_by_class`: per (coarse) class, percentiles of trunk flexion, arm elevation, elbow and knee flexion
  (edge.kinematics), the higher wrist's height above the shoulders, and the durations of the class's segments;
- `estimate_noise`: in the frames of a still class (standing), the frame-to-frame displacement of the mid-hip and,
  relative to the mid-hip, of wrists, ankles and head; the anisotropy of the mid-hip's horizontal steps (a
  monocular estimate errs most along the line of sight); the variation of bone lengths; missing and repeated
  frames;
- `limbs_by_class`: per class, where elbows, wrists and ankles sit relative to the mid-hip in the body's own frame
  (forward, out to their side, up; in body scales, as the models see them), the shoulder width and forearm length,
  and the gait's swing: the spread of the ankles' fore-aft difference over 1.5 s windows (estimators shorten
  strides and hold the arms closer than a posing model);
- `jitter_by_axis`: the high-frequency part of hip-relative joints (above a cut-off), per axis, for clips without
  labels (BlazePose world landmarks: x, y in the image plane, z the camera's depth).

Everything is numpy; sequences are `edge.datasets.sequence.Sequence`s with 3D joints and, for the per-class
numbers, activity labels. `groups` maps a coarse class to the sequence's class names (the TOML files of
`edge/data/groups/`, read with `edge.config.read_toml`).
"""

from __future__ import annotations

import numpy as np

from edge.datasets.sequence import Sequence
from edge.geometry import unit
from edge.kinematics import joint_angles
from edge.signals import butterworth_lowpass, true_runs
from edge.skeletons import get_layout, to_canonical

PERCENTILES = (10, 25, 50, 75, 90)
POSTURE_MEASURES = ("trunk_flexion_deg", "arm_elevation_deg", "elbow_flexion_deg", "knee_flexion_deg",
                    "wrist_above_shoulder_m")


def _percentiles(values: np.ndarray) -> dict | None:
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    return {f"p{p}": round(float(v), 4) for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES))}


def coarse_labels(seq: Sequence, groups: dict[str, list[str]] | None) -> tuple[np.ndarray, list[str]]:
    """The sequence's frame labels as indices into the coarse classes of `groups` (-1: in no group), and the class
    names; without `groups`, its own labels and names."""
    if seq.activity is None:
        raise ValueError("the sequence has no activity labels")
    if not groups:
        return np.asarray(seq.activity), list(seq.activity_names)
    names = list(groups)
    table = np.array([next((k for k, g in enumerate(names) if n in groups[g]), -1) for n in seq.activity_names]
                     + [-1])
    return table[np.asarray(seq.activity)], names


def _posture(seq: Sequence) -> dict[str, np.ndarray]:
    layout = get_layout(seq.layout)
    up = unit(np.asarray(seq.up, dtype=np.float64))
    angles = joint_angles(seq.joints, layout, up)
    points = to_canonical(seq.joints, layout)
    shoulders = 0.5 * (points["left_shoulder"] + points["right_shoulder"]) @ up
    wrists = np.fmax(points["left_wrist"] @ up, points["right_wrist"] @ up)
    return {
        "trunk_flexion_deg": angles["trunk_flexion_deg"],
        "arm_elevation_deg": np.fmax(angles["left_upper_arm_flexion_deg"], angles["right_upper_arm_flexion_deg"]),
        "elbow_flexion_deg": np.fmax(angles["left_elbow_flexion_deg"], angles["right_elbow_flexion_deg"]),
        "knee_flexion_deg": np.fmax(angles["left_knee_flexion_deg"], angles["right_knee_flexion_deg"]),
        "wrist_above_shoulder_m": wrists - shoulders,
    }


def posture_by_class(seqs: list[Sequence], groups: dict[str, list[str]] | None = None) -> dict:
    """{class: {"frames", "segments", "segment_s": percentiles, measure: percentiles}} over all sequences (module
    doc); classes in `groups` order (else the sequences' own)."""
    pooled: dict[str, dict[str, list]] = {}
    for seq in seqs:
        labels, names = coarse_labels(seq, groups)
        posture = _posture(seq)
        for k, name in enumerate(names):
            slot = pooled.setdefault(name, {m: [] for m in (*POSTURE_MEASURES, "segment_s")})
            mask = labels == k
            for measure in POSTURE_MEASURES:
                slot[measure].append(posture[measure][mask])
            slot["segment_s"] += [(stop - start) / seq.fps for start, stop in true_runs(mask)]
    out = {}
    for name, slot in pooled.items():
        frames = int(sum(len(v) for v in slot["trunk_flexion_deg"]))
        out[name] = {"frames": frames, "segments": len(slot["segment_s"]),
                     "segment_s": _percentiles(np.asarray(slot["segment_s"], dtype=np.float64)),
                     **{m: _percentiles(np.concatenate(slot[m])) if frames else None for m in POSTURE_MEASURES}}
    return out


_EXTREMITIES = {"wrist": ("left_wrist", "right_wrist"), "ankle": ("left_ankle", "right_ankle"), "head": ("head",)}


def _still_steps(seq: Sequence, still: np.ndarray) -> dict[str, np.ndarray]:
    """Frame-to-frame displacements (metres) over consecutive still frames: mid-hip in the world, extremities
    relative to the mid-hip; and the mid-hip's steps as vectors."""
    points = to_canonical(seq.joints, get_layout(seq.layout))
    hip = 0.5 * (points["left_hip"] + points["right_hip"])
    pair = still[1:] & still[:-1]
    hip_step = np.diff(hip, axis=0)[pair]
    out = {"mid_hip": np.linalg.norm(hip_step, axis=1), "_hip_vectors": hip_step}
    for name, joints in _EXTREMITIES.items():
        present = [j for j in joints if j in points]
        if present:
            rel = np.stack([points[j] - hip for j in present], axis=1)
            out[name] = np.linalg.norm(np.diff(rel, axis=0)[pair], axis=-1).ravel()
    return out


def _anisotropy(steps: np.ndarray, up: np.ndarray) -> dict | None:
    """Spread of horizontal mid-hip steps along their major and minor axes and vertically (std, metres)."""
    steps = steps[np.isfinite(steps).all(axis=1)]
    if len(steps) < 3:
        return None
    vertical = steps @ up
    flat = steps - vertical[:, None] * up
    evals = np.linalg.eigvalsh(np.cov(flat.T))  # one is ~0 (the vertical, removed)
    major, minor = np.sqrt(np.maximum(evals[-1], 0.0)), np.sqrt(np.maximum(evals[-2], 0.0))
    return {"major_m": round(float(major), 4), "minor_m": round(float(minor), 4),
            "vertical_m": round(float(vertical.std()), 4), "ratio": round(float(major / max(minor, 1e-9)), 2)}


def _bone_variation(seq: Sequence) -> dict:
    """Per bone of the layout, the coefficient of variation of its length over the sequence."""
    layout = get_layout(seq.layout)
    out = {}
    for a, b in layout.edges:
        length = np.linalg.norm(seq.joints[:, a] - seq.joints[:, b], axis=-1)
        length = length[np.isfinite(length)]
        if length.size > 1 and length.mean() > 0:
            out[f"{layout.joints[a]}-{layout.joints[b]}"] = float(length.std() / length.mean())
    return out


def estimate_noise(seqs: list[Sequence], still: str, groups: dict[str, list[str]] | None = None) -> dict:
    """Noise of the pose estimates while the person stands still (`still`: a class name, coarse with `groups`),
    at each sequence's own frame rate (module doc). Steps are percentiles in metres; `anisotropy` is the median
    over sequences; `bone_cv` the median over sequences of each bone's length variation, and their median."""
    steps: dict[str, list] = {}
    aniso, bones, missing, repeated, rates = [], {}, [], [], set()
    for seq in seqs:
        labels, names = coarse_labels(seq, groups)
        if still not in names:
            continue
        mask = labels == names.index(still)
        rates.add(float(seq.fps))
        found = _still_steps(seq, mask)
        for name, values in found.items():
            if not name.startswith("_"):
                steps.setdefault(name, []).append(values)
        a = _anisotropy(found["_hip_vectors"], unit(np.asarray(seq.up, dtype=np.float64)))
        if a:
            aniso.append(a)
        for bone, cv in _bone_variation(seq).items():
            bones.setdefault(bone, []).append(cv)
        missing.append(float(np.isnan(seq.joints).any(axis=-1).mean()))
        step = np.abs(np.diff(seq.joints, axis=0)).reshape(max(seq.num_frames - 1, 0), -1)
        seen = np.isfinite(step).any(axis=1)  # a frame repeats its predecessor: every seen coordinate the same
        repeated.append(float(np.mean(np.nanmax(step[seen], axis=1) == 0)) if seen.any() else 0.0)
    if not steps:
        raise ValueError(f"no frames of class {still!r}")
    bone_cv = {bone: round(float(np.median(v)), 4) for bone, v in bones.items()}
    return {
        "fps": sorted(rates), "still_class": still,
        "step_m": {name: _percentiles(np.concatenate(v)) for name, v in steps.items()},
        "anisotropy": {k: round(float(np.median([a[k] for a in aniso])), 4) for k in aniso[0]} if aniso else None,
        "bone_cv": bone_cv, "bone_cv_median": round(float(np.median(list(bone_cv.values()))), 4),
        "missing_joint_fraction": round(float(np.mean(missing)), 5),
        "repeated_frame_fraction": round(float(np.mean(repeated)), 5),
    }


_LIMB_POINTS = ("elbow", "wrist", "ankle")


def _body_frame(seq: Sequence) -> tuple[dict, np.ndarray, np.ndarray]:
    """Canonical points in body scales about the mid-hip, and the body's forward and left (horizontal) axes."""
    layout = get_layout(seq.layout)
    up = unit(np.asarray(seq.up, dtype=np.float64))
    points = to_canonical(seq.joints, layout)
    hip = 0.5 * (points["left_hip"] + points["right_hip"])
    # The models' body scale (edge/train/normalise.py): median trunk, thigh and shank lengths.
    size = sum(np.nanmedian(np.linalg.norm(a - b, axis=-1)) for a, b in (
        (points["neck"], hip), (points["left_knee"], points["left_hip"]), (points["left_ankle"], points["left_knee"])))
    left = points["left_hip"] - points["right_hip"]
    left = left - (left @ up)[:, None] * up
    left /= np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-9)
    return {k: (v - hip) / size for k, v in points.items()}, np.cross(left, up), left


def limbs_by_class(seqs: list[Sequence], groups: dict[str, list[str]] | None = None, window_s: float = 1.5) -> dict:
    """{class: {"<limb>_fwd_out_up": medians, "shoulder_width", "forearm", "gait_swing": percentiles}} (module
    doc); lengths in body scales (as the models see them)."""
    pooled: dict[str, dict[str, list]] = {}
    for seq in seqs:
        labels, names = coarse_labels(seq, groups)
        pts, fwd, left = _body_frame(seq)
        z = unit(np.asarray(seq.up, dtype=np.float64))
        rows = {"shoulder_width": np.linalg.norm(pts["left_shoulder"] - pts["right_shoulder"], axis=-1),
                "forearm": np.linalg.norm(pts["left_wrist"] - pts["left_elbow"], axis=-1)}
        for part in _LIMB_POINTS:
            l, r = pts[f"left_{part}"], pts[f"right_{part}"]
            rows[f"{part}_fwd_out_up"] = np.stack([
                0.5 * (np.einsum("ti,ti->t", l, fwd) + np.einsum("ti,ti->t", r, fwd)),
                0.5 * (np.einsum("ti,ti->t", l, left) - np.einsum("ti,ti->t", r, left)), 0.5 * (l + r) @ z], axis=1)
        apart = np.einsum("ti,ti->t", pts["left_ankle"] - pts["right_ankle"], fwd)
        width = max(2, int(round(window_s * seq.fps)))
        for k, name in enumerate(names):
            slot = pooled.setdefault(name, {})
            mask = labels == k
            for key, values in rows.items():
                slot.setdefault(key, []).append(values[mask])
            starts = [w for a, b in true_runs(mask) for w in range(a, b - width + 1, width)]
            slot.setdefault("gait_swing", []).extend(float(np.nanstd(apart[w:w + width])) for w in starts)
    out = {}
    for name, slot in pooled.items():
        out[name] = {key: [round(float(v), 3) for v in np.nanmedian(np.concatenate(values), axis=0)]
                     if key.endswith("_up") else round(float(np.nanmedian(np.concatenate(values))), 3)
                     for key, values in slot.items() if key != "gait_swing"}
        out[name]["gait_swing"] = _percentiles(np.asarray(slot["gait_swing"], dtype=np.float64))
    return out


def jitter_by_axis(joints: np.ndarray, layout: str, fps: float, cutoff_hz: float = 3.0) -> dict:
    """RMS (metres) of the part of hip-relative joints above `cutoff_hz`, per axis of the joints' own frame and
    for wrists, ankles and all joints; frames with a missing joint are left out."""
    points = to_canonical(joints, get_layout(layout))
    hip = 0.5 * (points["left_hip"] + points["right_hip"])
    rel = np.asarray(joints, dtype=np.float64) - hip[:, None]
    keep = np.isfinite(rel).all(axis=(1, 2))
    rel = rel[keep]
    if len(rel) < 16:
        raise ValueError("too few complete frames to separate jitter from motion")
    smooth = butterworth_lowpass(rel.reshape(len(rel), -1), fps, cutoff_hz).reshape(rel.shape)
    residual = rel - smooth
    lay = get_layout(layout)

    def rms(names):
        idx = [lay.index(n) for n in names if n in lay.joints]
        return round(float(np.sqrt((residual[:, idx] ** 2).sum(-1).mean())), 4) if idx else None

    return {"axis_rms_m": [round(float(v), 4) for v in np.sqrt((residual ** 2).mean(axis=(0, 1)))],
            "wrist_rms_m": rms(_EXTREMITIES["wrist"]), "ankle_rms_m": rms(_EXTREMITIES["ankle"]),
            "all_rms_m": round(float(np.sqrt((residual ** 2).sum(-1).mean())), 4), "frames": int(len(rel))}


__all__ = ["POSTURE_MEASURES", "coarse_labels", "estimate_noise", "jitter_by_axis", "limbs_by_class",
           "posture_by_class"]
