"""`ergoedge calibrate-cameras`: a camera rig file (`edge.pose.cameras`' TOML) from checkerboard images, or from
a Qualisys calibration export.

    ergoedge calibrate-cameras --qca Calib.qca.txt --size cam01=1080x1920 --out rig.toml
    ergoedge calibrate-cameras --camera cam01 --images 'cam01/board-*.png' --pattern 9x6 --square-mm 25 \\
        --board cam01/floor.png --out rig.toml
    ergoedge calibrate-cameras --refine rig.toml --video cam01=setup01.mp4 --video cam02=setup02.mp4 --out rig2.toml

Intrinsics (`intrinsics_from_images`): OpenCV's findChessboardCorners, cornerSubPix and calibrateCamera (k1, k2,
p1, p2, k3) over images of a printed checkerboard held at several angles; `--pattern` counts inner corners
(columns x rows). Extrinsics (`extrinsics_from_board`): the same board seen once more where it defines the world
(lying on the floor or a table: solvePnP), the world's origin at its first inner corner, x along its columns, y
along its rows, z out of the board on the camera's side, which is up for a board lying flat. Every camera of a rig
must see the board in that same place; each run adds (or replaces) one camera in the `--out` file, whose other
cameras and up axis must agree (same world). `--refine` corrects each camera's principal point from a set-up
recording of one person (`edge.pose.rig_refine`).

`calibrate_cameras(args)` is the one entry point; bad input is a one-line `InputError` and nothing is written.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.pose.cameras import Camera, CameraRig, read_qca, read_rig, rig_to_toml

MIN_VIEWS = 3  # calibrateCamera needs several board poses; fewer give a focal length that means nothing


@dataclass(frozen=True)
class Board:
    columns: int  # inner corners along a row
    rows: int  # inner corners along a column
    square_m: float

    def object_points(self) -> np.ndarray:
        """Inner corners in the board's frame (metres), in findChessboardCorners' order (row by row)."""
        grid = np.mgrid[0:self.columns, 0:self.rows].T.reshape(-1, 2)
        return np.hstack([grid * self.square_m, np.zeros((len(grid), 1))]).astype(np.float32)


def parse_pattern(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or min(int(m.group(1)), int(m.group(2))) < 2 or max(int(m.group(1)), int(m.group(2))) > 100:
        raise InputError(f"--pattern {text!r}: give the inner corners as COLUMNSxROWS, e.g. 9x6 (2 to 100 each)")
    return int(m.group(1)), int(m.group(2))


def parse_size(text: str) -> tuple[str, tuple[int, int]]:
    m = re.fullmatch(r"([A-Za-z0-9_.-]{1,64})=(\d{1,6})[xX](\d{1,6})", text or "")
    if not m or int(m.group(2)) == 0 or int(m.group(3)) == 0:
        raise InputError(f"--size {text!r}: give CAMERA=WIDTHxHEIGHT, e.g. cam01=1080x1920")
    return m.group(1), (int(m.group(2)), int(m.group(3)))


def _gray(path: Path) -> np.ndarray:
    import cv2

    from edge.pose.frames import read_image

    return cv2.cvtColor(read_image(path), cv2.COLOR_BGR2GRAY)


def find_corners(gray: np.ndarray, board: Board) -> np.ndarray | None:
    """The board's inner corners (N, 1, 2) float32 to a tenth of a pixel, or None when the board is not seen."""
    import cv2

    found, corners = cv2.findChessboardCorners(
        gray, (board.columns, board.rows), cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    return cv2.cornerSubPix(gray, corners, (11, 11), (-1, -1), criteria)


def intrinsics_from_images(paths: list[Path], board: Board) -> tuple[np.ndarray, np.ndarray, tuple[int, int],
                                                                      float, int]:
    """(K, distortion (5,), image size, RMS reprojection error px, images used) from checkerboard images."""
    import cv2

    object_points, image_points, size = [], [], None
    for path in paths:
        gray = _gray(path)
        here = (gray.shape[1], gray.shape[0])
        if size is not None and here != size:
            raise InputError(f"{path}: {here[0]}x{here[1]} pixels, the other images are {size[0]}x{size[1]}")
        size = here
        corners = find_corners(gray, board)
        if corners is not None:
            object_points.append(board.object_points())
            image_points.append(corners)
    if len(image_points) < MIN_VIEWS:
        raise InputError(f"the {board.columns}x{board.rows} board was found in {len(image_points)} of {len(paths)} "
                         f"image(s); at least {MIN_VIEWS} are needed (check --pattern: inner corners)")
    rms, K, dist, _, _ = cv2.calibrateCamera(object_points, image_points, size, None, None)
    return np.asarray(K, float), np.asarray(dist, float).reshape(-1)[:5], size, float(rms), len(image_points)


def extrinsics_from_board(path: Path, board: Board, K: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """(R, t) world -> camera, the world being the board's frame with z towards the camera (see the module)."""
    import cv2

    corners = find_corners(_gray(path), board)
    if corners is None:
        raise InputError(f"{path}: the {board.columns}x{board.rows} board is not found")
    ok, rvec, tvec = cv2.solvePnP(board.object_points(), corners, K, dist, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise InputError(f"{path}: the board's pose could not be solved")
    R, t = cv2.Rodrigues(rvec)[0], tvec.reshape(3)
    # The camera centre in the board's frame; with z pointing away from it, turn the frame half round about x
    # (y and z flip) so that z, the world's up, is on the camera's side.
    if (-R.T @ t)[2] < 0:
        flip = np.diag([1.0, -1.0, -1.0])
        R = R @ flip
    return R, t


def _image_paths(pattern: str) -> list[Path]:
    given = Path(pattern)
    if given.is_dir():
        from edge.pose.frames import IMAGE_SUFFIXES

        paths = sorted(p for p in given.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        paths = sorted(Path(p) for p in glob.glob(pattern))
    if not paths:
        raise InputError(f"--images {pattern!r}: no images found (a folder, or a pattern like 'cam01/*.png')")
    return paths


def _merge(existing: Path, camera: Camera, source: str) -> CameraRig:
    """The rig in `existing` (when there is one) with `camera` added or replaced."""
    if not existing.exists():
        return CameraRig((camera,), up=np.array([0.0, 0.0, 1.0]), source=source)
    rig = read_rig(existing)
    if not np.allclose(rig.up, [0.0, 0.0, 1.0]):
        raise InputError(f"{existing}: its up axis is not the board's z: cameras calibrated on a board cannot join it")
    cameras = tuple(camera if c.name == camera.name else c for c in rig.cameras)
    if camera.name not in rig.names:
        cameras += (camera,)
    return CameraRig(cameras, up=rig.up, source=rig.source or source)


def calibrate_cameras(args) -> tuple[CameraRig, Path, list[str]]:
    """Build the rig the arguments describe and write it to `args.out`; returns (rig, path, lines to print)."""
    from edge.paths import atomic_write

    out = Path(args.out)
    if str(args.out).strip() == "" or out.is_dir():
        raise InputError("--out must name a .toml file")
    if out.suffix.lower() != ".toml":
        raise InputError(f"--out {out}: the camera file is TOML; give a name ending in .toml")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist")
    if out.exists():
        read_rig(out)  # a file there must be a camera file (the one replaced or added to), not e.g. a run config
    if getattr(args, "refine", None):
        rig, lines = _refined(args)
    elif args.video:
        raise InputError("--video is for --refine RIG (a set-up recording per camera)")
    elif args.qca:
        if args.images or args.board or args.camera:
            raise InputError("--qca converts a calibration file: it takes no --images, --board or --camera")
        sizes = dict(parse_size(s) for s in args.size or [])
        rig = read_qca(args.qca, sizes)
        lines = [f"{c.name}: {c.size[0]}x{c.size[1]} px, f = {c.K[0, 0]:.1f} px, centre at "
                 f"({', '.join(f'{v:.2f}' for v in c.centre)}) m" for c in rig.cameras]
        lines.append(f"up = ({', '.join(f'{v:g}' for v in rig.up)})")
    else:
        rig, lines = _from_board(args, out)
    atomic_write(out, rig_to_toml(rig))
    return rig, out, lines


def _refined(args) -> tuple[CameraRig, list[str]]:
    from edge.pose.rig_refine import refine_rig

    if args.qca or args.images or args.board or args.camera or args.size:
        raise InputError("--refine takes a rig file and --video NAME=FILE per camera, nothing else")
    videos = {}
    for item in args.video or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--video {item!r}: give NAME=FILE (a camera name of the rig and its recording)")
        if name in videos:
            raise InputError(f"--video names camera {name} twice")
        videos[name] = path
    return refine_rig(read_rig(args.refine), videos, max_frames=args.max_frames)


def _from_board(args, out: Path) -> tuple[CameraRig, list[str]]:
    if not args.images:
        raise InputError("give --qca FILE, or --images with --camera, --pattern and --square-mm")
    if not args.camera:
        raise InputError("--camera NAME is needed with --images")
    if not args.pattern or args.square_mm is None:
        raise InputError("--pattern COLUMNSxROWS (inner corners) and --square-mm are needed with --images")
    if args.size:
        raise InputError("--size is for --qca; checkerboard images give the size themselves")
    if not (0 < args.square_mm <= 1000):
        raise InputError(f"--square-mm {args.square_mm}: give the side of one square in millimetres (0-1000)")
    board = Board(*parse_pattern(args.pattern), square_m=args.square_mm / 1000.0)
    K, dist, size, rms, used = intrinsics_from_images(_image_paths(args.images), board)
    lines = [f"{args.camera}: {size[0]}x{size[1]} px, fx {K[0, 0]:.1f} fy {K[1, 1]:.1f} cx {K[0, 2]:.1f} "
             f"cy {K[1, 2]:.1f}, RMS {rms:.3f} px over {used} image(s)"]
    if args.board:
        R, t = extrinsics_from_board(Path(args.board), board, K, dist)
        lines.append(f"  centre at ({', '.join(f'{v:.3f}' for v in -R.T @ t)}) m in the board's frame (z up)")
    else:
        R, t = np.eye(3), np.zeros(3)
        lines.append("  no --board: placed at the world's origin looking along +z (intrinsics only)")
    camera = Camera(name=args.camera, size=size, K=K, dist=dist, R=R, t=t, rms_px=rms)
    return _merge(out, camera, "checkerboard"), lines


def _cmd(args) -> int:
    rig, path, lines = calibrate_cameras(args)
    for line in lines:
        print(line)
    print(f"wrote {len(rig.cameras)} camera(s) to {path}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("calibrate-cameras", help="camera intrinsics/extrinsics from checkerboards, or a Qualisys "
                                                 "calibration, into a TOML camera file")
    p.add_argument("--out", required=True, help="the camera file (.toml); with --images an existing one gets the "
                                               "camera added, with --qca or --refine it is replaced (a file there "
                                               "must be a camera file)")
    p.add_argument("--qca", help="convert a Qualisys QTM calibration export (.qca.txt)")
    p.add_argument("--size", action="append", metavar="CAMERA=WxH",
                   help="with --qca: a camera's video size where it differs from the calibrated field of view")
    p.add_argument("--camera", help="with --images: the camera's name")
    p.add_argument("--images", help="checkerboard images: a folder or a pattern like 'cam01/*.png'")
    p.add_argument("--pattern", help="inner corners of the board, COLUMNSxROWS, e.g. 9x6")
    p.add_argument("--square-mm", type=float, help="side of one board square in millimetres")
    p.add_argument("--board", help="an image of the board where it defines the world (on the floor): extrinsics")
    p.add_argument("--refine", metavar="RIG", help="refine RIG (a camera file) from a set-up recording: one person "
                   "walking and working in view of every camera, --video NAME=FILE per camera")
    p.add_argument("--video", action="append", metavar="NAME=FILE", help="with --refine: a camera's recording")
    p.add_argument("--max-frames", type=int, help="with --refine: use at most this many frames of each recording")
    p.set_defaults(func=_cmd)


__all__ = ["Board", "calibrate_cameras", "intrinsics_from_images", "extrinsics_from_board", "find_corners",
           "add_commands"]
