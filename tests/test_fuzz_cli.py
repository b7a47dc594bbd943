"""A seeded fuzz of the command line: malformed worksheets, pose arrays, scoring configs and paths, each made from a
valid input by a mutation that must make it invalid. Every case must end in one `ergoedge: error:` line and exit
code 2, nothing may be created or changed outside the inputs (no output folder, no file in the working or home
directory), and the whole run stays under a memory cap.

The cases run in one child process (this file run as a script), so that its peak memory is the CLI's alone.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

SEED, CASES = 20261204, 240
MEMORY_CAP_KIB = 1024 * 1024  # 1 GiB for the whole child process: numpy, the CLI and every case

_WORKSHEET = {
    "reba": {"method": "reba", "neck": {"flexion_deg": 25, "twisted": True, "side_bent": False},
             "trunk": {"flexion_deg": 45, "twisted": False, "side_bent": False},
             "legs": {"bilateral_support": True, "knee_flexion_deg": 40},
             "upper_arm": {"flexion_deg": 60, "abducted": False, "rotated": False, "shoulder_raised": False,
                           "supported": False},
             "lower_arm": {"flexion_deg": 80}, "wrist": {"flexion_deg": 20, "deviated_or_twisted": False},
             "load_kg": 8, "shock": False, "coupling": "fair",
             "activity": {"static": False, "repeated": True, "rapid_change": False}},
    "niosh": {"method": "niosh", "load_kg": 12, "h_cm": 40, "v_origin_cm": 30, "v_dest_cm": 100,
              "asymmetry_deg": 30, "frequency_per_min": 2.4, "duration": "long", "coupling": "fair"},
}


def _leaves(doc: dict, prefix=()) -> list[tuple]:
    out = []
    for key, value in doc.items():
        out += _leaves(value, prefix + (key,)) if isinstance(value, dict) else [prefix + (key,)]
    return out


def _set(doc: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _bad_worksheet(rng: random.Random) -> bytes:
    doc = copy.deepcopy(_WORKSHEET[rng.choice(sorted(_WORKSHEET))])
    path = rng.choice([p for p in _leaves(doc) if p != ("method",)])
    mutation = rng.randrange(7)
    if mutation == 0:  # a required field gone: a segment angle, or any NIOSH field
        path = rng.choice([p for p in _leaves(doc) if p != ("method",)
                           and (p[-1] == "flexion_deg" or doc["method"] == "niosh")])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    elif mutation == 1:
        _set(doc, path, rng.choice(["ten", [1], {"x": 1}, None]))
    elif mutation == 2:  # an unknown field beside a known one
        _set(doc, path[:-1] + (path[-1] + "_x",), 1)
    elif mutation == 3:
        return json.dumps(doc)[: rng.randrange(1, 40)].encode()  # truncated
    elif mutation == 4:
        number_path = rng.choice([p for p in _leaves(doc) if isinstance(_get(doc, p), (int, float))
                                  and not isinstance(_get(doc, p), bool)])
        text = json.dumps(doc).replace(f'"{number_path[-1]}": {json.dumps(_get(doc, number_path))}',
                                       f'"{number_path[-1]}": {rng.choice(["NaN", "Infinity", "1e400", "9" * 300])}', 1)
        return text.encode()
    elif mutation == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    else:
        return ("[" * rng.randrange(5000, 20000)).encode()
    return json.dumps(doc).encode()


def _get(doc: dict, path: tuple):
    for key in path:
        doc = doc[key]
    return doc


def _lift(frames: int = 60) -> np.ndarray:
    from edge.datasets.synth.example_lift import example_lift_sequence

    return example_lift_sequence(seconds=frames / 30.0, fps=30.0, layout="coco17")


def _bad_poses(rng: random.Random, folder: Path, k: int) -> tuple[Path, list[str]]:
    """A pose file that cannot be scored, and the options to score it with."""
    joints = _lift()
    options = ["--layout", "coco17", "--up", "z", "--fps", "30"]
    suffix = ".npz"
    mutation = rng.randrange(9)
    arrays = {"joints": joints}
    if mutation == 0:
        arrays["joints"] = joints[:, : rng.randrange(1, 16)]
    elif mutation == 1:
        arrays["joints"] = joints.reshape(joints.shape[0], -1)
    elif mutation == 2:
        arrays["joints"] = np.full_like(joints, rng.choice([np.nan, np.inf, -np.inf]))
    elif mutation == 3:
        arrays["joints"] = joints * rng.choice([0.0, 1e300, 1e5, 1e-4])
    elif mutation == 4:
        options[options.index("--up") + 1] = rng.choice(["q", "0,0,0", "nan,0,1", "x", "-z"])
    elif mutation == 5:
        options[options.index("--fps") + 1] = rng.choice(["0", "-1", "1e-300", "1e300", "nan", "abc"])
    elif mutation == 6:
        arrays["joints"] = np.array([["a"] * 3] * 17 * 4).reshape(4, 17, 3)
    elif mutation == 7:
        options = []  # nothing says the layout, the up axis or the frame rate
    path = folder / f"poses_{k}{suffix}"
    if mutation == 8:
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    else:
        with np.errstate(over="ignore"):
            np.savez(path, **arrays)
    return path, options


_BAD_SCORING = [
    "[scoring]\nload_kilos = 3\n", "[scoring]\nload_kg = -1\n", "[scoring]\nload_kg = \"heavy\"\n",
    "[scoring]\ncoupling = \"sticky\"\n", "[scoring.body]\nmass_kg = \"x\"\n", "[scoring.activity]\nenabled = 3\n",
    "[scoring.nope]\nx = 1\n", "[scoring\nload_kg = 1\n", "scoring = 3\n",
]


def _cases(folder: Path, rng: random.Random):
    """(argv, what) for every case; inputs are written into `folder`."""
    lift = folder / "lift.npz"
    np.savez(lift, joints=_lift(), fps=30.0, layout="coco17", up="z")
    for k in range(CASES):
        out = str(folder / f"out_{k}")
        kind = k % 4
        if kind == 0:
            sheet = folder / f"sheet_{k}.json"
            sheet.write_bytes(_bad_worksheet(rng))
            yield ["assess", str(sheet)], "worksheet"
        elif kind == 1:
            path, options = _bad_poses(rng, folder, k)
            yield ["score", str(path), *options, "--out", out], "poses"
        elif kind == 2:
            config = folder / f"config_{k}.toml"
            text = rng.choice(_BAD_SCORING)
            config.write_bytes(text.encode() if rng.random() < 0.9 else b"\xff\xfe" + text.encode())
            yield ["score", str(lift), "--config", str(config), "--out", out], "config"
        else:
            yield rng.choice([
                ["score", str(lift), "--out", ""], ["score", str(lift), "--out", str(lift)],
                ["score", str(folder / "missing.npz"), "--out", out], ["score", str(folder), "--out", out],
                ["score", "/dev/null", "--layout", "coco17", "--up", "z", "--fps", "30", "--out", out],
                ["assess", str(folder)], ["assess", "/dev/zero"], ["data", "stats", "/dev/zero"],
                ["calibrate-scene", "--camera", "c", "--pitch", rng.choice(["nan", "inf", "1e308", "-91"]),
                 "--roll", "0", "--scene-dir", str(folder / "scenes")],
                ["calibrate-scene", "--camera", "../../etc", "--pitch", "1", "--roll", "0", "--scene-dir",
                 str(folder / "scenes")],
            ]), "path"


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _peak_rss_kib() -> int:
    # VmHWM, not getrusage's ru_maxrss: a child's ru_maxrss starts from its parent's peak (fork), here pytest's.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _drive(work: Path) -> dict:
    """Run every case in this process; what each printed and returned, and the peak memory."""
    from edge.cli import main

    inputs = work / "inputs"
    inputs.mkdir()
    cases = list(_cases(inputs, random.Random(SEED)))
    before = _tree(work)
    results = []
    for argv, what in cases:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        results.append({"argv": argv, "what": what, "code": code, "stderr": err.getvalue()})
    after = _tree(work)
    return {"results": results, "changed": sorted(set(after.items()) ^ set(before.items())),
            "max_rss_kib": _peak_rss_kib()}


def test_the_command_line_survives_malformed_input(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(home / ".cache"),
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}
    done = subprocess.run([sys.executable, __file__, str(tmp_path / "work")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    bad = [r for r in report["results"] if r["code"] != 2 or len(r["stderr"].strip().splitlines()) != 1
           or not r["stderr"].startswith("ergoedge: error: ")]
    assert not bad, json.dumps(bad[:3], indent=1)
    assert len(report["results"]) == CASES and {r["what"] for r in report["results"]} == {
        "worksheet", "poses", "config", "path"}
    assert report["changed"] == []  # nothing written beside the inputs: no output folder, no stray file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "work"] and list(home.iterdir()) == []
    assert report["max_rss_kib"] < MEMORY_CAP_KIB


if __name__ == "__main__":
    work = Path(sys.argv[1])
    work.mkdir()
    print(json.dumps(_drive(work)))
