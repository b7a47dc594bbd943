"""An internal error: one line for the user, the traceback in the system log or the state directory's log file."""

import socket
import tempfile
from pathlib import Path

import pytest

from edge import cli, crashlog

LINE = "ergoedge: internal error: RuntimeError: kaboom"


def _crashing_command(args):
    raise RuntimeError("kaboom")


@pytest.fixture
def crash(monkeypatch, tmp_path, capsys):
    """Runs `ergoedge layouts` with its command raising, from an empty working directory; returns (code, stderr)."""
    monkeypatch.delenv("ERGOEDGE_DEBUG", raising=False)
    monkeypatch.setattr(cli, "_cmd_layouts", _crashing_command)
    monkeypatch.setattr(crashlog, "SYSLOG_ADDRESS", str(tmp_path / "no-syslog-here"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    def run():
        code = cli.main(["layouts"])
        return code, capsys.readouterr().err
    yield run
    assert list(cwd.iterdir()) == []  # never into the working directory


@pytest.mark.parametrize("variable, subdirectory", [("ERGOEDGE_STATE_DIR", ""), ("XDG_STATE_HOME", "ergo-edge")])
def test_without_a_system_log_the_traceback_goes_to_the_state_directory(crash, tmp_path, monkeypatch, variable,
                                                                         subdirectory):
    monkeypatch.delenv("ERGOEDGE_STATE_DIR", raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "state"))
    log = tmp_path / "state" / subdirectory / "ergoedge.log"
    code, err = crash()
    assert code == 1
    assert err.splitlines() == [f"{LINE} (traceback in {log})"]
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "_crashing_command" in text
    assert "RuntimeError: kaboom" in text
    crash()
    assert log.read_text(encoding="utf-8").count("Traceback") == 2  # appended


def test_the_log_file_is_rotated(crash, tmp_path, monkeypatch):
    monkeypatch.setenv("ERGOEDGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(crashlog, "LOG_MAX_BYTES", 1000)
    for _ in range(20):
        crash()
    files = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert files == ["ergoedge.log", "ergoedge.log.1", "ergoedge.log.2", "ergoedge.log.3"]
    assert all(p.stat().st_size <= 1000 for p in (tmp_path / "state").iterdir())
    assert "RuntimeError: kaboom" in (tmp_path / "state" / "ergoedge.log").read_text(encoding="utf-8")


def test_the_system_log_receives_the_traceback(crash, tmp_path, monkeypatch):
    monkeypatch.setenv("ERGOEDGE_STATE_DIR", str(tmp_path / "state"))
    with tempfile.TemporaryDirectory() as short, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        address = str(Path(short) / "log")  # a Unix socket path must be short; tmp_path may not be
        server.bind(address)
        server.settimeout(5.0)
        monkeypatch.setattr(crashlog, "SYSLOG_ADDRESS", address)
        code, err = crash()
        message = server.recv(1 << 20).decode("utf-8")
    assert code == 1 and err.splitlines() == [f"{LINE} (traceback in the system log)"]
    assert message.startswith("<11>ergoedge[")  # facility user, priority error; identifier ergoedge
    assert "Traceback (most recent call last)" in message and "RuntimeError: kaboom" in message
    assert not (tmp_path / "state").exists()


def test_nowhere_to_write_still_one_line(crash, monkeypatch):
    monkeypatch.setenv("ERGOEDGE_STATE_DIR", "relative/state")  # would be the working directory: not used
    code, err = crash()
    assert code == 1 and err.splitlines() == [f"{LINE} (set ERGOEDGE_DEBUG=1 for the traceback)"]


def test_debug_still_raises(crash, tmp_path, monkeypatch):
    monkeypatch.setenv("ERGOEDGE_DEBUG", "1")
    monkeypatch.setenv("ERGOEDGE_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(RuntimeError, match="kaboom"):
        crash()
    assert not (tmp_path / "state").exists()
