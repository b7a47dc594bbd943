"""Synthetic data that looks like real pose estimates: the estimator's errors on the stored joints (separate random
stream, targets from the clean joints), the motion and activity-mix settings, the realism measures that compare data
sets, the tilt augmentation and the coarse class groups."""

from dataclasses import replace

import numpy as np
import pytest

from edge.config import read_toml
from edge.datasets.augment import AugmentConfig, random_augment, tilt
from edge.datasets.loaders.uwiom import UWIOM_CLASSES
from edge.datasets.realism import coarse_labels, estimate_noise, jitter_by_axis, posture_by_class
from edge.datasets.sequence import Sequence
from edge.datasets.synth.activities import ACTIVITIES
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.estimate import EstimateConfig
from edge.datasets.synth.generator import generate
from edge.errors import InputError
from edge.kinematics import joint_angles
from edge.signals import true_runs
from edge.skeletons import get_layout
from edge.train.data import read_groups
from tests.conftest import REPO

GROUPS = REPO / "edge" / "data" / "groups"
ONE = SynthConfig(layouts=("uwiom15",), fps=10.0, recording_minutes=(1.0, 1.0))
STAND = {"still": ["stand"]}


def _stand_only(estimate: EstimateConfig, minutes=1.0, seed=2) -> Sequence:
    """A recording that is one long stand (3D errors measured where the true body barely moves)."""
    cfg = replace(ONE, stand_s=(600.0, 600.0), micro_motion_deg=0.0, estimate=estimate,
                  recording_minutes=(minutes, minutes))
    (seq,) = generate(minutes, seed, cfg)
    assert set(np.unique(seq.activity)) == {ACTIVITIES.index("stand")}
    return seq


def test_estimate_errors_change_only_the_stored_joints():
    est = EstimateConfig(root_depth_m=0.1, jitter_m=0.01, knee_bias_deg=(10.0, 10.0), swaps_per_min=2.0)
    clean, noisy = generate(1.0, 4, ONE)[0], generate(1.0, 4, replace(ONE, estimate=est))[0]
    assert np.array_equal(clean.activity, noisy.activity)
    assert np.array_equal(clean.keypoints2d, noisy.keypoints2d, equal_nan=True)
    assert all(np.array_equal(clean.targets[k], noisy.targets[k], equal_nan=True) for k in clean.targets)
    assert clean.metadata["joints"] == "clean" and noisy.metadata["joints"].startswith("noisy")
    error = np.linalg.norm(noisy.joints - clean.joints, axis=-1)
    assert 0.05 < np.median(error) < 0.3
    assert not EstimateConfig().enabled and est.enabled
    again = generate(1.0, 4, replace(ONE, estimate=est))[0]
    assert np.array_equal(again.joints, noisy.joints)  # seeded like everything else


def test_root_jitter_is_white_and_along_the_line_of_sight():
    seq = _stand_only(EstimateConfig(root_depth_m=0.1, root_across_m=0.01))
    noise = estimate_noise([seq], "stand")
    # white N(0, 0.1) per frame: steps of sd 0.1 * sqrt(2) along the line of sight, 0.014 across
    assert noise["anisotropy"]["major_m"] == pytest.approx(0.1 * np.sqrt(2), rel=0.15)
    assert noise["anisotropy"]["minor_m"] == pytest.approx(0.01 * np.sqrt(2), rel=0.3)
    assert noise["anisotropy"]["ratio"] > 5
    assert noise["step_m"]["mid_hip"]["p50"] > 0.08
    # the whole body moves together: nothing moves relative to the mid-hip
    assert noise["step_m"]["ankle"]["p90"] < 0.002 and noise["bone_cv_median"] < 0.005


