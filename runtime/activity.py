"""The activity stage of `ergoedge run`: each tracked person's joints go, frame by frame, through the streaming
activity model (`edge_stream`'s step, exported by `ergoedge export RUN --out DIR --streaming`) with that person's
own state (`edge.streaming.activity.PersonActivity`: layout, frame rate and normalisation as in training).
The model is reached through its file and `edge.inference` only: no torch at run time.

Each frame's metrics gain `activity` (a class name, None while unknown), `activity_confidence` (0..1),
`learned_reba` and `learned_<partial>` per REBA partial the model predicts; rules on an activity
(`AlertRule.activity`) read `activity:<class>`. Where the model has lift classes, `lifts_per_min` counts lifts
from its activity segments instead of trunk-flexion cycles. The report gets, per person, the time in each activity
and, per activity, the time in each REBA risk level (of the rules' `reba_total`), and the model's step times.

Config, `[activity]`:

    model = ""              # "": the models directory's edge_stream_step.onnx when it is there (set-up exports the
                            # default weights there); "none": off; else the path of an exported step (.onnx)
    backend = "auto"        # .onnx -> onnxruntime, .engine -> tensorrt; or onnxruntime, openvino, tensorrt
    lift_classes = ["stoop_lift"]   # default: the model's classes named like lifts (`LIFT_WORDS`); [] for none
    lift_min_s = 0.3        # a lift is a run of lift classes held at least this long (0..10 s)
    camera_fov_deg = 60.0   # one camera's field of view across the frame's longer side (1..170 deg), to place
                            # people in its space for a model that reads the pelvis's path (below)

A model that reads the pelvis's path (normalisation root "first" or "none", e.g. edge_stream trained on UW-IOM
with its registry defaults) gets each person placed in the camera's space (`edge.pose.placement`, with a pinhole
camera of `camera_fov_deg`; a rig's calibrated cameras triangulate or place each person's root); the default
weights do not need it.

Without a model the stage is off, and the run says so once (a log line and the report's messages).
"""

from __future__ import annotations

import html
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.config import check_number
from edge.ergonomics.reba import risk_band, risk_bands
from edge.errors import InputError
from edge.pose.placement import PlacementConfig
from edge.streaming.activity import LIFT_WORDS, LayoutMap, PersonActivity, default_lift_classes
from runtime.alerts.engine import AlertRule, activity_metric

DEFAULT_MODEL = "edge_stream_step.onnx"
DEFAULT_WEIGHTS = "edge_stream.pt"  # what the default step is exported from (set-up: scripts/setup.sh)
OFF = "none"
BACKEND_CHOICES = ("auto", "onnxruntime", "openvino", "tensorrt")
# People kept apart in the report; the ones seen longest ago fold into "others" (memory stays flat over weeks).
MAX_PEOPLE_KEPT = 64
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ActivityConfig:
    model: str = ""
    backend: str = "auto"
    lift_classes: tuple[str, ...] | None = None
    lift_min_s: float = 0.3
    camera_fov_deg: float = PlacementConfig.fov_deg

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_CHOICES:
            raise InputError(f"activity.backend must be one of {', '.join(BACKEND_CHOICES)}, got {self.backend!r}")
        check_number(self.lift_min_s, "activity.lift_min_s", minimum=0.0, maximum=10.0)
        check_number(self.camera_fov_deg, "activity.camera_fov_deg", minimum=1.0, maximum=170.0)


def resolve_model(config: ActivityConfig, models_dir: Path) -> tuple[Path | None, str]:
    """(the model file to run, None when the stage is off; why it is off)."""
    if config.model == OFF:
        return None, f'activity stage off ([activity] model = "{OFF}")'
    if config.model:
        return Path(config.model).expanduser(), ""
    default = Path(models_dir) / DEFAULT_MODEL
    if default.is_file():
        return default, ""
    return None, (f"activity stage off: no activity model ({DEFAULT_MODEL} is not in {models_dir}; "
                  f"`ergoedge export RUN --out {models_dir} --streaming` makes it, or set [activity] model)")


def stale_default(config: ActivityConfig, models_dir: Path) -> str:
    """A warning when the default step is older than the default weights beside it (`ergoedge train-defaults
    --force` retrained them; set-up exports them again), else ""."""
    if config.model:
        return ""
    weights, manifest = Path(models_dir) / DEFAULT_WEIGHTS, Path(models_dir) / DEFAULT_MODEL
    manifest = manifest.with_suffix(".json")
    if weights.is_file() and manifest.is_file() and weights.stat().st_mtime > manifest.stat().st_mtime:
        return (f"the default activity step {DEFAULT_MODEL} is older than {DEFAULT_WEIGHTS} beside it and runs the "
                f"older weights: `ergoedge export {weights} --out {models_dir} --streaming` (set-up does) exports them")
    return ""


