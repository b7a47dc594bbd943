"""Activity programs: each activity of `edge/datasets/synth/activities.py` as a parametric keyframe program.

A program adds posture keys to the timeline, relative to the start of its segment, and returns (duration s,
load kg, arm swing while moving). Its numbers are drawn afresh at every occurrence. Every segment starts with a
transition from the previous posture (`ProgramContext.transition_s`) and ends holding its last key. Walking legs
and arm swing are not keyed here: `edge/datasets/synth/motion.py` adds them from the distance actually travelled.
"""

from __future__ import annotations

import math

import numpy as np

from edge.datasets.synth.activities import HEAVY_KG
from edge.datasets.synth.body import KNEE_RADIUS, SIDES, standing_geometry
from edge.datasets.synth.config import SynthConfig
from edge.datasets.synth.person import Person, Station
from edge.datasets.synth.timeline import Timeline

# Angles that never bend backwards; motion clamps them again after adding gait and micro-motion.
NONNEGATIVE_ANGLES = ("elbow_flexion", "wrist_flexion", "knee_flexion")


class ProgramContext:
    """What an activity program sees: random draws, the person, where they are, and keys relative to the segment."""

    def __init__(self, rng: np.random.Generator, person: Person, stations: list[Station], timeline: Timeline,
                 cfg: SynthConfig):
        self.rng, self.person, self.stations, self.timeline, self.cfg = rng, person, stations, timeline, cfg
        self.start = 0.0
        self.transition_s = 0.5
        self.station = 0
        self.pos = stations[0].pos.copy()
        self.heading = stations[0].heading
        self.item: float | None = None
        self.awkward_done = False
        self.dest: int | None = None  # the next walk's station, when a stand before it already turned toward it

    def uniform(self, lo: float, hi: float) -> float:
        """A number drawn uniformly from [lo, hi)."""
        return float(self.rng.uniform(lo, hi))

    def sign(self) -> float:
        """+1 or -1 with equal chance (which side a twist or bend goes)."""
        return 1.0 if self.rng.random() < 0.5 else -1.0

    def pose(self, t: float, **angles) -> None:
        """A full posture key: fields not given take the person's resting value."""
        self.timeline.add(self.start + t, {**self.person.rest, **angles})

    def set(self, t: float, **values) -> None:
        """Keys for the given tracks only (heading, floor position), the others keep easing."""
        self.timeline.add(self.start + t, values)

    def pick_item(self) -> float:
        """One of the item masses handled at this work cell, kg."""
        return float(self.rng.choice(self.person.items))

    def rest(self, name: str) -> float:
        """The person's resting value of a Posture field."""
        return self.person.rest[name]


# ---------------------------------------------------------------------------------------------------------------
# Postures and moves the programs share

def _arms(c: ProgramContext, ua=None, el=None, wr=None, abd=None, lift=None, spread: float = 4.0) -> dict:
    """Both arms at roughly the same angles (each side off by up to `spread` degrees): upper arm flexion `ua`,
    elbow flexion `el`, wrist flexion `wr`, upper arm abduction `abd` in degrees, shoulder raise `lift` in metres;
    None leaves that angle to the resting posture."""
    out = {}
    for side in SIDES:
        for name, value in (("upper_arm_flexion", ua), ("elbow_flexion", el), ("wrist_flexion", wr),
                            ("upper_arm_abduction", abd)):
            if value is not None:
                v = value + c.uniform(-spread, spread)
                out[f"{side}_{name}"] = max(v, 0.0) if name in NONNEGATIVE_ANGLES else v
        if lift is not None:
            out[f"{side}_shoulder_raise_m"] = lift
    return out


def _jiggle(c: ProgramContext, pose: dict, amount: float) -> dict:
    """The same posture with every angle moved by up to `amount` degrees (work movements while holding)."""
    return {k: (v if k.endswith("_m") else v + c.uniform(-amount, amount)) for k, v in pose.items()}


def _holding(c: ProgramContext, item: float) -> dict:
    """An item held in both hands at the waist; heavy items make people lean back a little."""
    lean = -c.uniform(0.0, 6.0) * min(item, 20.0) / 20.0
    return dict(trunk_flexion=c.rest("trunk_flexion") + c.uniform(0.0, 6.0) + lean,
                neck_flexion=c.uniform(5.0, 20.0),
                **_arms(c, ua=c.uniform(10.0, 30.0), el=c.uniform(80.0, 100.0), wr=c.uniform(0.0, 15.0),
                        abd=c.uniform(3.0, 12.0)))


