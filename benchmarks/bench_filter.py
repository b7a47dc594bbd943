"""Benchmark: the zero-phase Butterworth (edge.signals.butterworth_lowpass) where it runs, against scipy.signal.

Run: `.venv/bin/python benchmarks/bench_filter.py [--repeats 5] [--fps 30]`.
Prints, each as a median over the repeats:
- the import of scipy.signal in a fresh interpreter (numpy already imported): what using scipy's butter and
  sosfiltfilt would add to `ergoedge score` and to the live runtime's first L5/S1 frame;
- the first L5/S1 call of a fresh process, as the live runtime's first L5/S1 frame pays it (imports included);
- per call, warm: the filter on a 1 s window of the points L5/S1 uses, scipy's butter + sosfiltfilt on the same
  window, and `l5s1_load` on it, which the live runtime (edge/scoring/stream.py) runs every 0.1 s per person;
- per frame, warm: `PersonStream.update` at `--fps`, mean and the slowest frame.
`ergoedge score` end to end is in benchmarks/bench_score.py.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

# Run in a fresh interpreter: numpy first (every caller has it), then the import or first call being timed.
_IMPORT = "import time, numpy; t = time.perf_counter(); import scipy.signal; print(time.perf_counter() - t)"
_FIRST_CALL = """
import time
import numpy as np
from edge.datasets.synth.example_lift import example_lift_sequence
from edge.ergonomics.l5s1 import l5s1_load
from edge.skeletons import get_layout, to_canonical
pts = to_canonical(example_lift_sequence(seconds=1.0, fps={fps}), get_layout("blazepose33"))
t = time.perf_counter()
l5s1_load(pts, np.array([0.0, 0.0, 1.0]), {fps}, load_kg=10.0)
print(time.perf_counter() - t)
"""


def fresh_seconds(code: str, repeats: int) -> float:
    runs = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
            for _ in range(repeats)]
    return statistics.median(runs)


def per_call_ms(fn, seconds: float = 1.0) -> float:
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()

    import numpy as np

    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.ergonomics.l5s1 import l5s1_load
    from edge.scoring.methods import ScoreConfig
    from edge.scoring.stream import PersonStream
    from edge.signals import butterworth_lowpass
    from edge.skeletons import get_layout, to_canonical

    print(f"scipy.signal import, fresh process: {fresh_seconds(_IMPORT, args.repeats) * 1000:.0f} ms")
    first = fresh_seconds(_FIRST_CALL.format(fps=args.fps), args.repeats)
    print(f"first l5s1_load call of a process (1 s window): {first * 1000:.0f} ms")

    layout, up, fps = get_layout("blazepose33"), np.array([0.0, 0.0, 1.0]), args.fps
    joints = example_lift_sequence(seconds=60.0, fps=fps)
    window = to_canonical(joints[: int(round(fps)) + 1], layout)  # the stream's 1 s window
    block = np.concatenate(list(window.values()), axis=1)[:, :39]  # as many columns as the 13 points L5/S1 filters
    from scipy.signal import butter, sosfiltfilt

    filter_ms = per_call_ms(lambda: butterworth_lowpass(block, fps, 8.0))
    scipy_ms = per_call_ms(lambda: sosfiltfilt(butter(4, 8.0, fs=fps, output="sos"), block, axis=0,
                                               padlen=len(block) - 1))
    l5s1_ms = per_call_ms(lambda: l5s1_load(window, up, fps, load_kg=10.0))
    print(f"warm, per call on a 1 s window at {fps:g} fps ({block.shape[0]} frames x {block.shape[1]} columns):")
    print(f"  butterworth_lowpass {filter_ms:.3f} ms, scipy butter + sosfiltfilt {scipy_ms:.3f} ms, "
          f"l5s1_load {l5s1_ms:.3f} ms")

    stream = PersonStream(layout, up, ScoreConfig(load_kg=10.0))
    times = []
    for i, frame in enumerate(joints):
        start = time.perf_counter()
        stream.update(i / fps, frame)
        times.append(time.perf_counter() - start)
    warm = np.array(times[int(fps) * 2:]) * 1000  # after the first 2 s
    print(f"PersonStream.update at {fps:g} fps, warm: mean {warm.mean():.3f} ms per frame, slowest {warm.max():.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
