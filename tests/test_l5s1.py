"""L5/S1 top-down inverse dynamics: hand-built poses of a 1.74 m, 75 kg body, checked against numbers worked out here
(the method is in edge/ergonomics/l5s1.py)."""

from __future__ import annotations


import numpy as np
import pytest

from edge.errors import InputError
from edge.ergonomics.l5s1 import BodyParams, L5S1Config, l5s1_load
from edge.ergonomics.tables import tables

G = 9.81
UP = np.array([0.0, 0.0, 1.0])
X = np.array([1.0, 0.0, 0.0])  # the body's right axis: the person faces +y, z up
MALE = BodyParams(mass_kg=75.0, height_m=1.74, sex="male")
NO_FILTER = L5S1Config(cutoff_hz=None)

# Segment lengths of the test body (m), close to de Leva's male values scaled to 1.74 m.
TRUNK = 0.532  # pelvis -> neck
HEAD = 0.15  # neck -> head centre, along the trunk
SHOULDER_HALF, HIP_HALF = 0.18, 0.09
UPPER_ARM, FOREARM, HAND = 0.282, 0.269, 0.086
L5_FRACTION = 50.0 / 531.9
L5 = np.array([0.0, 0.0, 1.0])  # L5/S1 stays here in every pose, so rotations about it keep it fixed
DOWN = (0.0, 0.0, -1.0)