def _legs(knee_left: float, knee_right: float, hip_left: float, hip_right: float) -> dict:
    return dict(left_knee_flexion=knee_left, right_knee_flexion=knee_right, left_hip_flexion=hip_left,
                right_hip_flexion=hip_right)


def _stoop_down(c: ProgramContext, twist_prob: float) -> dict:
    """Bent at the waist, knees nearly straight, hands near the floor (arm elevation follows the trunk angle,
    since it is measured from the trunk)."""
    trunk = c.uniform(*c.cfg.stoop_trunk_deg)
    knee = c.uniform(0.0, 30.0)
    twist = c.sign() * c.uniform(15.0, 45.0) if c.rng.random() < twist_prob else c.uniform(-8.0, 8.0)
    return dict(trunk_flexion=trunk, trunk_twist=twist, trunk_side_bend=c.uniform(-10.0, 10.0),
                neck_flexion=c.uniform(-15.0, 25.0), neck_twist=0.4 * twist,
                **_legs(knee + c.uniform(-3, 3), knee + c.uniform(-3, 3), knee * c.uniform(0.3, 0.7),
                        knee * c.uniform(0.3, 0.7)),
                **_arms(c, ua=float(np.clip(trunk + c.uniform(-15.0, 10.0), 40.0, 110.0)), el=c.uniform(5.0, 25.0),
                        wr=c.uniform(0.0, 25.0), abd=c.uniform(0.0, 15.0)))


def _squat_down(c: ProgramContext, twist_prob: float) -> dict:
    """Knees deep, shins leaning forward (hip = knee - 20..40 deg), trunk moderately forward."""
    trunk = c.uniform(*c.cfg.squat_trunk_deg)
    knee = c.uniform(90.0, 120.0)
    twist = c.sign() * c.uniform(15.0, 35.0) if c.rng.random() < twist_prob else c.uniform(-8.0, 8.0)
    return dict(trunk_flexion=trunk, trunk_twist=twist, trunk_side_bend=c.uniform(-6.0, 6.0),
                neck_flexion=c.uniform(-20.0, 10.0), neck_twist=0.4 * twist,
                **_legs(knee + c.uniform(-4, 4), knee + c.uniform(-4, 4), knee - c.uniform(20, 40),
                        knee - c.uniform(20, 40)),
                **_arms(c, ua=trunk + c.uniform(10.0, 40.0), el=c.uniform(5.0, 30.0), wr=c.uniform(0.0, 25.0),
                        abd=c.uniform(0.0, 15.0)))


def _floor_pose(c: ProgramContext, twist_prob: float) -> dict:
    return _stoop_down(c, twist_prob) if c.rng.random() < c.person.stoop_prob else _squat_down(c, twist_prob)


def _nearest_angle(angle: float, reference: float) -> float:
    """`angle` plus a multiple of 360 closest to `reference` (so that easing turns the short way)."""
    return angle + 360.0 * round((reference - angle) / 360.0)


def _shuffle(c: ProgramContext, start: float, stop: float) -> None:
    """Half the time, a step or two while working: the body moves by `SynthConfig.shuffle_m` in a random direction
    between `start` and `stop` s into the segment (the gait overlay of motion.py makes the steps). Nothing is drawn
    when shuffle_m is (0, 0)."""
    lo, hi = c.cfg.shuffle_m
    if hi <= 0 or stop - start < 0.6 or c.rng.random() < 0.5:
        return
    distance, angle = c.uniform(lo, hi), c.uniform(0.0, 2.0 * math.pi)
    t0 = c.uniform(start, stop - 0.6)
    t1 = min(stop, t0 + c.uniform(0.6, 1.2))
    c.set(t0, x=c.pos[0], y=c.pos[1])
    c.pos = c.pos + distance * np.array([math.cos(angle), math.sin(angle)])
    c.set(t1, x=c.pos[0], y=c.pos[1])


def _draw_station(c: ProgramContext) -> int:
    return int(c.rng.choice([i for i in range(len(c.stations)) if i != c.station]))


