"""The ergonomist's shift report (`ergoedge report`, issue 15): what the run records in the event store (real SQLite
files, filled by the exposure API over several days of synthetic frames with explicit times, and by a real run on
the real pose2sim clip), and the report made from it alone: numbers equal to what was recorded, CSV round trip,
the HTML opened in Debian's headless chromium (selenium; a screenshot is kept in build/test-artifacts/), the PDF
rendered to PNG with pdftoppm."""

import csv
import io
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from edge.errors import InputError
from edge.ergonomics.niosh import LiftTask, assess_lift
from edge.pose.types import Person
from edge.scoring.methods import ScoreConfig
from edge.skeletons import get_layout
from runtime.alerts.exposure import ExposureTracker
from runtime.alerts.store import MAX_EPISODES_PER_SHIFT, SCHEMA_VERSION, EventReader, EventStore
from runtime.shift_report.data import ReportSpec, load_period
from runtime.shift_report.make import make_report

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "build" / "test-artifacts"
UTC = timezone.utc
FPS = 5
LOAD_KG = 10.0
# The schema `EventStore` wrote before the report's tables (schema version 1), as sqlite_master held it.
V1_SCHEMA = [
    "CREATE TABLE events (event_id TEXT PRIMARY KEY, kind TEXT NOT NULL, rule TEXT NOT NULL, person INTEGER NOT "
    "NULL, severity TEXT NOT NULL, time_s REAL NOT NULL, wall_time TEXT NOT NULL, value REAL, threshold REAL, "
    "duration_s REAL, camera TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE exposure (camera TEXT NOT NULL, shift TEXT NOT NULL, run_id TEXT NOT NULL, person INTEGER NOT "
    "NULL, tracked_s REAL NOT NULL, totals TEXT NOT NULL, updated TEXT NOT NULL, PRIMARY KEY (camera, shift, "
    "run_id, person))",
    "CREATE INDEX events_wall_time ON events (wall_time)",
    "CREATE INDEX events_rule ON events (rule)",
    "CREATE INDEX exposure_updated ON exposure (updated)",
]
V1_TOTALS = ('{"tracked_s": 100.0, "reba_s": {"negligible": 10.0, "low": 20.0, "medium": 30.0, "high": 40.0, '
             '"very high": 0.0, "unknown": 0.0}, "over_threshold_s": {"reba_high": 40.0}, '
             '"alerts_raised": {"reba_high": 2}}')


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _person(pid: int, hands_m: float, reach_m: float = 0.4) -> Person:
    """A standing coco17 person with world joints (z up, metres): hands `hands_m` high and `reach_m` in front."""
    names = get_layout("coco17").joints
    at = {"left_ankle": (-0.1, 0, 0.08), "right_ankle": (0.1, 0, 0.08), "left_hip": (-0.1, 0, 0.9),
          "right_hip": (0.1, 0, 0.9), "left_wrist": (-0.1, reach_m, hands_m), "right_wrist": (0.1, reach_m, hands_m),
          "left_knee": (-0.1, 0, 0.5), "right_knee": (0.1, 0, 0.5), "left_shoulder": (-0.2, 0, 1.45),
          "right_shoulder": (0.2, 0, 1.45), "left_elbow": (-0.2, reach_m / 2, 1.1),
          "right_elbow": (0.2, reach_m / 2, 1.1)}
    world = np.array([at.get(n, (0.0, 0.0, 1.6)) for n in names], dtype=np.float32)
    pixels = np.stack([320 + world[:, 0] * 200, 420 - world[:, 2] * 220], axis=1)
    return Person(pixels, np.ones(len(names)), "coco17", np.array([250, 40, 390, 430]), 0.9, world, pid)


