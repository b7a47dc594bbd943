"""Every numeric option of the run config has a documented range, enforced when the config is read (issue 11,
items 2-3): an alert rule names a metric the runtime computes, its threshold and release level lie in that metric's
range, `rules = []` means no rules, and a value out of range is one error line naming the key and the range."""

import dataclasses
import re
import types
import typing
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.errors import InputError
from runtime.config import RunConfig, load_config

REPO = Path(__file__).resolve().parents[1]
RULE = 'name = "r"\nmetric = "reba_total"\nthreshold = 8\ndirection = "at_least"\n'

# key, a bad value (TOML), the range the error states.
BAD = [
    ("max_seconds", "-5", "above 0"),
    ("max_seconds", "nan", "above 0"),
    ("status_interval_s", "0", "above 0 and at most 3600"),
    ("report_every_s", "1e9", "above 0 and at most 3600"),
    ("source.width", "0", "from 1 to 16384"),
    ("source.height", "100000", "from 1 to 16384"),
    ("source.fps", "-30", "above 0 and at most 1000"),
    ("source.reconnect_initial_s", "0", "above 0 and at most 60"),
    ("source.reconnect_max_s", "0.1", "from 0.5 to 3600"),
    ("source.stall_timeout_s", "inf", "from 0.1 to 600"),
    ("rig.sync_tolerance_s", "-1", "from 0 to 5"),
    ("rig.missing_after_s", "0", "from 0.1 to 60"),
    ("pose.max_people", "100000000000000000", "from 1 to 32"),
    ("pose.forget_after_s", "-5", "above 0 and at most 600"),
    ("scoring.neutral_tolerance_deg", "-1", "from 0 to 90"),
    ("scoring.twist_deg", "120", "from 0 to 90"),
    ("scoring.side_bend_deg", "nan", "from 0 to 90"),
    ("scoring.abduction_deg", "91", "from 0 to 90"),
    ("scoring.shoulder_raise_deg", "-5", "from 0 to 90"),
    ("scoring.wrist_deviation_deg", "1e308", "from 0 to 90"),
    ("scoring.unilateral_foot_height_m", "2", "from 0 to 1"),
    ("scoring.out_to_side_ratio", "-1", "from 0 to 10"),
    ("scoring.load_kg", "1e6", "from 0 to 100"),
    ("scoring.high_risk_reba", "0", "from 1 to 15"),
    ("scoring.activity.static_hold_s", "1e9", "from 1 to 300"),
    ("scoring.activity.static_range_deg", "-1", "from 0 to 90"),
    ("scoring.activity.repetition_window_s", "0", "from 1 to 300"),
    ("scoring.activity.repetitions_per_min", "-1", "from 0 to 600"),
    ("scoring.activity.repetition_amplitude_deg", "0", "above 0 and at most 180"),
    ("scoring.activity.repetition_smoothing_s", "100", "from 0 to 10"),
    ("scoring.activity.rapid_window_s", "0", "above 0 and at most 10"),
    ("scoring.activity.rapid_range_deg", "1000", "above 0 and at most 180"),
    ("scoring.body.mass_kg", "5", "from 20 to 300"),
    ("scoring.body.height_m", "3", "from 1 to 2.5"),
    ("scoring.l5s1.cutoff_hz", "0", "from 0.5 to 50"),
    ("scoring.l5s1.filter_order", "11", "from 1 to 10"),
    ("scoring.l5s1.l5s1_height_fraction", "0.5", "from 0 to 0.4"),
    ("scoring.l5s1.lower_trunk_mass_fraction", "2", "from 0 to 1"),
    ("scoring.l5s1.extensor_moment_arm_m", "0", "from 0.02 to 0.15"),
    ("scoring.l5s1.left_hand_share", "-0.5", "from 0 to 1"),
    ("alerts.exposure_save_s", "0", "above 0 and at most 3600"),
    ("alerts.rules.threshold", "20", "reba_total can be (1..15)"),
    ("alerts.rules.hysteresis", "-1", ">= 0"),
    ("alerts.rules.release", "-3", "reba_total is 1..15"),
    ("alerts.rules.min_duration_s", "1e308", "from 0 to 86400"),
    ("alerts.rules.clear_after_s", "-1", "from 0 to 86400"),
    ("alerts.rules.cooldown_s", "inf", "from 0 to 86400"),
    ("sinks.retention_days", "1e308", "above 0 and at most 3650"),
    ("sinks.mqtt.port", "70000", "from 1 to 65535"),
    ("sinks.mqtt.qos", "0", "1 or 2"),
    ("sinks.mqtt.keepalive", "1", "from 5 to 65535"),
    ("sinks.mqtt.reconnect_min_s", "1e9", "above 0 and at most 60"),
    ("sinks.mqtt.reconnect_max_s", "1e9", "above 0 and at most 3600"),
    ("sinks.mqtt.max_inflight", "0", "from 1 to 65535"),
    ("sinks.mqtt.retain_acked_days", "1e308", "above 0 and at most 3650"),
    ("sinks.gpio.pins", "{warning = 41}", "from 1 to 40"),
    ("output.rtsp_port", "70000", "from 0 to 65535"),
    ("activity.lift_min_s", "11", "from 0 to 10"),
    ("activity.camera_fov_deg", "0", "from 1 to 170"),
    ("dashboard.port", "70000", "from 0 to 65535"),
    ("dashboard.session_ttl_s", "0", "from 1 to 604800"),
    ("dashboard.update_hz", "0", "above 0 and at most 30"),
    ("dashboard.video_fps", "31", "from 0 to 30"),
    ("dashboard.jpeg_quality", "100", "from 20 to 95"),
    ("dashboard.max_width", "10", "from 160 to 3840"),
    ("dashboard.linger_s", "-1", "from 0 to 3600"),
]