def turn_to_walk(c: ProgramContext):
    """A stand that turns toward the next walk's station (`SynthConfig.turn_first`): real workers turn on the
    spot, then walk straight."""
    c.dest = _draw_station(c)
    delta = c.stations[c.dest].pos - c.pos
    facing = _nearest_angle(math.degrees(math.atan2(-delta[0], delta[1])), c.heading)
    duration = max(c.uniform(*c.cfg.stand_s), c.transition_s + 0.6 * abs(facing - c.heading) / 180.0 + 0.2)
    c.pose(c.transition_s, **_arms(c, ua=c.uniform(0.0, 10.0), el=c.uniform(5.0, 20.0), wr=c.uniform(0.0, 10.0)))
    c.set(0.1, heading=c.heading)
    c.set(duration - 0.1, heading=facing)
    c.heading = facing
    return duration, 0.0, 0.0


def _turn(c: ProgramContext, degrees: tuple[float, float], until: float | None = None) -> None:
    """Turn by `degrees` (a range; either way) from the segment's start to `until` s into it (default: a transition
    and a reach's time). Nothing is drawn when the range is (0, 0), so that the default stream stays as it was."""
    if degrees[1] <= 0:
        return
    if until is None:
        until = c.transition_s + c.uniform(0.6, 1.2) * c.person.pace
    turn = c.sign() * c.uniform(*degrees)
    c.set(0.0, heading=c.heading)
    c.set(until, heading=c.heading + turn)
    c.heading += turn


def _travel(c: ProgramContext, speed: float, posture: dict, backward: bool = False) -> float:
    """Turn toward another station, move there (facing away from it when `backward`), turn to its work direction.
    Returns the segment duration. The legs' gait is added later from the actual speed."""
    turned, dest = c.dest is not None, c.dest if c.dest is not None else _draw_station(c)
    c.dest = None
    p0, p1 = c.pos, c.stations[dest].pos
    delta = p1 - p0
    distance = float(np.linalg.norm(delta))
    facing = math.degrees(math.atan2(-delta[0], delta[1])) + (180.0 if backward else 0.0)
    facing = _nearest_angle(facing, c.heading)
    t_turn = c.transition_s + 0.6 * abs(facing - c.heading) / 180.0
    c.pose(c.transition_s, **posture)
    c.set(t_turn, heading=facing)
    t_go = 0.6 * t_turn  # set off while still turning
    t_move = 1.5 * distance / speed  # eased: the peak speed is 1.5 x the mean
    c.set(t_go, x=p0[0], y=p0[1])
    c.set(t_go + t_move, x=p1[0], y=p1[1])
    c.set(max(t_go + t_move - 0.4, t_turn + 0.05), heading=facing)
    # Turned beforehand (turn_to_walk): the walk ends facing its way too, and the work there faces that way.
    arrive = facing if turned else _nearest_angle(c.stations[dest].heading, facing)
    end = t_go + t_move + c.uniform(0.5, 0.9)
    c.set(end, heading=arrive)
    c.pose(end, **posture)
    c.pos, c.heading, c.station = p1.copy(), arrive, dest
    return end


# ---------------------------------------------------------------------------------------------------------------
# Activity programs: each adds its keys and returns (duration s, load kg, arm swing while moving).

def _stand(c: ProgramContext):
    duration = c.uniform(*c.cfg.stand_s)
    if c.rng.random() < 1.0 - c.cfg.stand_hands_front:
        arms = _arms(c, ua=c.uniform(0.0, 10.0), el=c.uniform(5.0, 20.0), wr=c.uniform(0.0, 10.0))
    else:  # hands in front: checking, using a device
        arms = _arms(c, ua=c.uniform(10.0, 25.0), el=c.uniform(60.0, 90.0), wr=c.uniform(0.0, 15.0))
    t = c.transition_s
    c.pose(t, **arms)
    while t + 2.0 < duration:  # small weight shifts and glances
        t += c.uniform(2.0, 5.0)
        c.pose(min(t, duration), trunk_flexion=c.rest("trunk_flexion") + c.uniform(-2.0, 3.0),
               trunk_side_bend=c.uniform(-3.0, 3.0), neck_flexion=c.rest("neck_flexion") + c.uniform(-5.0, 8.0),
               neck_twist=c.uniform(-10.0, 10.0), **arms)
    _shuffle(c, 0.0, duration)
    _turn(c, c.cfg.stand_turn_deg, duration)  # on the spot, to the next task
    return duration, 0.0, 0.0


