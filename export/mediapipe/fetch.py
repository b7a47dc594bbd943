"""`ergoedge models fetch`: the default pose models (MediaPipe BlazePose, Apache-2.0) as checked ONNX files.

`fetch_models()` is the one entry point: it takes the two `.tflite` files out of the pinned `mediapipe` wheel
(PyPI), checks their sha256, converts them to ONNX with the script `tflite_onnx.py` and its modules (`CONVERTER_FILES`,
beside this file) inside an isolated tools venv (tflite, ai-edge-litert, onnx, onnxruntime: never installed into the
runtime environment), verifies the ONNX against TFLite, and records everything in `manifest.json` (read back
through `edge.artifacts`). Run again, it only re-checks the files and returns: no network, no subprocess.

Directory layout (the root is the parent of `edge.artifacts.models_dir()`, by default `~/.cache/ergo-edge`):

    models/manifest.json            what was made, from what, how, and the sha256 of every file below
    models/pose_detection.onnx      person detector, [1,224,224,3] RGB in [-1,1] -> [1,2254,12], [1,2254,1]
    models/pose_landmark_full.onnx  BlazePose GHUM full, [1,256,256,3] RGB in [0,1] -> 5 outputs
    models/*.tflite                 the original files (for LiteRT, and to re-verify)
    models/LICENSE.mediapipe        Apache-2.0 licence text shipped with the weights
    tools/convert-venv/             converter venv, reused while its stamp matches TOOLS_REQUIREMENTS
    downloads/mediapipe-*.whl       the source wheel, reused while its contents check out

Standard library only (plus `edge`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edge import __version__
from edge.artifacts import (FETCH_HINT, MANIFEST, MANIFEST_FORMAT, ModelError, load_manifest, models_dir,
                            sha256_file)
from edge.paths import exclusive_lock, user_dir

MEDIAPIPE_VERSION = "0.10.21"
# Only the platform-independent .tflite files are used, so every machine (aarch64 too: 0.10.21 has no
# manylinux_2_28_aarch64 wheel) downloads this one wheel, the one whose files' sha256 are pinned below.
MEDIAPIPE_PLATFORM = "manylinux_2_28_x86_64"
MEDIAPIPE_PYTHON_TAG = "311"
LICENSE_FILE = "LICENSE.mediapipe"
# The converter's own environment, fully pinned and installed with --no-deps (onnxruntime's sympy/coloredlogs are
# not needed to run a model: leaving them out saves 90 MB). Resolves on CPython 3.10-3.12, x86_64 and aarch64.
TOOLS_REQUIREMENTS = (
    "numpy==2.2.6",
    "onnx==1.23.2",
    "protobuf==7.36.2",
    "ml_dtypes==0.6.0",
    "typing_extensions==4.16.0",
    "onnxruntime==1.23.2",
    "packaging==26.3",
    "flatbuffers==25.12.19",
    "tflite==2.18.0",
    "ai-edge-litert==2.3.0",
    "backports.strenum==1.2.8",
    "tqdm==4.70.1",
)


@dataclass(frozen=True)
class _Source:
    member: str  # path inside the mediapipe wheel
    sha256: str  # of that .tflite file
    input_range: tuple[float, float]  # of the model's input, used for the verification inputs


SOURCES = {
    "pose_detection": _Source(
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", (-1.0, 1.0)),
    "pose_landmark_full": _Source(
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", (0.0, 1.0)),
}

# The converter: the script the tools venv runs, then the modules it imports from its own folder (all beside this
# module); the manifest records the sha256 of each.
CONVERTER_FILES = ("tflite_onnx.py", "tflite_graph.py", "onnx_builder.py", "tflite_verify.py")


def converter_script() -> Path:
    """The converter's script, `tflite_onnx.py` beside this module; it runs in the tools venv."""
    return Path(__file__).with_name(CONVERTER_FILES[0])


