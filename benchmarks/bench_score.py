"""Benchmark: `ergoedge score` on a 10,000-frame sequence, end to end (process start to files written).

Run: `make bench` or `.venv/bin/python benchmarks/bench_score.py [--frames 10000] [--repeats 5]`.
Prints the median and range of wall-clock seconds over the repeats, and the in-process time of each stage.
The issue's target is under 2 s for 10,000 frames on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layout", default="blazepose33")
    args = parser.parse_args()

    from edge.datasets.synth.example_lift import example_lift_sequence

    with tempfile.TemporaryDirectory() as tmp:
        poses = Path(tmp) / "poses.npz"
        joints = example_lift_sequence(seconds=args.frames / args.fps, fps=args.fps, layout=args.layout)
        np.savez(poses, joints=joints.astype(np.float32), fps=args.fps, layout=args.layout, up="z")
        script = Path(sys.executable).parent / "ergoedge"
        cmd = [str(script), "score", str(poses), "--load-kg", "10", "--out", str(Path(tmp) / "out")]
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        print(f"ergoedge score, {joints.shape[0]} frames of {args.layout}, end to end (process start to files):")
        print(f"  median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s "
              f"over {args.repeats} runs")

        # In-process stage times (after imports), to see where the time goes.
        from edge.datasets.sequence import load_sequence, scorable_joints
        from edge.scoring.outputs import _write_csv, plot_timeline
        from edge.scoring.methods import ScoreConfig
        from edge.scoring.offline import score_sequence
        from edge.skeletons import get_layout

        stages = {}
        t0 = time.perf_counter()
        seq = load_sequence(poses)
        joints = scorable_joints(seq)
        stages["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = score_sequence(joints, get_layout(seq.layout), seq.up, seq.fps, ScoreConfig(load_kg=10.0))
        stages["angles + REBA/RULA + L5/S1 + summary"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _write_csv(result.columns, Path(tmp) / "s.csv")
        stages["scores.csv"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        plot_timeline(result, Path(tmp) / "t.png")
        stages["timeline.png (incl. matplotlib import)"] = time.perf_counter() - t0
        for name, seconds in stages.items():
            print(f"  {name:42s} {seconds * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
