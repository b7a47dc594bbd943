"""The types shared by pose models, filters, trackers and drawing.

`Person` is what every pose adapter returns, one per detected person, in the coordinates of the ORIGINAL frame;
`PersonMask` its segmentation where the model gives one; `Roi` a rotated square of the frame (BlazePose's crops, the
detector's tiles in `edge.pose.finding`).
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError


@dataclass(frozen=True, eq=False)
class PersonMask:
    """A person's segmentation in frame pixels, kept only over the box it covers (a full-frame mask per person and
    frame would cost more to make and to draw than the box).

    x, y: the top-left pixel of `probability` in the original frame (inside the frame).
    probability: (H, W) uint8, 0..255 = how likely each pixel belongs to the person (the model's sigmoid x 255).
    """

    x: int
    y: int
    probability: np.ndarray

    def __post_init__(self) -> None:
        prob = np.asarray(self.probability)
        if prob.ndim != 2 or prob.dtype != np.uint8:
            raise InputError(f"PersonMask.probability must be a 2D uint8 array, got {prob.dtype} {prob.shape}")
        if int(self.x) < 0 or int(self.y) < 0:
            raise InputError(f"PersonMask origin must lie inside the frame, got ({self.x}, {self.y})")
        object.__setattr__(self, "probability", prob)
        object.__setattr__(self, "x", int(self.x))
        object.__setattr__(self, "y", int(self.y))

    def inside(self, threshold: float = 0.5) -> np.ndarray:
        """(H, W) bool: the pixels whose probability reaches `threshold` (0..1)."""
        return self.probability >= int(round(threshold * 255))


# eq=False: the generated __eq__ would compare numpy arrays element-wise and raise on truth testing; people are
# compared by identity (or explicitly with numpy) instead.
@dataclass(frozen=True, eq=False)
class Person:
    """One person in one frame.

    keypoints: (J, 2) float32 image pixels (x, y) in the original frame; NaN marks a keypoint reported as missing.
    scores: (J,) float32 confidence/visibility in [0, 1] (0 for a missing keypoint).
    layout: skeleton layout name (`edge.skeletons.LAYOUTS`), e.g. "coco17" or "blazepose33".
    box: (4,) float32 x1, y1, x2, y2 in pixels of the original frame.
    score: person/detection confidence.
    world: (J, 3) float32 metres in a model-specific camera-aligned frame, or None for 2D-only models.
    track_id: -1 until a tracker assigns one.
    mask: the person's segmentation (`PersonMask`, box-local) where the model gives one and it was asked for.

    Arrays are converted to float32 and their shapes checked on construction.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    layout: str
    box: np.ndarray
    score: float
    world: np.ndarray | None = None
    track_id: int = -1
    mask: PersonMask | None = None

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 2 or kp.shape[1] != 2:
            raise InputError(f"Person.keypoints must have shape (J, 2), got {kp.shape}")
        joints = kp.shape[0]
        sc = np.asarray(self.scores, dtype=np.float32)
        if sc.shape != (joints,):
            raise InputError(f"Person.scores must have shape ({joints},), got {sc.shape}")
        box = np.asarray(self.box, dtype=np.float32)
        if box.shape != (4,):
            raise InputError(f"Person.box must have shape (4,), got {box.shape}")
        world = self.world
        if world is not None:
            world = np.asarray(world, dtype=np.float32)
            if world.shape != (joints, 3):
                raise InputError(f"Person.world must have shape ({joints}, 3), got {world.shape}")
        # Frozen dataclass: normalised values go in through object.__setattr__, once, at construction.
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "scores", sc)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "world", world)
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "track_id", int(self.track_id))
        if self.mask is not None and not isinstance(self.mask, PersonMask):
            raise InputError(f"Person.mask must be a PersonMask or None, got {type(self.mask).__name__}")

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[0])


@dataclass(frozen=True)
class Roi:
    """A rotated square in frame pixels: centre, side length, rotation (radians, clockwise on screen)."""

    cx: float
    cy: float
    size: float
    rotation: float

    def corners(self) -> np.ndarray:
        """Top-left, top-right, bottom-left corners of the crop in frame pixels (the crop's own axes)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        u = np.array([c, s]) * self.size / 2  # crop x axis in the frame
        v = np.array([-s, c]) * self.size / 2  # crop y axis (down)
        centre = np.array([self.cx, self.cy])
        return np.stack([centre - u - v, centre + u - v, centre - u + v])

    def bounds(self) -> np.ndarray:
        """Axis-aligned box (x1, y1, x2, y2) around the rotated square."""
        pts = self.corners()
        pts = np.vstack([pts, pts[1] + pts[2] - pts[0]])
        return np.concatenate([pts.min(axis=0), pts.max(axis=0)])