def _fill(db: Path, days: int = 3, seconds: int = 600) -> dict:
    """Two shifts a day (06:00, 14:00 UTC) of `seconds` each over `days` days, two people, FPS frames a second with
    explicit wall times; person 0 lifts every 20 s (hands 30 cm -> 100 cm, 40 cm in front) and has REBA cycling
    through the levels (30 s each); person 1 stands at REBA 3. Returns what was fed, for the assertions."""
    fed = {"frames": 0, "lifts": 0, "reba_s": {}, "rula_s": {}}
    clock = Clock(datetime(2024, 5, 1, 6, tzinfo=UTC))
    store = EventStore(db, retention_days=None)
    tracker = ExposureTracker(tz="UTC", clock=clock, store=store, camera="line3", run_id="r1", save_every_s=60,
                              shift_starts=("06:00", "14:00", "22:00"), scoring=ScoreConfig(load_kg=LOAD_KG))
    image = np.zeros((480, 640, 3), np.uint8)
    t = 0.0
    for day in range(days):
        for hour in (6, 14):
            lifts: list[float] = []
            for i in range(FPS * seconds):
                t += 1 / FPS
                clock.now = datetime(2024, 5, 1 + day, hour, tzinfo=UTC) + timedelta(seconds=i / FPS)
                if i % (FPS * 20) == FPS:  # a lift counted once the hands are up again
                    lifts.append(t)
                    fed["lifts"] += 1
                lifts = [x for x in lifts if x > t - 60]
                reba = (2, 5, 9, 12)[(i // (FPS * 30)) % 4]
                rula = 1 + (i // (FPS * 45)) % 4
                m0 = {"reba_total": reba, "rula_action_level": rula, "reba_trunk": 4 if reba >= 9 else 2,
                      "reba_neck": 2 if reba >= 5 else 1, "reba_upper_arm_left": 3, "reba_upper_arm_right": 1,
                      "rula_neck": 3, "lifts_per_min": len(lifts)}
                tracker.update(t, 0, m0, 1 / FPS)
                tracker.update(t, 1, {"reba_total": 3, "rula_action_level": 2}, 1 / FPS)
                hands = 0.3 if i % (FPS * 20) < FPS else 1.0
                tracker.observe_frame(t, image, [_person(0, hands), _person(1, 1.0)], np.array([0, 0, 1.0]))
                fed["frames"] += 1
                for key, level in (("reba_s", reba), ("rula_s", rula)):
                    fed[key][level] = fed[key].get(level, 0) + 1
            tracker.forget(0)
            tracker.forget(1)
    tracker.close()
    store.close()
    return fed


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "events.db"
    return db, _fill(db)


def test_the_run_records_levels_parts_lifts_niosh_and_episodes(filled):
    db, fed = filled
    with EventReader(db) as reader:
        rows = reader.records("exposure")
        shifts = reader.records("shifts")
        lifts = reader.records("lifts")
        episodes = reader.records("episodes")
    assert len(shifts) == 6 and {s["shift"][11:] for s in shifts} == {"06:00", "14:00"}
    assert shifts[0]["start_utc"].startswith("2024-05-01T06:00") and shifts[0]["end_utc"].startswith("2024-05-01T14:00")
    frame_s = 1 / FPS
    p0 = [r["totals"] for r in rows if r["person"] == 0]
    assert len(p0) == 6
    for totals in (r["totals"] for r in rows):  # the seconds per level add up to the observed time, both methods
        assert sum(totals["reba_s"].values()) == pytest.approx(totals["tracked_s"])
        assert sum(totals["rula_s"].values()) == pytest.approx(totals["tracked_s"])
    assert sum(t["tracked_s"] for t in p0) == pytest.approx(fed["frames"] * frame_s)
    assert sum(t["reba_s"]["high"] for t in p0) == pytest.approx(fed["reba_s"][9] * frame_s)
    assert sum(t["rula_s"]["4"] for t in p0) == pytest.approx(fed["rula_s"][4] * frame_s)
    # Body parts: the neck at its worst (REBA >= 2) 3/4 of the time, the trunk (>= 3) half, the worse arm always.
    t0 = p0[0]
    assert t0["worst_s"]["reba"]["neck"] == pytest.approx(0.75 * t0["tracked_s"])
    assert t0["worst_s"]["reba"]["trunk"] == pytest.approx(0.5 * t0["tracked_s"])
    assert t0["worst_s"]["reba"]["upper_arm"] == pytest.approx(t0["tracked_s"])
    assert t0["worst_s"]["rula"]["neck"] == pytest.approx(t0["tracked_s"]) and t0["worst_s"]["reba"]["legs"] == 0
    # Lifts: every one counted, each with the NIOSH index of its geometry (H 40 cm, V 30 -> 100 cm, no twist).
    assert sum(t["lifts"] for t in p0) == fed["lifts"] == len(lifts) == 6 * 30
    lift = next(x for x in lifts if x["lifts_per_min"] == 3)
    expected = assess_lift(LiftTask(load_kg=LOAD_KG, h_cm=40, v_origin_cm=30, v_dest_cm=100, asymmetry_deg=0,
                                    frequency_per_min=3, duration="long", coupling="good"))
    assert lift["h_cm"] == pytest.approx(40, abs=0.01) and lift["v_origin_cm"] == pytest.approx(30, abs=0.01)
    assert lift["v_dest_cm"] == pytest.approx(100, abs=0.01) and lift["asymmetry_deg"] == pytest.approx(0, abs=0.01)
    assert lift["li"] == pytest.approx(expected["li"]) and lift["rwl_kg"] == pytest.approx(expected["rwl_kg"])
    assert sum(t["niosh"]["assessed"] for t in p0) == 180 and sum(t["niosh"]["li_1_to_3"] for t in p0) == 180
    # Episodes: REBA >= 8 for 60 s (9 then 12), 5 a shift; each with a skeleton thumbnail, driven by neck and trunk.
    assert len(episodes) == 6 * 5
    e = episodes[0]
    assert e["peak_reba"] == 12 and e["duration_s"] == pytest.approx(60.0)
    assert e["drivers"]["parts"]["trunk"] == 1.0 and e["drivers"]["parts"]["neck"] == 1.0
    assert e["thumbnail"][:2] == b"\xff\xd8" and len(e["thumbnail"]) < 20_000


def test_thumbnails_hold_no_camera_pixel():
    """The thumbnail of a person is the same whatever the camera saw: no pixel of the frame reaches it."""
    import cv2

    from runtime.alerts.episodes import skeleton_thumbnail

    person = _person(0, 1.0)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    a = skeleton_thumbnail(noise.shape, person)
    b = skeleton_thumbnail(np.zeros_like(noise).shape, person)
    assert a == b
    image = cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_COLOR)
    assert max(image.shape[:2]) == 160 and (image > 100).any()


def test_episodes_are_bounded_per_shift_keeping_the_worst(tmp_path):
    clock = Clock(datetime(2024, 5, 1, 7, tzinfo=UTC))
    with EventStore(tmp_path / "e.db") as store:
        tracker = ExposureTracker(tz="UTC", clock=clock, store=store, camera="c", run_id="r", save_every_s=1)
        t = 0.0
        for n in range(MAX_EPISODES_PER_SHIFT + 10):  # 30 episodes of 1 s, peak 8 + n % 8, 3 s apart
            for i in range(4 * FPS):
                t += 1 / FPS
                clock.now += timedelta(seconds=1 / FPS)
                tracker.update(t, 0, {"reba_total": 8 + n % 8 if i < FPS else 3}, 1 / FPS)
        tracker.close()
    with EventReader(tmp_path / "e.db") as reader:
        peaks = sorted((e["peak_reba"] for e in reader.records("episodes")), reverse=True)
    made = sorted((8 + n % 8 for n in range(MAX_EPISODES_PER_SHIFT + 10)), reverse=True)
    assert peaks == made[:MAX_EPISODES_PER_SHIFT]


def test_a_store_of_the_previous_version_gains_the_new_tables_and_still_reports(tmp_path):
    db = tmp_path / "events.db"
    conn = sqlite3.connect(db)
    for sql in V1_SCHEMA:
        conn.execute(sql)
    conn.execute("INSERT INTO exposure VALUES ('cam', '2024-05-01T06:00', 'old', 0, 100.0, ?, "
                 "'2024-05-01T07:00:00.000000+00:00')", (V1_TOTALS,))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    # Read-only first: the report works on the old file and changes nothing in it.
    before = db.read_bytes()
    data = load_period(ReportSpec(db, "2024-04-30", "2024-05-03"))
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["events.db"]
    period = data["groups"]["period"]
    assert period["tracked_s"] == 100.0 and period["reba_s"]["high"] == 40.0 and period["rula_s"] is None
    assert data["recorded"]["episodes"] is False and period["alerts"] == {"reba_high": 2}
    # Opened by a run: the report's tables appear, the old rows stay, and a tracker continues the old totals.
    clock = Clock(datetime(2024, 5, 1, 8, tzinfo=UTC))
    with EventStore(db, retention_days=None) as store:
        tracker = ExposureTracker(tz="UTC", clock=clock, store=store, camera="cam", run_id="new")
        tracker.update(0.0, 0, {"reba_total": 9, "rula_action_level": 3}, 2.0)
        tracker.close()
        totals = tracker.totals()["shifts"]["2024-05-01T06:00"]["all"]
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert tables == {"events", "exposure", "shifts", "episodes", "lifts"}
    assert conn.execute("SELECT tracked_s FROM exposure WHERE run_id = 'old'").fetchone()[0] == 100.0
    conn.close()
    assert totals["tracked_s"] == 102.0 and totals["rula_s"]["3"] == 2.0 and totals["reba_s"]["high"] == 42.0


def _read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_report_numbers_equal_the_records_and_round_trip_as_csv(filled, tmp_path):
    db, _ = filled
    files = make_report(ReportSpec(db, "2024-05-01T00:00", "2024-05-03T00:00"), tmp_path / "out")
    shifts = _read_csv(files["exposure_shifts"])
    days = _read_csv(files["exposure_days"])
    tracks = _read_csv(files["exposure_tracks"])
    assert [s["shift"] for s in shifts] == ["2024-05-01T06:00", "2024-05-01T14:00", "2024-05-02T06:00",
                                            "2024-05-02T14:00"]  # the period holds two of the three days
    assert [d["day"] for d in days] == ["2024-05-01", "2024-05-02"] and len(tracks) == 8
    with EventReader(db) as reader:
        stored = {(r["shift"], r["run_id"], r["person"]): r["totals"] for r in reader.records("exposure")}
    for row in tracks:
        totals = stored[(row["shift"], row["run_id"], int(row["person"]))]
        assert float(row["tracked_s"]) == pytest.approx(totals["tracked_s"], abs=1e-3)
        assert float(row["reba_high_s"]) == pytest.approx(totals["reba_s"]["high"], abs=1e-3)
        assert float(row["rula_al2_s"]) == pytest.approx(totals["rula_s"]["2"], abs=1e-3)
        assert float(row["reba_trunk_worst_share"]) == pytest.approx(
            totals["worst_s"]["reba"]["trunk"] / totals["tracked_s"], abs=1e-4)
        assert int(row["lifts"]) == totals["lifts"]
    for row in shifts + days:
        levels = sum(float(row[f"reba_{k}_s"]) for k in ("negligible", "low", "medium", "high", "very_high",
                                                         "unknown"))
        assert levels == pytest.approx(float(row["tracked_s"]), abs=0.01)
    day = days[0]
    assert float(day["tracked_s"]) == pytest.approx(2 * 2 * 600.0, abs=0.01)  # two shifts, two people
    assert int(day["lifts"]) == 60 and float(day["lifts_per_h"]) == pytest.approx(60 / (2400 / 3600), abs=1e-3)
    assert 1.0 < float(day["li_mean"]) <= float(day["li_max"]) < 3.0 and int(day["li_1_to_3"]) == 60
    episodes = _read_csv(files["episodes"])
    assert len(episodes) == 12 and all(e["thumbnail"] == "yes" and float(e["peak_reba"]) == 12 for e in episodes)


def _pdf_pages(pdf: Path, tmp_path: Path) -> list[Path]:
    if not shutil.which("pdftoppm"):
        pytest.fail("no pdftoppm: apt-get install -y poppler-utils (scripts/setup.sh)")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    return sorted(tmp_path.glob("page-*.png"))


def test_report_html_in_chromium_and_pdf_pages(filled, tmp_path, browser):
    from PIL import Image
    from selenium.webdriver.common.by import By

    db, _ = filled
    files = make_report(ReportSpec(db, "2024-05-01", "2024-05-04", camera="line3"), tmp_path / "out")
    html = files["html"].read_text()
    assert "http://" not in html and "https://" not in html and "src=\"data:image/" in html
    browser.get(files["html"].as_uri())
    ids = {e.get_attribute("id") for e in browser.find_elements(By.TAG_NAME, "section")}
    assert ids == {"actions", "days", "shifts", "tracks", "body-parts", "lifts", "episodes", "trends", "legend"}
    # Every image (charts and thumbnails) decoded by the browser.
    sizes = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth])")
    assert len(sizes) == 6 + 12 and all(done and width > 0 for done, width in sizes)
    text = browser.find_element(By.ID, "actions").text
    assert "Necessary NOW: implement change" in text and "Investigation and changes required immediately" in text
    assert "2024-05-03" in browser.find_element(By.ID, "days").text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "shift_report.png"))
    pages = _pdf_pages(files["pdf"], tmp_path)
    assert 5 <= len(pages) <= 12
    first = np.asarray(Image.open(pages[0]).convert("L"))
    assert (first < 128).mean() > 0.01 and (first > 200).mean() > 0.5  # text on a white page


