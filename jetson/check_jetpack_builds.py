"""Which builds this Python imports, as a Jetson needs them: JetPack's cv2 (with GStreamer) and an onnxruntime with the
CUDA provider (NVIDIA's onnxruntime-gpu), never PyPI's CPU builds that a venv would put ahead of them; numpy below 2
(JetPack's cv2 is built against numpy 1.x); JetPack's tensorrt bindings, not a PyPI wheel; pycuda for the TensorRT
backend.

    /opt/ergo-edge/venv/bin/python jetson/check_jetpack_builds.py

Prints one line per package (version, where it comes from) and each problem with its fix; exit code 1 when there is
a problem. jetson/install.sh and jetson/Dockerfile run it after `pip install '.[jetson]'`; `ergoedge doctor` checks
the whole device.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path


def where(module) -> str:
    path = Path(getattr(module, "__file__", "") or ".").resolve()
    return "the venv" if Path(sys.prefix).resolve() in path.parents else str(path.parent.parent)


def _imported(module: str, problems: list[str], fix: str, label: str | None = None):
    """The module, or None with the problem and its `fix` added to `problems`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        problems.append(f"{label or module}: not importable ({exc}): {fix}")
        return None


def check() -> list[str]:
    problems = []
    try:
        import numpy
    except ImportError as exc:
        return [f"numpy: not importable ({exc}): pip install '.[jetson]'"]
    from edge.versions import version_satisfies  # installed with the package, like numpy

    print(f"numpy {numpy.__version__} from {where(numpy)}")
    if not version_satisfies(numpy.__version__, "<2"):
        problems.append("numpy >= 2: JetPack's cv2 needs numpy 1.x: pip install 'numpy<2' (the jetson extra does)")
    cv2 = _imported("cv2", problems, "apt install nvidia-opencv (JetPack's OpenCV)")
    if cv2 is not None:
        print(f"cv2 {cv2.__version__} from {where(cv2)}")
        if not re.search(r"GStreamer:\s+YES", cv2.getBuildInformation()):
            problems.append("cv2 without GStreamer (a PyPI wheel?): pip uninstall opencv-python-headless "
                            "opencv-python, so that JetPack's cv2 is the one imported")
    ort = _imported("onnxruntime", problems, "install NVIDIA's onnxruntime-gpu wheel for this JetPack (.onnx models "
                    "need it; .engine models run on TensorRT without it)")
    if ort is not None:
        providers = ort.get_available_providers()
        print(f"onnxruntime {ort.__version__} from {where(ort)}: {', '.join(providers)}")
        if "CUDAExecutionProvider" not in providers:
            problems.append("onnxruntime without the CUDA provider (PyPI's CPU build?): pip uninstall onnxruntime, "
                            "then install NVIDIA's onnxruntime-gpu wheel for this JetPack")
    trt = _imported("tensorrt", problems, "apt install python3-libnvinfer (JetPack's TensorRT Python bindings; the "
                    "venv sees them through its system site packages)")
    if trt is not None:
        print(f"tensorrt {getattr(trt, '__version__', '?')} from {where(trt)}")
        if where(trt) == "the venv":
            problems.append("tensorrt from the venv (a PyPI wheel, not built for this JetPack's TensorRT library): "
                            "pip uninstall tensorrt, so that JetPack's python3-libnvinfer is the one imported")
    drv = _imported("pycuda.driver", problems, "pip install '.[jetson]' with /usr/local/cuda/bin on PATH", "pycuda")
    if drv is not None:
        print(f"pycuda from {where(drv)}")
    return problems


def main() -> int:
    problems = check()
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
