"""The activity stage of `ergoedge run` (runtime/activity.py, edge/streaming/activity.py): frames prepared on
the device exactly as training prepared sequences (layout, frame rate, normalisation) give the torch model's
outputs; lifts from activity segments; rules on activities (checked against the model's classes); the stage off
without a model; and a real `ergoedge run` on the pose2sim clip with a tiny edge_stream trained and exported here:
activities in the report, labels drawn, activity rules raised, speed figures. The runtime never imports torch."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training and exporting the test's model needs torch (the train extra)")

from edge.cli import main  # noqa: E402
from edge.config import from_mapping  # noqa: E402
from edge.datasets.sequence import Sequence, resample  # noqa: E402
from edge.datasets.synth.example_lift import example_lift_sequence  # noqa: E402
from edge.errors import InputError  # noqa: E402
from edge.streaming.model import open_stream_model, read_manifest  # noqa: E402
from edge.streaming.activity import LayoutMap, PersonActivity, default_lift_classes  # noqa: E402
from edge.skeletons import get_layout, parse_up  # noqa: E402
from edge.train.checkpoint import load_checkpoint  # noqa: E402
from edge.train.config import NormConfig  # noqa: E402
from edge.train.normalise import normalise_joints  # noqa: E402
from export.onnx_stream import export_streaming  # noqa: E402
from runtime.activity import ActivityConfig, ActivityStage  # noqa: E402
from runtime.alerts.engine import DEFAULT_RULES, AlertEngine, AlertRule  # noqa: E402

import activity_helpers  # tests/ is on sys.path under pytest

REPO = Path(__file__).resolve().parents[1]
TINY_TRAINING = """
[train]
epochs = 2
batch_size = 4
lr = 0.01
patience = 0
[data]
synth_minutes = 1.2
window_s = 6.4
stride_s = 3.2
[data.synth]
recording_minutes = [0.25, 0.4]
[model]
channels = 8
refine_channels = 8
layers = 4
stages = 2
"""


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def exported_model(tmp_path, checkpoint):
    return open_stream_model(export_streaming(checkpoint, tmp_path / "model").onnx)


# ------------------------------------------------------------------------------------ frames as training made them


@pytest.mark.parametrize("norm", [NormConfig(), NormConfig(root="first"), NormConfig(root="none", scale="none")])
def test_the_device_prepares_frames_as_training_did(tmp_path, norm):
    ckpt = activity_helpers.trained_checkpoint(tmp_path / "c.pt", norm)
    model = exported_model(tmp_path, ckpt)
    fps, up = 25.0, parse_up("-y")  # 25 fps -> 10 fps: most steps fall between two frames
    joints = example_lift_sequence(seconds=12.0, fps=fps, layout="uwiom15", up="-y") + [0.4, -0.1, 2.5]
    # Training's path: the whole sequence resampled, normalised, and run through torch at once.
    seq = resample(Sequence(layout="uwiom15", fps=fps, joints=joints, up=up), model.fps)
    normalised, _ = normalise_joints(seq.joints, seq.up, "uwiom15", norm)
    with torch.no_grad():
        whole = load_checkpoint(ckpt).build()({"joints": torch.from_numpy(np.nan_to_num(normalised))[None],
                                              "mask": torch.ones(1, len(normalised), dtype=torch.bool)})
    # The device's: one camera frame at a time.
    person = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    stepped = []
    for i, frame in enumerate(joints):
        before = model.steps
        metrics = person.update(i / fps, frame, up)
        if model.steps > before:
            stepped.append(metrics)
    assert len(stepped) == len(normalised) == 120
    classes = activity_helpers.CLASSES
    for k, metrics in enumerate(stepped):
        assert metrics["learned_reba"] == pytest.approx(float(whole["reba"][0, k]), abs=1e-4), k
        assert metrics["learned_reba_trunk"] == pytest.approx(float(whole["reba_partials"][0, k, 1]), abs=1e-4)
        assert metrics["activity"] == classes[int(whole["activity_logits"][0, k].argmax())]
        probs = torch.softmax(whole["activity_logits"][0, k].double(), 0)
        assert metrics["activity_confidence"] == pytest.approx(float(probs.max()), abs=1e-4)


def test_a_delayed_model_reports_each_frame_that_many_steps_late(tmp_path):
    delay = 4
    ckpt = activity_helpers.trained_checkpoint(tmp_path / "c.pt", delay=delay)
    model = exported_model(tmp_path, ckpt)
    fps, up = 10.0, parse_up("z")  # the model's rate: one step per frame
    joints = example_lift_sequence(seconds=6.0, fps=fps, layout="uwiom15", up="z")
    normalised, _ = normalise_joints(joints, up, "uwiom15", NormConfig())
    with torch.no_grad():
        whole = load_checkpoint(ckpt).build()({"joints": torch.from_numpy(np.nan_to_num(normalised))[None],
                                              "mask": torch.ones(1, len(normalised), dtype=torch.bool)})
    person = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    seen = [person.update(i / fps, frame, up) for i, frame in enumerate(joints)]
    assert model.steps == len(joints) == 60
    # Unknown until the first frame is labelled, then frame k's outputs with frame k + delay.
    assert all(m["activity"] is None and np.isnan(m["learned_reba"]) for m in seen[:delay])
    for k, metrics in enumerate(seen[delay:]):
        assert metrics["learned_reba"] == pytest.approx(float(whole["reba"][0, k]), abs=1e-4), k
        assert metrics["activity"] == activity_helpers.CLASSES[int(whole["activity_logits"][0, k].argmax())]


def test_a_model_that_reads_the_pelvis_path_gets_the_joints_placed(tmp_path):
    """Hip-centred joints with the offset that places them give what the placed joints give; the stream starts at
    its first placed frame and holds the last offset through a frame without one; root "frame" ignores it."""
    fps, up = 10.0, parse_up("z")
    joints = example_lift_sequence(seconds=6.0, fps=fps, layout="uwiom15", up="z")
    walked = np.column_stack([np.linspace(0.0, 2.0, len(joints)), 0.3 * np.sin(np.arange(len(joints)) / 7.0),
                              np.zeros(len(joints))]) + [0.4, -0.1, 0.0]  # a path through the room
    pelvis = joints[:, [get_layout("uwiom15").index(n) for n in ("left_hip", "right_hip")]].mean(axis=1)
    centred = joints - pelvis[:, None]  # what a hip-centred pose model gives
    offsets = pelvis + walked
    model = exported_model(tmp_path, activity_helpers.trained_checkpoint(tmp_path / "c.pt", NormConfig(root="first")))
    placed = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    given = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    still = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    for i in range(len(joints)):
        a = placed.update(i / fps, centred[i] + offsets[i], up)
        b = given.update(i / fps, centred[i], up, offsets[i])
        c = still.update(i / fps, centred[i], up)  # no placement: the pelvis never moves
        assert b["learned_reba"] == pytest.approx(a["learned_reba"], abs=1e-5) and b["activity"] == a["activity"]
    assert c["learned_reba"] != pytest.approx(a["learned_reba"], abs=1e-3)  # the path matters to this model
    # Not placed at first, then placed, then one frame without: the stream starts at frame 3, frame 20 keeps 19's.
    late = offsets.copy()
    late[:3] = np.nan
    late[20] = np.nan
    held = offsets.copy()
    held[20] = held[19]
    first = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    later = PersonActivity(model, LayoutMap("uwiom15", "uwiom15"))
    before = model.steps
    for i in range(len(joints)):
        got = first.update(i / fps, centred[i], up, late[i])
        if i < 3:
            assert got["activity"] is None and model.steps == before
            continue
        want = later.update(i / fps, centred[i] + held[i], up)
        assert got["learned_reba"] == pytest.approx(want["learned_reba"], abs=1e-5), i
    # A model centred on each frame's pelvis: the offset changes nothing.
    framed = exported_model(tmp_path / "f", activity_helpers.trained_checkpoint(tmp_path / "f.pt", NormConfig()))
    one, other = (PersonActivity(framed, LayoutMap("uwiom15", "uwiom15")) for _ in range(2))
    for i in range(len(joints)):
        assert one.update(i / fps, centred[i], up, offsets[i]) == other.update(i / fps, centred[i], up)
    # The run's stage asks the view to place people only for a model that reads the path.
    for m, wanted in ((model, 45.0), (framed, None)):
        stage = ActivityStage(ActivityConfig(model=str(m.path), camera_fov_deg=45.0),
                              tmp_path, "uwiom15", (), log=print)
        assert (stage.placement and stage.placement.fov_deg) == wanted
    with pytest.raises(InputError, match="camera_fov_deg"):
        ActivityConfig(camera_fov_deg=0.0)


def test_pose_joints_become_the_models_layout():
    bp, uw = get_layout("blazepose33"), get_layout("uwiom15")
    joints = np.random.default_rng(0).standard_normal((33, 3))
    out = LayoutMap("blazepose33", "uwiom15")(joints)

    def mid(*names):
        return np.mean([joints[bp.index(n)] for n in names], axis=0)

    assert np.allclose(out[uw.index("left_knee")], joints[bp.index("left_knee")])
    assert np.allclose(out[uw.index("neck")], mid("left_shoulder", "right_shoulder"))
    assert np.allclose(out[uw.index("head")], mid("left_ear", "right_ear"))
    hips, shoulders = mid("left_hip", "right_hip"), mid("left_shoulder", "right_shoulder")
    assert np.allclose(out[uw.index("spine_mid")], (hips + shoulders) / 2)
    joints[bp.index("left_ear")] = np.nan  # a joint made from an unseen one is unseen, the others are not
    out = LayoutMap("blazepose33", "uwiom15")(joints)
    assert np.isnan(out[uw.index("head")]).all() and np.isfinite(np.delete(out, uw.index("head"), 0)).all()
    with pytest.raises(InputError, match="cannot give: .*upper_neck"):
        LayoutMap("coco17", "kinect25")


def test_lifts_are_counted_from_activity_segments(tmp_path):
    threshold = 0.3  # normalised head height: the example worker's head goes from 0.03 (bent) to 0.52 (upright)
    model = exported_model(tmp_path, activity_helpers.head_height_checkpoint(tmp_path / "h.pt", threshold))
    assert default_lift_classes(model.classes) == ("stoop_lift",)
    assert "state_0" not in {s.input for s in model.state_pairs}  # the previous frame: unread without velocities
    assert default_lift_classes(("box_bend_pick_up_low", "walking", "liftoff", "squat_lift")) == (
        "box_bend_pick_up_low", "squat_lift")
    joints = example_lift_sequence(seconds=60.0, fps=30, layout="blazepose33", up="z")
    up = np.array([0.0, 0.0, 1.0])
    convert = LayoutMap("blazepose33", "uwiom15")
    person = PersonActivity(model, convert, lift_classes=("stoop_lift",), lift_min_s=0.3)
    seen = [person.update(i / 30, frame, up) for i, frame in enumerate(joints)]
    # Expected: runs of steps (10 fps) with the head below the threshold lasting at least 0.3 s (4 steps).
    below = activity_helpers.head_heights(np.stack([convert(f) for f in joints]), up, 30) < threshold
    edges = np.flatnonzero(np.diff(np.concatenate([[0], below.astype(int), [0]])))
    runs = edges[1::2] - edges[::2]
    assert len(runs) >= 5 and seen[-1]["lifts_per_min"] == float((runs >= 4).sum())
    assert {m["activity"] for m in seen} == {"stand", "stoop_lift"}
    assert all(m["learned_reba"] == pytest.approx(4.0) for m in seen)


# ------------------------------------------------------------------------------------------------- rules


def test_a_rule_can_name_an_activity_held_for_a_while():
    rule = from_mapping(AlertRule, {"name": "bending", "activity": "bend", "min_duration_s": 10})
    assert (rule.metric, rule.threshold, rule.direction) == ("activity:bend", 1.0, "at_least")
    assert "bend" in rule.message and dataclasses.replace(rule, min_duration_s=5).metric == "activity:bend"
    for bad in ({"metric": "reba_total"}, {"threshold": 3}, {"direction": "below"}, {"hysteresis": 1.0}):
        with pytest.raises(InputError, match="a rule on an activity takes no"):
            AlertRule(name="x", activity="bend", **bad)
    with pytest.raises(InputError, match="missing key 'threshold'"):
        from_mapping(AlertRule, {"name": "x", "metric": "reba_total"})
    engine = AlertEngine([rule])
    events = []
    for i in range(200):  # 10 fps: bending for 15 s, then walking
        events += engine.update(i / 10, 0, {"activity:bend": 1.0 if i < 150 else 0.0})
    assert [(e.kind, e.time_s) for e in events] == [("raised", pytest.approx(10.0)), ("cleared", pytest.approx(15.0))]
    assert events[0].message == "Person 0: bend for 10.0 s (bending)"
    # The run config accepts it (its name is checked when the run opens the model).
    from runtime.config import AlertsConfig

    assert AlertsConfig(rules=(rule,)).rules == (rule,)


def test_activity_names_are_checked_against_the_models_classes(tmp_path):
    model_dir = export_streaming(activity_helpers.trained_checkpoint(tmp_path / "c.pt", steps=1), tmp_path / "m")
    config = ActivityConfig(model=str(model_dir.onnx))
    bending = AlertRule("bending", activity="bending")
    with pytest.raises(InputError, match="unknown activity 'bending'; the activity model knows walk, stand, bend, "
                                         "stoop_lift"):
        ActivityStage(config, tmp_path, "blazepose33", DEFAULT_RULES + (bending,), log=print)
    with pytest.raises(InputError, match="lift_classes: unknown class 'lift'"):
        ActivityStage(dataclasses.replace(config, lift_classes=("lift",)), tmp_path, "blazepose33", (), log=print)
    stage = ActivityStage(config, tmp_path, "blazepose33", (AlertRule("b", activity="bend"),), log=print)
    assert stage.enabled and stage.lift_classes == ("stoop_lift",)
    metrics = {}
    stage.update(3, 0.0, example_lift_sequence(1.0, 30, "blazepose33")[0], np.array([0, 0, 1.0]), metrics)
    assert metrics["activity"] in activity_helpers.CLASSES and metrics["activity:bend"] in (0.0, 1.0)
    assert "lifts_per_min" in metrics and np.isfinite(metrics["learned_reba"])
    with pytest.raises(InputError, match="backend must be one of"):
        ActivityConfig(backend="cuda")


# --------------------------------------------------------------------------------------------- stage off


def test_the_stage_is_off_without_a_model_and_says_so(tmp_path):
    said = []
    stage = ActivityStage(ActivityConfig(), tmp_path / "models", "blazepose33", DEFAULT_RULES, log=said.append)
    assert not stage.enabled and len(said) == 1 and "no activity model" in said[0] and "ergoedge export" in said[0]
    metrics = {"reba_total": 5.0}
    stage.update(0, 0.0, np.zeros((33, 3)), np.array([0, 0, 1.0]), metrics)
    stage.observe(0, metrics, 0.1)
    assert metrics == {"reba_total": 5.0} and stage.report() == {"enabled": False, "reason": said[0]}
    off = ActivityStage(ActivityConfig(model="none"), tmp_path, "blazepose33", (), log=said.append)
    assert not off.enabled and 'model = "none"' in said[1]
    with pytest.raises(InputError, match="names activity 'bend', but activity stage off"):
        ActivityStage(ActivityConfig(), tmp_path, "blazepose33", (AlertRule("b", activity="bend"),), log=said.append)
    with pytest.raises(InputError, match="no streaming model at"):
        ActivityStage(ActivityConfig(model=str(tmp_path / "gone.onnx")), tmp_path, "blazepose33", (), log=print)
    # A model the pose model's joints cannot feed: the default one is left off (said so), a named one is an error.
    models = tmp_path / "models"
    ckpt = activity_helpers.trained_checkpoint(tmp_path / "k.pt", steps=1, layout="kinect25")
    export_streaming(ckpt, models)
    stage = ActivityStage(ActivityConfig(), models, "coco17", (), log=said.append)
    assert not stage.enabled and "kinect25 needs joints the pose layout coco17 cannot give" in said[-1]
    assert ActivityStage(ActivityConfig(), models, "kinect25", (), log=said.append).enabled  # the default, found
    with pytest.raises(InputError, match="cannot give"):
        ActivityStage(ActivityConfig(model=str(models / "edge_stream_step.onnx")), models, "coco17", (), log=print)


def test_a_default_step_older_than_the_weights_beside_it_is_said(tmp_path):
    import os

    models = tmp_path / "models"
    export_streaming(activity_helpers.trained_checkpoint(tmp_path / "k.pt", steps=1), models)
    weights = models / "edge_stream.pt"
    weights.write_bytes((tmp_path / "k.pt").read_bytes())
    step_time = (models / "edge_stream_step.json").stat().st_mtime
    os.utime(weights, (step_time - 60, step_time - 60))  # exported after the weights: nothing to say
    said = []
    assert ActivityStage(ActivityConfig(), models, "uwiom15", (), log=said.append).enabled and said == []
    os.utime(weights, (step_time + 60, step_time + 60))  # retrained since: still runs, and says which is newer
    assert ActivityStage(ActivityConfig(), models, "uwiom15", (), log=said.append).enabled
    assert len(said) == 1 and "older than edge_stream.pt beside it" in said[0] and "--streaming" in said[0]
    named = ActivityConfig(model=str(models / "edge_stream_step.onnx"))  # a model the config names: its own choice
    assert ActivityStage(named, models, "uwiom15", (), log=said.append).enabled and len(said) == 1


def test_a_run_without_a_model_says_so_once(tmp_path, blazepose_models):
    from edge.config import with_overrides
    from runtime.config import load_config
    from runtime.session import run

    models = tmp_path / "models"  # the pose models without an activity model
    models.mkdir()
    for file in Path(blazepose_models[0]).parent.iterdir():
        if not file.name.startswith("edge_stream"):
            (models / file.name).symlink_to(file)
    config = with_overrides(load_config(None), max_seconds=0.5, scene_dir=str(tmp_path), **{
        "source.uri": "test://?pattern=snow&width=320&height=240&fps=30", "sinks.sqlite": "", "sinks.stdout": False,
        "pose.models_dir": str(models)})
    report = run(config, tmp_path / "out", status=None)
    assert report["activity"]["enabled"] is False and "no activity model" in report["activity"]["reason"]
    assert [m for m in report["messages"] if "activity" in m] == [report["activity"]["reason"]]


# ---------------------------------------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def trained_step(tmp_path_factory):
    """`ergoedge train` of a tiny edge_stream on synthetic data, then `ergoedge export --streaming`."""
    tmp = tmp_path_factory.mktemp("activity_model")
    (tmp / "tiny.toml").write_text(TINY_TRAINING)
    assert main(["train", "--model", "edge_stream", "--dataset", "synthetic", "--config", str(tmp / "tiny.toml"),
                 "--out", str(tmp / "run")]) == 0
    assert main(["export", str(tmp / "run"), "--out", str(tmp / "model"), "--streaming"]) == 0
    return tmp / "model" / "edge_stream_step.onnx"


def test_run_on_the_clip_shows_activities(footage, tmp_path, blazepose_models, trained_step, monkeypatch):
    import runtime.video.overlay as overlay

    classes = read_manifest(trained_step)["classes"]
    rules = "".join(f'[[alerts.rules]]\nname = "doing_{c}"\nactivity = "{c}"\nmin_duration_s = 0.3\n' for c in classes)
    config = tmp_path / "run.toml"
    config.write_text(f'{rules}[activity]\nmodel = "{trained_step}"\n')
    drawn = []
    real_draw = overlay.draw_overlay

    def draw(frame, people, statuses, *args):
        drawn.extend(statuses.values())
        return real_draw(frame, people, statuses, *args)

    monkeypatch.setattr(overlay, "draw_overlay", draw)
    out = tmp_path / "out"
    assert main(["run", "--source", str(footage / "pose2sim" / "cam01.mp4"), "--config", str(config), "--out",
                 str(out), "--events-db", str(tmp_path / "events.db"), "--record", str(tmp_path / "video.mp4"),
                 "--scene-dir", str(tmp_path / "scenes")]) == 0
    report = json.loads((out / "report.json").read_text())
    activity = report["activity"]
    assert activity["enabled"] and activity["classes"] == classes and activity["fps"] == 10.0
    assert activity["delay_s"] == 0.0  # trained without a delay
    if read_manifest(trained_step)["normalisation"]["root"] == "frame":
        assert activity["placement"] is None
    else:  # the registry's defaults read the pelvis's path: each frame's person placed in the camera's space
        assert activity["placement"] == {"fov_deg": 60.0, "frames": {"placed": 100, "not_placed": 0}}
    assert activity["lifts"]["counted_from"] == "activity segments"  # synthetic classes: stoop_lift, squat_lift
    times = activity["persons"]["0"]["time_s"]
    assert set(times) <= set(classes) | {"unknown"} and sum(times.values()) == pytest.approx(99 / 60, abs=0.02)
    for name, seconds in times.items():  # the REBA levels within each activity add up to its time
        assert sum(activity["persons"]["0"]["reba_s"][name].values()) == pytest.approx(seconds, abs=1e-6)
    speed = activity["speed"]  # figures, not asserted as timings
    assert speed["backend"] == "onnxruntime" and speed["steps"] == 17
    assert speed["step_median_ms"] > 0 and speed["step_p90_ms"] >= speed["step_median_ms"]
    raised = [e for e in report["alerts"] if e["kind"] == "raised" and e["rule"].startswith("doing_")]
    assert raised, report["alerts"]
    for event in raised:
        assert times[event["rule"].removeprefix("doing_")] >= 0.3 and event["duration_s"] >= 0.3 - 1e-6
    logged = [json.loads(line)["rule"] for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert {e["rule"] for e in raised} <= set(logged)
    assert "<h2>Activities</h2>" in (out / "report.html").read_text()
    shown = [s for s in drawn if s.activity is not None]
    assert shown and {s.activity for s in shown} <= set(classes)
    assert all(np.isfinite(s.learned_reba) and 0 < s.activity_confidence <= 1 for s in shown)


def test_report_totals_round_to_milliseconds_that_still_add_up():
    from runtime.activity import ActivityTotals

    totals = ActivityTotals()
    # 0.3336 s of bending at each of three REBA levels: 1.0008 s -> 1.001 s, but each level alone rounds to 0.334.
    for reba in (2.0, 5.0, 9.0):
        totals.add(0, "bend", reba, 0.3336)
    totals.add(0, "walk", None, 1 / 3)
    person = totals.to_json()["persons"]["0"]
    for name, seconds in person["time_s"].items():
        assert sum(person["reba_s"][name].values()) == pytest.approx(seconds, abs=1e-9)
    assert person["time_s"]["walk"] == 0.333 and person["reba_s"]["walk"] == {"unknown": 0.333}
    assert sorted(person["reba_s"]["bend"].values()) == [0.333, 0.334, 0.334] and person["time_s"]["bend"] == 1.001


def test_an_activity_line_is_drawn_under_the_label():
    from edge.pose.types import Person
    from runtime.video.overlay import PersonStatus, draw_overlay

    person = Person(keypoints=np.full((33, 2), 300.0), scores=np.zeros(33), layout="blazepose33",
                    box=np.array([200, 200, 400, 460]), score=0.9, track_id=0)
    plain = draw_overlay(np.zeros((480, 640, 3), np.uint8), [person], {0: PersonStatus(0, reba=5, risk="medium")})
    with_activity = draw_overlay(np.zeros((480, 640, 3), np.uint8), [person], {0: PersonStatus(
        0, reba=5, risk="medium", activity="stoop_lift", activity_confidence=0.87, learned_reba=6.24)})
    rows = lambda frame: np.flatnonzero(frame.any(axis=(1, 2)))  # noqa: E731
    # The label box grows upwards by one line; everything below its old top is drawn alike.
    assert len(rows(with_activity)) > len(rows(plain))
    top = rows(plain)[0]
    assert rows(with_activity)[0] < top and (with_activity[top + 30:] == plain[top + 30:]).all()


def test_the_runtime_reaches_the_model_through_files_only(tmp_path):
    model = export_streaming(activity_helpers.trained_checkpoint(tmp_path / "c.pt", steps=1), tmp_path / "m").onnx
    code = ("import sys, numpy as np\n"
            "import runtime.session, runtime.activity, runtime.cli\n"
            "from edge.streaming.model import open_stream_model\n"
            "m = open_stream_model(sys.argv[1])\n"
            "m.step(m.initial_state(), np.zeros((15, 3), np.float32))\n"
            "print([n for n in sys.modules if n.split('.')[0] == 'torch' or n.startswith('edge.models')])\n")
    out = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
