"""What `ergoedge run` sees at each instant: one camera (`SingleView`), or the synchronised cameras of a calibrated
rig (`RigView`); `open_view(config)` picks the one the config asks for.

Both give the session an `Observation` per frame (or per set of frames): the picture the outputs show, the people
drawn on it under their run-wide ids, and each person's joints and up vector to score. When the activity model
reads the pelvis's path (`enable_placement`), one camera also places each person in its space
(`edge.pose.placement`), and a rig gives where each body's root is (triangulated, or placed by one camera).

With a rig, each camera has its own estimator (tracking within its view; the views run side by side in threads, as
the inference runtimes release the GIL), `edge.pose.rig_people.RigPeople` turns their people into one id and one
body per person (triangulated where two cameras agree), and the picture is the views side by side with every person
drawn in each view that sees them.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from edge.errors import InputError
from edge.pose.types import Person, PersonMask

log = logging.getLogger(__name__)

MOSAIC_MAX_WIDTH = 1920  # the views side by side are scaled down to this width (what an encoder takes in real time)


@dataclass(frozen=True, eq=False)
class Observation:
    """One instant. t: stream time (s); image: what the outputs show; people: as drawn on `image`, track_id = the
    person's id in the run (a person seen by two cameras is drawn twice); bodies: person id -> (joints (J, 3)
    metres, up vector) to score; unique: one `Person` per id, whose `world` (where given) is the scored body,
    for the exposure's thumbnails and lifts; up: the up vector that goes with `unique`; placements: person id ->
    the offset (3,) that places the body's joints in the camera's space (NaN where it could not be found; an id
    not there: the joints are where they are)."""

    t: float
    image: np.ndarray
    people: list[Person]
    bodies: dict[int, tuple[np.ndarray, np.ndarray]]
    unique: list[Person]
    up: np.ndarray
    placements: dict[int, np.ndarray] = field(default_factory=dict)


def open_view(config):
    """`RigView` when the config names a rig's sources (`[rig]`), else `SingleView`."""
    return RigView(config) if config.rig.sources else SingleView(config)


class SingleView:
    """One camera: its source, its estimator, and its scene calibration's up vector (`edge.pose.scene`)."""

    def __init__(self, config):
        from edge.pose.estimator import open_estimator
        from edge.pose.scene import load_calibration
        from runtime.config import pose_spec
        from runtime.video.uri import parse_source

        if not config.source.uri:
            raise InputError("no source: pass --source (test://, a video file, rtsp://..., v4l2:///dev/video0, "
                             "csi://0), or name a rig's cameras in [rig]")
        src = config.source
        self.spec = parse_source(src.uri, width=src.width, height=src.height, fps=src.fps)
        self.specs = {"": self.spec}
        self.camera = config.camera or self.spec.camera_name()
        self.scene = load_calibration(self.camera, config.scene_dir)
        self.estimator = open_estimator(pose_spec(config))
        self.layout = self.estimator.layout
        self.keypoints_3d = self.estimator.keypoints_3d
        self.placement = None  # an edge.pose.placement.FramePlacement once `enable_placement` asks for it

    def enable_placement(self, config) -> None:
        """Place every person in the camera's space from now on (`edge.pose.placement.PlacementConfig`): a pinhole
        camera of `config.fov_deg` (a pose model without 3D keypoints gives nothing to place)."""
        from edge.pose.placement import FramePlacement

        self.placement = FramePlacement(config) if self.keypoints_3d else None

    def open_source(self, config):
        from runtime.video.source import GstSource, ReconnectPolicy

        src = config.source
        return GstSource(self.spec, stall_timeout_s=src.stall_timeout_s, reconnect=ReconnectPolicy(
            initial_s=src.reconnect_initial_s, max_s=src.reconnect_max_s))

    def observe(self, frame) -> Observation:
        from edge.pose.lifting import scoring_joints

        people = self.estimator(frame.image, frame.pts_s)
        bodies = {p.track_id: scoring_joints(p, self.scene.up) for p in people}
        return Observation(frame.pts_s, frame.image, people, bodies, people, np.asarray(self.scene.up),
                           self._place(people, frame.image.shape))

    def _place(self, people: list[Person], shape: tuple) -> dict[int, np.ndarray]:
        if self.placement is None:
            return {}
        return {p.track_id: self.placement(p, shape) for p in people}

    def describe(self) -> dict:
        return {"source": self.spec.label(), "scene": asdict(self.scene)}

    def close(self) -> None:
        pass