def test_root_drift_wanders_slowly_along_the_line_of_sight():
    """The slow whole-body wander (root_drift_m): displacements grow with the lag (white jitter's do not), the body
    moves as one, and a drift of 0 draws nothing (the same joints as before the setting existed)."""
    white = EstimateConfig(root_depth_m=0.05)
    drift = replace(white, root_drift_m=0.2, root_drift_hz=1.0)
    plain, wander = _stand_only(white), _stand_only(drift)

    def shifts(seq, lag):
        hip = seq.joints[:, [4, 5]].mean(axis=1)
        return np.median(np.linalg.norm(hip[lag:] - hip[:-lag], axis=1))

    assert shifts(plain, 8) == pytest.approx(shifts(plain, 1), rel=0.25)  # white: as far over 8 frames as over 1
    assert shifts(wander, 8) > 2.0 * shifts(wander, 1) and shifts(wander, 8) > 3.0 * shifts(plain, 8)
    noise = estimate_noise([wander], "stand")
    assert noise["step_m"]["ankle"]["p90"] < 0.002 and noise["bone_cv_median"] < 0.005  # the whole body together
    assert noise["anisotropy"]["ratio"] > 3  # along the line of sight
    assert np.array_equal(plain.joints, _stand_only(replace(white, root_drift_m=0.0, root_drift_hz=2.0)).joints)
    with pytest.raises(InputError, match="root_drift_hz"):
        EstimateConfig(root_drift_hz=0.0)


def test_joint_errors_bones_outliers_missing_and_repeats():
    est = EstimateConfig(jitter_m=0.01, depth_gain=3.0, limb_gain=2.0, missing_prob=0.01, repeat_prob=0.05)
    seq = _stand_only(est, minutes=2.0)
    noise = estimate_noise([seq], "stand")
    assert 0.03 < noise["bone_cv_median"] < 0.15
    assert noise["missing_joint_fraction"] == pytest.approx(0.01, abs=0.004)
    assert noise["repeated_frame_fraction"] == pytest.approx(0.05, abs=0.02)
    # limb ends jitter twice as much as the head
    assert noise["step_m"]["ankle"]["p50"] > 1.5 * noise["step_m"]["head"]["p50"]


def test_posture_biases_bend_knees_and_elbows():
    clean = _stand_only(EstimateConfig())
    biased = _stand_only(EstimateConfig(knee_bias_deg=(20.0, 20.0), elbow_bias_deg=(15.0, 15.0)))
    lay = get_layout("uwiom15")
    a, b = joint_angles(clean.joints, lay, clean.up), joint_angles(biased.joints, lay, biased.up)
    for name, bias in (("left_knee_flexion_deg", 20.0), ("right_elbow_flexion_deg", 15.0)):
        assert np.median(b[name] - a[name]) == pytest.approx(bias, abs=1.0)
    assert np.median(np.abs(b["trunk_flexion_deg"] - a["trunk_flexion_deg"])) < 1.0


def test_swaps_exchange_left_and_right_limbs():
    seq = _stand_only(EstimateConfig(swaps_per_min=30.0, swap_s=(0.5, 0.5)), minutes=2.0)
    lay = get_layout("uwiom15")
    left, right = lay.index("left_ankle"), lay.index("right_ankle")
    # the body faces one way all along: the left ankle's side of the hip line flips while swapped
    hips = seq.joints[:, lay.index("left_hip")] - seq.joints[:, lay.index("right_hip")]
    side = np.sign(np.einsum("ti,ti->t", seq.joints[:, left] - seq.joints[:, right], hips))
    swapped = np.mean(side < 0)
    assert 0.05 < swapped < 0.2  # about 60 episodes of 5 frames in 1200, half of them legs, some overlapping


def test_estimate_config_checks():
    for bad in ({"jitter_m": -0.1}, {"missing_prob": 2.0}, {"level": (2.0, 1.0)}, {"drift_hz": 0.0},
                {"knee_bias_deg": (1.0,)}, {"outlier_prob": True}):
        with pytest.raises(InputError):
            EstimateConfig(**bad)
    assert SynthConfig(estimate={"jitter_m": 0.01}).estimate == EstimateConfig(jitter_m=0.01)  # from JSON
    for bad in ({"stand_hands_front": 1.5}, {"stoop_trunk_deg": (60.0, 150.0)}, {"stand_s": (0.0, 1.0)}):
        with pytest.raises(InputError):
            SynthConfig(**bad)


