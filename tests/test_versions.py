"""Version checks in one place (`edge/versions.py`) and the paho-mqtt floor they enforce.

paho-mqtt 2.0 and 2.1 import fine but lack `Client.drop_out_messages()` (2.2), which the MQTT sink calls on every
connect, inside paho's network thread: nothing would ever be published and nothing said. The sink refuses them when
it is created, in one line. Installed versions are faked the way pip records them (a `*.dist-info` directory ahead on
sys.path), and one test installs the real paho-mqtt 2.1.0 from the package index into a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from edge.errors import InputError
from edge.versions import installed_version, require_version, version_satisfies

REPO = Path(__file__).resolve().parents[1]


def fake_distribution(monkeypatch, root: Path, name: str, version: str) -> None:
    """Make `name` look installed at `version` to importlib.metadata: a dist-info directory first on sys.path."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))


def test_require_version_compares_versions_not_strings(tmp_path, monkeypatch):
    fake_distribution(monkeypatch, tmp_path / "a", "ergo-fake-dist", "2.10.1")   # "2.10.1" < "2.2" as strings
    assert installed_version("ergo-fake-dist") == "2.10.1"
    assert require_version("ergo-fake-dist", "2.2", "pip install -U ergo-fake-dist") == Version("2.10.1")
    assert require_version("ergo-fake-dist", "2.10.1", "hint") == Version("2.10.1")


def test_require_version_refuses_an_older_install_in_one_line(tmp_path, monkeypatch):
    fake_distribution(monkeypatch, tmp_path / "a", "ergo-fake-dist", "2.1.0")
    with pytest.raises(InputError) as err:
        require_version("ergo-fake-dist", "2.2", "pip install -U 'ergo-fake-dist>=2.2'")
    assert str(err.value) == ("ergo-fake-dist >= 2.2 is needed, 2.1.0 is installed: "
                              "pip install -U 'ergo-fake-dist>=2.2'")


def test_require_version_missing_or_unreadable(tmp_path, monkeypatch):
    assert installed_version("ergo-surely-not-installed") is None
    with pytest.raises(InputError, match="ergo-surely-not-installed >= 1.0 is needed and is not installed: do this"):
        require_version("ergo-surely-not-installed", "1.0", "do this")
    fake_distribution(monkeypatch, tmp_path / "b", "ergo-odd-dist", "banana")
    with pytest.raises(InputError, match="installed version 'banana' cannot be compared: fix it"):
        require_version("ergo-odd-dist", "1.0", "fix it")


def test_version_satisfies_ranges():
    assert version_satisfies("1.26.4", ">=1.21.2,<2")
    assert not version_satisfies("2.0.0", ">=1.21.2,<2")
    assert version_satisfies("2.2.0rc1", ">=2.1")                  # pre-releases count
    assert not version_satisfies("1.9", ">=1.10")
    with pytest.raises(ValueError):
        version_satisfies("banana", ">=1")
    with pytest.raises(ValueError):
        version_satisfies("1.0", "at least 1")


def test_mqtt_sink_refuses_paho_older_than_2_2(tmp_path, monkeypatch):
    pytest.importorskip("paho.mqtt.client")
    from runtime.alerts.mqtt import PAHO_MQTT_MINIMUM, MqttSink
    from runtime.alerts.mqtt_config import MqttConfig

    assert Version(PAHO_MQTT_MINIMUM) == Version("2.2")
    fake_distribution(monkeypatch, tmp_path / "site", "paho-mqtt", "2.1.0")
    outbox = tmp_path / "outbox.sqlite"
    with pytest.raises(InputError) as err:
        MqttSink(MqttConfig(outbox_path=str(outbox)), camera="line1")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("paho-mqtt >= 2.2 is needed, 2.1.0 is installed")
    assert "drop_out_messages" in message and "pip install -U 'paho-mqtt>=2.2'" in message
    assert not outbox.exists()                                   # refused before anything was opened


def test_a_real_paho_2_1_install_is_refused(tmp_path):
    """paho-mqtt 2.1.0 from the package index, ahead of the venv's own paho on PYTHONPATH: the sink says so in one
    line instead of starting a client that never publishes."""
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--no-deps", "--target", str(target), "paho-mqtt==2.1.0"],
                         capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        pytest.skip(f"cannot install paho-mqtt 2.1.0 from the package index: {pip.stderr.strip()[-300:]}")
    code = ("import sys\n"
            "import paho.mqtt.client as m\n"
            "assert not hasattr(m.Client, 'drop_out_messages'), m.__file__\n"
            "from edge.errors import InputError\n"
            "from runtime.alerts.mqtt import MqttSink\n"
            "from runtime.alerts.mqtt_config import MqttConfig\n"
            "try:\n"
            "    MqttSink(MqttConfig(outbox_path=sys.argv[1])).close(timeout_s=0)\n"
            "except InputError as exc:\n"
            "    print(exc)\n"
            "    sys.exit(3)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "outbox.sqlite")], capture_output=True,
                         text=True, timeout=60, env=env, cwd=tmp_path)
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stdout.strip().splitlines() == [
        "paho-mqtt >= 2.2 is needed, 2.1.0 is installed: the MQTT sink needs it (drop_out_messages); "
        "pip install -U 'paho-mqtt>=2.2'"]