def _walk(c: ProgramContext):
    posture = dict(trunk_flexion=c.rest("trunk_flexion") + c.uniform(1.0, 5.0), neck_flexion=c.uniform(5.0, 20.0),
                   **_arms(c, ua=c.uniform(0.0, 8.0), el=c.uniform(10.0, 25.0), wr=c.uniform(0.0, 10.0)))
    return _travel(c, c.person.speed * c.uniform(0.9, 1.1), posture), 0.0, 1.0


def _carry(c: ProgramContext):
    item = c.item if c.item is not None else c.pick_item()
    duration = _travel(c, c.person.speed * c.uniform(0.7, 0.9), _holding(c, item))
    c.item = item
    return duration, item, 0.15


def _push_pull(c: ProgramContext):
    push = c.rng.random() < 0.5
    posture = dict(trunk_flexion=c.uniform(10.0, 30.0) if push else c.uniform(-20.0, -5.0),
                   neck_flexion=c.uniform(0.0, 20.0),
                   **_arms(c, ua=c.uniform(60.0, 90.0), el=c.uniform(20.0, 60.0), wr=c.uniform(0.0, 20.0),
                           abd=c.uniform(5.0, 15.0)))
    return _travel(c, c.uniform(0.4, 0.8), posture, backward=not push), 0.0, 0.0


def _lift(c: ProgramContext, item: float, down: dict):
    slow = c.person.pace * (1.0 + item / 40.0)  # heavier items are handled more slowly
    t1 = c.transition_s + c.uniform(0.7, 1.3) * c.person.pace
    c.pose(t1, **down)
    t2 = t1 + c.uniform(*c.cfg.grasp_s)
    c.pose(t2, **_jiggle(c, down, 3.0))
    t3 = t2 + c.uniform(0.9, 1.6) * slow
    c.pose(t3, **_holding(c, item))
    c.item = item
    return t3 + c.uniform(*c.cfg.lift_hold_s), item, 0.0


def _stoop_lift(c: ProgramContext):
    """The first stoop lift of a recording is the awkward heavy one (see HEAVY_KG in
    edge/datasets/synth/activities.py); heavy items are more often lifted twisted."""
    if not c.awkward_done:
        c.awkward_done = True
        # Deep stoop, twisted and bent sideways, head down and turned, knees half bent, arms below the body.
        down = _stoop_down(c, twist_prob=1.0)
        trunk, twist, knee = c.uniform(75.0, 95.0), c.sign() * c.uniform(30.0, 45.0), c.uniform(35.0, 55.0)
        down.update(trunk_flexion=trunk, trunk_twist=twist, trunk_side_bend=c.sign() * c.uniform(10.0, 20.0),
                    neck_flexion=c.uniform(25.0, 35.0), neck_twist=0.7 * twist,
                    **_legs(knee, knee + c.uniform(-5, 5), 0.5 * knee, 0.5 * knee),
                    **_arms(c, ua=trunk + c.uniform(5.0, 15.0), el=c.uniform(5.0, 20.0), wr=c.uniform(16.0, 30.0),
                            abd=c.uniform(22.0, 30.0), spread=2.0))
        return _lift(c, max(c.person.items), down)
    item = c.pick_item()
    return _lift(c, item, _stoop_down(c, twist_prob=0.7 if item > HEAVY_KG else 0.35))


def _squat_lift(c: ProgramContext):
    item = c.pick_item()
    return _lift(c, item, _squat_down(c, twist_prob=0.4 if item > HEAVY_KG else 0.15))


def _place(c: ProgramContext, at: dict, low: bool = False):
    """Move the held item (with empty hands: a part handled there) to `at`, let go, return to the resting
    posture (unless `return_to_rest` is off; placing `low` then still stands up, with `stand_up_after_low`)."""
    item = c.item if c.item is not None else c.pick_item()
    slow = c.person.pace * (1.0 + item / 40.0)
    t1 = c.transition_s + c.uniform(0.6, 1.2) * slow
    c.pose(t1, **at)
    t2 = t1 + c.uniform(*c.cfg.place_s)
    c.pose(t2, **_jiggle(c, at, 3.0))
    _shuffle(c, 0.0, t2)
    rise = low and c.cfg.stand_up_after_low
    if not (c.cfg.return_to_rest or rise):  # the next activity's transition brings the arms back
        c.item = None
        return t2, item, 0.0
    t3 = t2 + c.uniform(0.6, 1.1) * c.person.pace
    c.pose(t3)
    c.item = None
    if not c.cfg.return_to_rest:  # up again, and the next activity starts there
        return t3, item, 0.0
    return t3 + c.uniform(0.2, 0.6), item, 0.0