def _toml(key: str, value: str) -> str:
    table, _, name = key.rpartition(".")
    if table == "alerts.rules":
        rule = "".join(line + "\n" for line in RULE.splitlines() if not line.startswith(f"{name} "))
        return f"[[alerts.rules]]\n{rule}{name} = {value}\n"
    return (f"[{table}]\n" if table else "") + f"{name} = {value}\n"


def _load(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize("key, value, expected", BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_a_value_out_of_range_is_one_line_naming_key_and_range(tmp_path, key, value, expected):
    with pytest.raises(InputError) as info:
        _load(tmp_path, _toml(key, value))
    message = str(info.value)
    assert key.rpartition(".")[2] in message and expected in message and "\n" not in message, message


def _numeric_keys(cls, prefix=""):
    """Dotted keys of every int or float option of `cls`, its tables and its alert rules."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        tables = [o for o in options if dataclasses.is_dataclass(o)]
        if typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            tables = [typing.get_args(tp)[0]]
        if tables:
            yield from _numeric_keys(tables[0], f"{prefix}{f.name}.")
        elif int in options or float in options:
            yield prefix + f.name


def test_every_numeric_option_is_in_the_table():
    keys = set(_numeric_keys(RunConfig))
    assert len(keys) > 50 and keys <= {key for key, _, _ in BAD}, keys - {key for key, _, _ in BAD}


def test_the_examples_and_the_limits_load(tmp_path):
    for path in [REPO / "examples" / "demo-run.toml", *sorted((REPO / "jetson" / "presets").glob("*.toml"))]:
        load_config(path)
    config = _load(tmp_path, "max_seconds = 0.5\nstatus_interval_s = 3600\n[pose]\nmax_people = 32\n"
                             "forget_after_s = 600\n[scoring]\nload_kg = 100\nhigh_risk_reba = 15\n"
                             "[scoring.activity]\nrepetition_smoothing_s = 0\n[output]\nrtsp_port = 65535\n"
                             "[sinks.gpio]\nmode = \"BCM\"\npins = {critical = 0}\n")
    assert config.pose.max_people == 32 and config.sinks.gpio.pins == {"critical": 0}


@pytest.mark.parametrize("argv, fragment", [
    (["--max-seconds", "-5"], "max_seconds must be a number above 0, got -5"),
    (["--max-seconds", "nan"], "max_seconds must be a number above 0, got nan"),
    (["--max-people", "100000000000000000"], "max_people must be a whole number from 1 to 32"),
    (["--rtsp-port", "70000"], "rtsp_port"),
])
def test_the_command_line_goes_through_the_same_checks(tmp_path, capsys, argv, fragment):
    out = tmp_path / "out"
    code = main(["run", "--source", "test://", "--out", str(out), "--events-db", str(tmp_path / "e.db"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ergoedge: error: ") and len(err.strip().splitlines()) == 1, err
    assert fragment in err and not out.exists() and not (tmp_path / "e.db").exists()


# ------------------------------------------------------------------------------------------------ alert rules


def test_a_misspelled_metric_is_an_error_that_says_where_the_names_are(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f"[[alerts.rules]]\n{RULE.replace('reba_total', 'reba_totl')}")
    code = main(["run", "--source", "test://", "--config", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists(), err
    assert "unknown metric 'reba_totl' (did you mean reba_total? every metric: `ergoedge run --list-metrics`)" in err
    assert main(["run", "--list-metrics"]) == 0
    listed = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines())
    from edge.scoring.stream import metric_names

    assert sorted(listed) == sorted(metric_names()) and listed["reba_total"] == "1..15"
    assert listed["trunk_flexion_deg"] == "-180..180" and listed["l5s1_compression_n"] == ">= 0"


@pytest.mark.parametrize("rule, fragment", [
    # The issue's: 1e308 below a threshold of 20 deg, where no angle goes.
    ('metric = "trunk_flexion_deg"\nthreshold = 20\nhysteresis = 1e308\n', "never clear"),
    ('metric = "reba_total"\nthreshold = 8\ndirection = "at_least"\nhysteresis = 7\n', "never clear"),  # < 1
    ('metric = "rula_grand"\nthreshold = 3\ndirection = "below"\nrelease = 8\n', "never clear"),  # >= 8
    ('metric = "reba_total"\nthreshold = 15\ndirection = "above"\n', "never reached"),  # > 15
    ('metric = "lifts_per_min"\nthreshold = -1\n', "outside what lifts_per_min can be (>= 0)"),
    ('metric = "trunk_flexion_deg"\nthreshold = 1e300\n', "-180..180"),
])
def test_a_rule_must_be_able_to_raise_and_to_clear(tmp_path, rule, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        _load(tmp_path, f'[[alerts.rules]]\nname = "r"\n{rule}')


def test_rules_at_the_edge_of_their_metric_load(tmp_path):
    config = _load(tmp_path, '[[alerts.rules]]\nname = "a"\nmetric = "reba_total"\nthreshold = 8\n'
                             'direction = "at_least"\nhysteresis = 6\n'  # clears at 1 (< 2)
                             '[[alerts.rules]]\nname = "b"\nmetric = "l5s1_moment_extension_nm"\nthreshold = -50\n'
                             'direction = "below"\nhysteresis = 1e6\n')  # an unbounded metric
    assert [r.release_level for r in config.alerts.rules] == [2.0, 1e6 - 50]
    assert {r.name for r in load_config(None).alerts.rules} == {"reba_high", "trunk_flexion", "lift_rate",
                                                                 "l5s1_compression"}


def test_an_empty_rules_list_means_no_rules_and_says_so(tmp_path, blazepose_models):
    from edge.config import with_overrides
    from runtime.session import Session

    assert _load(tmp_path, "[alerts]\nrules = []\n").alerts.rules == ()
    config = with_overrides(load_config(None), camera="line3", scene_dir=str(tmp_path), **{
        "source.uri": "test://", "sinks.sqlite": str(tmp_path / "events.db"), "sinks.stdout": False,
        "alerts.rules": (), "pose.backend": "onnxruntime"})  # the model is opened, never run
    session = Session(config, tmp_path / "out", status=None)
    for frame in range(300):  # REBA 11 and trunk flexion 80 deg for 10 s
        session.observe({0: {"reba_total": 11.0, "trunk_flexion_deg": 80.0}}, frame / 30, 1 / 30 if frame else 0.0)
    session.close()
    report = session.write_report()
    assert report["alert_counts"]["raised"] == {} and report["alerts"] == []
    assert any("alerts.rules is empty: no alert will be raised" in m for m in report["messages"])


# ------------------------------------------------------------------------------------------------ metric ranges


def test_the_metric_ranges_hold_for_what_the_stream_computes():
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.scoring.methods import ScoreConfig
    from edge.scoring.stream import PersonStream, metric_names, metric_ranges
    from edge.skeletons import get_layout, parse_up

    ranges = metric_ranges()
    assert list(ranges) == list(metric_names())
    joints = example_lift_sequence(seconds=20.0, fps=30.0)
    joints += np.random.default_rng(3).normal(0.0, 0.02, joints.shape)  # 2 cm of jitter on every keypoint
    stream = PersonStream(get_layout("blazepose33"), parse_up("z"), ScoreConfig(load_kg=12.0, coupling="poor"))
    for i, frame in enumerate(joints):
        for name, value in stream.update(i / 30.0, frame).items():
            low, high = ranges[name]
            assert np.isnan(value) or low <= value <= high, (name, value)


@pytest.mark.parametrize("method", ["reba", "rula"])
def test_the_score_ranges_are_the_engines_lowest_and_highest(method):
    """Random worksheets (every field drawn) reach exactly each item's range, never beyond."""
    from edge.ergonomics import reba, rula

    rng = np.random.default_rng(7)
    n = 400_000
    engine, inputs = (reba, reba.RebaInput) if method == "reba" else (rula, rula.RulaInput)
    angles = [-180, -60, -30, -10, 0, 10, 15, 18, 30, 50, 70, 80, 95, 120, 180]  # every band, and exactly 0
    values = {}
    for f in dataclasses.fields(inputs):
        if f.name.endswith("_deg"):
            values[f.name] = rng.choice(angles, n).astype(float)
        elif f.name == "load_kg":
            values[f.name] = rng.choice([0.0, 1.0, 5.0, 12.0], n)
        elif f.name in ("coupling", "load_mode"):
            values[f.name] = rng.integers(0, 4 if f.name == "coupling" else 3, n)
        else:  # rows mostly without adjustments, and rows mostly with them
            values[f.name] = rng.random(n) < np.where(np.arange(n) % 2 == 0, 0.05, 0.95)
    scores = (reba.reba_scores if method == "reba" else rula.rula_scores)(inputs(**values))
    for item, (low, high) in engine.score_ranges().items():
        assert (int(scores[item].min()), int(scores[item].max())) == (low, high), item


def test_the_shortest_windows_work_at_a_low_frame_rate():
    """The smallest values in range, at 5 fps: live flags equal the offline ones (at least one frame averaged,
    two compared), where the live windows used to come out empty."""
    from edge.datasets.synth.example_lift import example_lift_sequence
    from edge.ergonomics.activity import ActivityConfig
    from edge.scoring.methods import ScoreConfig
    from edge.scoring.offline import score_sequence
    from edge.scoring.stream import PersonStream
    from edge.skeletons import get_layout, parse_up

    layout, up = get_layout("blazepose33"), parse_up("z")
    joints = example_lift_sequence(seconds=30.0, fps=5.0)
    config = ScoreConfig(activity=ActivityConfig(static_hold_s=1.0, rapid_window_s=0.1, repetition_smoothing_s=0.0,
                                                 repetition_window_s=10.0, repetitions_per_min=1.0,
                                                 rapid_range_deg=10.0))
    offline = score_sequence(joints, layout, up, 5.0, config).columns
    stream = PersonStream(layout, up, config)
    live = [stream.update(i / 5.0, frame) for i, frame in enumerate(joints)]
    for flag in ("static", "repeated", "rapid_change"):
        np.testing.assert_array_equal([m[flag] for m in live], offline[flag].astype(float), err_msg=flag)
    assert any(m["repeated"] for m in live) and any(m["rapid_change"] for m in live)
