#!/usr/bin/env bash
# Install ergo-edge as a service on a Jetson (JetPack 6, Ubuntu 22.04). Run from the repository root as root:
#   sudo jetson/install.sh [preset]      preset: orin-nano (default), orin-nx, agx-orin
# TensorRT, CUDA and GStreamer's NVIDIA elements come from JetPack; nothing here downloads them.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-orin-nano}"
[ -f "jetson/presets/$preset.toml" ] || { echo "unknown preset $preset (see jetson/presets/)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo)" >&2; exit 2; }

apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-venv python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0 \
  gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
  gstreamer1.0-rtsp mosquitto
id ergoedge >/dev/null 2>&1 || useradd --system --home /var/lib/ergo-edge --shell /usr/sbin/nologin ergoedge
getent group gpio >/dev/null || groupadd --system gpio

# System site packages: JetPack's tensorrt, Jetson.GPIO and gi are visible inside the venv.
python3 -m venv --system-site-packages /opt/ergo-edge/venv
/opt/ergo-edge/venv/bin/pip install --upgrade pip
/opt/ergo-edge/venv/bin/pip install .
install -d -o ergoedge -g ergoedge /var/lib/ergo-edge /var/lib/ergo-edge/models /etc/ergo-edge/scenes
[ -f /etc/ergo-edge/run.toml ] || install -m 0644 "jetson/presets/$preset.toml" /etc/ergo-edge/run.toml
sudo -u ergoedge ERGOEDGE_MODELS=/var/lib/ergo-edge/models /opt/ergo-edge/venv/bin/ergoedge models fetch
install -m 0644 jetson/ergo-edge.service /etc/systemd/system/ergo-edge.service
systemctl daemon-reload
echo "installed; edit /etc/ergo-edge/run.toml, calibrate the camera with"
echo "  sudo -u ergoedge ERGOEDGE_SCENES=/etc/ergo-edge/scenes /opt/ergo-edge/venv/bin/ergoedge calibrate-scene ..."
echo "then: systemctl enable --now ergo-edge"