def converter_version(script: Path) -> str | None:
    """The script's `CONVERTER_VERSION`, read from its text (importing it would need the tools venv's packages)."""
    match = re.search(r'^CONVERTER_VERSION = "([^"]+)"', script.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else None


def _is_current(manifest: dict) -> bool:
    """Made from the pinned sources by the current converter (a stale set is made again, never reused).

    "Current" is the same `CONVERTER_VERSION` in `tflite_onnx.py`: the converter files' sha256 are recorded, not
    compared, so an edit that leaves the ONNX files as they were does not make every installed set again.
    """
    source = manifest.get("source", {})
    if source.get("version") != MEDIAPIPE_VERSION:
        return False
    for name, src in SOURCES.items():
        if manifest["models"][name].get("tflite_sha256") != src.sha256:
            return False
    try:
        current = converter_version(converter_script())
    except OSError:
        return True  # nothing to convert with: what is there is the best there is
    return manifest.get("converter", {}).get("version") == current


# ---------------------------------------------------------------------------------------------------------------------
# Making them


def fetch_models(directory: str | os.PathLike | None = None, force: bool = False, log=print) -> dict:
    """Make sure the checked ONNX pose models are in `directory` (default `models_dir()`); return the manifest.

    Already there, intact and current (and not `force`): returns at once, offline. Otherwise: (re)uses the tools venv
    `<cache>/tools/convert-venv`, downloads (or reuses) the mediapipe wheel into `<cache>/downloads` (`<cache>` is
    ergo-edge's cache folder, `edge.paths.user_dir("cache")`, whichever models directory is asked for: never the
    working directory), checks the two .tflite files' sha256, converts and verifies each model, and installs the
    files with the manifest written last. Files are renamed into place, so an interrupted fetch never leaves a set
    that passes `load_manifest`.
    """
    d = models_dir(directory).absolute()  # the converter runs in a staging folder: a relative path would move
    if not force:
        current = _valid_current(d)
        if current is not None:
            log(f"pose models ready in {d}")
            return current
    _check_replaceable(d)
    root = user_dir("cache")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the models directory {d}: {exc.strerror or exc}") from None
    with exclusive_lock(root / ".fetch.lock"):
        if not force:  # another process may have finished while this one waited
            current = _valid_current(d)
            if current is not None:
                log(f"pose models ready in {d}")
                return current
        started = time.monotonic()
        for stale in d.glob(".fetch-*"):  # left by a fetch that was killed
            shutil.rmtree(stale, ignore_errors=True)
        script = converter_script()
        python = _tools_python(root / "tools" / "convert-venv", log)
        wheel = _mediapipe_wheel(python, root / "downloads", log)
        staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=d))
        try:
            manifest = _build(staging, wheel, python, script, log)
            manifest["fetch_seconds"] = round(time.monotonic() - started, 1)
            _install(staging, d, manifest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log(f"pose models written to {d} ({manifest['fetch_seconds']:.0f} s)")
    return load_manifest(d)


def _check_replaceable(d: Path) -> None:
    """A `manifest.json` in `d` is replaced only when it is a models manifest (of any version) or sits beside the
    pose models (a damaged one): `--models-dir` naming a data set's folder must not cost it its manifest."""
    manifest = d / MANIFEST
    if not manifest.exists() or any((d / f"{name}.onnx").exists() for name in SOURCES):
        return
    try:
        ours = "models" in json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        ours = False
    if not ours:
        raise ModelError(f"{d} holds a {MANIFEST} that is not a models manifest: give --models-dir an empty folder "
                         "or a models folder")


def _valid_current(d: Path) -> dict | None:
    try:
        manifest = load_manifest(d)
    except ModelError:
        return None
    return manifest if _is_current(manifest) else None


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith(("error", "tflite_onnx: error"))]
    line = (errors or lines or ["no output"])[-1]
    network = re.search(r"Failed to establish a new connection: \[Errno -?\d+\] ([^'\")]+)|"
                        r"(Temporary failure in name resolution|Network is unreachable|Connection refused|"
                        r"timed out|SSLError|ProxyError)", text or "")
    if network:
        line = f"{line} (network: {(network.group(1) or network.group(2)).strip()})"
    return line if len(line) <= 300 else line[:297] + "..."