def check_activity_rules(rules: Iterable[AlertRule], classes: tuple[str, ...] | None, off_reason: str = "") -> None:
    """An `InputError` for a rule naming an activity the model does not know (listing those it knows), or any
    activity at all when the stage is off (`classes` None)."""
    for rule in rules:
        if rule.activity is None:
            continue
        if classes is None:
            raise InputError(f"rule {rule.name!r} names activity {rule.activity!r}, but {off_reason}")
        if rule.activity not in classes:
            raise InputError(f"rule {rule.name!r}: unknown activity {rule.activity!r}; the activity model knows "
                             f"{', '.join(classes) or 'no classes'}")


class ActivityTotals:
    """Per person, per activity: seconds in each REBA risk level (their sum is the activity's time)."""

    def __init__(self, keep: int = MAX_PEOPLE_KEPT):
        self.keep = keep
        self.people: OrderedDict[int, dict[str, dict[str, float]]] = OrderedDict()
        self.others: dict[str, dict[str, float]] | None = None

    def add(self, person: int, activity: str | None, reba: float | None, dt: float) -> None:
        totals = self.people.get(person)
        if totals is None:
            totals = self.people[person] = {}
            if len(self.people) > self.keep:
                _, oldest = self.people.popitem(last=False)
                self.others = self._merge(self.others or {}, oldest)
        self.people.move_to_end(person)
        band = risk_band(reba) if isinstance(reba, (int, float)) else None
        levels = totals.setdefault(activity or UNKNOWN, {})
        level = band.name if band is not None else UNKNOWN
        levels[level] = levels.get(level, 0.0) + dt

    @staticmethod
    def _merge(into: dict, totals: dict) -> dict:
        for name, levels in totals.items():
            merged = into.setdefault(name, {})
            for level, s in levels.items():
                merged[level] = merged.get(level, 0.0) + s
        return into

    def to_json(self) -> dict:
        def rounded(totals: dict) -> dict:
            levels = {k: _milliseconds(v) for k, v in sorted(totals.items())}
            return {"time_s": {k: round(sum(v.values()), 3) for k, v in levels.items()}, "reba_s": levels}

        out = {"persons": {str(p): rounded(t) for p, t in sorted(self.people.items())}}
        if self.others is not None:
            out["others"] = rounded(self.others)
        return out


