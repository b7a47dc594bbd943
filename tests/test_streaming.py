"""Live, frame-by-frame scoring agrees with the offline scorer on the same frames."""

import numpy as np
import pytest

from edge.datasets.synth.example_lift import example_lift_sequence
from edge.ergonomics.activity import ActivityConfig
from edge.scoring.methods import ScoreConfig
from edge.scoring.offline import score_sequence
from edge.skeletons import get_layout, parse_up
from edge.scoring.stream import PersonStream, StreamConfig


@pytest.fixture(scope="module")
def lifting():
    layout, up = get_layout("blazepose33"), parse_up("z")
    joints = example_lift_sequence(seconds=75.0, fps=30.0)
    config = ScoreConfig(load_kg=10.0)
    offline = score_sequence(joints, layout, up, 30.0, config).columns
    stream = PersonStream(layout, up, config)
    live = [stream.update(i / 30.0, joints[i]) for i in range(len(joints))]
    return offline, live


@pytest.mark.parametrize("key", ["reba_total", "rula_grand", "reba_trunk", "rula_score_c_left", "static", "repeated",
                                 "rapid_change", "trunk_flexion_deg", "left_upper_arm_flexion_deg"])
def test_live_equals_offline(lifting, key):
    offline, live = lifting
    np.testing.assert_allclose([m[key] for m in live], offline[key].astype(float), atol=1e-9)


def test_live_l5s1_tracks_offline_with_its_lag(lifting):
    offline, live = lifting
    lag = int(round(0.25 * 30))
    live_c = np.array([m["l5s1_compression_n"] for m in live])
    off_c = offline["l5s1_compression_n"]
    # Reported a quarter second late and refreshed at 10 Hz: close to the offline value at that time.
    assert np.nanmedian(np.abs(live_c[lag:] - off_c[:-lag])) < 50.0
    assert np.nanmax(live_c) == pytest.approx(np.nanmax(off_c), rel=0.05)


def test_a_ring_that_wraps_scores_the_same():
    """A ring just long enough for the 60 s windows at 30 fps (`max_rate_hz` 31: 1861 frames) wraps after 62 s of
    the 75 s lift: every metric of every frame is what the default ring (7201 frames, never full here) gives, to
    the bit, static postures (held 3 s here) and rapid changes among them after the wrap."""
    layout, up = get_layout("blazepose33"), parse_up("z")
    joints = example_lift_sequence(seconds=75.0, fps=30.0)
    config = ScoreConfig(load_kg=10.0, activity=ActivityConfig(static_hold_s=3.0))
    scored = []
    for stream in (PersonStream(layout, up, config), PersonStream(layout, up, config, StreamConfig(max_rate_hz=31.0))):
        scored.append([stream.update(i / 30.0, joints[i]) for i in range(len(joints))])
    assert stream._capacity == 1861 < len(joints)
    wide, short = scored
    for name in wide[0]:
        np.testing.assert_array_equal([m[name] for m in short], [m[name] for m in wide], err_msg=name)
    assert sum(m["static"] for m in short[1900:]) >= 10 and sum(m["rapid_change"] for m in short[1900:]) >= 100


def test_lifts_per_minute_counts_bend_and_straighten(lifting):
    _, live = lifting
    # One lift every 10 s: six in any full minute.
    assert [m["lifts_per_min"] for m in live][-1] == 6.0
    assert live[5 * 30]["lifts_per_min"] == 0.0


def test_unseen_frames_and_irregular_time():
    layout, up = get_layout("coco17"), parse_up("z")
    joints = example_lift_sequence(seconds=4.0, fps=30.0, layout="coco17")
    joints[40, layout.index("left_hip")] = np.nan
    stream = PersonStream(layout, up)
    times = np.cumsum(np.random.default_rng(1).uniform(0.02, 0.05, len(joints)))
    metrics = [stream.update(t, j) for t, j in zip(times, joints)]
    assert np.isnan(metrics[40]["reba_total"]) and np.isfinite(metrics[41]["reba_total"])
    assert all(np.isfinite(m["trunk_flexion_deg"]) for i, m in enumerate(metrics) if i != 40)


