"""What a set of sequence files holds: counts, durations, class balance, REBA distribution, frame rates, layouts.

`data_stats` reads one .npz sequence file or every .npz in a directory (not recursive); `format_stats` renders the
result as text and `write_stats_png` as a figure (class balance, REBA histogram, sequence durations).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from edge.datasets.sequence import UNKNOWN_ACTIVITY, load_sequence
from edge.errors import InputError
from edge.paths import atomic_path

UNLABELLED = "(unlabelled)"
REBA_RANGE = range(1, 16)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.glob("*.npz") if p.is_file())
        if not files:
            raise InputError(f"no .npz sequence files in {path}")
        return files
    if path.exists():
        raise InputError(f"{path} is neither a file nor a directory of sequence files")
    raise InputError(f"no such file or directory: {path}")


def data_stats(path_or_dir: str | os.PathLike) -> dict:
    """Statistics over the sequence files at `path_or_dir` (see the module doc). Frames of every activity, including
    unlabelled ones, add up to `frames`; REBA counts only sequences that carry a `reba_total` target."""
    root = Path(path_or_dir)
    files = _files(root)
    frames_by_activity: Counter = Counter()
    seconds_by_activity: Counter = Counter()
    reba = np.zeros(len(REBA_RANGE), dtype=np.int64)
    reba_unscored = 0
    reba_frames = 0
    durations, layouts, fps_values, targets = [], Counter(), set(), set()
    frames_total, seconds_total, with_2d, with_3d = 0, 0.0, 0, 0
    for file in files:
        seq = load_sequence(file)
        n = seq.num_frames
        frames_total += n
        seconds_total += seq.duration_s
        durations.append({"file": file.name, "frames": n, "duration_s": round(seq.duration_s, 3)})
        layouts[seq.layout] += 1
        fps_values.add(float(seq.fps))
        targets.update(seq.targets)
        with_2d += seq.keypoints2d is not None
        with_3d += seq.joints is not None
        ids = seq.activity if seq.activity is not None else np.full(n, UNKNOWN_ACTIVITY)
        counts = np.bincount(ids[ids >= 0], minlength=len(seq.activity_names))
        for name, count in zip(seq.activity_names, counts.tolist()):
            frames_by_activity[name] += count
            seconds_by_activity[name] += count / seq.fps
        unlabelled = int(np.count_nonzero(ids < 0))
        if unlabelled:
            frames_by_activity[UNLABELLED] += unlabelled
            seconds_by_activity[UNLABELLED] += unlabelled / seq.fps
        if "reba_total" in seq.targets:
            values = np.asarray(seq.targets["reba_total"], dtype=np.float64)
            known = np.isfinite(values)
            reba_frames += n
            reba_unscored += int(np.count_nonzero(~known))
            rounded = np.rint(values[known]).astype(np.int64)
            inside = (rounded >= REBA_RANGE.start) & (rounded < REBA_RANGE.stop)
            reba += np.bincount(rounded[inside] - REBA_RANGE.start, minlength=len(REBA_RANGE))

    secs = np.array([d["duration_s"] for d in durations])
    activities = {
        name: {"frames": int(frames_by_activity[name]), "seconds": round(float(seconds_by_activity[name]), 3),
               "fraction": round(frames_by_activity[name] / frames_total, 4) if frames_total else 0.0}
        for name in sorted(frames_by_activity, key=lambda k: (k == UNLABELLED, -frames_by_activity[k], k))
    }
    return {
        "path": str(root),
        "files": len(files),
        "frames": int(frames_total),
        "duration_s": round(seconds_total, 3),
        "fps": sorted(fps_values),
        "layouts": dict(sorted(layouts.items())),
        "with_3d": int(with_3d),
        "with_2d": int(with_2d),
        "targets": sorted(targets),
        "activities": activities,
        "sequence_durations": durations,
        "duration_summary_s": {"min": round(float(secs.min()), 3), "median": round(float(np.median(secs)), 3),
                               "max": round(float(secs.max()), 3)},
        "reba_total_histogram": {str(score): int(c) for score, c in zip(REBA_RANGE, reba.tolist())},
        "reba_frames": int(reba_frames),
        "reba_unscored": int(reba_unscored),
    }


def format_stats(stats: dict) -> str:
    """Readable text of `data_stats`' result."""
    d = stats["duration_summary_s"]
    lines = [
        (f"{stats['path']}: {stats['files']} sequence file(s), {stats['frames']} frames, "
         f"{stats['duration_s'] / 60.0:.1f} min"),
        (f"  fps: {', '.join(f'{f:g}' for f in stats['fps'])}; layouts: "
         + ", ".join(f"{k} ({v})" for k, v in stats["layouts"].items())),
        (f"  3D joints in {stats['with_3d']}, 2D keypoints in {stats['with_2d']}; sequence duration "
         f"min {d['min']:.1f} s, median {d['median']:.1f} s, max {d['max']:.1f} s"),
        "  activities (frames, seconds, share):",
    ]
    width = max((len(n) for n in stats["activities"]), default=8)
    for name, a in stats["activities"].items():
        lines.append(f"    {name:<{width}s} {a['frames']:8d} {a['seconds']:9.1f} s {100 * a['fraction']:5.1f}%")
    hist = stats["reba_total_histogram"]
    if stats["reba_frames"]:
        scored = [int(k) for k, v in hist.items() if v]
        span = f"{min(scored)}..{max(scored)}" if scored else "none"
        lines.append(f"  REBA total over {stats['reba_frames']} frames (span {span}, unscored "
                     f"{stats['reba_unscored']}):")
        lines.append("    " + "  ".join(f"{k}:{v}" for k, v in hist.items()))
    else:
        lines.append("  REBA total: no sequence has a reba_total target")
    if stats["targets"]:
        lines.append(f"  targets: {len(stats['targets'])} ({', '.join(stats['targets'][:6])}"
                     f"{', ...' if len(stats['targets']) > 6 else ''})")
    return "\n".join(lines)


def write_stats_png(stats: dict, path: str | os.PathLike) -> Path:
    """Class balance, REBA histogram and sequence-duration histogram in one PNG."""
    # The object API with the Agg canvas: no pyplot, no GUI backend, no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(13, 4.5))
    FigureCanvasAgg(fig)
    ax_act, ax_reba, ax_dur = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1.0, 1.0]})

    names = list(stats["activities"])
    seconds = [stats["activities"][n]["seconds"] for n in names]
    ax_act.barh(range(len(names)), seconds, color="#1565c0")
    ax_act.set_yticks(range(len(names)), names, fontsize=8)
    ax_act.invert_yaxis()
    ax_act.set_xlabel("seconds")
    ax_act.set_title("class balance", loc="left", fontsize=10)

    hist = stats["reba_total_histogram"]
    ax_reba.bar([int(k) for k in hist], list(hist.values()), color="#c62828")
    ax_reba.set_xticks(list(REBA_RANGE))
    ax_reba.set_xlabel("REBA total")
    ax_reba.set_ylabel("frames")
    ax_reba.set_title(f"REBA ({stats['reba_frames']} frames, {stats['reba_unscored']} unscored)", loc="left",
                      fontsize=10)

    durations = [d["duration_s"] / 60.0 for d in stats["sequence_durations"]]
    ax_dur.hist(durations, bins=min(20, max(len(durations), 1)), color="#2e7d32")
    ax_dur.set_xlabel("sequence duration [min]")
    ax_dur.set_ylabel("sequences")
    ax_dur.set_title(f"{stats['files']} sequences, {stats['duration_s'] / 60.0:.1f} min", loc="left", fontsize=10)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    return path