def _place_low(c: ProgramContext):
    return _place(c, _floor_pose(c, twist_prob=0.2), low=True)


def _place_mid(c: ProgramContext):
    twist = c.sign() * c.uniform(15.0, 35.0) if c.rng.random() < 0.35 else c.uniform(-6.0, 6.0)
    cfg = c.cfg
    at = dict(trunk_flexion=c.uniform(*cfg.handle_trunk_deg), trunk_twist=twist, neck_twist=0.5 * twist,
              neck_flexion=c.uniform(10.0, 30.0),
              **_arms(c, ua=c.uniform(*cfg.handle_arm_deg), el=c.uniform(*cfg.handle_elbow_deg),
                      wr=c.uniform(0.0, 25.0)))
    _turn(c, cfg.work_turn_deg)  # to the bench or shelf
    if cfg.handle_near_body <= 0 or c.rng.random() >= cfg.handle_near_body:
        return _place(c, at)
    near = _holding(c, c.item if c.item is not None else c.pick_item())
    if c.rng.random() < 0.5:  # picking up: out to the shelf, then the item in to the body
        end, load, swing = _place(c, at)
        t = end + c.uniform(0.4, 0.9) * c.person.pace
        c.pose(t, **near)
        t += c.uniform(0.2, 1.0)
        c.pose(t, **_jiggle(c, near, 3.0))
        return t, load, swing
    c.pose(c.transition_s, **near)  # placing: the item held at the body first, then out to the shelf
    c.transition_s += c.uniform(0.2, 1.0)
    return _place(c, at)


def _place_high(c: ProgramContext):
    _turn(c, c.cfg.work_turn_deg)
    return _place(c, dict(trunk_flexion=c.uniform(-12.0, -2.0), neck_flexion=c.uniform(-30.0, -10.0),
                          **_arms(c, ua=c.uniform(*c.cfg.place_high_arm_deg), el=c.uniform(20.0, 60.0),
                                  wr=c.uniform(0.0, 25.0),
                                  abd=c.uniform(0.0, 25.0), lift=c.uniform(0.0, 0.03))))


def _reach_overhead(c: ProgramContext):
    """Work above the head (fastening, adjusting), sometimes one-handed, sometimes holding a part or tool."""
    arms = _arms(c, ua=c.uniform(*c.cfg.overhead_arm_deg), el=c.uniform(5.0, 40.0), wr=c.uniform(0.0, 30.0),
                 abd=c.uniform(0.0, 20.0), lift=c.uniform(0.0, 0.04))
    if c.rng.random() < 0.3:
        other = "left" if c.rng.random() < 0.5 else "right"
        arms.update({f"{other}_upper_arm_flexion": c.uniform(15.0, 40.0),
                     f"{other}_elbow_flexion": c.uniform(60.0, 100.0),
                     f"{other}_upper_arm_abduction": c.uniform(0.0, 10.0), f"{other}_shoulder_raise_m": 0.0})
    body = dict(trunk_flexion=c.uniform(-12.0, 0.0), neck_flexion=c.uniform(-35.0, -10.0),
                trunk_side_bend=c.uniform(-5.0, 5.0))
    t = c.transition_s + c.uniform(0.6, 1.2) * c.person.pace
    c.pose(t, **body, **arms)
    _turn(c, c.cfg.work_turn_deg, t)
    reached = t
    until = t + c.uniform(*c.cfg.reach_hold_s)
    while t < until:
        t += c.uniform(0.6, 1.5)
        c.pose(t, **body, **_jiggle(c, arms, 8.0))
    _shuffle(c, reached, t)
    if c.cfg.return_to_rest:
        t += c.uniform(0.6, 1.2) * c.person.pace
        c.pose(t)
    light = [m for m in c.person.items if m <= 10.0]
    load = float(c.rng.choice(light)) if light and c.rng.random() < 0.4 else 0.0
    return (t + c.uniform(0.2, 0.5) if c.cfg.return_to_rest else t), load, 0.0


