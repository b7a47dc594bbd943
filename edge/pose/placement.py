"""Where a person stands in the camera's space, from one view: the translation that puts a pose model's
hip-centred 3D keypoints (BlazePose's world landmarks) where its 2D keypoints are in the image.

BlazePose's world keypoints are metres in a camera-aligned frame (x right, y down, z away from the camera) with the
origin between the hips, so the body's shape is there but not its path through the room: a walking person's hips
stay at the origin. A pinhole camera sees keypoint i at normalised image coordinates (x_i, y_i) = ((X_i + Tx) /
(Z_i + Tz), (Y_i + Ty) / (Z_i + Tz)) for the body at translation T, which is linear in T:

    Tx - x_i Tz = x_i Z_i - X_i,    Ty - y_i Tz = y_i Z_i - Y_i

Two equations a keypoint; T is their least-squares solution (weighted by the keypoints' scores, then reweighted
against outliers: a keypoint the 2D and 3D readings disagree on). T is the mid-hip's position in the camera frame.
Across the image the solution is set by where the body is (independent of the focal length to first order); along
the line of sight by how large the body looks, so the depth scales with the focal length and carries the 3D
model's error in body size. Measured against four calibrated views triangulating the same person 3.1-3.8 m away
(`tests/test_placement.py`, the pose2sim clip's first 40 frames): 0.5-5 cm off across the image and 1-7 % off in
depth (medians per camera), with each camera's calibration or with 60 deg assumed.

Without a calibrated camera, the intrinsics come from an assumed field of view (`pinhole`): the principal point
at the image centre and `fov_deg` across the longer side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.config import check_number
from edge.errors import InputError


@dataclass(frozen=True)
class PlacementConfig:
    """min_score: keypoints scored below this do not count; min_keypoints: fewer than this left, no placement
    (NaN); fov_deg: the field of view across the image's longer side of a camera with no calibration (webcams and
    IP cameras: 55-80 deg); reweight_steps: robust reweighting passes after the first solve."""

    min_score: float = 0.5
    min_keypoints: int = 6
    fov_deg: float = 60.0
    reweight_steps: int = 5

    def __post_init__(self) -> None:
        check_number(self.min_score, "placement min_score", minimum=0, maximum=1)
        check_number(self.min_keypoints, "placement min_keypoints", integer=True, minimum=3, maximum=1000)
        check_number(self.fov_deg, "placement fov_deg", minimum=1, maximum=170)
        check_number(self.reweight_steps, "placement reweight_steps", integer=True, minimum=0, maximum=20)


@dataclass(frozen=True)
class Pinhole:
    """An ideal camera's intrinsics in pixels: focal lengths fx, fy and principal point cx, cy."""

    fx: float
    fy: float
    cx: float
    cy: float

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) -> normalised image coordinates (x/z, y/z)."""
        px = np.asarray(pixels, dtype=np.float64)
        return (px - (self.cx, self.cy)) / (self.fx, self.fy)


def pinhole(width: int, height: int, fov_deg: float = PlacementConfig.fov_deg) -> Pinhole:
    """The intrinsics of a `width` x `height` image with `fov_deg` across its longer side, centred, square
    pixels."""
    if width <= 0 or height <= 0:
        raise InputError(f"image size must be positive, got {width}x{height}")
    check_number(fov_deg, "field of view (degrees)", minimum=1, maximum=170)
    focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2.0)
    return Pinhole(focal, focal, 0.5 * width, 0.5 * height)


def camera_translation(world: np.ndarray, normalised: np.ndarray, weights: np.ndarray,
                       config: PlacementConfig = PlacementConfig()) -> np.ndarray:
    """The translation T (3,) that puts hip-centred keypoints `world` (J, 3) at normalised image coordinates
    `normalised` (J, 2), keypoint i counting with `weights[i]` (scores; those below `config.min_score` and
    non-finite keypoints do not count). NaN (3,) when fewer than `config.min_keypoints` count or the solution is
    not in front of the camera."""
    world = np.asarray(world, dtype=np.float64)
    normalised = np.asarray(normalised, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if world.ndim != 2 or world.shape[1] != 3 or normalised.shape != (len(world), 2) or weights.shape != (len(world),):
        raise InputError(f"expected world (J, 3), normalised (J, 2) and weights (J,), got {world.shape}, "
                         f"{normalised.shape} and {weights.shape}")
    use = (np.isfinite(world).all(axis=1) & np.isfinite(normalised).all(axis=1) & np.isfinite(weights)
           & (weights >= config.min_score) & (weights > 0))
    if use.sum() < config.min_keypoints:
        return np.full(3, np.nan)
    X, x, w = world[use], normalised[use], np.repeat(weights[use], 2)
    A = np.zeros((2 * len(X), 3))
    A[0::2, 0] = 1.0
    A[1::2, 1] = 1.0
    A[:, 2] = -x.reshape(-1)
    b = x.reshape(-1) * np.repeat(X[:, 2], 2) - X[:, :2].reshape(-1)
    weight = w
    solution = np.full(3, np.nan)
    for step in range(config.reweight_steps + 1):
        # Normal equations: 3 unknowns, a 3x3 solve however many keypoints.
        Aw = A * weight[:, None]
        try:
            solution = np.linalg.solve(Aw.T @ A, Aw.T @ b)
        except np.linalg.LinAlgError:
            return np.full(3, np.nan)
        if step == config.reweight_steps:
            break
        # Cauchy weights (they fall to 0 far out, so a keypoint placed elsewhere stops pulling), scaled by the
        # residuals' robust standard deviation (metres at unit depth).
        residual = A @ solution - b
        scale = 1.4826 * np.median(np.abs(residual)) + 1e-9
        weight = w / (1.0 + (residual / (2.385 * scale)) ** 2)
    # Every keypoint must lie in front of the camera.
    if not np.isfinite(solution).all() or (X[:, 2] + solution[2] <= 0).any():
        return np.full(3, np.nan)
    return solution


def person_translation(person, camera, config: PlacementConfig = PlacementConfig()) -> np.ndarray:
    """`camera_translation` of an `edge.pose.types.Person` seen by `camera` (a `Pinhole`, or a calibrated
    `edge.pose.cameras.Camera`, whose distortion is undone): the mid-hip's position (3,) in the camera frame, NaN
    when the person has no world keypoints or too few good ones."""
    if person.world is None:
        return np.full(3, np.nan)
    return camera_translation(person.world, camera.normalise(person.keypoints), person.scores, config)


class FramePlacement:
    """People placed frame by frame for one camera without a calibration: `pinhole` intrinsics of `config.fov_deg`,
    made once per frame size (what `ergoedge run` and `ergoedge bench` call for every person and frame)."""

    def __init__(self, config: PlacementConfig = PlacementConfig()):
        self.config = config
        self._cameras: dict[tuple[int, int], Pinhole] = {}

    def __call__(self, person, shape: tuple) -> np.ndarray:
        """`person_translation` of `person` in a frame of `shape` (height, width, ...)."""
        size = (int(shape[1]), int(shape[0]))
        camera = self._cameras.get(size)
        if camera is None:
            camera = self._cameras[size] = pinhole(*size, self.config.fov_deg)
        return person_translation(person, camera, self.config)


def placed_track(world: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, camera,
                 config: PlacementConfig = PlacementConfig()) -> np.ndarray:
    """One track's world keypoints (T, J, 3) placed in the camera's space, frame by frame as the device places
    them (`edge.streaming.activity.PersonActivity`): a frame that cannot be placed keeps the last offset found,
    and frames before the first placement (or without the person) are NaN."""
    world = np.asarray(world, dtype=np.float64)
    out = np.full(world.shape, np.nan)
    offset = None
    for f in range(len(world)):
        if not np.isfinite(world[f]).any():
            continue
        found = camera_translation(world[f], camera.normalise(keypoints[f]), scores[f], config)
        if np.isfinite(found).all():
            offset = found
        if offset is not None:
            out[f] = world[f] + offset
    return out
