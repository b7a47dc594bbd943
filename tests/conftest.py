"""Shared fixtures: the fetched pose models and the real footage that set-up brings (scripts/setup.sh)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Tests that import onnxruntime themselves switch its telemetry off first, as the product does."""
    from edge.inference.telemetry import quiet_onnxruntime

    quiet_onnxruntime()


@pytest.fixture(scope="session")
def footage() -> Path:
    """Real footage from packages (pose2sim clips, opencv-doc photos), fetched by scripts/fetch_footage.sh."""
    path = Path(os.environ.get("ERGOEDGE_FOOTAGE", REPO / "build" / "footage"))
    if not (path / "MANIFEST.txt").exists():
        pytest.fail(f"no footage in {path}: run `make test` (set-up fetches it) or scripts/fetch_footage.sh")
    return path


@pytest.fixture(scope="session")
def blazepose_models():
    """Paths of the converted BlazePose models (fetched by set-up; instant when present)."""
    from edge.artifacts import model_path
    from export.mediapipe.fetch import fetch_models

    fetch_models(log=lambda _msg: None)
    return model_path("pose_detection"), model_path("pose_landmark_full")


@pytest.fixture(params=["onnxruntime", "openvino"])
def blazepose(request, blazepose_models):
    """A fresh BlazePose estimator (single person), once on each CPU runtime."""
    from edge.inference.backends import open_backend
    from edge.pose.blazepose import BlazePose

    if request.param == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is installed on x86_64 only")
    detector, landmarks = blazepose_models
    return BlazePose(open_backend(detector, request.param), open_backend(landmarks, request.param))


@pytest.fixture
def one_torch_thread():
    """Tiny models: one torch thread is the fastest, and leaves the other core to the rest of the machine."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Debian's headless chromium driven by selenium (set-up installs both), for the dashboard and report pages."""
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("no chromium/chromedriver: apt-get install -y chromium chromium-driver (scripts/setup.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1300",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    # chromium would otherwise leave a fresh profile directory in /tmp on every run
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def gst():
    """GStreamer's Gst namespace (tests of real pipelines); skipped with the reason where it cannot load."""
    from edge.errors import InputError
    from runtime.video.gst import gst as load

    try:
        return load().Gst
    except InputError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def compose():
    """benchmarks/multi_person_compose.py as a module: the composed multi-person footage its tests share."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "multi_person_compose.py"
    spec = importlib.util.spec_from_file_location("multi_person_compose", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def backends(blazepose_models):
    """BlazePose's detector and landmark model on ONNX Runtime, one thread each."""
    from edge.inference.ort_backend import OrtBackend

    detector, landmarks = blazepose_models
    return (OrtBackend(detector, intra_op_threads=1, allow_spinning=False),
            OrtBackend(landmarks, intra_op_threads=1, allow_spinning=False))


CLIP_FRAMES = 40  # of 100: the 2D keypoints of 4 views with flipped crops take 20-30 s on 2 shared cores


@pytest.fixture(scope="session")
def pose2sim_views(footage, blazepose_models):
    """The pose2sim demo's calibrated rig and BlazePose's readings of its first CLIP_FRAMES frames in each of the 4
    views (`edge.pose.multiview_clip.estimate_views`)."""
    from edge.pose.cameras import read_qca
    from edge.pose.multiview_clip import estimate_views

    folder = footage / "pose2sim"
    names = ("cam01", "cam02", "cam03", "cam04")
    views = estimate_views({n: folder / f"{n}.mp4" for n in names}, max_frames=CLIP_FRAMES)
    rig = read_qca(folder / "Calib.qca.txt", {"cam01": (1080, 1920), "cam02": (1080, 1920)})
    return rig, views
