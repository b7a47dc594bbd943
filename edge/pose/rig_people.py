"""Several cameras at run time: one id and one body to score per person, whichever cameras see them.

`RigPeople(rig, layout, config)(views)` takes each camera's people of one instant (their per-view track ids from
that camera's own tracker) and returns one `RigPerson` per person in the scene:
- seen by two cameras or more: matched and triangulated (`edge.pose.multiview.triangulate_people`), joints in the
  rig's world frame; a joint no two views agree on is taken from the clearest view's own 3D estimate (BlazePose's
  world landmarks) placed at the triangulated root; views matched by their epipolar geometry whose triangulation
  still disagrees (`max_relative_error`) give one person whose body is the clearest view's own 3D estimate;
- seen by one camera only: that camera's own 3D estimate turned into the world's axes (`Camera.R`), so the rig's
  up vector holds for everyone and nobody stops being scored when they step out of a second camera's view.
Every body is centred on its root (the hips' midpoint): a person moving between one and two cameras would otherwise
jump by their distance from the camera, which the scoring's velocities would read as motion. Where the root is in
the world goes separately (`RigPerson.root`): triangulated, or placed by the one camera (`edge.pose.placement`),
for an activity model that reads the pelvis's path. One camera places a body 1-7 % off in depth (its 3D estimate's
size), so a root would jump 7-23 cm where a person leaves a camera's view; each instant a person is triangulated,
the gap between that and where each of its cameras alone would place them is kept, and a root one camera places
is moved by its camera's last gap, fading to nothing over `root_gap_fade_s`. Angles, REBA/RULA and the L5/S1 model
depend only on joint positions relative to each other.

Ids: a track one camera alone sees is a person once seen `confirm_instants` times in a row (or at once when it
already names one). Each (camera, track id) pair points at a person id. A matched group takes the id most of its
members already point at (the oldest on a tie), or a new one; its members then all point at it, so a view whose tracker
swapped or lost a person is healed by the others. Pairs not seen for `forget_after_s` are dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edge.config import check_number
from edge.pose.cameras import CameraRig
from edge.pose.multiview import TriangulationConfig, triangulate_people
from edge.pose.placement import PlacementConfig, person_translation
from edge.pose.types import Person
from edge.skeletons import get_layout

# A person's left-to-right axis is remembered this long (s) to tell a mirrored reading from a turn.
MIRROR_MEMORY_S = 0.5


@dataclass(frozen=True)
class RigPeopleConfig:
    triangulation: TriangulationConfig = field(default_factory=TriangulationConfig)
    forget_after_s: float = 2.0  # a camera's track not seen this long no longer names a person
    # A track one camera alone sees becomes a person after this many instants in a row (0: at once): a person
    # entering two views is often matched a frame or two after one camera first finds them, and must not count as
    # two people meanwhile.
    confirm_instants: int = 3
    # Views that triangulate a person with a median reprojection error above this share of the person's height in
    # pixels do not agree (a half-seen or mirrored reading; with two views neither can be dropped): the person is
    # then scored from their clearest single view. Measured on the pose2sim clip's cam01 + cam02: 0.3-0.5 % where
    # the views agree with the other two cameras, 2-3 % where the 2-view body's trunk was 30-50 deg off.
    max_relative_error: float = 0.015
    # A root one camera places is moved by the gap between that camera's placement and the triangulation at the
    # person's last triangulated instant, weighed down linearly to nothing over this many seconds (0: not moved).
    # On the pose2sim clip (97 frames), per camera, one camera alone places the mid-hip a median 6.5-22.8 cm from
    # the 4-view triangulation, and 1.5-2.7 cm once moved by the previous frame's gap
    # (benchmarks/multiview_pose2sim.py, `one_camera_roots`).
    root_gap_fade_s: float = 10.0

    def __post_init__(self) -> None:
        check_number(self.max_relative_error, "max_relative_error", positive=True, maximum=1.0)
        check_number(self.forget_after_s, "forget_after_s", positive=True, maximum=600)
        check_number(self.confirm_instants, "confirm_instants", integer=True, minimum=0, maximum=1000)
        check_number(self.root_gap_fade_s, "root_gap_fade_s", minimum=0, maximum=3600)


@dataclass(frozen=True, eq=False)
class RigPerson:
    """One person at one instant. joints (J, 3) metres in the rig's world axes, centred on the hips' midpoint (NaN
    where unknown); views: camera name -> index of the person in that camera's list; triangulated: seen by two or
    more cameras that agreed; root (3,): where the hips' midpoint is in the world (triangulated, else placed by
    the clearest camera alone; NaN when neither could)."""

    person_id: int
    joints: np.ndarray
    views: dict[str, int]
    triangulated: bool
    root: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))


class RigPeople:
    """Person ids and bodies across the cameras of `rig` (see the module docstring); one call per instant."""

    def __init__(self, rig: CameraRig, layout: str, config: RigPeopleConfig = RigPeopleConfig()):
        self.rig, self.config = rig, config
        lay = get_layout(layout)
        self._hips = [lay.index("left_hip"), lay.index("right_hip")]
        self._mirror = np.arange(len(lay.joints))
        for a, b in lay.mirror_pairs:
            self._mirror[a], self._mirror[b] = b, a
        self._facing: dict[int, tuple[float, np.ndarray]] = {}  # person id -> (time, unit left-to-right hip axis)
        self._ids: dict[tuple[str, int], int] = {}  # (camera, track id) -> person id
        self._seen: dict[tuple[str, int], float] = {}
        self._born: dict[int, int] = {}  # person id -> order of creation (older wins a tie)
        self._pending: dict[tuple[str, int], int] = {}  # unconfirmed one-camera track -> instants seen in a row
        # (person id, camera) -> the person's last triangulated instant with that camera: (time, triangulated
        # root, the camera, its view of the person), and the gap to where that view alone places them, once asked
        self._triangulated: dict[tuple[int, str], tuple] = {}
        self._root_gaps: dict[tuple[int, str], tuple[float, np.ndarray]] = {}
        self._next = 0

    def __call__(self, views: dict[str, list[Person]], time_s: float, rig: CameraRig | None = None) \
            -> list[RigPerson]:
        """`views`: camera name -> the people its estimator found at `time_s`. `rig`: this instant's cameras when
        they differ from the constructor's (frames of another size: `CameraRig.resized`)."""
        rig = rig or self.rig
        out, claimed, taken = [], set(), set()
        for group in triangulate_people(rig, views, self.config.triangulation):
            members = [(name, group.track_ids[name]) for name in group.views]
            pid = self._pick(members, taken)
            taken.add(pid)
            claimed.update((name, group.views[name]) for name in group.views)
            agree = self._agree(group, views)
            if agree:
                joints = self._fill(group.joints, rig, views, group.views)
                root = joints[self._hips].mean(axis=0)
                if np.isfinite(root).all():
                    for name, index in group.views.items():
                        self._triangulated[(pid, name)] = (time_s, root, rig.camera(name), views[name][index])
            else:  # matched, so one person, but their 3D is the clearest view's own
                name = max(group.views, key=lambda n: float(np.mean(views[n][group.views[n]].scores)))
                joints = self._own_3d(views[name][group.views[name]], rig.camera(name))
                root = self._one_camera_root(pid, name, views[name][group.views[name]], rig, time_s)
            out.append(RigPerson(pid, self._centred(self._steady(pid, joints, time_s)), dict(group.views), agree,
                                 root))
            self._point(members, pid, time_s)
        singles = [(name, index, person) for name, people in views.items() for index, person in enumerate(people)
                   if (name, index) not in claimed and person.world is not None]
        out += self._one_camera_people(singles, rig, taken, time_s)
        self._forget(time_s)
        return out

    def _own_3d(self, person: Person, camera) -> np.ndarray:
        """The camera's own 3D estimate of `person` in the world's axes (R^T x), unsure joints unknown."""
        world = np.asarray(person.world, dtype=np.float64) @ camera.R
        world[person.scores < self.config.triangulation.min_score] = np.nan
        return world

    def _placed_root(self, person: Person, camera) -> np.ndarray:
        """The hips' midpoint in the world as one calibrated camera places `person` (camera frame -> world)."""
        found = person_translation(person, camera, PlacementConfig(min_score=self.config.triangulation.min_score))
        return (found - camera.t) @ camera.R

    def _one_camera_root(self, pid: int, name: str, person: Person, rig: CameraRig, time_s: float) -> np.ndarray:
        """Where camera `name` alone places `person`, moved by that camera's gap to the triangulation at the
        person's last triangulated instant (`RigPeopleConfig.root_gap_fade_s`). The gap is worked out here, once
        per such instant, not at every triangulated instant."""
        root = self._placed_root(person, rig.camera(name))
        key, fade = (pid, name), self.config.root_gap_fade_s
        last = self._triangulated.get(key)
        weight = 0.0 if last is None or fade == 0 else min(1.0, 1.0 - (time_s - last[0]) / fade)
        if weight <= 0:
            return root
        gap = self._root_gaps.get(key)
        if gap is None or gap[0] != last[0]:
            then, tri_root, camera, seen = last
            gap = self._root_gaps[key] = (then, tri_root - self._placed_root(seen, camera))
        return root + weight * gap[1] if np.isfinite(gap[1]).all() else root

    def _agree(self, group, views: dict[str, list[Person]]) -> bool:
        tri = group.triangulation
        errors = tri.errors[tri.used]
        heights = [float(views[n][i].box[3] - views[n][i].box[1]) for n, i in group.views.items()]
        if errors.size == 0 or min(heights) <= 0:
            return False
        return float(np.median(errors)) <= self.config.max_relative_error * float(np.median(heights))

    def _one_camera_people(self, singles, rig: CameraRig, taken: set[int], time_s: float) -> list[RigPerson]:
        """People no two cameras agreed on, from their own camera's 3D estimate. The clearest view first: when
        two views of one person fail to match (a blurred or half-seen frame), both tracks name the same person,
        who is scored once, from the better view."""
        out, pending = [], {}
        for name, index, person in sorted(singles, key=lambda s: -float(np.mean(s[2].scores))):
            member = (name, person.track_id)
            if member in self._ids and self._ids[member] in taken:
                self._seen[member] = time_s
                continue
            if member not in self._ids:
                pending[member] = self._pending.get(member, 0) + 1
                if pending[member] < self.config.confirm_instants:
                    continue
            pid = self._pick([member], taken)
            taken.add(pid)
            world = self._own_3d(person, rig.camera(name))
            out.append(RigPerson(pid, self._centred(self._steady(pid, world, time_s)), {name: index}, False,
                                 self._one_camera_root(pid, name, person, rig, time_s)))
            self._point([member], pid, time_s)
        self._pending = pending
        return out

    def _pick(self, members: list[tuple[str, int]], taken: set[int]) -> int:
        votes = Counter(self._ids[m] for m in members if m in self._ids and self._ids[m] not in taken)
        if votes:
            best = max(votes.values())
            return min((pid for pid, n in votes.items() if n == best), key=self._born.__getitem__)
        pid, self._next = self._next, self._next + 1
        self._born[pid] = pid
        return pid

    def _point(self, members: list[tuple[str, int]], pid: int, time_s: float) -> None:
        for member in members:
            self._ids[member] = pid
            self._seen[member] = time_s

    def _forget(self, time_s: float) -> None:
        for member in [m for m, t in self._seen.items() if time_s - t > self.config.forget_after_s]:
            del self._seen[member]
            del self._ids[member]
        alive = set(self._ids.values())
        for pid in [p for p in self._born if p not in alive]:
            del self._born[pid]
            self._facing.pop(pid, None)
        fade = self.config.root_gap_fade_s
        for key in [k for k, last in self._triangulated.items() if k[0] not in alive or time_s - last[0] >= fade]:
            del self._triangulated[key]
            self._root_gaps.pop(key, None)

    def _fill(self, joints: np.ndarray, rig: CameraRig, views: dict[str, list[Person]], members: dict[str, int]) \
            -> np.ndarray:
        """Joints no two views agreed on, from the clearest member view's own 3D estimate, placed so that its
        hips meet the triangulated hips (left NaN when the hips themselves are unknown)."""
        joints = np.array(joints, dtype=np.float64)
        missing = ~np.isfinite(joints).all(axis=1)
        root = joints[self._hips].mean(axis=0)
        if not missing.any() or not np.isfinite(root).all():
            return joints
        name = max(members, key=lambda n: float(np.nansum(views[n][members[n]].scores[missing])))
        person = views[name][members[name]]
        if person.world is None:
            return joints
        world = np.asarray(person.world, dtype=np.float64) @ rig.camera(name).R
        world += root - world[self._hips].mean(axis=0)
        joints[missing] = world[missing]
        return joints

    def _steady(self, pid: int, joints: np.ndarray, time_s: float) -> np.ndarray:
        """`joints` with left and right exchanged when the hips' left-to-right axis turned by more than 90 deg
        since this person's last instant (within `MIRROR_MEMORY_S`): nobody turns that fast, but two views that
        both read a person mirrored (or one camera alone) triangulate a mirrored body, whose trunk flexion would
        read as extension."""
        axis = joints[self._hips[1]] - joints[self._hips[0]]
        norm = float(np.linalg.norm(axis))
        if not np.isfinite(norm) or norm < 1e-6:
            return joints
        axis = axis / norm
        last = self._facing.get(pid)
        if last is not None and time_s - last[0] <= MIRROR_MEMORY_S and float(axis @ last[1]) < 0.0:
            joints, axis = joints[self._mirror], -axis
        self._facing[pid] = (time_s, axis)
        return joints

    def _centred(self, joints: np.ndarray) -> np.ndarray:
        root = joints[self._hips].mean(axis=0)
        if not np.isfinite(root).all():
            return np.full_like(joints, np.nan)
        return joints - root


__all__ = ["RigPeople", "RigPeopleConfig", "RigPerson"]
