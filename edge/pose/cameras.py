"""Calibrated cameras: the pinhole model with OpenCV's distortion, and the files a camera rig is kept in.

A `Camera` maps world points (metres) to pixels: x_cam = R @ x_world + t (world to camera, OpenCV's camera axes:
x right, y down, z forward along the line of sight), then OpenCV's distortion (k1, k2, p1, p2, k3) and the
intrinsic matrix K. A `CameraRig` is the cameras of one scene in one world frame, with that world's up axis.

Two file formats are read:
- ergo-edge's own TOML (`read_rig` / `write_rig`; the writer's output reads back to the same numbers):

      format = "ergo-edge-cameras"
      version = 1
      up = [0.0, 0.0, 1.0]          # the world's up axis (against gravity), a unit vector
      source = "..."                # free text: where the calibration came from

      [[camera]]
      name = "cam01"
      size = [1080, 1920]           # width, height in pixels of the video this camera gives
      matrix = [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]   # K, pixels
      distortion = [k1, k2, p1, p2, k3]                           # OpenCV's order, normalised coordinates
      rotation = [[...], [...], [...]]   # R, world -> camera
      translation = [tx, ty, tz]         # t, world -> camera, metres
      reprojection_error_px = 0.4       # optional: RMS of the calibration that made it

- Qualisys QTM's calibration export (`.qca.txt`, XML, as the pose2sim demo ships it; `read_qca`). What its numbers
  mean, established by reprojecting BlazePose keypoints of the 4-view demo (see `read_qca`):
  `<transform>` is camera-to-world: `x, y, z` are the camera centre in world millimetres, and the rotation is
  stored column by column (`r11 r12 r13` is the first column of the camera-to-world matrix); QTM's camera looks
  along its -z with y up, so OpenCV's camera is QTM's turned 180 deg about x: R = diag(1, -1, -1) @ M, with M the
  matrix read row by row as written. `<intrinsic>` is in sensor units, 64 to a pixel (sensorMaxU - sensorMinU
  spans fov_video's width in pixels, e.g. 69568 / 1087 = 64): fx = focalLengthU / 64, cx = centerPointU / 64 -
  fov_video.left, likewise for v; the distortion coefficients are already in normalised coordinates and go to
  OpenCV unchanged (with them the reprojection error of the demo's BlazePose keypoints is lowest). The world is
  the lab's: z up. A video narrower than the field of view (the demo's cam01 and cam02 are 1080 pixels wide, the
  field 1088) is taken to share the field's pixel grid from its top-left corner: a centred crop or a rescale
  instead moved cam01's and cam02's errors by about 1 px in opposite directions, so the keypoints cannot tell;
  `edge.pose.multiview_clip.image_offsets` absorbs such a shift.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import InputError

TOML_FORMAT = "ergo-edge-cameras"
TOML_VERSION = 1
# Sensor units per pixel in QTM exports (sub-pixel resolution of the camera's marker positions).
QCA_SUBPIXELS = 64.0
# Calibration files are a few kilobytes per camera: more than this is not one.
MAX_CALIBRATION_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# OpenCV's camera axes from QTM's (y up, z backward): a half turn about x.
_QTM_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera. K (3, 3), dist (5,) OpenCV's k1 k2 p1 p2 k3, R (3, 3) and t (3,) world -> camera in
    metres, size (width, height) in pixels. Arrays are float64 and checked on construction."""

    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    rms_px: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InputError(f"camera name {self.name!r}: use 1-64 letters, digits, '_', '-' or '.'")
        w, h = (int(v) for v in self.size)
        if not (0 < w <= 100_000 and 0 < h <= 100_000):
            raise InputError(f"camera {self.name}: image size {w}x{h} is not a camera's")
        K = _array(self.K, (3, 3), self.name, "matrix")
        if not (K[0, 0] > 0 and K[1, 1] > 0 and np.allclose(K[2], [0, 0, 1]) and K[1, 0] == 0 and K[0, 1] == 0):
            raise InputError(f"camera {self.name}: the matrix must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] "
                             "with positive focal lengths")
        dist = np.asarray(self.dist, dtype=np.float64).reshape(-1)
        if dist.size not in (4, 5) or not np.isfinite(dist).all():
            raise InputError(f"camera {self.name}: distortion must be 4 or 5 finite numbers (k1, k2, p1, p2[, k3])")
        dist = np.concatenate([dist, np.zeros(5 - dist.size)])
        R = _array(self.R, (3, 3), self.name, "rotation")
        if not (np.allclose(R @ R.T, np.eye(3), atol=1e-5) and np.linalg.det(R) > 0):
            raise InputError(f"camera {self.name}: the rotation is not a rotation matrix (R R^T = I, det +1)")
        t = _array(self.t, (3,), self.name, "translation")
        object.__setattr__(self, "size", (w, h))
        for key, value in (("K", K), ("dist", dist), ("R", R), ("t", t)):
            object.__setattr__(self, key, value)

    @property
    def centre(self) -> np.ndarray:
        """The camera centre in world coordinates (metres)."""
        return -self.R.T @ self.t

    @property
    def projection(self) -> np.ndarray:
        """P = K [R | t] (3, 4): world to undistorted pixels."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) in this camera's frame."""
        return np.asarray(points, dtype=np.float64) @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to distorted pixels (..., 2) with OpenCV; NaN points stay NaN."""
        import cv2

        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 3)
        out = np.full((flat.shape[0], 2), np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            rvec, _ = cv2.Rodrigues(self.R)
            px, _ = cv2.projectPoints(flat[ok].reshape(-1, 1, 3), rvec, self.t, self.K, self.dist)
            out[ok] = px.reshape(-1, 2)
        return out.reshape(pts.shape[:-1] + (2,))

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels (..., 2) to undistorted normalised image coordinates (x/z, y/z) with OpenCV."""
        import cv2

        px = np.asarray(pixels, dtype=np.float64)
        flat = px.reshape(-1, 2)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            # Iterate to convergence: OpenCV's default 5 iterations leave ~0.1 px at the corners of wide lenses.
            criteria = (3, 30, 1e-10)  # COUNT | EPS
            # OpenCV 4 names the variant with criteria undistortPointsIter; OpenCV 5 folds it into undistortPoints.
            undistort = getattr(cv2, "undistortPointsIter", cv2.undistortPoints)
            und = undistort(flat[ok].reshape(-1, 1, 2), self.K, self.dist, R=np.eye(3), P=np.eye(3), criteria=criteria)
            out[ok] = und.reshape(-1, 2)
        return out.reshape(px.shape)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels (..., 2) to the pixels an ideal (distortion-free) camera with the same K would see."""
        n = self.normalise(pixels)
        return n * np.diag(self.K)[:2] + self.K[:2, 2]

    def resized(self, width: int, height: int) -> Camera:
        """This camera for frames scaled to `width` x `height` (a source's width/height, a sub-stream): the
        intrinsics scale with each axis; distortion, in normalised coordinates, and the pose do not change."""
        sx, sy = width / self.size[0], height / self.size[1]
        if (sx, sy) == (1.0, 1.0):
            return self
        # Pixel centres map as x' + 0.5 = s (x + 0.5) when a frame is resized.
        K = np.array([[sx, 0.0, 0.5 * (sx - 1.0)], [0.0, sy, 0.5 * (sy - 1.0)], [0.0, 0.0, 1.0]]) @ self.K
        return Camera(self.name, (width, height), K, self.dist, self.R, self.t, self.rms_px)

    def up_in_camera(self, up_world: np.ndarray) -> np.ndarray:
        """The world's up vector in this camera's frame (x right, y down, z forward): what a camera-aligned 3D
        pose (BlazePose's world landmarks) needs to be scored against gravity."""
        return self.R @ np.asarray(up_world, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class CameraRig:
    """The cameras of one scene in one world frame (metres) whose up axis is `up` (unit)."""

    cameras: tuple[Camera, ...]
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    source: str = ""

    def __post_init__(self) -> None:
        cams = tuple(self.cameras)
        if not cams:
            raise InputError("a camera rig needs at least one camera")
        names = [c.name for c in cams]
        if len(set(names)) != len(names):
            raise InputError(f"camera names must differ, got {', '.join(names)}")
        up = np.asarray(self.up, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(up)) if up.shape == (3,) else 0.0
        if not (np.isfinite(norm) and norm > 1e-9):
            raise InputError("the rig's up must be three finite numbers, not all zero")
        object.__setattr__(self, "cameras", cams)
        object.__setattr__(self, "up", up / norm)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def resized(self, sizes: dict[str, tuple[int, int]]) -> CameraRig:
        """The rig with the cameras named in `sizes` (name -> width, height) resized (`Camera.resized`)."""
        cameras = tuple(c.resized(*sizes[c.name]) if c.name in sizes else c for c in self.cameras)
        return CameraRig(cameras, up=self.up, source=self.source)

    def camera(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise InputError(f"no camera {name!r} in the rig; it has {', '.join(self.names)}")


def _array(value, shape: tuple, camera: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"camera {camera}: {what} must be numbers") from None
    if arr.shape != shape:
        raise InputError(f"camera {camera}: {what} must have shape {list(shape)}, got {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise InputError(f"camera {camera}: {what} must be finite")
    return arr


def _read_text(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file, expected a camera calibration")
    if path.stat().st_size > MAX_CALIBRATION_BYTES:
        raise InputError(f"{path}: larger than {MAX_CALIBRATION_BYTES // 2**20} MiB; not a camera calibration")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None


# -- up axis ----------------------------------------------------------------------------------------------


def up_from_cameras(cameras: tuple[Camera, ...] | list[Camera], max_spread_deg: float = 45.0) -> np.ndarray:
    """The world's up axis from how the cameras hang: each camera's image-up direction (-y of its frame) in world
    coordinates, averaged and snapped to the nearest signed world axis. Cameras at a workstation are roughly level
    (a little pitch and roll), so the mean lands within a few degrees of the axis that really points up; it is
    refused when it lies more than `max_spread_deg` from every axis (cameras looking straight down or mounted
    sideways say nothing about up: give it explicitly)."""
    dirs = np.array([-c.R[1] for c in cameras])
    mean = dirs.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        raise InputError("the cameras' image-up directions cancel out: give the world's up axis explicitly")
    mean /= norm
    axis = int(np.argmax(np.abs(mean)))
    up = np.zeros(3)
    up[axis] = math.copysign(1.0, mean[axis])
    if math.degrees(math.acos(min(1.0, abs(mean[axis])))) > max_spread_deg:
        raise InputError("the cameras' image-up directions point along no world axis: give the world's up "
                         "axis explicitly")
    return up


# -- Qualisys .qca.txt --------------------------------------------------------------------------------------


def read_qca(path: str | os.PathLike, image_sizes: dict[str, tuple[int, int]] | None = None) -> CameraRig:
    """A Qualisys QTM calibration export (`.qca.txt`) as a rig in metres, OpenCV's camera axes, z up (see the
    module docstring for what each attribute means). `image_sizes` (name -> (width, height)) gives the size of
    the videos where it differs from the calibrated field of view; each video shares the field's pixel grid from
    its top-left corner."""
    import xml.etree.ElementTree as ET

    text = _read_text(path)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion from a calibration file
        raise InputError(f"{path}: document type declarations are not allowed in a calibration file")
    try:
        root = ET.fromstring(text.encode("utf-8") if text.startswith("<?xml") else text)
    except ET.ParseError as exc:
        raise InputError(f"{path}: not a Qualisys calibration (malformed XML: {exc})") from None
    elements = root.findall("./cameras/camera") if root.tag == "calibration" else []
    if not elements:
        raise InputError(f"{path}: not a Qualisys calibration (no <calibration><cameras><camera> elements)")
    sizes = dict(image_sizes or {})
    cameras = []
    for element in elements:
        if element.get("active", "1") == "0":
            continue
        cameras.append(_qca_camera(element, path, sizes))
    unknown = set(sizes) - {c.name for c in cameras}
    if unknown:
        raise InputError(f"{path}: no camera {', '.join(sorted(unknown))} in the calibration")
    if not cameras:
        raise InputError(f"{path}: every camera is inactive")
    return CameraRig(tuple(cameras), up=up_from_cameras(cameras), source=f"qualisys:{Path(path).name}")


def _qca_camera(element, path, sizes: dict) -> Camera:
    name = element.get("serial") or ""
    where = f"{path}: camera {name or '(no serial)'}"

    def numbers(tag: str, keys: tuple[str, ...]) -> dict[str, float]:
        node = element.find(tag)
        if node is None:
            raise InputError(f"{where}: no <{tag}> element")
        out = {}
        for key in keys:
            try:
                out[key] = float(node.attrib[key])
            except KeyError:
                raise InputError(f"{where}: <{tag}> has no {key} attribute") from None
            except ValueError:
                raise InputError(f"{where}: <{tag} {key}={node.attrib[key]!r}> is not a number") from None
            if not math.isfinite(out[key]):
                raise InputError(f"{where}: <{tag} {key}> is not finite")
        return out

    if element.get("viewrotation", "0") not in ("0", ""):
        raise InputError(f"{where}: viewrotation {element.get('viewrotation')} is not supported (export with 0)")
    fov = numbers("fov_video", ("left", "top", "right", "bottom"))
    intr = numbers("intrinsic", ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV", "sensorMinU",
                                 "sensorMaxU", "sensorMinV", "sensorMaxV", "skew", "radialDistortion1",
                                 "radialDistortion2", "radialDistortion3", "tangentalDistortion1",
                                 "tangentalDistortion2"))
    tr = numbers("transform", ("x", "y", "z") + tuple(f"r{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3)))
    width, height = fov["right"] - fov["left"] + 1, fov["bottom"] - fov["top"] + 1
    if width < 2 or height < 2:  # the sensor's units per pixel below divide by width - 1 and height - 1
        raise InputError(f"{where}: <fov_video> is {width:g} x {height:g} pixels: empty or a single row or column")
    # Sensor units per pixel from the sensor's span over the field of view: 64 in every QTM export seen.
    per_px_u = (intr["sensorMaxU"] - intr["sensorMinU"]) / (width - 1)
    per_px_v = (intr["sensorMaxV"] - intr["sensorMinV"]) / (height - 1)
    if not (abs(per_px_u / QCA_SUBPIXELS - 1) < 0.01 and abs(per_px_v / QCA_SUBPIXELS - 1) < 0.01):
        raise InputError(f"{where}: the sensor spans {per_px_u:.2f} x {per_px_v:.2f} units per pixel of the field "
                         f"of view, expected {QCA_SUBPIXELS:g}: not a calibration this reader understands")
    if intr["skew"] != 0.0:
        raise InputError(f"{where}: skew {intr['skew']} is not supported")
    K = np.array([[intr["focalLengthU"] / QCA_SUBPIXELS, 0.0, intr["centerPointU"] / QCA_SUBPIXELS - fov["left"]],
                  [0.0, intr["focalLengthV"] / QCA_SUBPIXELS, intr["centerPointV"] / QCA_SUBPIXELS - fov["top"]],
                  [0.0, 0.0, 1.0]])
    dist = np.array([intr["radialDistortion1"], intr["radialDistortion2"], intr["tangentalDistortion1"],
                     intr["tangentalDistortion2"], intr["radialDistortion3"]])
    M = np.array([[tr[f"r{i}{j}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
    R = _QTM_TO_OPENCV @ M
    centre = np.array([tr["x"], tr["y"], tr["z"]]) / 1000.0
    size = sizes.get(name, (int(width), int(height)))
    return Camera(name=name, size=size, K=K, dist=dist, R=R, t=-R @ centre)


# -- ergo-edge TOML -----------------------------------------------------------------------------------------


def read_rig(path: str | os.PathLike) -> CameraRig:
    """A rig from ergo-edge's TOML camera file, or from a Qualisys `.qca.txt` export (by its name)."""
    if str(path).lower().endswith((".qca.txt", ".qca")):
        return read_qca(path)
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10 on JetPack 6
        import tomli as tomllib

    text = _read_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    if doc.get("format") != TOML_FORMAT:
        raise InputError(f"{path}: not an ergo-edge camera file (format = \"{TOML_FORMAT}\" is missing)")
    if doc.get("version") != TOML_VERSION:
        raise InputError(f"{path}: camera file version {doc.get('version')!r}, this ergo-edge reads {TOML_VERSION}")
    unknown = set(doc) - {"format", "version", "up", "source", "camera"}
    if unknown:
        raise InputError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    tables = doc.get("camera")
    if not isinstance(tables, list) or not tables:
        raise InputError(f"{path}: no [[camera]] tables")
    cameras = tuple(_camera_from_table(t, path, i) for i, t in enumerate(tables))
    if "up" not in doc:
        raise InputError(f"{path}: no up = [x, y, z] (the world's up axis)")
    return CameraRig(cameras, up=_array(doc["up"], (3,), "rig", "up"), source=str(doc.get("source", "")))


_CAMERA_KEYS = {"name", "size", "matrix", "distortion", "rotation", "translation", "reprojection_error_px"}


def _camera_from_table(table, path, index: int) -> Camera:
    if not isinstance(table, dict):
        raise InputError(f"{path}: camera {index + 1} is not a table")
    missing = sorted(_CAMERA_KEYS - {"reprojection_error_px"} - set(table))
    if missing:
        raise InputError(f"{path}: camera {index + 1} has no {missing[0]!r}")
    unknown = set(table) - _CAMERA_KEYS
    if unknown:
        raise InputError(f"{path}: camera {index + 1}: unknown key {sorted(unknown)[0]!r}")
    size = table["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise InputError(f"{path}: camera {index + 1}: size must be [width, height] in whole pixels")
    name = table["name"]
    if not isinstance(name, str):
        raise InputError(f"{path}: camera {index + 1}: name must be a string")
    rms = table.get("reprojection_error_px")
    if rms is not None and not isinstance(rms, (int, float)):
        raise InputError(f"{path}: camera {name}: reprojection_error_px must be a number")
    try:
        return Camera(name=name, size=tuple(size), K=table["matrix"], dist=table["distortion"],
                      R=table["rotation"], t=table["translation"], rms_px=None if rms is None else float(rms))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _toml_value(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(float(value))  # repr is the shortest text that reads back to the same float
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    raise TypeError(f"no TOML form for {type(value).__name__}")


def rig_to_toml(rig: CameraRig) -> str:
    """The TOML text of a rig (what `write_rig` writes)."""
    lines = ["# ergo-edge camera rig: K in pixels, R and t world -> camera (x_cam = R x_world + t), metres",
             f"format = {_toml_value(TOML_FORMAT)}", f"version = {TOML_VERSION}",
             f"up = {_toml_value(rig.up)}", f"source = {_toml_value(rig.source)}"]
    for cam in rig.cameras:
        lines += ["", "[[camera]]", f"name = {_toml_value(cam.name)}", f"size = {_toml_value(list(cam.size))}",
                  f"matrix = {_toml_value(cam.K)}", f"distortion = {_toml_value(cam.dist)}",
                  f"rotation = {_toml_value(cam.R)}", f"translation = {_toml_value(cam.t)}"]
        if cam.rms_px is not None:
            lines.append(f"reprojection_error_px = {_toml_value(float(cam.rms_px))}")
    return "\n".join(lines) + "\n"


def write_rig(rig: CameraRig, path: str | os.PathLike) -> Path:
    """Write the rig as ergo-edge's TOML camera file (atomically; the folder must exist)."""
    from edge.paths import atomic_write

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory: give a .toml file name")
    if not path.parent.is_dir():
        raise InputError(f"{path.parent} does not exist")
    return atomic_write(path, rig_to_toml(rig))


__all__ = ["Camera", "CameraRig", "read_qca", "read_rig", "write_rig", "rig_to_toml", "up_from_cameras"]
