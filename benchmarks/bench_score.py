"""Benchmark: `ergoedge score` on a 10,000-frame sequence, end to end (process start to files written).

Run: `make bench` or `.venv/bin/python benchmarks/bench_score.py [--frames 10000] [--repeats 5] [--live | --memory]`.
Prints the median and range of wall-clock seconds over the repeats, and the in-process time of each stage.
The issue's target is under 2 s for 10,000 frames on a 2-core machine.

`--memory` measures a long recording instead: one `ergoedge score` run on `--frames` (default 1,000,000) frames of
the example lift written by `save_sequence` (float32 BlazePose), its wall-clock time and peak resident memory (the
same as `/usr/bin/time -v` reports). Issue 11 item 8's target: well under 2 GB for 1e6 frames
(it took 5.5 GB and 111 s scored whole; 0.7 GB and 40 s in parts, on a 2-core x86_64 machine).

`--live` measures what `ergoedge run` pays per person and frame instead: `edge.scoring.stream.PersonStream.update`
over `--frames` (default 3,000) frames of the example lift at `--fps`, in this process, after one second of
warm-up; the milliseconds a frame, fastest and median of the repeats. With `--people N` (N > 1), N people each
with their own stream (the same lift, time-shifted, with 1 cm of noise) are scored together a frame at a time by
`score_people` as `ergoedge run` scores them (each person's L5/S1 refreshes shifted by their `l5s1_phase`, as the
run shifts them), and again one `update` after another: milliseconds a frame both ways, and the 90th percentile
of the frames scored together (the frames that refresh someone's L5/S1 are the slow ones).
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
    parser.add_argument("--frames", type=int, help="default 10,000; 1,000,000 with --memory")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layout", default="blazepose33")
    parser.add_argument("--memory", action="store_true", help="peak memory and time of one long run")
    parser.add_argument("--live", action="store_true", help="live scoring's time per person and frame")
    parser.add_argument("--people", type=int, default=1, help="with --live: people scored together each frame")
    args = parser.parse_args()
    if args.live:
        if args.people > 1:
            return _live_people(args.frames or 3_000, args.fps, args.layout, args.repeats, args.people)
        return _live(args.frames or 3_000, args.fps, args.layout, args.repeats)
    if args.memory:
        return _memory(args.frames or 1_000_000, args.fps, args.layout)
    args.frames = args.frames or 10_000

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
        from edge.scoring.outputs import write_scores_csv, plot_timeline
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
        write_scores_csv(result.columns, Path(tmp) / "s.csv")
        stages["scores.csv"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        plot_timeline(result, Path(tmp) / "t.png")
        stages["timeline.png (incl. matplotlib import)"] = time.perf_counter() - t0
        for name, seconds in stages.items():
            print(f"  {name:42s} {seconds * 1000:7.1f} ms")
    return 0


def _live(frames: int, fps: float, layout_name: str, repeats: int) -> int:
    """PersonStream.update frame by frame (the run's scoring of one person), with the default ScoreConfig."""
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.scoring.stream import PersonStream
    from edge.skeletons import get_layout, parse_up

    warm = int(round(fps))
    joints = example_lift_sequence(seconds=(frames + warm) / fps, fps=fps, layout=layout_name).astype(np.float32)
    layout, up = get_layout(layout_name), parse_up("z")
    per_frame = []
    for _ in range(repeats):
        stream = PersonStream(layout, up)
        for i in range(warm):
            stream.update(i / fps, joints[i])
        start = time.perf_counter()
        for i in range(warm, warm + frames):
            stream.update(i / fps, joints[i])
        per_frame.append((time.perf_counter() - start) / frames * 1000)
    print(f"PersonStream.update, {frames} frames of {layout_name} at {fps:g} fps, {repeats} repeats:")
    print(f"  fastest {min(per_frame):.3f} ms a frame, median {statistics.median(per_frame):.3f} ms")
    return 0


def _live_people(frames: int, fps: float, layout_name: str, repeats: int, people: int) -> int:
    """`score_people` over `people` streams a frame, against each stream's `update` in turn (the same frames)."""
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.scoring.stream import PersonStream, l5s1_phase, score_people
    from edge.skeletons import get_layout, parse_up

    warm = int(round(fps))
    total = frames + warm
    lift = example_lift_sequence(seconds=(total + 3 * people * fps) / fps, fps=fps, layout=layout_name)
    rng = np.random.default_rng(0)
    crowd = [(lift[int(k * 3 * fps):][:total] + rng.normal(0, 0.01, (total,) + lift.shape[1:])).astype(np.float32)
             for k in range(people)]
    layout, up = get_layout(layout_name), parse_up("z")
    timings: dict[str, list[float]] = {"together": [], "one after another": []}
    slowest: list[float] = []  # per repeat, the 90th percentile of `score_people`'s frames
    for _ in range(repeats):
        for way, times in timings.items():
            # Each person's L5/S1 refreshes shifted as `ergoedge run` shifts them (`l5s1_phase`).
            streams = [PersonStream(layout, up, l5s1_phase=l5s1_phase(k)) for k in range(people)]
            frame_ms = []
            for i in range(total):
                frame = [joints[i] for joints in crowd]
                start = time.perf_counter()
                if way == "together":
                    score_people(streams, i / fps, frame)
                else:
                    for stream, joints in zip(streams, frame):
                        stream.update(i / fps, joints)
                frame_ms.append((time.perf_counter() - start) * 1000)
            times.append(statistics.fmean(frame_ms[warm:]))
            if way == "together":
                slowest.append(float(np.percentile(frame_ms[warm:], 90)))
    print(f"{people} people, {frames} frames of {layout_name} at {fps:g} fps, {repeats} repeats (ms a frame):")
    for way, times in timings.items():
        print(f"  {way:18s} fastest {min(times):.3f}, median {statistics.median(times):.3f}")
    print(f"  together, the 90th percentile of frames: fastest {min(slowest):.3f}, "
          f"median {statistics.median(slowest):.3f}")
    return 0


# Runs a command and prints its peak resident memory (KiB). A child's ru_maxrss starts from its parent's peak at
# fork (Linux carries the old memory map's high-water mark over exec), so the command is started from this small
# fresh process, not from the benchmark holding a million frames.
_PEAK_OF_CHILD = ("import resource, subprocess, sys; "
                  "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
                  "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _memory(frames: int, fps: float, layout: str) -> int:
    """One `ergoedge score` run on a long sequence file: wall-clock time and the process's peak resident memory."""
    from edge.datasets.sequence import Sequence, save_sequence
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.skeletons import parse_up

    with tempfile.TemporaryDirectory() as tmp:
        joints = example_lift_sequence(seconds=frames / fps, fps=fps, layout=layout).astype(np.float32)
        poses = save_sequence(Sequence(layout=layout, fps=fps, joints=joints, up=parse_up("z")),
                              Path(tmp) / "poses.npz")
        del joints
        script = Path(sys.executable).parent / "ergoedge"
        cmd = [str(script), "score", str(poses), "--load-kg", "10", "--out", str(Path(tmp) / "out")]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, *cmd], check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak_kib = int(done.stdout.split()[-1])
    print(f"ergoedge score, {frames} frames of {layout} (float32, {poses.name} from save_sequence):")
    print(f"  {seconds:.1f} s wall clock, peak resident memory {peak_kib / 1024:.0f} MiB ({peak_kib / 2**20:.2f} GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