class RigView:
    """The cameras of one calibrated rig (`[rig]`: calibration file and camera name -> source)."""

    def __init__(self, config):
        from edge.pose.cameras import read_rig
        from edge.pose.estimator import open_estimator
        from edge.pose.rig_people import RigPeople, RigPeopleConfig
        from runtime.config import pose_spec
        from runtime.video.uri import parse_source

        rig_config, src = config.rig, config.source
        self.rig = read_rig(rig_config.calibration)
        unknown = sorted(set(rig_config.sources) - set(self.rig.names))
        if unknown:
            raise InputError(f"rig.sources names {', '.join(unknown)}, which {rig_config.calibration} does not "
                             f"calibrate (it has {', '.join(self.rig.names)})")
        self.names = tuple(n for n in self.rig.names if n in rig_config.sources)
        self.specs = {n: parse_source(rig_config.sources[n], width=src.width, height=src.height, fps=src.fps)
                      for n in self.names}
        self.camera = config.camera or rig_config.name()
        self.estimators = {n: open_estimator(pose_spec(config)) for n in self.names}
        first = self.estimators[self.names[0]]
        self.layout, self.keypoints_3d = first.layout, first.keypoints_3d
        if not self.keypoints_3d:
            raise InputError("several cameras need a pose model with 3D keypoints (the default BlazePose): "
                             f"{config.pose.model} gives 2D only")
        self.people = RigPeople(self.rig, self.layout, RigPeopleConfig(forget_after_s=config.pose.forget_after_s))
        self._pool = ThreadPoolExecutor(max_workers=len(self.names), thread_name_prefix="pose")
        self._rigs: dict = {}  # frame sizes -> the rig resized to them
        self._tiles: dict[str, tuple[int, int, float]] | None = None  # camera -> x offset, width, scale
        self._mosaic_size: tuple[int, int] | None = None
        self.scene = {"up": self.rig.up.tolist(), "cameras": list(self.names), "calibration": rig_config.calibration}
        self.counts = {"instants": 0, "people_triangulated": 0, "people_one_camera": 0}
        self.placing = False  # `enable_placement`

    def enable_placement(self, config) -> None:
        """Give each body's root (`RigPerson.root`: triangulated, or placed by one camera) from now on; the rig's
        calibration gives the cameras, so `config.fov_deg` is not needed."""
        self.placing = True

    def open_source(self, config):
        from runtime.video.multi_source import SyncedSources
        from runtime.video.source import ReconnectPolicy

        src, rig = config.source, config.rig
        return SyncedSources(self.specs, tolerance_s=rig.sync_tolerance_s or None,
                             stall_timeout_s=src.stall_timeout_s, missing_after_s=rig.missing_after_s,
                             reconnect=ReconnectPolicy(initial_s=src.reconnect_initial_s, max_s=src.reconnect_max_s))

    def observe(self, frames) -> Observation:
        """One synchronised set of frames (`runtime.video.multi_source.FrameSet`) -> the instant's observation."""
        images = {n: f.image for n, f in frames.frames.items() if n in self.specs}
        futures = {n: self._pool.submit(self.estimators[n], image, frames.t) for n, image in images.items()}
        views = {n: futures[n].result() for n in images}
        sizes = tuple(sorted((n, (im.shape[1], im.shape[0])) for n, im in images.items()))
        rig = self._rigs.get(sizes)
        if rig is None:
            rig = self._rigs[sizes] = self.rig.resized(dict(sizes))
        people = self.people(views, frames.t, rig)
        self.counts["instants"] += 1
        for p in people:
            self.counts["people_triangulated" if p.triangulated else "people_one_camera"] += 1
        up = self.rig.up
        bodies = {p.person_id: (p.joints, up) for p in people}
        image, drawn, unique = self._compose(images, views, people)
        placements = {p.person_id: p.root for p in people} if self.placing else {}
        return Observation(frames.t, image, drawn, bodies, unique, up, placements)

    def _compose(self, images: dict[str, np.ndarray], views: dict[str, list[Person]], people) \
            -> tuple[np.ndarray, list[Person], list[Person]]:
        """The views side by side (a camera without a frame: a dark tile) and every person drawn in each view."""
        import cv2

        if self._tiles is None:
            self._layout_tiles(images)
        width, height = self._mosaic_size
        mosaic = np.zeros((height, width, 3), np.uint8)
        for name, (x0, w, s) in self._tiles.items():
            image = images.get(name)
            if image is None:
                cv2.putText(mosaic, f"{name}: no frame", (x0 + 10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                            (200, 200, 200), 2, cv2.LINE_AA)
                continue
            if image.shape[:2] != (height, w):
                image = cv2.resize(image, (w, height), interpolation=cv2.INTER_AREA)
            mosaic[:, x0:x0 + w] = image
        drawn, unique = [], []
        for person in people:
            first = True
            for name, index in person.views.items():
                x0, w, _s = self._tiles[name]
                frame = images[name]
                sx, sy = w / frame.shape[1], height / frame.shape[0]
                placed = _placed(views[name][index], sx, sy, x0, person.person_id, person.joints, (width, height))
                drawn.append(placed)
                if first:
                    unique.append(placed)
                    first = False
        return mosaic, drawn, unique

    def _layout_tiles(self, images: dict[str, np.ndarray]) -> None:
        """Tile sizes, fixed at the first set (outputs keep one frame size): every view at one height, the lowest
        camera's, and the whole at most MOSAIC_MAX_WIDTH wide. A camera missing from the first set gets its
        calibrated aspect ratio."""
        shapes = {n: images[n].shape[:2] if n in images else self.rig.camera(n).size[::-1] for n in self.names}
        height = min(h for h, _w in shapes.values())
        widths = {n: w * height / h for n, (h, w) in shapes.items()}
        scale = min(1.0, MOSAIC_MAX_WIDTH / sum(widths.values()))
        height = max(2, round(height * scale) // 2 * 2)  # even sizes for the encoders
        tiles, x0 = {}, 0
        for name in self.names:
            w = max(2, round(widths[name] * scale) // 2 * 2)
            tiles[name] = (x0, w, w / shapes[name][1])
            x0 += w
        self._tiles, self._mosaic_size = tiles, (x0, height)

    def describe(self) -> dict:
        return {"source": ", ".join(f"{n}={s.label()}" for n, s in self.specs.items()), "scene": self.scene,
                "rig": dict(self.counts)}

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _placed(person: Person, sx: float, sy: float, x0: int, person_id: int, body: np.ndarray,
            size: tuple[int, int]) -> Person:
    """`person` as drawn in its tile of the mosaic: pixels scaled and shifted, the run's id, the scored body."""
    scale = np.array([sx, sy], np.float32)
    shift = np.array([x0, 0], np.float32)
    box = person.box.reshape(2, 2) * scale + shift
    return replace(person, keypoints=person.keypoints * scale + shift, box=box.reshape(4), track_id=person_id,
                   world=body.astype(np.float32), mask=_placed_mask(person.mask, sx, sy, x0, size))


def _placed_mask(mask: PersonMask | None, sx: float, sy: float, x0: int, size: tuple[int, int]) -> PersonMask | None:
    if mask is None:
        return None
    import cv2

    prob = mask.probability
    if (sx, sy) != (1.0, 1.0):
        w, h = max(1, round(prob.shape[1] * sx)), max(1, round(prob.shape[0] * sy))
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    x, y = min(round(mask.x * sx) + x0, size[0] - 1), min(round(mask.y * sy), size[1] - 1)
    return PersonMask(x, y, prob[: size[1] - y, : size[0] - x])


__all__ = ["MOSAIC_MAX_WIDTH", "Observation", "RigView", "SingleView", "open_view"]
