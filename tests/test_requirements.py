"""What `pip install .` requires on each kind of machine, read from pyproject.toml and resolved with PEP 508 markers
(packaging.requirements / packaging.markers) for a given environment.

On a Jetson (aarch64 Linux, Python 3.10, JetPack 6) the install must not pull PyPI's onnxruntime or OpenCV: in a
venv with --system-site-packages they would be imported instead of JetPack's onnxruntime-gpu (CUDA provider) and cv2
(GStreamer). The `jetson` extra adds pycuda and keeps numpy below 2. x86_64 gets what it always got.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
JETPACK_BUILDS = {"onnxruntime", "onnxruntime-gpu", "opencv-python", "opencv-python-headless",
                  "opencv-contrib-python", "opencv-contrib-python-headless"}


def environment(machine: str, python: str) -> dict[str, str]:
    """PEP 508 marker variables of a Linux machine."""
    return {"platform_machine": machine, "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "platform_release": "5.15.148-tegra" if machine == "aarch64" else "6.1.0-18-amd64",
            "platform_version": "#1 SMP PREEMPT", "python_version": python, "python_full_version": f"{python}.12",
            "implementation_name": "cpython", "implementation_version": f"{python}.12",
            "platform_python_implementation": "CPython"}


JETSON = environment("aarch64", "3.10")        # JetPack 6: Ubuntu 22.04, Python 3.10
X86_311 = environment("x86_64", "3.11")        # the build machines
X86_310 = environment("x86_64", "3.10")


def project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def resolved(env: dict[str, str], extras: tuple[str, ...] = ()) -> dict[str, SpecifierSet]:
    """Distribution -> combined version range that `pip install .[extras]` requires in `env`."""
    proj = project()
    declared = [(text, "") for text in proj["dependencies"]]
    declared += [(text, extra) for extra in extras for text in proj["optional-dependencies"][extra]]
    out: dict[str, SpecifierSet] = {}
    for text, extra in declared:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({**env, "extra": extra}):
            name = canonicalize_name(req.name)
            out[name] = out.get(name, SpecifierSet()) & req.specifier
    return out


def test_a_jetson_gets_no_pypi_onnxruntime_or_opencv():
    for extras in ((), ("jetson",)):
        names = set(resolved(JETSON, extras))
        assert names & JETPACK_BUILDS == set(), extras
        assert {"numpy", "scipy", "onnx", "matplotlib", "paho-mqtt", "packaging", "tomli"} <= names
        assert "openvino" not in names


def test_the_jetson_extra_adds_pycuda_and_keeps_numpy_below_2():
    plain, jetson = resolved(JETSON), resolved(JETSON, ("jetson",))
    assert "pycuda" not in plain and "pycuda" in jetson
    assert jetson["pycuda"].contains("2024.1.2") and not jetson["pycuda"].contains("2019.1.2")
    assert jetson["numpy"].contains("1.26.4") and not jetson["numpy"].contains("2.0.0")
    assert plain["numpy"].contains("2.2.6")      # only the Jetson profile holds numpy back


def test_other_aarch64_machines_take_pypi_builds_from_the_cpu_extra():
    names = resolved(environment("aarch64", "3.11"), ("cpu",))
    assert {"onnxruntime", "opencv-python-headless"} <= set(names)


def test_x86_gets_what_it_always_got():
    for env, tomli in ((X86_311, False), (X86_310, True)):
        names = set(resolved(env))
        assert {"numpy", "scipy", "onnx", "onnxruntime", "openvino", "matplotlib", "opencv-python-headless",
                "paho-mqtt", "packaging"} <= names
        assert ("tomli" in names) is tomli
        assert "pycuda" not in names


@pytest.mark.parametrize("env", [JETSON, X86_311, X86_310], ids=["jetson", "x86-3.11", "x86-3.10"])
def test_every_runtime_dependency_has_a_floor(env):
    for name, spec in resolved(env).items():
        assert any(s.operator in (">=", "==", "~=") for s in spec), f"{name} has no lower bound: {spec}"


def test_paho_floor_is_the_one_the_sink_checks():
    from runtime.alerts.mqtt import PAHO_MQTT_MINIMUM

    spec = resolved(X86_311)["paho-mqtt"]
    assert spec.contains(PAHO_MQTT_MINIMUM) and spec.contains("2.2.0")
    assert not spec.contains("2.1.0") and not spec.contains("2.0.0")   # no drop_out_messages() before 2.2



# jetson/check_jetpack_builds.py, which install.sh and the Dockerfile run after `pip install '.[jetson]'`.
CHECK = PYPROJECT.parent / "jetson" / "check_jetpack_builds.py"


def run_check(pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, timeout=120, env=env)


def test_the_install_check_flags_pypi_builds_that_would_shadow_jetpack():
    """This x86 venv holds exactly what must not be on a Jetson: PyPI's OpenCV (no GStreamer) and CPU onnxruntime."""
    cv2 = pytest.importorskip("cv2")
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers() or re.search(r"GStreamer:\s+YES",
                                                                             cv2.getBuildInformation()):
        pytest.skip("this machine has JetPack-like builds; the check needs PyPI's OpenCV and CPU onnxruntime")
    run = run_check()
    assert run.returncode == 1
    problems = [line for line in run.stdout.splitlines() if line.startswith("problem: ")]
    assert any(p.startswith("problem: cv2 without GStreamer") for p in problems), run.stdout
    assert any(p.startswith("problem: onnxruntime without the CUDA provider") for p in problems), run.stdout
    if importlib.util.find_spec("tensorrt") is None:  # x86 set-up has TensorRT-RTX's parser, not tensorrt
        assert any(p.startswith("problem: tensorrt: not importable") for p in problems), run.stdout


def test_the_install_check_accepts_jetpack_builds(tmp_path):
    """Stand-ins for what only a Jetson has (JetPack's cv2 with GStreamer, onnxruntime-gpu, pycuda) ahead on the path:
    nothing is flagged but numpy 2, which this venv has and a Jetson venv must not."""
    site = tmp_path / "jetpack"
    (site / "cv2").mkdir(parents=True)
    (site / "cv2" / "__init__.py").write_text(
        "__version__ = '4.8.0'\ndef getBuildInformation():\n    return '  Video I/O:\\n    GStreamer:  YES (1.20.3)'\n")
    (site / "onnxruntime").mkdir()
    (site / "onnxruntime" / "__init__.py").write_text(
        "__version__ = '1.19.0'\ndef get_available_providers():\n"
        "    return ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']\n")
    (site / "tensorrt").mkdir()  # JetPack's python3-libnvinfer: outside the venv
    (site / "tensorrt" / "__init__.py").write_text("__version__ = '10.3.0'\n")
    (site / "pycuda").mkdir()
    (site / "pycuda" / "__init__.py").write_text("")
    (site / "pycuda" / "driver.py").write_text("")
    run = run_check(str(site))
    problems = [line for line in run.stdout.splitlines() if line.startswith("problem: ")]
    import numpy

    from edge.versions import version_satisfies

    if not version_satisfies(numpy.__version__, "<2"):
        assert run.returncode == 1 and len(problems) == 1 and problems[0].startswith("problem: numpy >= 2"), run.stdout
    else:
        assert run.returncode == 0 and problems == [], run.stdout
    assert "onnxruntime 1.19.0 from" in run.stdout and "CUDAExecutionProvider" in run.stdout
    assert f"tensorrt 10.3.0 from {tmp_path}" in run.stdout
