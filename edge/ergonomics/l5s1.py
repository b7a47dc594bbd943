"""Net load at the L5/S1 joint by top-down inverse dynamics (after Mehrizi et al.).

The body above L5/S1 (head+neck, upper and middle trunk, the upper part of the lower trunk, both arms and hands) is
modelled from 3D joint centres with de Leva's (1996) body-segment parameters. Newton-Euler for that free body gives
the force and moment the lower body exerts on the upper body at L5/S1::

    F_L5S1 = -F_r - sum_i m_i g + sum_i m_i a_i
    M_L5S1 = -(r_r - r_L5) x F_r - sum_i (r_i - r_L5) x m_i g + sum_i (r_i - r_L5) x m_i a_i + sum_i I_i alpha_i

with g = -9.81 * up and F_r = m_load * (g - a_hand), the force the hand load exerts on the hands (split between the
two hand centres of mass by `L5S1Config.left_hand_share`).

Body frame (per frame, from the hips, so it follows the pelvis and not the trunk):

- ``left``    = left_hip - right_hip, projected onto the horizontal plane and normalised;
- ``forward`` = left x up;
- ``right``   = forward x up (= -left).

For a person facing +y with z up: forward = +y, right = +x. Moment components, all acting on the upper body:

- ``moment_extension`` = M . right: positive is an extensor moment, the one that holds a forward-flexed trunk
  against gravity (a rotation about +right lifts the forward side up);
- ``moment_lateral``   = M . forward: positive would bend the upper body towards the right, as needed to hold a load
  in the left hand;
- ``moment_twist``     = M . up: positive would turn the upper body to the left (counter-clockwise seen from above).

Entry point: `l5s1_load`. A long recording can be scored in parts (`edge.scoring.chunked`) with the same result:
each part with `context_frames` extra frames on either side, and the segment lengths of the whole recording (the
medians of `segment_lengths`) passed as `l5s1_load(..., lengths=...)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.config import check_number
from edge.errors import InputError
from edge.geometry import cross, dot, unit
from edge.ergonomics.tables import tables
from edge.signals import butterworth_lowpass, true_runs

__all__ = ["COMPRESSION_LIMIT_N", "BodyParams", "L5S1Config", "L5S1Result", "context_frames", "l5s1_load",
           "segment_lengths"]

# The NIOSH action limit for L5/S1 disc compression: above it, the risk of low-back injury rises for many workers.
COMPRESSION_LIMIT_N = 3400.0

G = 9.81

# de Leva's (1996) reference statures (mm), used to scale his segment lengths to a subject.
_STATURE_MM = {"male": 1741.0, "female": 1735.0}

_REQUIRED = (
    "pelvis", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
)
_OPTIONAL = ("head", "left_hand", "right_hand")


@dataclass(frozen=True)
class BodyParams:
    """The subject: body mass (kg, 20..300), stature (m, 1.0..2.5, optional) and sex (`male` | `female`).

    Sex selects de Leva's male or female segment table. Stature only scales segment lengths that cannot be measured
    from the keypoints (hand without a hand point, head+neck for its inertia); when it is None it is estimated from
    the measured pelvis->neck length (see `l5s1_load`).
    """

    mass_kg: float = 75.0
    height_m: float | None = None
    sex: str = "male"

    def __post_init__(self) -> None:
        check_number(self.mass_kg, "body mass_kg", minimum=20, maximum=300)
        if self.height_m is not None:
            check_number(self.height_m, "body height_m", minimum=1, maximum=2.5)
        if self.sex not in ("male", "female"):
            raise InputError(f"body sex={self.sex!r}: use 'male' or 'female'")


@dataclass(frozen=True)
class L5S1Config:
    """Model settings. Defaults follow the reference study (Mehrizi et al.).

    - ``cutoff_hz`` (8.0; 0.5..50 Hz: lower smooths the movement away, and the context of a recording scored in
      parts grows as 1 / cutoff) and ``filter_order`` (4; 1..10): digital Butterworth low-pass run forwards and
      backwards (zero phase, `edge.signals.butterworth_lowpass`) on the point trajectories before they are
      differentiated. If fps <= 2 * cutoff_hz the cutoff is lowered to 0.4 * fps (below Nyquist). A run of valid
      frames shorter than 16 frames is left unfiltered (plain finite differences). ``None`` disables filtering.
      As with any zero-phase filter, accelerations in the first and last ~1/cutoff seconds of a run are less
      reliable (edge transients).
    - ``l5s1_height_fraction`` (50/531.9; 0..0.4): L5/S1 lies on the pelvis->neck line this fraction of its length
      above the pelvis, i.e. 5 cm above mid-hip for de Leva's 531.9 mm male trunk, scaled to the measured trunk.
    - ``lower_trunk_mass_fraction`` (0.5; 0..1): share of de Leva's lower trunk (omphalion->mid-hip) above L5/S1;
      with it the mass above L5/S1 is 54.7% of body mass for a male.
    - ``extensor_moment_arm_m`` (0.05; 0.02..0.15 m): moment arm of the single equivalent extensor muscle used for
      compression (measured arms are 5-7 cm).
    - ``left_hand_share`` (0.5; 0..1): share of the hand load carried by the left hand; the rest goes to the right hand.
    """

    cutoff_hz: float | None = 8.0
    filter_order: int = 4
    l5s1_height_fraction: float = 50.0 / 531.9
    lower_trunk_mass_fraction: float = 0.5
    extensor_moment_arm_m: float = 0.05
    left_hand_share: float = 0.5

    def __post_init__(self) -> None:
        if self.cutoff_hz is not None:
            check_number(self.cutoff_hz, "l5s1 cutoff_hz", minimum=0.5, maximum=50)
        check_number(self.filter_order, "l5s1 filter_order", integer=True, minimum=1, maximum=10)
        for name, low, high in (("l5s1_height_fraction", 0, 0.4), ("lower_trunk_mass_fraction", 0, 1),
                                ("extensor_moment_arm_m", 0.02, 0.15), ("left_hand_share", 0, 1)):
            check_number(getattr(self, name), f"l5s1 {name}", minimum=low, maximum=high)


@dataclass(frozen=True)
class L5S1Result:
    """Per-frame L5/S1 load; frames with a missing point are NaN.

    - ``moment`` (T, 3): net moment the lower body exerts on the upper body at L5/S1, world frame, N·m.
    - ``force`` (T, 3): net force the lower body exerts on the upper body at L5/S1, world frame, N.
    - ``moment_extension``, ``moment_lateral``, ``moment_twist`` (T,): ``moment`` along the body's right, forward
      and up axes (signs in the module docstring; extension positive).
    - ``moment_magnitude`` (T,): |moment|.
    - ``compression_n`` (T,): estimated disc compression from a single-equivalent-muscle model: the axial component
      of ``force`` along the trunk axis (pelvis->neck; positive pushes the upper body away from the pelvis, i.e.
      compresses) plus |moment about the trunk's lateral axis| / ``extensor_moment_arm_m``, the force of one
      extensor (or flexor) muscle parallel to the trunk that balances that moment alone. Antagonist co-contraction,
      ligaments and abdominal pressure are ignored, so it is an estimate, not a validated disc load.
    - ``l5s1_position`` (T, 3): the estimated L5/S1 joint centre, world frame, m.
    - ``segment_masses``: name -> kg of every segment above L5/S1 (the hand load excluded).
    """

    moment: np.ndarray
    force: np.ndarray
    moment_extension: np.ndarray
    moment_lateral: np.ndarray
    moment_twist: np.ndarray
    moment_magnitude: np.ndarray
    compression_n: np.ndarray
    l5s1_position: np.ndarray
    segment_masses: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# helpers


# Runs shorter than this are left unfiltered: there is too little signal to tell motion from noise.
_MIN_FILTER_FRAMES = 16


def _filter(block: np.ndarray, valid: np.ndarray, fps: float, config: L5S1Config) -> np.ndarray:
    """Zero-phase Butterworth low-pass of (T, K) `block` along time, each run of valid frames on its own."""
    if config.cutoff_hz is None:
        return block
    out = block.copy()
    for start, stop in true_runs(valid):
        if stop - start >= _MIN_FILTER_FRAMES:
            out[start:stop] = butterworth_lowpass(block[start:stop], fps, _cutoff(fps, config),
                                                  int(config.filter_order))
    return out


def _cutoff(fps: float, config: L5S1Config) -> float:
    """The low-pass cut-off at `fps`: the configured one, lowered below Nyquist for slow frame rates."""
    return config.cutoff_hz if fps > 2.0 * config.cutoff_hz else 0.4 * fps


def _derivative(x: np.ndarray, valid: np.ndarray, dt: float) -> np.ndarray:
    """d/dt of (..., T, 3) along time, like np.gradient (central inside, one-sided at the ends) but per run of
    valid frames, so a missing frame never leaks into its neighbours. An isolated valid frame gets 0 (quasi-static);
    invalid frames get NaN."""
    d = np.zeros_like(x)
    if x.shape[-2] > 1:
        d[..., 1:-1, :] = (x[..., 2:, :] - x[..., :-2, :]) / (2.0 * dt)
        prev_ok = np.zeros_like(valid)
        next_ok = np.zeros_like(valid)
        prev_ok[1:] = valid[1:] & valid[:-1]
        next_ok[:-1] = valid[:-1] & valid[1:]
        # Only frames at the ends of runs (few) need one-sided differences.
        edge = valid & ~(prev_ok & next_ok)
        for frames, ok, lo, hi in (
            (np.flatnonzero(edge & next_ok), True, 0, 1),
            (np.flatnonzero(edge & prev_ok & ~next_ok), True, -1, 0),
            (np.flatnonzero(edge & ~prev_ok & ~next_ok), False, 0, 0),
        ):
            d[..., frames, :] = (x[..., frames + hi, :] - x[..., frames + lo, :]) / dt if ok else 0.0
    d[..., ~valid, :] = np.nan
    return d


def _median_length(v: np.ndarray, valid: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(v[valid], axis=-1))) if valid.any() else float("nan")


def _measure(valid: np.ndarray, given: dict[str, float] | None):
    """Segment length by name (`segment_lengths`' names): `given[name]`, else the median over the valid frames."""
    if given is not None:
        return lambda name, v: float(given[name])
    return lambda name, v: _median_length(v, valid)


def _as_points(points: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    missing = [name for name in _REQUIRED if name not in points]
    if missing:
        raise InputError(f"L5/S1 load needs the points: {', '.join(missing)} (missing)")
    out: dict[str, np.ndarray] = {}
    frames = None
    for name in _REQUIRED + _OPTIONAL:
        if name not in points:
            continue
        arr = np.asarray(points[name], dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise InputError(f"point {name!r} must have shape (T, 3), got {arr.shape}")
        if frames is None:
            frames = arr.shape[0]
        elif arr.shape[0] != frames:
            raise InputError(f"point {name!r} has {arr.shape[0]} frames, expected {frames}")
        out[name] = arr
    if not frames:
        raise InputError("L5/S1 load needs at least one frame")
    return out, frames


# ----------------------------------------------------------------------------------------------------------------
# the steps of `l5s1_load`: inputs, filtering, segment geometry, Newton-Euler, decomposition


def _unit_up(up) -> np.ndarray:
    up = np.asarray(up, dtype=np.float64).reshape(-1)
    if up.shape != (3,) or not np.all(np.isfinite(up)) or np.linalg.norm(up) < 1e-9:
        raise InputError(f"bad up vector {up!r}: need 3 finite components, not all zero")
    return up / np.linalg.norm(up)


def _load_per_frame(load_kg, frames: int) -> np.ndarray:
    load = np.asarray(load_kg, dtype=np.float64)
    if load.shape not in ((), (frames,)):
        raise InputError(f"load_kg must be a scalar or have shape ({frames},), got {load.shape}")
    if np.any(load < 0):
        raise InputError("load_kg must not be negative")
    return np.broadcast_to(load, (frames,))


def _filtered_points(pts: dict[str, np.ndarray], fps: float, config: L5S1Config):
    """All points filtered together, and the frames in which every point used is finite (the others are NaN)."""
    names = list(pts)
    block = np.concatenate([pts[n] for n in names], axis=1)
    valid = np.all(np.isfinite(block), axis=1)
    block = _filter(block, valid, fps, config)
    block[~valid] = np.nan
    return {n: block[:, 3 * i:3 * i + 3] for i, n in enumerate(names)}, valid


@dataclass(frozen=True)
class _TrunkLine:
    """The measured pelvis->neck line, on which L5/S1 and the trunk segments are placed."""

    neck: np.ndarray
    vector: np.ndarray  # neck - pelvis, per frame
    length: float  # median over valid frames
    axis: np.ndarray  # unit(vector)
    l5: np.ndarray
    parts_mm: dict[str, float]  # de Leva's upper, middle and lower trunk lengths
    scale: float  # subject stature / de Leva's stature

    def from_neck(self, frac: float) -> np.ndarray:
        """Points on the line at a fraction of its length measured down from the neck."""
        return self.neck - frac * self.vector


def _trunk_line(p, measure, seg, body: BodyParams, config: L5S1Config) -> _TrunkLine:
    pelvis, neck = p["pelvis"], p["neck"]
    trunk_vec = neck - pelvis
    trunk_len = measure("trunk", trunk_vec)
    trunk_mm = {k: seg[k]["length_mm"] for k in ("upper_trunk", "middle_trunk", "lower_trunk")}
    if body.height_m is not None:
        scale = body.height_m / (_STATURE_MM[body.sex] / 1000.0)
    else:
        scale = trunk_len / (sum(trunk_mm.values()) / 1000.0)  # = estimated stature / de Leva's stature
    return _TrunkLine(
        neck=neck, vector=trunk_vec, length=trunk_len, axis=unit(trunk_vec),
        l5=pelvis + config.l5s1_height_fraction * trunk_vec, parts_mm=trunk_mm, scale=scale,
    )


class _Segments:
    """The segments above L5/S1, added one at a time: per-frame CoM and long axis, mass and moment of inertia."""

    def __init__(self, seg: dict[str, dict], body_mass_kg: float):
        self.seg = seg
        self.body_mass_kg = body_mass_kg
        self.coms: list[np.ndarray] = []
        self.axes: list[np.ndarray] = []
        self.masses: dict[str, float] = {}
        self.inertia: list[float] = []
        self.hand_index: dict[str, int] = {}  # side -> position of that hand in the lists

    def add(self, name: str, row: str, com: np.ndarray, axis: np.ndarray, length: float,
            mass_share: float = 1.0) -> None:
        s = self.seg[row]
        m = self.body_mass_kg * s["mass_pct"] / 100.0 * mass_share
        radius = 0.5 * (s["r_sagittal_pct"] + s["r_transverse_pct"]) / 100.0 * length
        self.masses[name] = m
        self.coms.append(com)
        self.axes.append(axis)
        self.inertia.append(m * radius ** 2)


def _add_head_and_trunk(segments: _Segments, p, trunk: _TrunkLine, config: L5S1Config) -> None:
    seg = segments.seg
    # Head+neck: CoM at the head centre; without it, on the trunk line beyond the neck.
    hn = seg["head_neck_vertex_to_c7"]
    head_len = hn["length_mm"] / 1000.0 * trunk.scale
    if "head" in p:
        segments.add("head_neck", "head_neck_vertex_to_c7", p["head"], unit(p["head"] - trunk.neck), head_len)
    else:
        head_com = trunk.neck + trunk.axis * head_len * (1.0 - hn["com_pct_from_origin"] / 100.0)
        segments.add("head_neck", "head_neck_vertex_to_c7", head_com, trunk.axis, head_len)

    # Trunk: the neck->pelvis line cut in de Leva's proportions (suprasternale -> xiphoid -> omphalion -> mid-hip).
    trunk_total_mm = sum(trunk.parts_mm.values())
    top = 0.0
    for part in ("upper_trunk", "middle_trunk"):
        frac = trunk.parts_mm[part] / trunk_total_mm
        com_frac = top + frac * seg[part]["com_pct_from_origin"] / 100.0
        segments.add(part, part, trunk.from_neck(com_frac), trunk.axis, frac * trunk.length)
        top += frac
    omphalion = trunk.from_neck(top)
    segments.add(
        "lower_trunk_above_l5s1", "lower_trunk", 0.5 * (omphalion + trunk.l5), trunk.axis,
        trunk.parts_mm["lower_trunk"] / trunk_total_mm * trunk.length, config.lower_trunk_mass_fraction,
    )


def _add_arms(segments: _Segments, p, measure, scale: float) -> None:
    seg = segments.seg
    for side in ("left", "right"):
        sh, el, wr = p[f"{side}_shoulder"], p[f"{side}_elbow"], p[f"{side}_wrist"]
        for name, row, a, b in (("upper_arm", "upper_arm", sh, el), ("forearm", "forearm", el, wr)):
            v = b - a
            segments.add(f"{side}_{name}", row, a + seg[row]["com_pct_from_origin"] / 100.0 * v, unit(v),
                         measure(f"{side}_{name}", v))
        hand_com_frac = seg["hand"]["com_pct_from_origin"] / 100.0
        if f"{side}_hand" in p:
            v = p[f"{side}_hand"] - wr
            com, axis, length = wr + hand_com_frac * v, unit(v), measure(f"{side}_hand", v)
        else:
            axis = unit(wr - el)
            length = seg["hand"]["length_mm"] / 1000.0 * scale
            com = wr + hand_com_frac * length * axis
        segments.add(f"{side}_hand", "hand", com, axis, length)
        segments.hand_index[side] = len(segments.coms) - 1


def _newton_euler(segments: _Segments, valid, fps: float, up, load, l5, config: L5S1Config):
    """Net (force, moment) at L5/S1 from the segments' accelerations and the hand load, NaN in invalid frames."""
    com = np.stack(segments.coms)  # (S, T, 3)
    axes = np.stack(segments.axes)
    m = np.asarray(list(segments.masses.values()))[:, None, None]
    inertia_arr = np.asarray(segments.inertia)[:, None, None]

    dt = 1.0 / fps
    acc = _derivative(_derivative(com, valid, dt), valid, dt)
    omega = cross(axes, _derivative(axes, valid, dt))
    alpha = _derivative(omega, valid, dt)

    g = -G * up
    seg_force = m * (acc - g)  # force needed to move each segment as observed
    arm = com - l5
    moment = cross(arm, seg_force).sum(axis=0) + (inertia_arr * alpha).sum(axis=0)
    force = seg_force.sum(axis=0)

    # Hand load: F_r = m_load (g - a_hand), shared between the hand CoMs; its reaction adds to L5/S1.
    for side, share in (("left", config.left_hand_share), ("right", 1.0 - config.left_hand_share)):
        i = segments.hand_index[side]
        f_r = (share * load)[:, None] * (g - acc[i])
        force = force - f_r
        moment = moment - cross(arm[i], f_r)
    moment[~valid] = np.nan
    force[~valid] = np.nan
    return force, moment


def _decompose(force, moment, p, up, trunk: _TrunkLine, masses, config: L5S1Config) -> L5S1Result:
    """The result: the moment along the body's axes (from the hips) and the compression estimate."""
    # Body frame from the hips, horizontal.
    left = p["left_hip"] - p["right_hip"]
    left = unit(left - dot(left, up)[:, None] * up)
    forward = cross(left, up)
    right = cross(forward, up)

    # Compression: axial force plus the single-muscle force that balances the moment about the trunk's lateral axis.
    lateral_axis = unit(right - dot(right, trunk.axis)[:, None] * trunk.axis)
    compression = dot(force, trunk.axis) + np.abs(dot(moment, lateral_axis)) / config.extensor_moment_arm_m
    return L5S1Result(
        moment=moment,
        force=force,
        moment_extension=dot(moment, right),
        moment_lateral=dot(moment, forward),
        moment_twist=dot(moment, up),
        moment_magnitude=np.linalg.norm(moment, axis=-1),
        compression_n=compression,
        l5s1_position=trunk.l5,
        segment_masses=masses,
    )


# ----------------------------------------------------------------------------------------------------------------
# public entry point


def l5s1_load(
    points: dict[str, np.ndarray],
    up: np.ndarray,
    fps: float,
    body: BodyParams = BodyParams(),
    load_kg: float | np.ndarray = 0.0,
    config: L5S1Config = L5S1Config(),
    lengths: dict[str, float] | None = None,
) -> L5S1Result:
    """Net force, moment and estimated compression at L5/S1 for every frame.

    `points`: canonical point -> (T, 3) positions in metres, world frame; NaN marks a point not seen in a frame.
    Required: pelvis, neck, both shoulders, elbows, wrists and hips (InputError names the missing ones). Optional:
    ``head`` (head centre; without it the head+neck CoM is put on the pelvis->neck line, beyond the neck by de Leva's
    CoM-to-C7 distance) and ``left_hand``/``right_hand`` (knuckles, taken as de Leva's MET3; without them the hand is
    extrapolated along the forearm by de Leva's hand length).
    `up`: unit vector against gravity (normalised here). `fps`: frame rate. `load_kg`: mass held in the hands, a
    scalar or one value per frame (T,).

    Segments above L5/S1 (de Leva 1996, ``segment_parameters_de_leva_1996``, mass = mass_pct * body mass):

    - head+neck (``head_neck_vertex_to_c7``): CoM at the canonical ``head`` point;
    - trunk: the neck->pelvis line is cut into upper, middle and lower trunk in the proportions of de Leva's
      suprasternale-based lengths (sex-specific); each CoM lies at its ``com_pct_from_origin`` from its upper end.
      Only ``lower_trunk_mass_fraction`` of the lower trunk is above L5/S1; its CoM is midway between the
      omphalion (its upper end) and L5/S1;
    - upper arms (shoulder->elbow), forearms (elbow->wrist) and hands (wrist->hand point, CoM at 79.0% male /
      74.74% female), CoM at ``com_pct_from_origin`` from the proximal joint.

    Lengths that cannot be measured (hand without a hand point, head+neck for its inertia) are de Leva's scaled by
    stature / de Leva's stature (1.741 m male, 1.735 m female). Without `body.height_m` the stature is estimated as
    the median measured pelvis->neck length divided by de Leva's trunk/stature ratio (531.9/1741 male,
    529.3/1735 female): the neck point is treated as the suprasternale.

    Dynamics: positions are low-pass filtered (`L5S1Config`), CoM accelerations are second time derivatives
    (central differences). Each segment's angular acceleration comes from its longitudinal axis u: omega = u x du/dt,
    alpha = d omega/dt; its moment of inertia perpendicular to the axis is m (r * L)^2 with r the mean of de Leva's
    sagittal and transverse radii of gyration and L the segment length (median over valid frames, so I is constant;
    `lengths`, when given, replaces those medians and the trunk's: name -> m, as `segment_lengths` names them).
    Spin about the long axis is unobservable from keypoints and is ignored; so is the gyroscopic term, which vanishes
    for a segment symmetric about its long axis that does not spin.
    """
    pts, frames = _as_points(points)
    up = _unit_up(up)
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps={fps!r} must be positive")
    load = _load_per_frame(load_kg, frames)

    table = tables()["segment_parameters_de_leva_1996"]
    seg = {name: dict(zip(table["_columns"], row)) for name, row in table[body.sex].items()}
    p, valid = _filtered_points(pts, float(fps), config)
    measure = _measure(valid, lengths)
    trunk = _trunk_line(p, measure, seg, body, config)
    segments = _Segments(seg, body.mass_kg)
    _add_head_and_trunk(segments, p, trunk, config)
    _add_arms(segments, p, measure, trunk.scale)
    force, moment = _newton_euler(segments, valid, float(fps), up, load, trunk.l5, config)
    return _decompose(force, moment, p, up, trunk, segments.masses, config)


def segment_lengths(points: dict[str, np.ndarray], fps: float, config: L5S1Config = L5S1Config()) -> dict:
    """Per-frame lengths (m) of the measured segments after the low-pass, NaN where a point is missing: `trunk`
    (pelvis->neck), `{side}_upper_arm`, `{side}_forearm` and, with hand points, `{side}_hand`. `l5s1_load` uses their
    medians; a recording scored in parts passes the whole recording's medians as `lengths`."""
    pts, _ = _as_points(points)
    p, valid = _filtered_points(pts, float(fps), config)
    vectors = {"trunk": p["neck"] - p["pelvis"]}
    for side in ("left", "right"):
        vectors[f"{side}_upper_arm"] = p[f"{side}_elbow"] - p[f"{side}_shoulder"]
        vectors[f"{side}_forearm"] = p[f"{side}_wrist"] - p[f"{side}_elbow"]
        if f"{side}_hand" in p:
            vectors[f"{side}_hand"] = p[f"{side}_hand"] - p[f"{side}_wrist"]
    return {name: np.where(valid, np.linalg.norm(v, axis=-1), np.nan) for name, v in vectors.items()}


# The weight of the low-pass's impulse response left beyond `context_frames`, relative to the whole.
_CONTEXT_TAIL = 1e-20


def context_frames(fps: float, config: L5S1Config = L5S1Config()) -> int:
    """Frames on either side of a frame that its L5/S1 load depends on: scored in parts, each with this many extra
    frames on either side (and the whole recording's `lengths`), a recording gets the loads it gets scored whole.

    The low-pass is a Butterworth IIR filter run forwards and backwards: its impulse response decays as r**k, r the
    largest pole radius of the digital filter (scipy.signal.butter designs it), and less than `_CONTEXT_TAIL` of its
    weight lies beyond log(_CONTEXT_TAIL) / log(r) frames (tests/test_long_sequences.py measures it), so cutting
    the recording there changes a frame by less than that fraction of the trajectories' range. A part also keeps at
    least `_MIN_FILTER_FRAMES` either side (a run that short is not filtered), and the two derivatives reach two
    frames further."""
    reach = 0
    if config.cutoff_hz is not None:
        from scipy.signal import butter  # 0.6 s to import: only long recordings, scored in parts, need it

        _, poles, _ = butter(int(config.filter_order), _cutoff(fps, config), fs=fps, output="zpk")
        radius = float(np.abs(poles).max())
        reach = math.ceil(math.log(_CONTEXT_TAIL) / math.log(radius)) if radius > _CONTEXT_TAIL else 1
    return max(reach, _MIN_FILTER_FRAMES) + 2