def test_motion_settings_move_the_class_postures():
    groups = read_toml(GROUPS / "synthetic_coarse.toml")
    default = posture_by_class(generate(8.0, 3, replace(ONE, recording_minutes=(4.0, 4.0))), groups)
    deep = replace(ONE, recording_minutes=(4.0, 4.0), stoop_trunk_deg=(90.0, 110.0), squat_trunk_deg=(60.0, 70.0),
                   grasp_s=(2.0, 3.0), stand_s=(0.5, 1.0), handling_weight=20.0)
    widened = posture_by_class(generate(8.0, 3, deep), groups)
    bend, wide_bend = default["bend"]["trunk_flexion_deg"], widened["bend"]["trunk_flexion_deg"]
    assert wide_bend["p50"] > bend["p50"] + 15 and wide_bend["p90"] > 85
    assert widened["stand"]["segment_s"]["p90"] <= 1.0 + 0.9 + 1e-6  # stand_s plus its transition
    assert default["stand"]["segment_s"]["p50"] > 3.0
    share = {name: r["handle_mid"]["frames"] / sum(c["frames"] for c in r.values())
             for name, r in (("default", default), ("widened", widened))}
    assert share["widened"] > 1.5 * share["default"]


def test_posture_by_class_on_a_known_sequence():
    lay = get_layout("uwiom15")
    (seq,) = generate(1.0, 5, ONE)
    labels, names = coarse_labels(seq, {"still": ["stand"], "moving": ["walk", "carry"]})
    assert names == ["still", "moving"] and set(np.unique(labels)) <= {-1, 0, 1}
    stats = posture_by_class([seq], {"still": ["stand"]})
    trunk = joint_angles(seq.joints, lay, seq.up)["trunk_flexion_deg"][seq.activity == ACTIVITIES.index("stand")]
    assert stats["still"]["frames"] == trunk.size
    assert stats["still"]["trunk_flexion_deg"]["p50"] == pytest.approx(np.median(trunk), abs=1e-3)


def test_jitter_by_axis_finds_the_noisy_axis():
    rng = np.random.default_rng(0)
    (seq,) = generate(0.5, 1, replace(ONE, fps=60.0, recording_minutes=(0.5, 0.5), layouts=("blazepose33",)))
    joints = seq.joints + rng.normal(0.0, 1.0, seq.joints.shape) * np.array([0.005, 0.005, 0.02])
    got, clean = jitter_by_axis(joints, "blazepose33", 60.0), jitter_by_axis(seq.joints, "blazepose33", 60.0)
    assert got["axis_rms_m"][2] > 2.5 * got["axis_rms_m"][0]
    added = np.sqrt(got["axis_rms_m"][2] ** 2 - clean["axis_rms_m"][2] ** 2)
    # relative to the (noisy) mid-hip: sd 0.02 x sqrt(1 + 1/2), 90 % of its power above 3 of 30 Hz
    assert added == pytest.approx(0.02 * np.sqrt(1.5 * 0.9), rel=0.1)


def test_tilt_is_a_misjudged_up_vector():
    (seq,) = generate(0.2, 1, ONE)
    lay = get_layout("uwiom15")
    base = joint_angles(seq.joints, lay, seq.up)
    for azimuth in (0.0, 90.0, 200.0):
        tilted = tilt(seq, 10.0, azimuth)
        got = joint_angles(tilted.joints, lay, tilted.up)
        trunk = np.hypot(got["trunk_flexion_deg"] - base["trunk_flexion_deg"],
                         got["trunk_side_bend_deg"] - base["trunk_side_bend_deg"])
        assert np.median(trunk) == pytest.approx(10.0, abs=1.0)
        assert np.allclose(got["left_elbow_flexion_deg"], base["left_elbow_flexion_deg"], atol=1e-6)
    assert np.allclose(tilt(seq, 0.0, 30.0).joints, seq.joints)
    # off by default: the default augmentation draws exactly what it drew before
    a = random_augment(seq, np.random.default_rng(3), AugmentConfig())
    b = random_augment(seq, np.random.default_rng(3), AugmentConfig(tilt_deg=0.0))
    assert np.array_equal(a.joints, b.joints, equal_nan=True)
    assert random_augment(seq, np.random.default_rng(3), AugmentConfig(tilt_deg=8.0)).metadata["augmentations"][2][
        "op"] == "tilt"
    with pytest.raises(InputError):
        AugmentConfig(tilt_deg=60.0)


