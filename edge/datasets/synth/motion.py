"""A recording's motion: the activity chain played through the programs, then gait and micro-motion on top.

Activities follow `GRAMMAR` (`edge/datasets/synth/activities.py`), reweighted by the person's preferences;
activities not yet seen in a recording are favoured so that short recordings still cover the vocabulary.
Walking legs and arm swing are an overlay driven by the distance actually travelled, so steps start and stop
with the motion. A low-pass "micro-motion" keeps held postures alive.
"""

from __future__ import annotations

import numpy as np

from edge.datasets.synth.activities import ACTIVITIES, FIRST_ACTIVITY, GRAMMAR
from edge.datasets.synth.body import SIDES
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.noise import correlated_noise
from edge.datasets.synth.person import Person, Station
from edge.datasets.synth.programs import NONNEGATIVE_ANGLES, PROGRAMS, ProgramContext, turn_to_walk
from edge.datasets.synth.timeline import Timeline


# Activities after which the hands are empty: `SynthConfig.handling_weight` adds handling at mid or shelf height.
_EMPTY_HANDED = ("stand", "walk", "place_low", "place_mid", "place_high", "reach_overhead", "twist", "kneel",
                 "push_pull")


def _grammar_row(current: str, cfg: SynthConfig) -> dict[str, float]:
    """The grammar's weights after `current`, with `cfg.handling_weight` shared by place_mid and place_high
    (`cfg.handling_high` of it) and `cfg.pause_weight` added to stand after an activity that leaves the hands empty
    (never a self-loop)."""
    row = GRAMMAR[current]
    if current not in _EMPTY_HANDED or (cfg.handling_weight <= 0 and cfg.pause_weight <= 0):
        return row
    row = dict(row)
    for name, extra in (("place_mid", (1.0 - cfg.handling_high) * cfg.handling_weight),
                        ("place_high", cfg.handling_high * cfg.handling_weight), ("stand", cfg.pause_weight)):
        if name != current and extra > 0:
            row[name] = row.get(name, 0.0) + extra
    return row


def _next_activity(rng: np.random.Generator, current: str, person: Person, seen: set, cfg: SynthConfig) -> str:
    """The activity after `current`: grammar weight x personal preference x the novelty boost when not yet
    `seen`."""
    row, boost = _grammar_row(current, cfg), cfg.novelty_boost
    names = list(row)
    weights = np.array([row[n] * person.prefs[n] * (boost if n not in seen else 1.0) for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def draw_motion(rng: np.random.Generator, cfg: SynthConfig, person: Person, stations: list[Station],
                n: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
    """Eased keyframe tracks for `n` frames, with frame-wise activity ids, loads (kg) and the segment list."""
    fps = cfg.fps
    timeline = Timeline()
    context = ProgramContext(rng, person, stations, timeline, cfg)
    timeline.add(0.0, {**person.rest, "heading": context.heading, "x": context.pos[0], "y": context.pos[1]})
    end_s = n / fps
    activity, seen, t = FIRST_ACTIVITY, set(), 0.0
    segments = []
    while t < end_s:
        # A walk may be turned toward on the spot first, in a stand of its own (SynthConfig.turn_first).
        turn = activity == "walk" and cfg.turn_first > 0 and rng.random() < cfg.turn_first
        for name, program in ((("stand", turn_to_walk),) if turn else ()) + ((activity, PROGRAMS[activity]),):
            context.start, context.transition_s = t, float(rng.uniform(*cfg.transition_s))
            duration, load, swing = program(context)
            timeline.hold(t + duration)
            segments.append((name, t, t + duration, load, swing))
            t += duration
        seen.add(activity)
        activity = _next_activity(rng, activity, person, seen, cfg)

    tracks = timeline.sample(np.arange(n) / fps)
    labels = np.zeros(n, dtype=np.int64)
    load = np.zeros(n, dtype=np.float32)
    swing = np.zeros(n)
    for name, s, e, kg, arm_swing in segments:
        a, b = int(round(s * fps)), min(int(round(e * fps)), n)
        labels[a:b], load[a:b], swing[a:b] = ACTIVITIES.index(name), kg, arm_swing
    _add_gait(tracks, swing, person, fps)
    _add_micro_motion(rng, tracks, cfg, fps)
    for side in SIDES:
        for name in NONNEGATIVE_ANGLES:
            np.maximum(tracks[f"{side}_{name}"], 0.0, out=tracks[f"{side}_{name}"])
    seg_meta = [{"activity": a, "start_s": round(s, 3), "end_s": round(min(e, end_s), 3), "load_kg": kg}
                for a, s, e, kg, _ in segments]
    return tracks, labels, load, seg_meta


def _add_gait(tracks: dict, arm_swing: np.ndarray, person: Person, fps: float) -> None:
    """Alternating hip/knee cycles and opposite arm swing, in phase with the distance travelled; the amplitude
    follows the speed, so steps fade in and out with the eased motion."""
    if len(tracks["x"]) < 2:
        return
    speed = np.hypot(np.gradient(tracks["x"]), np.gradient(tracks["y"])) * fps
    stride = person.height_m * (0.45 + 0.35 * np.minimum(speed, 1.4) / 1.4)  # one left+right cycle, metres
    phase = 2.0 * np.pi * np.cumsum(speed / stride) / fps
    amp = np.clip(speed / 0.8, 0.0, 1.0) * person.gait_scale
    for side, shift in (("left", 0.0), ("right", np.pi)):
        p = phase + shift
        tracks[f"{side}_hip_flexion"] += 22.0 * amp * np.sin(p)
        # The knee bends most in mid-swing, while the hip swings forward (cos > 0).
        tracks[f"{side}_knee_flexion"] += amp * (5.0 + 55.0 * np.maximum(np.cos(p), 0.0) ** 2)
        # Each arm swings with the opposite leg.
        tracks[f"{side}_upper_arm_flexion"] -= person.arm_swing_deg * amp * arm_swing * np.sin(p)
    tracks["trunk_flexion"] += 2.0 * amp


_MICRO_MOTION_TRACKS = (
    "trunk_flexion", "trunk_side_bend", "trunk_twist", "neck_flexion", "neck_side_bend", "neck_twist",
    "left_upper_arm_flexion", "right_upper_arm_flexion", "left_upper_arm_abduction", "right_upper_arm_abduction",
    "left_elbow_flexion", "right_elbow_flexion", "heading",
)


def _add_micro_motion(rng: np.random.Generator, tracks: dict, cfg: SynthConfig, fps: float) -> None:
    """A slow (0.5 Hz) wander of `cfg.micro_motion_deg` on trunk, neck, arm and heading tracks."""
    if cfg.micro_motion_deg <= 0:
        return
    noise = correlated_noise(rng, (len(tracks["x"]), len(_MICRO_MOTION_TRACKS)), fps, 0.5) * cfg.micro_motion_deg
    for i, name in enumerate(_MICRO_MOTION_TRACKS):
        tracks[name] += noise[:, i]


__all__ = ["draw_motion"]