def _run(cmd, what: str, hint: str, timeout: float, cwd=None) -> subprocess.CompletedProcess:
    """Run a tool; any failure becomes one `ModelError` line: what failed, the tool's last error, what to do."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONSAFEPATH", None)  # the converter script imports its modules from its own folder
    try:
        proc = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=env)
    except FileNotFoundError as exc:
        raise ModelError(f"could not {what}: {exc.filename} not found; {hint}") from None
    except subprocess.TimeoutExpired:
        raise ModelError(f"could not {what}: no answer within {timeout:.0f} s; {hint}") from None
    if proc.returncode != 0:
        raise ModelError(f"could not {what}: {_last_error_line(proc.stderr or proc.stdout)}; {hint}")
    return proc


def venv_python(venv: Path) -> Path:
    """The python executable of virtual environment `venv`."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _tools_python(venv: Path, log) -> Path:
    """The converter venv's python, (re)made when its stamp differs from this interpreter and the pins."""
    want = {"python": sys.version, "machine": platform.machine(), "requirements": list(TOOLS_REQUIREMENTS)}
    stamp = venv / "ergo-edge-stamp.json"
    python = venv_python(venv)
    try:
        if python.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == want:
            return python
    except (OSError, ValueError):
        pass
    log(f"creating the converter tools venv {venv}")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", venv], "create the converter venv",
         "install Python's venv module (Debian/Ubuntu: apt-get install python3-venv) and retry", timeout=300)
    _run([python, "-m", "pip", "install", "--quiet", "--only-binary=:all:", "--no-deps", *TOOLS_REQUIREMENTS],
         "install the converter tools into " + str(venv),
         "check that pip can reach the package index (pip's own configuration applies), then retry", timeout=1800)
    stamp.write_text(json.dumps(want, indent=2) + "\n", encoding="utf-8")  # last: an interrupted build has none
    return python


