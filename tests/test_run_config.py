"""The run configuration: TOML with changes only, unknown keys named, command line over file over defaults."""

import re
from pathlib import Path

import pytest

from edge.errors import InputError
from edge.config import with_overrides
from runtime.config import RunConfig, load_config


def _write(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_defaults_and_changes(tmp_path):
    assert load_config(None) == RunConfig()
    config = load_config(_write(tmp_path, """
camera = "line3"
max_seconds = 30
[source]
uri = "test://"
fps = 15
[pose]
max_people = 2
[scoring]
load_kg = 8
coupling = "fair"
[scoring.body]
mass_kg = 82.5
sex = "female"
[scoring.activity]
static_hold_s = 45
[[alerts.rules]]
name = "trunk"
metric = "trunk_flexion_deg"
threshold = 45
min_duration_s = 2
severity = "warning"
[sinks]
sqlite = ""
[sinks.mqtt]
host = "127.0.0.1"
port = 1884
[output]
face_blur = true
"""))
    assert config.camera == "line3" and config.max_seconds == 30.0
    assert config.source.uri == "test://" and config.source.fps == 15.0 and config.source.width is None
    assert config.pose.max_people == 2 and config.pose.smoothing is True
    assert config.scoring.load_kg == 8.0 and config.scoring.coupling == "fair"
    assert config.scoring.body.mass_kg == 82.5 and config.scoring.body.sex == "female"
    assert config.scoring.activity.static_hold_s == 45.0 and config.scoring.activity.rapid_range_deg == 45.0
    (rule,) = config.alerts.rules
    assert rule.name == "trunk" and rule.threshold == 45.0 and rule.min_duration_s == 2.0
    assert config.sinks.sqlite == "" and config.sinks.mqtt.port == 1884 and config.sinks.mqtt.qos == 1
    assert config.output.face_blur and not config.output.show


def test_command_line_beats_file(tmp_path):
    config = load_config(_write(tmp_path, '[source]\nuri = "test://"\n[pose]\nmax_people = 3\n'))
    changed = with_overrides(config, camera="cam9", **{"source.uri": "clip.mp4", "pose.max_people": None})
    assert changed.source.uri == "clip.mp4" and changed.pose.max_people == 3 and changed.camera == "cam9"


@pytest.mark.parametrize("text, fragment", [
    ('[source]\nuri = "x"\nurl = "y"\n', "unknown key 'url'"),
    ('[scoring]\nload_kilos = 3\n', "unknown key 'load_kilos'"),
    ('[scoring.body]\nmass_kg = "heavy"\n', "scoring.body.mass_kg: expected a number"),
    ('[scoring.body]\nmass_kg = 5\n', "mass"),
    ('[pose]\nmax_people = 1.5\n', "pose.max_people: expected a whole number"),
    ('[output]\nface_blur = "yes"\n', "output.face_blur: expected true or false"),
    ('[[alerts.rules]]\nname = "x"\nmetric = "reba_total"\nthreshold = 8\nsevrity = "info"\n', "sevrity"),
    ('[source\nuri = 1', "not valid TOML"),
    ('[scoring]\ncoupling = "great"\n', "coupling"),
])
def test_bad_configs_name_the_problem(tmp_path, text, fragment):
    with pytest.raises(InputError, match=None) as info:
        load_config(_write(tmp_path, text))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_jetson_presets_load():
    presets = sorted((Path(__file__).resolve().parents[1] / "jetson" / "presets").glob("*.toml"))
    assert [p.stem for p in presets] == ["agx-orin", "orin-nano", "orin-nx"]
    for preset in presets:
        config = load_config(preset)
        assert config.source.uri == "csi://0" and config.sinks.mqtt is not None and config.output.face_blur



def test_the_jetson_doctor_command_sees_the_services_environment():
    """jetson/README.md's `ergoedge doctor` line must check what the unit runs with: the same variables, or doctor
    looks at another models, scenes or state directory than the service uses."""
    jetson = Path(__file__).resolve().parents[1] / "jetson"
    service = dict(line[len("Environment="):].split("=", 1) for line in
                   (jetson / "ergo-edge.service").read_text().splitlines() if line.startswith("Environment="))
    readme = (jetson / "README.md").read_text()
    for what in ("doctor", "calibrate-scene"):
        command = readme[:readme.index(f"/venv/bin/ergoedge {what}")].rsplit("sudo -u ergoedge", 1)[1]
        assert dict(re.findall(r"([A-Z_]+)=(\S+)", command)) == service and len(service) >= 4, what
    install = (jetson / "install.sh").read_text()
    command = install[:install.index("/venv/bin/ergoedge calibrate-scene")].rsplit("sudo -u ergoedge", 1)[1]
    assert dict(re.findall(r"([A-Z_]+)=(\S+)", command)) == service  # what install.sh tells you to run