def test_a_real_run_on_the_clip_records_what_the_report_shows(footage, tmp_path, blazepose_models, monkeypatch):
    """`ergoedge run` on the real clip, with the two session lines this report needs emulated (the tracker made
    with the run's scoring config; `observe_frame` after each frame), then the report from the store alone."""
    import functools

    import runtime.alerts.exposure as exposure
    from edge.config import with_overrides
    from runtime.config import load_config
    from runtime.session import Session

    config = with_overrides(load_config(REPO / "examples" / "demo-run.toml"), scene_dir=str(tmp_path / "scenes"), **{
        "source.uri": str(footage / "pose2sim" / "cam01.mp4"), "sinks.sqlite": str(tmp_path / "events.db"),
        "sinks.stdout": False})
    monkeypatch.setattr(exposure, "ExposureTracker", functools.partial(exposure.ExposureTracker,
                                                                       scoring=config.scoring))
    noon = datetime.now(timezone.utc).replace(hour=12)  # the wall clock inside one shift, whenever the test runs
    session = Session(config, tmp_path / "out", status=None, wall_clock=lambda: noon)
    seen: list = []
    estimator = session.view.estimator

    class Estimator:  # the people of each frame, which the session line passes on
        def __call__(self, image, t):
            seen[:] = estimator(image, t)
            return list(seen)

        def __getattr__(self, name):
            return getattr(estimator, name)

    session.view.estimator = Estimator()
    try:
        for frame in session.source:
            if not session.step(frame):
                break
            session.exposure.observe_frame(session.t, frame.image, seen, session.view.scene.up)
    finally:
        session.close()
    report = session.write_report()
    run_totals = report["exposure"]["shifts"]
    files = make_report(ReportSpec(tmp_path / "events.db", "2000-01-01", "2100-01-01"), tmp_path / "report")
    tracks = _read_csv(files["exposure_tracks"])
    assert len(tracks) == 1 and tracks[0]["camera"] == "cam01"
    person = run_totals[tracks[0]["shift"]]["persons"][tracks[0]["person"]]
    assert float(tracks[0]["tracked_s"]) == pytest.approx(person["tracked_s"], abs=1e-3)
    assert float(tracks[0]["tracked_s"]) == pytest.approx(99 / 60, abs=0.02)
    rula = sum(float(tracks[0][f"rula_al{k}_s"]) for k in (1, 2, 3, 4)) + float(tracks[0]["rula_unknown_s"])
    assert rula == pytest.approx(float(tracks[0]["tracked_s"]), abs=0.01)
    assert float(tracks[0]["reba_high_s"]) + float(tracks[0]["reba_very_high_s"]) > 0
    episodes = _read_csv(files["episodes"])
    assert episodes and episodes[0]["thumbnail"] == "yes" and float(episodes[0]["peak_reba"]) >= 8
    assert "data:image/jpeg;base64," in files["html"].read_text() and files["pdf"].stat().st_size > 10_000