def _read_members(wheel: Path) -> dict[str, bytes]:
    """The two .tflite files and the licence from the wheel, sha256-checked; `ModelError` on a mismatch."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            members = {}
            for name, src in SOURCES.items():
                if src.member not in names:
                    raise ModelError(f"{wheel.name} has no {src.member}; delete {wheel} and {FETCH_HINT}")
                members[name] = zf.read(src.member)
            licenses = [n for n in names if re.fullmatch(r"mediapipe-[^/]+\.dist-info/(licenses/)?LICENSE(\.txt)?", n)]
            if not licenses:
                raise ModelError(f"{wheel.name} has no licence file; delete {wheel} and {FETCH_HINT}")
            members[LICENSE_FILE] = zf.read(licenses[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{wheel} is not a readable wheel ({exc}); delete it and {FETCH_HINT}") from None
    for name, src in SOURCES.items():
        got = hashlib.sha256(members[name]).hexdigest()
        if got != src.sha256:
            raise ModelError(f"checksum mismatch for {src.member} in {wheel.name}: sha256 {got}, expected "
                             f"{src.sha256}; refusing to use it (delete {wheel} to download it again)")
    return members


def _mediapipe_wheel(python: Path, downloads: Path, log) -> Path:
    """The mediapipe wheel in `downloads`: reused if present and intact, else fetched with `pip download`."""
    downloads.mkdir(parents=True, exist_ok=True)
    for stale in downloads.glob(".download-*"):  # left by a download that was killed
        shutil.rmtree(stale, ignore_errors=True)
    for wheel in sorted(downloads.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl")):
        try:
            zipfile.ZipFile(wheel).close()
        except (zipfile.BadZipFile, OSError):
            log(f"removing the unreadable download {wheel}")
            wheel.unlink()
            continue
        return wheel
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=downloads))
    try:
        log(f"downloading mediapipe=={MEDIAPIPE_VERSION} into {downloads}")
        _run([python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
              "--platform", MEDIAPIPE_PLATFORM, "--python-version", MEDIAPIPE_PYTHON_TAG,
              f"mediapipe=={MEDIAPIPE_VERSION}", "-d", tmp],
             f"download mediapipe=={MEDIAPIPE_VERSION}",
             "check that pip can reach PyPI (pip's own configuration applies), then retry", timeout=900)
        got = sorted(tmp.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
        if not got:
            raise ModelError(f"pip download produced no mediapipe wheel in {tmp}; retry, or report this")
        wheel = downloads / got[0].name
        os.replace(got[0], wheel)  # complete files only: pip wrote into the temporary directory
        return wheel
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build(staging: Path, wheel: Path, python: Path, script: Path, log) -> dict:
    """Extract, convert and verify into `staging`; return the manifest (without writing it)."""
    members = _read_members(wheel)
    (staging / LICENSE_FILE).write_bytes(members[LICENSE_FILE])
    models, converter = {}, {}
    for name, src in SOURCES.items():
        tfl, onx = staging / f"{name}.tflite", staging / f"{name}.onnx"
        tfl.write_bytes(members[name])
        log(f"converting {name} to ONNX and checking it against TFLite")
        lo, hi = src.input_range
        try:
            proc = _run([python, script, tfl, onx, "--input-range", repr(lo), repr(hi)],
                        f"convert {name}", f"this is a bug in {script.name}: please report it with this message",
                        timeout=900, cwd=staging)
            report = json.loads(proc.stdout)
        except ValueError:
            raise ModelError(f"could not convert {name}: the converter printed no report; "
                             f"run {python} {script} by hand to see why") from None
        v = report["verification"]
        models[name] = {
            "onnx": onx.name,
            "onnx_sha256": sha256_file(onx),
            "tflite": tfl.name,
            "tflite_member": src.member,
            "tflite_sha256": src.sha256,
            "input_range": [lo, hi],
            "inputs": report["inputs"],
            "outputs": report["outputs"],
            "tflite_ops": report["tflite_ops"],
            "onnx_ops": report["onnx_ops"],
            "verification": v,
        }
        worst = max(o["relative_diff"] for o in v["outputs"].values())
        log(f"  {name}: max difference {worst:.2g} of output scale (tolerance {v['tolerance']:g})")
        converter = _converter_record(script, report)
    files = {}
    for file in sorted([LICENSE_FILE] + [f"{n}.{ext}" for n in SOURCES for ext in ("onnx", "tflite")]):
        files[file] = {"sha256": sha256_file(staging / file), "bytes": (staging / file).stat().st_size}
    return {
        "format": MANIFEST_FORMAT,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "ergo_edge_version": __version__,
        "source": {
            "package": "mediapipe",
            "version": MEDIAPIPE_VERSION,
            "wheel": wheel.name,
            "wheel_sha256": sha256_file(wheel),
            "url": f"https://pypi.org/project/mediapipe/{MEDIAPIPE_VERSION}/",
            "license": "Apache-2.0",
            "license_file": LICENSE_FILE,
            "note": "BlazePose models by Google (MediaPipe), redistributed under Apache-2.0; converted to ONNX",
        },
        "converter": converter,
        "files": files,
        "models": models,
    }


def _converter_record(script: Path, report: dict) -> dict:
    """The manifest's `converter`: what converted (each file's sha256, the tools' versions) as the script reported."""
    files = {f"export/mediapipe/{name}": sha256_file(script.with_name(name)) for name in CONVERTER_FILES}
    return {"script": "export/mediapipe/" + script.name, "version": report["converter_version"],
            "script_sha256": sha256_file(script), "files_sha256": files, "opset": report["opset"],
            "tools": report["tools"], "tools_requirements": list(TOOLS_REQUIREMENTS)}


def _install(staging: Path, d: Path, manifest: dict) -> None:
    """Move the staged files into `d`: old manifest out first, new manifest in last, each step a rename."""
    for name in manifest["files"]:
        with open(staging / name, "rb") as f:
            os.fsync(f.fileno())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(d / MANIFEST)
    for name in manifest["files"]:
        os.replace(staging / name, d / name)
    tmp = staging / MANIFEST
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, d / MANIFEST)