class ActivityStage:
    """The stage for one run (module doc). `enabled` is False when there is no model; then `update`, `observe`
    and `forget` do nothing and the report says why."""

    def __init__(self, config: ActivityConfig, models_dir: Path, pose_layout: str, rules: Iterable[AlertRule],
                 log: Callable[[str], None]):
        from edge.streaming.model import open_stream_model

        rules = tuple(rules)
        path, self.off_reason = resolve_model(config, models_dir)
        self.model = None if path is None else open_stream_model(path, config.backend)
        if self.model is not None:
            try:
                self.convert = LayoutMap(pose_layout, self.model.layout)
            except InputError as exc:
                if config.model:  # the model the config names must run
                    raise
                self.model, self.off_reason = None, f"activity stage off: {exc}"  # the default, with another pose model
        self.totals = ActivityTotals()
        self.people: dict[int, PersonActivity] = {}
        if self.model is None:
            check_activity_rules(rules, None, self.off_reason)
            log(self.off_reason)
            logging.getLogger(__name__).warning("%s", self.off_reason)
            return
        stale = stale_default(config, models_dir)
        if stale:
            log(stale)
            logging.getLogger(__name__).warning("%s", stale)
        classes = self.model.classes
        check_activity_rules(rules, classes)
        self.lift_classes = (default_lift_classes(classes) if config.lift_classes is None
                             else tuple(config.lift_classes))
        unknown = [c for c in self.lift_classes if c not in classes]
        if unknown:
            raise InputError(f"activity.lift_classes: unknown class {unknown[0]!r}; the activity model knows "
                             f"{', '.join(classes) or 'no classes'}")
        self.config = config
        self._ruled = tuple(sorted({r.activity for r in rules if r.activity is not None}))
        self._placed = {"placed": 0, "not_placed": 0}  # frames given an offset, and frames whose offset was unknown

    @property
    def enabled(self) -> bool:
        return self.model is not None

    @property
    def placement(self) -> PlacementConfig | None:
        """How people are placed in the camera's space for the model (None: it reads no pelvis path)."""
        if self.model is None or self.model.norm.root == "frame":
            return None
        return PlacementConfig(fov_deg=self.config.camera_fov_deg)

    def update(self, person: int, t: float, joints, up, metrics: dict, offset=None) -> None:
        """Add the activity metrics of `person`'s frame at stream time `t` to `metrics` (in place); `offset`: what
        places the joints in the camera's space (`PersonActivity.update`)."""
        if self.model is None:
            return
        stream = self.people.get(person)
        if stream is None:
            stream = self.people[person] = PersonActivity(self.model, self.convert, self.lift_classes,
                                                          self.config.lift_min_s)
        if offset is not None:
            self._placed["placed" if np.isfinite(offset).all() else "not_placed"] += 1
        found = stream.update(t, joints, up, offset)
        metrics.update(found)
        current = found["activity"]
        for name in self._ruled:
            metrics[activity_metric(name)] = float("nan") if current is None else float(current == name)

    def observe(self, person: int, metrics: dict, dt: float) -> None:
        """Credit `dt` seconds of this frame to the person's current activity and REBA level."""
        if self.model is not None:
            self.totals.add(person, metrics.get("activity"), metrics.get("reba_total"), dt)

    def forget(self, person: int) -> None:
        self.people.pop(person, None)

    def report(self) -> dict:
        if self.model is None:
            return {"enabled": False, "reason": self.off_reason}
        m = self.model
        lifts = ({"counted_from": "activity segments", "classes": list(self.lift_classes),
                  "min_s": self.config.lift_min_s} if self.lift_classes else
                 {"counted_from": "trunk-flexion cycles", "classes": [],
                  "why": f"the model has no lift class (named with {', '.join(LIFT_WORDS)}, or activity.lift_classes)"})
        placement = self.placement
        placed = None if placement is None else {"fov_deg": placement.fov_deg, "frames": dict(self._placed)}
        return {"enabled": True, "model": str(m.path), "model_name": m.model_name, "classes": list(m.classes),
                "partials": list(m.partials), "layout": m.layout, "fps": m.fps, "placement": placed,
                "delay_s": round(m.delay_frames / m.fps, 3), "lifts": lifts, "speed": m.speed(),
                **self.totals.to_json()}


def activity_html(section: dict | None) -> str:
    """The report page's section: time per activity per person, and the REBA levels within each activity."""
    esc = html.escape
    if not section:
        return ""
    if not section.get("enabled"):
        return f"<h2>Activities</h2><p>{esc(section.get('reason', 'off'))}</p>"
    bands = [b.name for b in risk_bands()] + [UNKNOWN]
    head = "".join(f"<th>{esc(b)} [s]</th>" for b in bands)
    rows = []
    people = list(section.get("persons", {}).items()) + ([("others", section["others"])] if "others" in section else [])
    for person, totals in people:
        for activity, seconds in totals["time_s"].items():
            levels = totals["reba_s"].get(activity, {})
            cells = "".join(f"<td>{levels.get(b, 0.0):.1f}</td>" for b in bands)
            rows.append(f"<tr><td>{esc(person)}</td><td>{esc(activity)}</td><td>{seconds:.1f}</td>{cells}</tr>")
    speed = section.get("speed", {})
    lifts = section.get("lifts", {})
    return (f"<h2>Activities</h2><p>Model {esc(Path(section['model']).name)} ({esc(speed.get('provider', ''))}): "
            f"{speed.get('steps', 0)} steps, median {speed.get('step_median_ms', float('nan')):.2f} ms a step; "
            f"lifts counted from {esc(lifts.get('counted_from', ''))}.</p>"
            f"<table><tr><th>person</th><th>activity</th><th>time [s]</th>{head}</tr>{''.join(rows)}</table>")


def _milliseconds(parts: dict[str, float]) -> dict[str, float]:
    """`parts` (seconds) rounded to milliseconds so that they still add up to their rounded sum (the largest
    remainders round up): a report's REBA levels within an activity add up to its time."""
    ms = {k: v * 1000.0 for k, v in parts.items()}
    out = {k: math.floor(v) for k, v in ms.items()}
    for k in sorted(ms, key=lambda k: ms[k] - out[k], reverse=True)[:round(sum(ms.values())) - sum(out.values())]:
        out[k] += 1
    return {k: v / 1000.0 for k, v in out.items()}
