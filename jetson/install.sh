#!/usr/bin/env bash
# Install ergo-edge as a service on a Jetson (JetPack 6, Ubuntu 22.04). Run from the repository root as root:
#   sudo jetson/install.sh [preset]      preset: orin-nano (default), orin-nx, agx-orin
# TensorRT, CUDA, OpenCV (cv2 with GStreamer) and GStreamer's NVIDIA elements come from JetPack; nothing here
# downloads them. ONNX Runtime for .onnx models is NVIDIA's onnxruntime-gpu wheel for the JetPack release (see
# jetson/README.md); on aarch64 the package never pulls PyPI's onnxruntime or OpenCV, which would shadow JetPack's.

# The run config may hold the MQTT and RTSP passwords: root writes it, the service's group reads it, nobody else.
# An existing file keeps its settings and gets the same mode and owner (installs before this one made it 0644).
install_run_config() {  # install_run_config PRESET DEST [OWNER] [GROUP]
  local preset="$1" dest="$2" owner="${3:-root}" group="${4:-ergoedge}"
  [ -f "$dest" ] || install -m 0640 -o "$owner" -g "$group" "$preset" "$dest"
  chmod 0640 "$dest"
  chown "$owner:$group" "$dest"
}
# Sourced (tests/test_secrets.py runs install_run_config on a temporary directory): define it, do nothing else.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-orin-nano}"
[ -f "jetson/presets/$preset.toml" ] || { echo "unknown preset $preset (see jetson/presets/)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo)" >&2; exit 2; }

apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0 \
  gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
  gstreamer1.0-plugins-ugly \
  gstreamer1.0-rtsp mosquitto python3-dev build-essential
id ergoedge >/dev/null 2>&1 || useradd --system --home /var/lib/ergo-edge --shell /usr/sbin/nologin ergoedge
getent group gpio >/dev/null || groupadd --system gpio
# The unit adds these groups (SupplementaryGroups); membership gives them to `sudo -u ergoedge` too (doctor,
# calibrate-scene from a live camera: the camera and GPU device nodes are the video group's).
usermod -aG video,gpio ergoedge

# System site packages: JetPack's tensorrt, cv2, onnxruntime-gpu, Jetson.GPIO and gi are visible inside the venv.
# The `jetson` extra builds pycuda against JetPack's CUDA (the TensorRT backend's device memory and streams) and keeps
# numpy below 2 (JetPack's cv2 is built against numpy 1.x).
[ -x /usr/local/cuda/bin/nvcc ] || { echo "JetPack's CUDA toolkit is missing (/usr/local/cuda/bin/nvcc):" \
  "apt-get install nvidia-jetpack" >&2; exit 2; }
python3 -m venv --system-site-packages /opt/ergo-edge/venv
/opt/ergo-edge/venv/bin/pip install --upgrade pip
# Installs before this one put PyPI's onnxruntime and OpenCV into the venv, ahead of JetPack's: take them out (pip
# leaves the system's own packages alone).
/opt/ergo-edge/venv/bin/pip uninstall -y -q onnxruntime opencv-python-headless opencv-python
PATH="/usr/local/cuda/bin:$PATH" CUDA_ROOT=/usr/local/cuda CPATH=/usr/local/cuda/include \
  LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/lib64/stubs /opt/ergo-edge/venv/bin/pip install '.[jetson]'
/opt/ergo-edge/venv/bin/python jetson/check_jetpack_builds.py ||
  echo "warning: the venv does not import what a Jetson needs (problems above); fix them before enabling the service" >&2
install -d -m 0750 -o ergoedge -g ergoedge /var/lib/ergo-edge /var/lib/ergo-edge/models /etc/ergo-edge/scenes
install_run_config "jetson/presets/$preset.toml" /etc/ergo-edge/run.toml
sudo -u ergoedge ERGOEDGE_MODELS=/var/lib/ergo-edge/models /opt/ergo-edge/venv/bin/ergoedge models fetch
install -m 0644 jetson/ergo-edge.service /etc/systemd/system/ergo-edge.service
systemctl daemon-reload
echo "installed; edit /etc/ergo-edge/run.toml, calibrate the camera as the service sees it (jetson/README.md):"
echo "  sudo -u ergoedge ERGOEDGE_MODELS=/var/lib/ergo-edge/models XDG_DATA_HOME=/var/lib \\"
echo "    ERGOEDGE_SCENES=/etc/ergo-edge/scenes ERGOEDGE_STATE_DIR=/var/lib/ergo-edge \\"
echo "    /opt/ergo-edge/venv/bin/ergoedge calibrate-scene VIDEO --camera CAMERA   (CAMERA: camera in run.toml)"
echo "then: systemctl enable --now ergo-edge"