def _cli(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """`ergoedge report ...` through the real entry point (wired here too until runtime/cli.py wires it)."""
    import runtime.cli
    from edge.cli import build_parser, main
    from runtime.report_cli import add_commands

    choices = build_parser()._subparsers._group_actions[0].choices
    if "report" not in choices:
        own = runtime.cli.add_commands
        monkeypatch.setattr(runtime.cli, "add_commands", lambda sub: (own(sub), add_commands(sub)))
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_input_is_one_line(filled, tmp_path, monkeypatch, capsys):
    db, _ = filled
    cases = [
        (["--events-db", str(tmp_path / "none.db"), "--since", "2024-05-01", "--until", "2024-05-02"],
         "no event store at"),
        (["--events-db", str(db), "--since", "2024-05-03", "--until", "2024-05-02"], "is not before --until"),
        (["--events-db", str(db), "--since", "2025-01-01", "--until", "2025-02-01"],
         "no exposure recorded in shifts beginning 2025-01-01T00:00 .. 2025-02-01T00:00 UTC; stored shifts begin "
         "2024-05-01T06:00 .. 2024-05-03T14:00"),
        (["--events-db", str(db), "--since", "2024-05-01", "--until", "2024-05-04", "--camera", "nope"],
         "no exposure recorded for camera 'nope' (the store has: line3)"),
        (["--events-db", str(db), "--since", "yesterday", "--until", "2024-05-04"], "not an ISO-8601 time"),
    ]
    for args, message in cases:
        code, out, err = _cli([*args, "--out", str(tmp_path / "out")], monkeypatch, capsys)
        assert code != 0 and out == "" and err.count("\n") == 1 and message in err, err
        assert err.startswith("ergoedge: error: ")
    assert not (tmp_path / "out").exists()
    code, out, err = _cli(["--events-db", str(db), "--since", "2024-05-02", "--until", "2024-05-03", "--out",
                           str(tmp_path / "out")], monkeypatch, capsys)
    assert code == 0 and err == "" and "report.pdf" in out and (tmp_path / "out" / "exposure_days.csv").is_file()
    with pytest.raises(InputError, match="empty"):
        make_report(ReportSpec(db, "2024-05-01", "2024-05-04"), "")
    # A run's folder: its report.html would be replaced by the shift report's.
    (tmp_path / "run").mkdir()
    for name in ("report.json", "report.html"):
        (tmp_path / "run" / name).write_text(name)
    code, out, err = _cli(["--events-db", str(db), "--since", "2024-05-02", "--until", "2024-05-03", "--out",
                           str(tmp_path / "run")], monkeypatch, capsys)
    assert code == 2 and "holds a run's report (report.json)" in err and err.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["report.html", "report.json"]
    assert (tmp_path / "run" / "report.html").read_text() == "report.html"
