"""Scoring a long recording in parts, in bounded memory, with the results of scoring it whole.

`score_sequence` holds every per-frame column of a recording at once (about 90 float64 columns, the L5/S1 model's
arrays, and each cell as a Python object for the CSV): 5.5 GB for 1e6 frames. `score_recording` scores a recording
of more than `CHUNK_FRAMES` frames a part of `CHUNK_FRAMES` at a time (`score_blocks`), and
`edge.scoring.outputs.write_scored_blocks` writes scores.csv as the parts come, builds the summary as they go and
draws the timeline from per-bin maxima. Two passes over the joints; what a frame's scores need beyond its part:

- Activity terms (`edge.ergonomics.activity`): the repetition counter is a state machine run from the start of the
  recording, and its smoothing a running sum, so no finite overlap would reproduce them exactly. The first pass keeps
  the six angles they read (48 bytes a frame) and they are computed once, for the whole recording.
- L5/S1 (`edge.ergonomics.l5s1`): the zero-phase low-pass reaches `context_frames` frames either side (117 at 30 fps),
  so each part is scored with that many more frames on either side, then dropped. Segment lengths are medians over
  the whole recording: the first pass keeps every frame's lengths (56 bytes a frame) for them.

Everything else is per frame. The L5/S1 columns equal the whole recording's to within rounding (the filter's
floating-point sums run over other lengths), the other columns exactly. A recording of at most `CHUNK_FRAMES`
frames is scored whole by `score_sequence`, as it always was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from edge.ergonomics.activity import ARM_SIGNALS, BODY_SIGNALS, activity_flags
from edge.ergonomics.l5s1 import context_frames, l5s1_load, segment_lengths
from edge.kinematics import angles_from_points
from edge.scoring.methods import ScoreConfig
from edge.scoring.offline import frame_columns, score_sequence
from edge.scoring.outputs import write_outputs, write_scored_blocks
from edge.scoring.summary import SummaryBuilder
from edge.skeletons import Layout, to_canonical

# Frames scored at a time: about 17 minutes at 30 fps, 100-150 MB of working memory. A recording this long or
# shorter is scored whole.
CHUNK_FRAMES = 30_000


def score_recording(joints: np.ndarray, layout: Layout, up: np.ndarray, fps: float, config: ScoreConfig,
                    out_dir: str | os.PathLike, run_info: dict | None = None, chunk_frames: int | None = None,
                    progress: TextIO | None = None) -> tuple[dict, dict[str, Path]]:
    """Score joints (T, J, 3) in metres (checked by `edge.datasets.sequence.check_scorable`; any float dtype) and
    write scores.csv, summary.json and timeline.png into `out_dir`: whole when they are at most `chunk_frames`
    (default `CHUNK_FRAMES`) long, else in parts, with a progress line on `progress`. Returns the summary and the
    paths written."""
    chunk_frames = chunk_frames or CHUNK_FRAMES
    if len(joints) <= chunk_frames:
        result = score_sequence(np.asarray(joints, dtype=np.float64), layout, up, fps, config)
        return result.summary, write_outputs(result, out_dir, run_info)
    bar = Progress(2 * len(joints), progress)
    try:
        blocks = score_blocks(joints, layout, up, fps, config, chunk_frames, bar)
        return write_scored_blocks(blocks, SummaryBuilder(fps, layout, config), len(joints), out_dir, run_info)
    finally:
        bar.close()


def score_blocks(joints: np.ndarray, layout: Layout, up: np.ndarray, fps: float,
                 config: ScoreConfig = ScoreConfig(), chunk_frames: int = CHUNK_FRAMES,
                 progress: Progress | None = None) -> Iterator[dict[str, np.ndarray]]:
    """`score_sequence(joints, ...).columns`, `chunk_frames` consecutive frames at a time (module docstring)."""
    progress = progress or Progress(0)
    context = context_frames(fps, config.l5s1)
    act, lengths = _whole_recording_terms(joints, layout, up, fps, config, chunk_frames, context, progress)
    cfg = config
    for start, stop, lo, hi in _parts(len(joints), chunk_frames, context):
        points = to_canonical(np.asarray(joints[lo:hi], dtype=np.float64), layout)
        core = slice(start - lo, stop - lo)
        angles = angles_from_points({name: p[core] for name, p in points.items()}, up)
        load = l5s1_load(points, up, fps, cfg.body, cfg.load_kg, cfg.l5s1, lengths=lengths)
        yield frame_columns(angles, {k: v[start:stop] for k, v in act.items()}, load, start, fps, cfg, core)
        progress.update(stop - start)


def _parts(num_frames: int, chunk_frames: int, context: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, stop) of each part, and (lo, hi): the part with `context` more frames either side where there are."""
    for start in range(0, num_frames, chunk_frames):
        stop = min(start + chunk_frames, num_frames)
        yield start, stop, max(start - context, 0), min(stop + context, num_frames)


def _whole_recording_terms(joints, layout, up, fps, config, chunk_frames, context, progress):
    """The first pass: the activity flags of the whole recording, and its L5/S1 segment lengths (medians)."""
    num_frames = len(joints)
    signals = {name: np.empty(num_frames) for name in BODY_SIGNALS + ARM_SIGNALS}  # what activity_flags reads
    series: dict[str, np.ndarray] = {}
    for start, stop, lo, hi in _parts(num_frames, chunk_frames, context):
        points = to_canonical(np.asarray(joints[lo:hi], dtype=np.float64), layout)
        core = slice(start - lo, stop - lo)
        angles = angles_from_points({name: p[core] for name, p in points.items()}, up)
        for name, column in signals.items():
            column[start:stop] = angles[name]
        for name, values in segment_lengths(points, fps, config.l5s1).items():
            series.setdefault(name, np.empty(num_frames))[start:stop] = values[core]
        progress.update(stop - start)
    lengths = {}
    for name, values in series.items():
        known = values[~np.isnan(values)]
        lengths[name] = float(np.median(known)) if known.size else float("nan")
    return activity_flags(signals, fps, config.activity), lengths


class Progress:
    """How far a long job is, on a text stream: one line redrawn in place on a terminal, a line every tenth
    otherwise, nothing without a stream."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "scoring"):
        self.total, self.stream, self.label = max(total, 1), stream, label
        self.done = 0
        self.tty = stream is not None and stream.isatty()
        self.shown = -1 if self.tty else 0  # percent last shown: a log gets 10%, 20%, ... 100%

    def update(self, amount: int) -> None:
        self.done += amount
        percent = min(100 * self.done // self.total, 100)
        if self.stream is None or percent == self.shown or (not self.tty and percent // 10 == self.shown // 10):
            return
        self.shown = percent
        self.stream.write(f"\r{self.label}: {percent:3d}%" if self.tty else f"{self.label}: {percent // 10 * 10}%\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.tty and self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()