def test_coarse_groups_cover_both_data_sets_with_the_same_classes():
    uwiom, synthetic = read_groups(GROUPS / "uwiom_coarse.toml"), read_groups(GROUPS / "synthetic_coarse.toml")
    assert list(uwiom) == list(synthetic) == ["walk", "stand", "bend", "reach_high", "handle_mid"]
    assert sorted(m for ms in uwiom.values() for m in ms) == sorted(UWIOM_CLASSES)  # every UW-IOM class, once
    members = [m for ms in synthetic.values() for m in ms]
    assert set(members) <= set(ACTIVITIES) and len(members) == len(set(members))
    assert set(ACTIVITIES) - set(members) == {"carry", "kneel", "push_pull"}  # no coarse class: unlabelled


def test_estimated_arms_and_gait_look_like_real_estimates():
    lay = get_layout("uwiom15")
    clean = _stand_only(EstimateConfig())
    est = EstimateConfig(shoulder_scale=(0.8, 0.8), arm_scale=(0.8, 0.8), abduction_bias_deg=(15.0, 15.0),
                         arm_back_deg=(10.0, 10.0), knee_bias_deg=(20.0, 20.0), knee_bias_hip=(0.0, 0.0))
    shaped = _stand_only(est)

    def length(seq, a, b):
        return np.median(np.linalg.norm(seq.joints[:, lay.index(a)] - seq.joints[:, lay.index(b)], axis=-1))

    assert length(shaped, "left_shoulder", "right_shoulder") == pytest.approx(
        0.8 * length(clean, "left_shoulder", "right_shoulder"), rel=0.05)
    assert length(shaped, "left_elbow", "left_wrist") == pytest.approx(
        0.8 * length(clean, "left_elbow", "left_wrist"), rel=0.05)
    a, b = joint_angles(clean.joints, lay, clean.up), joint_angles(shaped.joints, lay, shaped.up)
    assert np.median(b["left_upper_arm_abduction_deg"] - a["left_upper_arm_abduction_deg"]) > 8.0
    # knees bent with the thighs kept: the ankles end up behind the hips
    hip, ankle = lay.index("left_hip"), lay.index("left_ankle")
    back = np.median(np.linalg.norm((shaped.joints[:, ankle] - shaped.joints[:, hip])[:, :2], axis=-1))
    assert back > np.median(np.linalg.norm((clean.joints[:, ankle] - clean.joints[:, hip])[:, :2], axis=-1)) + 0.05
    with pytest.raises(InputError):
        EstimateConfig(knee_bias_hip=(0.0, 1.5))
    with pytest.raises(InputError):
        EstimateConfig(arm_scale=(0.0, 1.0))


def test_gait_scale_arm_swing_and_pauses():
    lay = get_layout("uwiom15")

    def swing(cfg):
        seqs = generate(6.0, 5, replace(cfg, recording_minutes=(3.0, 3.0)))
        walk = np.concatenate([s.activity == ACTIVITIES.index("walk") for s in seqs])
        ankles = np.concatenate([s.joints[:, lay.index("left_ankle")] - s.joints[:, lay.index("right_ankle")]
                                 for s in seqs])
        wrists = np.concatenate([s.joints[:, lay.index("left_wrist")] - s.joints[:, lay.index("right_wrist")]
                                 for s in seqs])
        stand = sum(len(true_runs(s.activity == ACTIVITIES.index("stand"))) for s in seqs)  # stands, not frames
        return (np.percentile(np.linalg.norm(ankles[walk, :2], axis=-1), 90),
                np.percentile(np.linalg.norm(wrists[walk, :2], axis=-1), 90), stand)

    full = swing(ONE)
    short = swing(replace(ONE, gait_scale=(0.4, 0.4), arm_swing_deg=(0.0, 0.0), pause_weight=20.0,
                          stand_s=(0.5, 1.0)))
    assert short[0] < 0.8 * full[0] and short[1] < full[1]
    assert short[2] > full[2]
    for bad in ({"gait_scale": (0.5, 3.0)}, {"arm_swing_deg": (0.0, 60.0)}, {"pause_weight": -1.0}):
        with pytest.raises(InputError):
            SynthConfig(**bad)