def flex(v, theta):
    """Tilt vectors (T, 3) forward by angles theta (T,) about the -x axis: +z goes towards +y."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([v[..., 0], c * v[..., 1] + s * v[..., 2], -s * v[..., 1] + c * v[..., 2]], axis=-1)


def body(theta, upper=DOWN, fore=DOWN, frames=None, hands=True, arms_follow_trunk=False):
    """Canonical points (T, 3) of the test body with the trunk flexed by theta (scalar or (T,)).

    Arm directions are world directions (hanging arms stay vertical in a stoop), or trunk-relative directions that
    rotate with the trunk when `arms_follow_trunk`; upper/fore may be (3,) or (T, 3), or a (left, right) pair."""
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    if frames is not None:
        theta = np.broadcast_to(theta, (frames,))
    t = len(theta)
    d = flex(np.broadcast_to([0.0, 0.0, 1.0], (t, 3)), theta)
    pelvis = L5 - L5_FRACTION * TRUNK * d
    neck = pelvis + TRUNK * d
    pts = {"pelvis": pelvis, "neck": neck, "head": neck + HEAD * d,
           "left_hip": pelvis - HIP_HALF * X, "right_hip": pelvis + HIP_HALF * X}
    for side, sign, k in (("left", -1.0, 0), ("right", 1.0, 1)):
        ud = np.asarray(upper[k] if isinstance(upper, tuple) and np.ndim(upper[0]) else upper, dtype=float)
        fd = np.asarray(fore[k] if isinstance(fore, tuple) and np.ndim(fore[0]) else fore, dtype=float)
        ud, fd = np.broadcast_to(ud, (t, 3)), np.broadcast_to(fd, (t, 3))
        if arms_follow_trunk:
            ud, fd = flex(ud, theta), flex(fd, theta)
        shoulder = neck + sign * SHOULDER_HALF * X  # flexion about x leaves this offset unchanged
        elbow = shoulder + UPPER_ARM * ud
        wrist = elbow + FOREARM * fd
        pts |= {f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist}
        if hands:
            pts[f"{side}_hand"] = wrist + HAND * fd
    return pts


def elbows_90(flexion_deg=15.0):
    """Upper arm flexed forward, forearm at 90 degrees to it: hands about 0.4 m in front of L5/S1."""
    phi = np.radians(flexion_deg)
    return (0.0, np.sin(phi), -np.cos(phi)), (0.0, np.cos(phi), np.sin(phi))


def hand_sum_moment(pts, up, body_params=MALE, load_kg=0.0):
    """Static L5/S1 moment worked out frame by frame, segment by segment: sum of (r_i - r_L5) x m_i * 9.81 * up."""
    leva = tables()["segment_parameters_de_leva_1996"]
    row = {k: dict(zip(leva["_columns"], v)) for k, v in leva[body_params.sex].items()}
    pct = {k: row[k]["mass_pct"] / 100.0 * body_params.mass_kg for k in row}
    lengths = [row[k]["length_mm"] for k in ("upper_trunk", "middle_trunk", "lower_trunk")]
    total = sum(lengths)
    out = np.zeros((len(pts["pelvis"]), 3))
    for f in range(len(out)):
        p = {k: v[f] for k, v in pts.items()}
        axis = p["neck"] - p["pelvis"]  # from pelvis to neck
        l5 = p["pelvis"] + L5_FRACTION * axis
        xiphoid = p["neck"] - lengths[0] / total * axis
        omphalion = p["neck"] - (lengths[0] + lengths[1]) / total * axis
        segments = [
            (pct["head_neck_vertex_to_c7"], p["head"]),
            (pct["upper_trunk"], p["neck"] + row["upper_trunk"]["com_pct_from_origin"] / 100 * (xiphoid - p["neck"])),
            (pct["middle_trunk"], xiphoid + row["middle_trunk"]["com_pct_from_origin"] / 100 * (omphalion - xiphoid)),
            (0.5 * pct["lower_trunk"], 0.5 * (omphalion + l5)),
        ]
        hands = []
        for s in ("left", "right"):
            sh, el, wr, ha = p[f"{s}_shoulder"], p[f"{s}_elbow"], p[f"{s}_wrist"], p[f"{s}_hand"]
            hand_com = wr + row["hand"]["com_pct_from_origin"] / 100 * (ha - wr)
            segments += [
                (pct["upper_arm"], sh + row["upper_arm"]["com_pct_from_origin"] / 100 * (el - sh)),
                (pct["forearm"], el + row["forearm"]["com_pct_from_origin"] / 100 * (wr - el)),
                (pct["hand"], hand_com),
            ]
            hands.append(hand_com)
        segments += [(0.5 * load_kg, hands[0]), (0.5 * load_kg, hands[1])]
        for m, r in segments:
            out[f] += np.cross(r - l5, m * G * np.asarray(up))
    return out


def lift(frames=90, fps=60.0):
    """A symmetric stoop lift: trunk from 80 degrees flexion to upright with a smooth (minimum-jerk) profile."""
    s = np.linspace(0.0, 1.0, frames)
    theta = np.radians(80.0) * (1.0 - (10 * s**3 - 15 * s**4 + 6 * s**5))
    return theta, fps


# ---------------------------------------------------------------------------------------------------------------
# 1. statics against a hand-worked sum


def test_static_moment_equals_hand_sum_of_segment_weights():
    # An asymmetric pose (flexed trunk, arms in different directions) so every moment component is exercised.
    upper = ((0.3, 0.5, -0.81), (-0.1, 0.2, -0.97))
    fore = ((0.0, 0.9, 0.43), (0.2, 0.6, -0.77))
    upper = tuple(np.asarray(u) / np.linalg.norm(u) for u in upper)
    fore = tuple(np.asarray(u) / np.linalg.norm(u) for u in fore)
    pts = body(np.radians(35.0), upper, fore, frames=20)
    res = l5s1_load(pts, UP, 30.0, MALE)
    expected = hand_sum_moment(pts, UP)
    np.testing.assert_allclose(res.moment, expected, atol=1e-6)
    # The lower body carries the weight of everything above L5/S1: 54.7% of body weight for a male (notes).
    total = sum(res.segment_masses.values())
    assert total == pytest.approx(0.54695 * 75.0, abs=1e-9)
    np.testing.assert_allclose(res.force, np.tile(total * G * UP, (20, 1)), atol=1e-6)
    # The same with a load in the hands and the filter off: filtering a static pose changes nothing.
    res = l5s1_load(pts, UP, 30.0, MALE, load_kg=7.0, config=NO_FILTER)
    np.testing.assert_allclose(res.moment, hand_sum_moment(pts, UP, load_kg=7.0), atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# 2-4. published sanity anchors and the load term


def test_upright_holding_10kg_box_gives_40_to_70_nm():
    upper, fore = elbows_90()
    pts = body(0.0, upper, fore, frames=20)
    res = l5s1_load(pts, UP, 30.0, MALE, load_kg=10.0)
    hands_forward = pts["left_wrist"][0, 1] + 0.79 * HAND * fore[1]  # hand CoM; L5/S1 is at y = 0
    assert 0.38 < hands_forward < 0.42  # the notes' "box ~0.41 m anterior to L5/S1"
    assert np.all((res.moment_extension > 40.0) & (res.moment_extension < 70.0))
    assert res.moment_extension[0] == pytest.approx(48.9, abs=0.1)


def test_full_stoop_gives_142_nm_and_170_to_220_nm_with_a_box():
    pts = body(np.pi / 2, frames=20)  # trunk horizontal, arms hanging
    bare = l5s1_load(pts, UP, 30.0, MALE)
    assert bare.moment_extension[0] == pytest.approx(142.0, abs=6.0)
    # Hands hang under the shoulders, about 0.48 m in front of L5/S1: inside the notes' 0.45-0.55 m.
    boxed = l5s1_load(pts, UP, 30.0, MALE, load_kg=10.0)
    assert np.all((boxed.moment_extension > 170.0) & (boxed.moment_extension < 220.0))


def test_load_adds_exactly_m_g_d_to_extension_and_m_g_to_force():
    upper, fore = elbows_90(30.0)
    pts = body(np.radians(20.0), upper, fore, frames=20)
    load = np.linspace(0.0, 20.0, 20)  # one load per frame
    bare = l5s1_load(pts, UP, 30.0, MALE)
    loaded = l5s1_load(pts, UP, 30.0, MALE, load_kg=load)
    hand_com = pts["left_wrist"] + 0.79 * (pts["left_hand"] - pts["left_wrist"])
    d = (hand_com - loaded.l5s1_position) @ np.array([0.0, 1.0, 0.0])  # forward distance L5/S1 -> hands
    np.testing.assert_allclose(loaded.moment_extension - bare.moment_extension, load * G * d, atol=1e-9)
    np.testing.assert_allclose(loaded.force - bare.force, np.outer(load * G, UP), atol=1e-9)
    # Doubling the load doubles the increase.
    double = l5s1_load(pts, UP, 30.0, MALE, load_kg=2 * load)
    np.testing.assert_allclose(double.moment_extension - bare.moment_extension, 2 * load * G * d, atol=1e-9)


def test_load_in_left_hand_only_bends_right_positive_lateral():
    pts = body(0.0, frames=5)  # upright, arms hanging at the sides
    cfg = L5S1Config(left_hand_share=1.0)
    bare = l5s1_load(pts, UP, 30.0, MALE)
    loaded = l5s1_load(pts, UP, 30.0, MALE, load_kg=10.0, config=cfg)
    # The load hangs SHOULDER_HALF to the left of L5/S1: the lower body must bend the trunk to the right.
    np.testing.assert_allclose(loaded.moment_lateral - bare.moment_lateral, 10.0 * G * SHOULDER_HALF, atol=1e-9)
    np.testing.assert_allclose(loaded.moment_twist, 0.0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# 5-6. symmetry and frame invariance


def test_symmetric_postures_have_no_lateral_or_twist_moment():
    upper, fore = elbows_90()
    for pts in (body(np.pi / 2, frames=20), body(np.radians(40), upper, fore, frames=20)):
        res = l5s1_load(pts, UP, 30.0, MALE, load_kg=12.0)
        np.testing.assert_allclose(res.moment_lateral, 0.0, atol=1e-9)
        np.testing.assert_allclose(res.moment_twist, 0.0, atol=1e-9)
    # A symmetric dynamic lift, filtered: still exactly symmetric.
    theta, fps = lift()
    pts = body(theta, upper, fore, arms_follow_trunk=True)
    res = l5s1_load(pts, UP, fps, MALE, load_kg=10.0)
    assert np.abs(res.moment_extension).max() > 100.0
    np.testing.assert_allclose(res.moment_lateral, 0.0, atol=1e-9)
    np.testing.assert_allclose(res.moment_twist, 0.0, atol=1e-9)


def _rotation(axis, angle):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


@pytest.mark.parametrize("rotation", [
    _rotation([1.0, 0.0, 0.0], np.pi / 2),  # z-up world -> y-down camera style: up = -y
    _rotation([0.3, -0.5, 0.8], 2.1),
])
def test_result_is_invariant_to_the_world_frame(rotation):
    theta, fps = lift()
    # Asymmetric and dynamic so every component is non-zero.
    pts = body(theta, ((0.3, 0.3, -0.9), DOWN), ((0.0, 1.0, 0.0), (0.2, 0.5, -0.84)), arms_follow_trunk=True)
    ref = l5s1_load(pts, UP, fps, MALE, load_kg=5.0)
    shift = np.array([2.0, -1.0, 0.5])
    moved = {k: v @ rotation.T + shift for k, v in pts.items()}
    up = rotation @ UP
    if np.allclose(rotation, _rotation([1.0, 0.0, 0.0], np.pi / 2)):
        np.testing.assert_allclose(up, [0.0, -1.0, 0.0], atol=1e-12)
    res = l5s1_load(moved, up, fps, MALE, load_kg=5.0)
    for name in ("moment_extension", "moment_lateral", "moment_twist", "moment_magnitude", "compression_n"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), atol=1e-8, err_msg=name)
    assert np.abs(ref.moment_lateral).max() > 1.0 and np.abs(ref.moment_twist).max() > 0.1
    np.testing.assert_allclose(res.moment, ref.moment @ rotation.T, atol=1e-8)
    np.testing.assert_allclose(res.force, ref.force @ rotation.T, atol=1e-8)


# ---------------------------------------------------------------------------------------------------------------
# 7. dynamics and filtering


def _pivot_inertia(pts, frame):
    """Moment of inertia (kg m^2) of the upper body about the right axis through L5/S1, by hand:
    sum of m d^2 (CoM distance from the axis) + m (mean sagittal/transverse radius of gyration * length)^2."""
    leva = tables()["segment_parameters_de_leva_1996"]
    row = {k: dict(zip(leva["_columns"], v)) for k, v in leva["male"].items()}
    p = {k: v[frame] for k, v in pts.items()}
    lengths = [row[k]["length_mm"] for k in ("upper_trunk", "middle_trunk", "lower_trunk")]
    total = sum(lengths)
    axis = p["neck"] - p["pelvis"]
    l5 = p["pelvis"] + L5_FRACTION * axis
    xiphoid = p["neck"] - lengths[0] / total * axis
    omphalion = p["neck"] - (lengths[0] + lengths[1]) / total * axis
    scale = 1.74 / 1.741
    segs = [  # (de Leva row, mass share, CoM, length)
        ("head_neck_vertex_to_c7", 1.0, p["head"], row["head_neck_vertex_to_c7"]["length_mm"] / 1000 * scale),
        ("upper_trunk", 1.0, p["neck"] + row["upper_trunk"]["com_pct_from_origin"] / 100 * (xiphoid - p["neck"]),
         lengths[0] / total * TRUNK),
        ("middle_trunk", 1.0, xiphoid + row["middle_trunk"]["com_pct_from_origin"] / 100 * (omphalion - xiphoid),
         lengths[1] / total * TRUNK),
        ("lower_trunk", 0.5, 0.5 * (omphalion + l5), lengths[2] / total * TRUNK),
    ]
    for s in ("left", "right"):
        sh, el, wr, ha = p[f"{s}_shoulder"], p[f"{s}_elbow"], p[f"{s}_wrist"], p[f"{s}_hand"]
        segs += [
            ("upper_arm", 1.0, sh + row["upper_arm"]["com_pct_from_origin"] / 100 * (el - sh), UPPER_ARM),
            ("forearm", 1.0, el + row["forearm"]["com_pct_from_origin"] / 100 * (wr - el), FOREARM),
            ("hand", 1.0, wr + row["hand"]["com_pct_from_origin"] / 100 * (ha - wr), HAND),
        ]
    j = 0.0
    for name, share, com, length in segs:
        m = 75.0 * row[name]["mass_pct"] / 100 * share
        r = com - l5
        radius = 0.5 * (row[name]["r_sagittal_pct"] + row[name]["r_transverse_pct"]) / 100 * length
        j += m * (r[1] ** 2 + r[2] ** 2) + m * radius**2
    return j


def test_constant_angular_acceleration_adds_pivot_inertia_times_alpha():
    # The whole upper body turns rigidly about the right axis through L5/S1 with constant angular acceleration.
    # Centripetal terms have no moment about that axis, so the extension moment differs from the static one by
    # exactly -J * alpha (flexing forward is rotation about -right).
    fps, alpha = 500.0, 4.0
    t = np.arange(200) / fps
    theta = np.radians(20.0) + 0.5 * alpha * t**2
    upper, fore = elbows_90()
    pts = body(theta, upper, fore, arms_follow_trunk=True)
    dyn = l5s1_load(pts, UP, fps, MALE, config=NO_FILTER)
    static = hand_sum_moment(pts, UP)[:, 0]
    inner = slice(2, -2)  # one-sided differences at the ends
    j = np.array([_pivot_inertia(pts, f) for f in range(len(t))])
    assert j[0] == pytest.approx(j[-1])  # rigid motion: J is constant
    np.testing.assert_allclose((dyn.moment_extension - static)[inner], -j[inner] * alpha, rtol=1e-3)
    assert j[0] * alpha > 10.0  # the inertial term is not negligible here
    # With the default Butterworth the same holds away from the ends of the recording (filtfilt edge transients
    # last about 1/cutoff): 2 s at 100 fps, middle half.
    fps, alpha = 100.0, 1.0
    t = np.arange(200) / fps
    pts = body(np.radians(20.0) + 0.5 * alpha * t**2, upper, fore, arms_follow_trunk=True)
    filt = l5s1_load(pts, UP, fps, MALE)
    static = hand_sum_moment(pts, UP)[:, 0]
    mid = slice(50, 150)
    np.testing.assert_allclose((filt.moment_extension - static)[mid], -_pivot_inertia(pts, 0) * alpha, rtol=1e-2)


def test_slow_and_fast_versions_of_a_lift_differ_by_inertia():
    # The same path at half the speed: inertial moment (~ angular acceleration) drops by 4x.
    upper, fore = elbows_90()
    fast_theta, fps = lift(frames=60)
    slow_theta, _ = lift(frames=120)
    fast = l5s1_load(body(fast_theta, upper, fore, arms_follow_trunk=True), UP, fps, MALE, config=NO_FILTER)
    slow = l5s1_load(body(slow_theta, upper, fore, arms_follow_trunk=True), UP, fps, MALE, config=NO_FILTER)
    static_fast = hand_sum_moment(body(fast_theta, upper, fore, arms_follow_trunk=True), UP)[:, 0]
    static_slow = hand_sum_moment(body(slow_theta, upper, fore, arms_follow_trunk=True), UP)[:, 0]
    peak_fast = np.abs(fast.moment_extension - static_fast).max()
    peak_slow = np.abs(slow.moment_extension - static_slow).max()
    assert peak_fast > 5.0
    assert peak_fast / peak_slow == pytest.approx(4.0, rel=0.1)


def test_butterworth_keeps_noisy_moments_bounded():
    theta, fps = lift(frames=120)
    upper, fore = elbows_90()
    clean = body(theta, upper, fore, arms_follow_trunk=True)
    truth = l5s1_load(clean, UP, fps, MALE, load_kg=10.0, config=NO_FILTER).moment_extension
    rng = np.random.default_rng(7)
    noisy = {k: v + rng.normal(0.0, 0.003, v.shape) for k, v in clean.items()}  # 3 mm keypoint jitter
    filtered = l5s1_load(noisy, UP, fps, MALE, load_kg=10.0).moment_extension
    raw = l5s1_load(noisy, UP, fps, MALE, load_kg=10.0, config=NO_FILTER).moment_extension
    rms = lambda e: float(np.sqrt(np.mean(e**2)))  # noqa: E731
    # Measured: about 10 N m filtered (~5% of the 186 N m peak) against about 50 N m unfiltered.
    assert rms(filtered - truth) < 0.1 * truth.max()
    assert rms(raw - truth) > 4 * rms(filtered - truth)


def test_low_frame_rate_lowers_the_cutoff_to_0_4_fps():
    theta, _ = lift(frames=40)
    pts = body(theta + 0.01 * np.sin(np.arange(40)), frames=None)
    auto = l5s1_load(pts, UP, 10.0, MALE)  # 8 Hz >= Nyquist at 10 fps
    explicit = l5s1_load(pts, UP, 10.0, MALE, config=L5S1Config(cutoff_hz=4.0))
    np.testing.assert_allclose(auto.moment, explicit.moment, atol=1e-12)
    assert np.all(np.isfinite(auto.moment))


# ---------------------------------------------------------------------------------------------------------------
# 8. body parameters, missing data, compression, input errors


def test_female_parameters_differ_from_male():
    pts = body(np.pi / 2, frames=5)
    male = l5s1_load(pts, UP, 30.0, MALE)
    female = l5s1_load(pts, UP, 30.0, BodyParams(75.0, 1.74, "female"))
    assert sum(female.segment_masses.values()) == pytest.approx(0.51995 * 75.0, abs=1e-9)
    assert female.segment_masses["upper_trunk"] != male.segment_masses["upper_trunk"]
    # Different masses and CoM placement (female trunk proportions): about 1.8 N m less in this stoop.
    assert male.moment_extension[0] - female.moment_extension[0] > 1.0


def test_nan_frames_only_affect_themselves():
    theta, fps = lift()
    pts = body(theta, *elbows_90(), arms_follow_trunk=True)
    pts["left_elbow"] = pts["left_elbow"].copy()
    pts["left_elbow"][40] = np.nan
    pts["head"] = pts["head"].copy()
    pts["head"][70, 2] = np.nan
    res = l5s1_load(pts, UP, fps, MALE, load_kg=10.0)
    bad = np.zeros(len(theta), dtype=bool)
    bad[[40, 70]] = True
    for name in ("moment_extension", "moment_lateral", "moment_twist", "moment_magnitude", "compression_n"):
        values = getattr(res, name)
        assert np.all(np.isnan(values[bad])) and np.all(np.isfinite(values[~bad])), name
    assert np.all(np.isnan(res.moment[bad])) and np.all(np.isfinite(res.force[~bad]))


def test_missing_hand_points_are_extrapolated_along_the_forearm():
    with_hands = l5s1_load(body(np.radians(30), *elbows_90(), frames=10), UP, 30.0, MALE, load_kg=10.0)
    pts = body(np.radians(30), *elbows_90(), frames=10, hands=False)
    without = l5s1_load(pts, UP, 30.0, MALE, load_kg=10.0)
    # de Leva's 86.2 mm hand scaled to 1.74 m is within 0.2 mm of the test body's 86 mm hand.
    np.testing.assert_allclose(without.moment_extension, with_hands.moment_extension, atol=0.05)
    # Without a height the stature comes from the trunk (0.532 m ~ de Leva's 531.9 mm): the same answer.
    no_height = l5s1_load(pts, UP, 30.0, BodyParams(75.0), load_kg=10.0)
    np.testing.assert_allclose(no_height.moment_extension, without.moment_extension, atol=0.01)


def test_compression_for_stoop_with_box_is_plausible_and_exceeds_upright():
    stoop = l5s1_load(body(np.pi / 2, frames=5), UP, 30.0, MALE, load_kg=10.0)
    upright = l5s1_load(body(0.0, *elbows_90(), frames=5), UP, 30.0, MALE, load_kg=10.0)
    assert np.all((stoop.compression_n > 3000.0) & (stoop.compression_n < 5000.0))
    assert np.all(stoop.compression_n > upright.compression_n + 1000.0)
    # Upright: the axial weight of body-above-L5/S1 plus box, and the extensor force for ~49 N m.
    weight = (sum(upright.segment_masses.values()) + 10.0) * G
    np.testing.assert_allclose(upright.compression_n, weight + upright.moment_extension / 0.05, rtol=1e-9)


@pytest.mark.parametrize("kwargs", [
    {"mass_kg": 15.0}, {"mass_kg": 350.0}, {"height_m": 0.8}, {"height_m": 2.7}, {"sex": "other"},
])
def test_bad_body_params_raise(kwargs):
    with pytest.raises(InputError):
        BodyParams(**kwargs)


def test_bad_inputs_raise_and_name_the_problem():
    pts = body(0.0, frames=5)
    with pytest.raises(InputError, match="left_elbow"):
        l5s1_load({k: v for k, v in pts.items() if k != "left_elbow"}, UP, 30.0)
    with pytest.raises(InputError):
        l5s1_load(pts, UP, 30.0, load_kg=-1.0)
    with pytest.raises(InputError):
        l5s1_load(pts, UP, 30.0, load_kg=np.zeros(4))
    with pytest.raises(InputError):
        l5s1_load(pts, np.zeros(3), 30.0)
    with pytest.raises(InputError):
        L5S1Config(left_hand_share=1.5)


def test_ten_thousand_frames_shapes():
    # Speed is measured in benchmarks/bench_score.py, not here.
    theta = np.radians(45.0) + 0.5 * np.sin(np.arange(10_000) / 30.0)
    pts = body(theta, *elbows_90(), arms_follow_trunk=True)
    res = l5s1_load(pts, UP, 30.0, MALE, load_kg=10.0)
    assert res.moment.shape == (10_000, 3) and np.all(np.isfinite(res.compression_n))


def test_missing_head_puts_head_com_on_the_trunk_line():
    pts = body(np.pi / 2, frames=5)  # trunk horizontal: the head CoM's lever arm is along the trunk
    with_head = l5s1_load(pts, UP, 30.0, MALE)
    without = l5s1_load({k: v for k, v in pts.items() if k != "head"}, UP, 30.0, MALE)
    # de Leva head+neck: CoM 50.02% of 242.9 mm from the vertex, i.e. 121.4 mm (scaled to 1.74 m) beyond C7/neck.
    beyond_neck = 0.2429 * (1 - 0.5002) * 1.74 / 1.741
    head_mass = 0.0694 * 75.0
    np.testing.assert_allclose(with_head.moment_extension - without.moment_extension,
                               head_mass * G * (HEAD - beyond_neck), atol=1e-9)