def _twist(c: ProgramContext):
    """Sorting between two sides (conveyor to bin): repeated trunk twists of 30-60 deg."""
    base = dict(trunk_flexion=c.uniform(5.0, 20.0), neck_flexion=c.uniform(10.0, 30.0),
                **_arms(c, ua=c.uniform(20.0, 50.0), el=c.uniform(40.0, 80.0), wr=c.uniform(0.0, 20.0)))
    side, amount = c.sign(), c.uniform(30.0, 60.0)
    t = c.transition_s
    c.pose(t, **base)
    for _ in range(int(c.rng.integers(2, 5))):
        turned = dict(base, trunk_twist=side * amount * c.uniform(0.85, 1.05),
                      neck_twist=side * amount * c.uniform(0.3, 0.6))
        t += c.uniform(0.6, 1.2) * c.person.pace
        c.pose(t, **turned)
        t += c.uniform(0.3, 0.8)
        c.pose(t, **_jiggle(c, turned, 3.0))
        t += c.uniform(0.6, 1.2) * c.person.pace
        c.pose(t, **dict(base, trunk_twist=c.uniform(-5.0, 5.0)))
    load = c.person.light_kg if c.rng.random() < 0.6 else 0.0
    return t + c.uniform(0.3, 0.8), load, 0.0


def _kneel(c: ProgramContext):
    """Down on one knee (that thigh vertical, shin back along the floor), the other foot forward; floor work."""
    kneeling, forward = ("left", "right") if c.rng.random() < 0.5 else ("right", "left")
    # Choose the front shin's lean so that the kneeling knee reaches the floor: the hip-to-front-ankle drop must
    # equal the kneeling thigh's drop less the knee's extra clearance (the floor contact rule of `body_landmarks`
    # in edge/datasets/synth/body.py).
    thigh_fr, shank_fr, ankle_fr = standing_geometry()
    p, h = c.person.proportions, c.person.height_m
    thigh, shank = thigh_fr * p["thigh"] * h, shank_fr * p["shank"] * h
    back_hip = c.uniform(-5.0, 5.0)
    drop = thigh * math.cos(math.radians(back_hip)) - (ankle_fr - KNEE_RADIUS) * h
    # A front thigh raised too far leaves the shin too short to reach the floor; keep 2 deg of lean at least.
    highest = math.degrees(math.acos(float(np.clip((drop - shank) / thigh, -1.0, 1.0)))) - 2.0
    front_hip = min(c.uniform(85.0, 100.0), highest)
    lean = math.degrees(math.acos(float(np.clip((drop - thigh * math.cos(math.radians(front_hip))) / shank,
                                                -1.0, 1.0))))
    work = {f"{kneeling}_hip_flexion": back_hip, f"{kneeling}_knee_flexion": c.uniform(90.0, 110.0),
            f"{forward}_hip_flexion": front_hip, f"{forward}_knee_flexion": front_hip + lean,
            "trunk_flexion": c.uniform(10.0, 40.0), "neck_flexion": c.uniform(10.0, 35.0),
            **_arms(c, ua=c.uniform(30.0, 70.0), el=c.uniform(20.0, 70.0), wr=c.uniform(0.0, 25.0))}
    arm_keys = [k for k in work if "arm" in k or "elbow" in k or "wrist" in k]
    t = c.transition_s + c.uniform(1.0, 1.6) * c.person.pace
    c.pose(t, **work)
    until = t + c.uniform(4.0, 15.0)
    while t < until:
        t += c.uniform(0.8, 2.0)
        c.pose(t, **dict(work, **_jiggle(c, {k: work[k] for k in arm_keys}, 10.0)))
    t += c.uniform(1.0, 1.6) * c.person.pace
    c.pose(t)
    return t + c.uniform(0.2, 0.5), 0.0, 0.0


PROGRAMS = {
    "walk": _walk, "stand": _stand, "reach_overhead": _reach_overhead, "stoop_lift": _stoop_lift,
    "squat_lift": _squat_lift, "carry": _carry, "place_low": _place_low, "place_mid": _place_mid,
    "place_high": _place_high, "twist": _twist, "kneel": _kneel, "push_pull": _push_pull,
}


__all__ = ["NONNEGATIVE_ANGLES", "PROGRAMS", "ProgramContext", "turn_to_walk"]