def test_walk_speed_sets_the_cadence():
    lay = get_layout("uwiom15")
    hips = [lay.index("left_hip"), lay.index("right_hip")]

    def walks(cfg):
        """Median pelvis speed while moving, and frames per gait cycle (the ankles pass each other twice a cycle)."""
        speeds, cycles = [], []
        for seq in generate(6.0, 5, replace(cfg, recording_minutes=(3.0, 3.0))):
            pelvis = seq.joints[:, hips].mean(axis=1)
            step = np.diff(pelvis[:, :2], axis=0)  # z is up
            distance = np.linalg.norm(step, axis=-1)
            speed = distance * seq.fps
            ankles = seq.joints[1:, lay.index("left_ankle"), :2] - seq.joints[1:, lay.index("right_ankle"), :2]
            apart = np.einsum("ti,ti->t", ankles, step / np.maximum(distance, 1e-9)[:, None])  # along the way
            for a, b in true_runs(seq.activity == ACTIVITIES.index("walk")):
                moving = a + np.flatnonzero(speed[a:b - 1] > 0.3)
                crossings = np.flatnonzero(np.diff(np.sign(apart[moving])) != 0)
                if len(crossings) >= 2:
                    speeds.append(np.median(speed[moving]))
                    cycles.append(2.0 * np.mean(np.diff(crossings)))
        assert len(speeds) >= 5
        return np.median(speeds), np.median(cycles)

    usual, slow = walks(ONE), walks(replace(ONE, walk_speed_mps=(0.6, 0.7)))
    assert 0.8 < usual[0] < 1.5 and slow[0] < 0.75 * usual[0]  # top speeds 1.0-1.4 against 0.6-0.7 m/s
    assert slow[1] > 1.15 * usual[1]  # fewer steps a second
    with pytest.raises(InputError):
        SynthConfig(walk_speed_mps=(0.0, 1.0))


def test_leg_sway_moves_both_ankles_together():
    lay = get_layout("uwiom15")

    def together(seq):
        hip = 0.5 * (seq.joints[:, lay.index("left_hip")] + seq.joints[:, lay.index("right_hip")])
        ankles = 0.5 * (seq.joints[:, lay.index("left_ankle")] + seq.joints[:, lay.index("right_ankle")])
        return np.std(np.linalg.norm((ankles - hip)[:, :2], axis=-1))

    calm, swaying = _stand_only(EstimateConfig()), _stand_only(EstimateConfig(leg_sway_deg=8.0, sway_hz=1.0))
    assert together(swaying) > together(calm) + 0.02
    with pytest.raises(InputError):
        EstimateConfig(leg_sway_deg=40.0)
    with pytest.raises(InputError):
        EstimateConfig(sway_hz=0.0)


def test_walks_turn_first_and_stands_turn():
    lay = get_layout("uwiom15")

    def turns(cfg):
        """Median net turn (deg) of the hip line over walk and over stand segments."""
        out = {"walk": [], "stand": []}
        for seq in generate(8.0, 6, replace(cfg, recording_minutes=(4.0, 4.0), pause_weight=6.0)):
            hips = seq.joints[:, lay.index("left_hip")] - seq.joints[:, lay.index("right_hip")]
            yaw = np.degrees(np.unwrap(np.arctan2(hips[:, 1], hips[:, 0])))
            for name in out:
                out[name] += [abs(yaw[b - 1] - yaw[a]) for a, b in true_runs(seq.activity == ACTIVITIES.index(name))
                              if b - a > 3]
        return {name: float(np.median(v)) for name, v in out.items()}

    plain = turns(ONE)
    turned = turns(replace(ONE, turn_first=1.0, stand_turn_deg=(45.0, 90.0)))
    assert turned["walk"] < 0.5 * plain["walk"]
    assert turned["stand"] > plain["stand"] + 30.0
    near_body = replace(ONE, recording_minutes=(4.0, 4.0), handling_weight=20.0, handle_near_body=1.0)
    near = posture_by_class(generate(4.0, 3, near_body), read_toml(GROUPS / "synthetic_coarse.toml"))
    assert near["handle_mid"]["elbow_flexion_deg"]["p90"] > 75  # the item held at the waist, elbows bent
    for bad in ({"turn_first": 1.5}, {"stand_turn_deg": (0.0, 200.0)}, {"handle_near_body": 2.0}):
        with pytest.raises(InputError):
            SynthConfig(**bad)