def test_posture_only_live_equals_offline():
    layout, up = get_layout("blazepose33"), parse_up("z")
    joints = example_lift_sequence(seconds=75.0, fps=30.0)
    config = ScoreConfig(load_kg=10.0, activity=ActivityConfig(enabled=False))
    offline = score_sequence(joints, layout, up, 30.0, config).columns
    stream = PersonStream(layout, up, config)
    live = [stream.update(i / 30.0, joints[i]) for i in range(len(joints))]
    for key in ("static", "repeated", "rapid_change"):
        assert not offline[key].any() and not any(m[key] for m in live)
    for key in ("reba_total", "rula_grand"):
        np.testing.assert_allclose([m[key] for m in live], offline[key].astype(float), atol=1e-9)


def test_metric_names_are_what_a_frame_reports():
    from edge.scoring.stream import metric_names

    joints = example_lift_sequence(seconds=1, fps=30, layout="blazepose33")
    stream = PersonStream(get_layout("blazepose33"), np.array([0.0, 0.0, 1.0]))
    reported = set()
    for i, frame in enumerate(joints):
        reported |= set(stream.update(i / 30, frame))
    assert reported == set(metric_names())
    assert {"reba_total", "rula_grand", "trunk_flexion_deg", "lifts_per_min", "l5s1_compression_n"} <= reported


@pytest.mark.parametrize("frames", [1, 2, 3, 8, 9, 20])
def test_frame_interval_is_the_median_gap_of_the_last_frames(frames):
    """The windows' frame interval: the median of the gaps between the last (up to) nine frames, to the bit what
    np.median gives, on irregular times (dropped frames) with an even and an odd number of gaps."""
    rng = np.random.default_rng(frames)
    stream = PersonStream(get_layout("h36m17"), parse_up("z"))
    times = np.cumsum(rng.choice([1 / 30, 2 / 30, 1 / 25], size=frames) + rng.normal(0, 1e-3, size=frames))
    for t in times:
        stream._remember(t, np.zeros(stream._ring_v.shape[0]))
    recent = times[-9:]
    expected = 1 / 30 if frames < 2 else float(np.median(np.diff(recent)))
    assert stream._frame_interval() == expected


def test_people_scored_together_equal_each_scored_alone():
    """`score_people` over three people (their own up vectors, one of them unseen in some frames) gives each the
    metrics their own stream gives them frame by frame, to the bit; streams of another layout are refused."""
    from edge.scoring.stream import score_people

    layout = get_layout("blazepose33")
    lift = example_lift_sequence(seconds=70.0, fps=30.0)
    rng = np.random.default_rng(3)
    crowd = [lift[k * 300:][:600] + rng.normal(0, 0.01, (600,) + lift.shape[1:]) for k in range(3)]
    crowd[1][100:110, layout.index("left_hip")] = np.nan
    tilted = parse_up("z") + np.array([0.05, 0.0, 0.0])
    ups = [parse_up("z"), tilted / np.linalg.norm(tilted), parse_up("z")]
    config = ScoreConfig(load_kg=10.0)
    together = [PersonStream(layout, up, config) for up in ups]
    alone = [PersonStream(layout, up, config) for up in ups]
    for i in range(600):
        frame = [joints[i] for joints in crowd]
        scored = score_people(together, i / 30.0, frame)
        for stream, joints, metrics in zip(alone, frame, scored):
            own = stream.update(i / 30.0, joints)
            assert list(metrics) == list(own)
            np.testing.assert_array_equal(list(metrics.values()), list(own.values()))
    assert all(m["l5s1_compression_n"] > 500 and np.isfinite(m["reba_total"]) for m in scored)
    assert score_people([], 0.0, []) == []
    with pytest.raises(ValueError, match="one layout"):
        score_people([alone[0], PersonStream(get_layout("coco17"), ups[0], config)], 21.0, [crowd[0][0]] * 2)


