"""Benchmark: synthetic data generation speed, in minutes of data per minute of wall time.

Run: `.venv/bin/python benchmarks/bench_synth.py [--minutes 10] [--repeats 3] [--layout blazepose33]`.
Times `generate` (motion, posing, scoring, 2D projection and noise, in memory) and `write_synth` (the same plus
the compressed .npz files and the manifest) in one process. The target is at least 60 minutes of 30 fps data per
wall minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of data per run (default 10)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", default="blazepose33")
    args = parser.parse_args()

    from edge.datasets.synth.config import SynthConfig
    from edge.datasets.synth.generator import generate, write_synth

    config = SynthConfig(layouts=(args.layout,))
    generate(0.5, args.seed, config)  # warm-up: imports, first-call costs

    def rate(seconds: float) -> float:
        return args.minutes / (seconds / 60.0)

    gen_times, write_times = [], []
    for i in range(args.repeats):
        start = time.perf_counter()
        seqs = generate(args.minutes, args.seed + i, config)
        gen_times.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_synth(tmp, args.minutes, args.seed + i, config)
            write_times.append(time.perf_counter() - start)
    frames = sum(s.num_frames for s in seqs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"synthetic data, {args.minutes:g} min ({frames} frames at {config.fps:g} fps, {len(seqs)} recordings, "
          f"{args.layout}), {args.repeats} runs, {os.cpu_count()} cores, load average {load:.2f}:")
    for name, times in (("generate", gen_times), ("write_synth", write_times)):
        med = statistics.median(times)
        print(f"  {name:12s} median {med:6.2f} s (min {min(times):.2f}, max {max(times):.2f}) -> "
              f"{rate(med):6.1f} min of data per wall minute (best {rate(min(times)):.1f})")
    ok = rate(statistics.median(write_times)) >= 60.0
    print(f"  target >= 60 min/min (write_synth, median): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