def test_people_seen_together_refresh_l5s1_on_different_frames():
    """Three people first seen on one frame, with the run's phases (`l5s1_phase(0..2)`): at 30 fps and 10 Hz no frame
    refreshes more than one person's L5/S1, each refreshes every third frame, and each refresh reports what a stream
    refreshing every frame reports then (phase 0 is the plain stream, to the bit)."""
    from edge.scoring.stream import l5s1_phase, score_people

    layout = get_layout("blazepose33")
    lift = example_lift_sequence(seconds=40.0, fps=30.0)
    crowd = [lift[k * 300:][:300] for k in range(3)]
    config = ScoreConfig(load_kg=10.0)
    phases = [l5s1_phase(i) for i in range(3)]
    assert phases[0] == 0.0 and len(set(phases)) == 3 and all(0 <= p < 1 for p in phases)
    people = [PersonStream(layout, parse_up("z"), config, l5s1_phase=p) for p in phases]
    every_frame = [PersonStream(layout, parse_up("z"), config, StreamConfig(l5s1_rate_hz=1000.0)) for _ in crowd]
    plain = PersonStream(layout, parse_up("z"), config)
    refreshed = []  # per frame, the people whose L5/S1 was computed anew
    for i in range(300):
        before = [p._l5s1_next for p in people]
        scored = score_people(people, i / 30.0, [joints[i] for joints in crowd])
        reference = score_people(every_frame, i / 30.0, [joints[i] for joints in crowd])
        np.testing.assert_array_equal(list(scored[0].values()), list(plain.update(i / 30.0, crowd[0][i]).values()))
        refreshed.append([k for k, p in enumerate(people) if p._l5s1_next != before[k]])
        for k in refreshed[-1]:
            assert scored[k]["l5s1_compression_n"] == reference[k]["l5s1_compression_n"]
    first = next(i for i, ks in enumerate(refreshed) if ks)
    assert refreshed[first] == [0, 1, 2]  # the first value as soon as there is one, for everyone
    assert all(len(ks) == 1 for ks in refreshed[first + 1:])
    for k in range(3):
        frames = [i for i, ks in enumerate(refreshed) if k in ks]
        assert set(np.diff(frames[1:])) == {3}
    with pytest.raises(ValueError, match="l5s1_phase"):
        PersonStream(layout, parse_up("z"), config, l5s1_phase=1.0)


def test_a_run_gives_each_new_person_the_next_phase(tmp_path, blazepose_models):
    """`ergoedge run` makes each new person's stream with the next `l5s1_phase`, in the order people first appear."""
    from edge.config import with_overrides
    from edge.scoring.stream import l5s1_phase
    from runtime.config import load_config
    from runtime.session import Session

    config = with_overrides(load_config(None), camera="line3", scene_dir=str(tmp_path), **{
        "source.uri": "test://", "sinks.sqlite": str(tmp_path / "events.db"), "sinks.stdout": False,
        "pose.backend": "onnxruntime", "activity.model": "none"})  # the pose model is opened, never run
    session = Session(config, tmp_path / "out", status=None)
    joints = example_lift_sequence(seconds=1.0, fps=30.0)
    up = parse_up("z")
    session._score({7: (joints[0], up), 3: (joints[0], up), 9: (joints[0], up)}, {}, 0.0)
    session._score({3: (joints[1], up), 12: (joints[1], up)}, {}, 1 / 30)
    session.close()
    assert {pid: stream.l5s1_phase for pid, stream in session.streams.items()} == {
        7: l5s1_phase(0), 3: l5s1_phase(1), 9: l5s1_phase(2), 12: l5s1_phase(3)}


def test_a_part_unseen_for_seconds_scores_the_rest_without_warnings():
    """A wrist out of view for 2 s (its angles NaN over whole windows): the other side still scores, the rapid-change
    window skips the unknown signal, and nothing is printed (numpy's all-NaN warnings would fill a service's log)."""
    import warnings

    layout, up = get_layout("blazepose33"), parse_up("z")
    joints = example_lift_sequence(seconds=5.0, fps=30.0)
    joints[30:90, layout.index("left_wrist")] = np.nan
    stream = PersonStream(layout, up)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = [stream.update(i / 30.0, frame) for i, frame in enumerate(joints)]
    unseen = metrics[30:90]
    assert all(np.isnan(m["left_elbow_flexion_deg"]) and np.isnan(m["reba_total_left"]) for m in unseen)
    assert all(m["reba_total"] == m["reba_total_right"] and np.isfinite(m["reba_total"]) for m in unseen)
    assert np.isfinite(metrics[95]["left_elbow_flexion_deg"])
