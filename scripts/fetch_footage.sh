#!/usr/bin/env bash
# Fetch real footage of people from two packages into a local directory (never committed):
#
#   <dir>/pose2sim/  cam01.mp4 ... cam04.mp4  four synchronised, calibrated views of one person (1080x1920, 60 fps,
#                    100 frames each), Calib.qca.txt (the demo's calibration), LICENSE (BSD-3-Clause).
#                    Source: PyPI wheel pose2sim==0.10.49, folder Pose2Sim/Demo_SinglePerson/.
#   <dir>/opencv/    messi5.jpg, basketball1.png (full-body people, arms raised), vtest.avi (pedestrians, 768x576,
#                    10 fps), copyright. Source: Debian package opencv-doc, /usr/share/doc/opencv-doc/examples/data/.
#   <dir>/MANIFEST.txt  sha256 of every file above, in `sha256sum` format (check with `sha256sum -c MANIFEST.txt`).
#   <dir>/SOURCES.txt   where each group came from (package and version).
#
# Usage: scripts/fetch_footage.sh [DIR]     DIR defaults to build/footage under the repository root.
#
# Idempotent: every file's sha256 is pinned below; a group whose files all exist with the pinned hashes is not
# fetched again, so a finished directory costs only the hashing (well under a second). A file whose content differs
# from its pin after download is refused (the script fails and names it) rather than silently used.
# Needs: python3 with pip (PYTHON overrides the interpreter), apt-get and dpkg-deb (Debian/Ubuntu). The .deb is
# fetched with `apt-get download` (no installation); when apt has no index for it and we are root, `apt-get update`
# runs once first. Downloads go to a temporary directory that is removed on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
DEST="${1:-$ROOT/build/footage}"

POSE2SIM_VERSION=0.10.49
POSE2SIM_DEMO=Pose2Sim/Demo_SinglePerson
POSE2SIM_LICENSE="pose2sim-$POSE2SIM_VERSION.dist-info/licenses/LICENSE"
OPENCV_DEB=opencv-doc
OPENCV_DATA=usr/share/doc/opencv-doc/examples/data
OPENCV_COPYRIGHT=usr/share/doc/opencv-doc/copyright

# destination (relative to DEST) | sha256 | path inside the package
POSE2SIM_FILES=(
  "pose2sim/cam01.mp4|cf4f2816c86bea4bfbea255333d8626ff32a3ecabdab8b0fb147cea9167fde3a|$POSE2SIM_DEMO/videos/cam01.mp4"
  "pose2sim/cam02.mp4|94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442|$POSE2SIM_DEMO/videos/cam02.mp4"
  "pose2sim/cam03.mp4|b8b329f832f178f27ecb78d024d5026b96c6adb36c387bfe2c0af85eab8a11ca|$POSE2SIM_DEMO/videos/cam03.mp4"
  "pose2sim/cam04.mp4|b5c0e7863fd70d008e7178d3c556b045b0ea5f78fcd61ca548a0b2e807e641f7|$POSE2SIM_DEMO/videos/cam04.mp4"
  "pose2sim/Calib.qca.txt|fd90e4bbae3278ef1dc0cdd42a34ee06bf88286f628a02c00a29407aa39e34c5|$POSE2SIM_DEMO/calibration/Calib.qca.txt"
  "pose2sim/LICENSE|7f8a9ede713463b96d261a39c3ec404748c8e4f528c795e5f8cb18898ed944cf|$POSE2SIM_LICENSE"
)
OPENCV_FILES=(
  "opencv/messi5.jpg|1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9|$OPENCV_DATA/messi5.jpg"
  "opencv/basketball1.png|ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6|$OPENCV_DATA/basketball1.png"
  "opencv/vtest.avi|45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf|$OPENCV_DATA/vtest.avi"
  "opencv/copyright|ef9b88286b97b4de2aad6ef9442efc827eaa25564b6658fb96cf5f16c118cabc|$OPENCV_COPYRIGHT"
)

say() { printf '[footage] %s\n' "$*"; }
die() { printf '[footage] error: %s\n' "$*" >&2; exit 1; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# True when every file of a group exists in DEST with its pinned sha256.
group_ok() {
  local entry dst want
  for entry in "$@"; do
    IFS='|' read -r dst want _ <<<"$entry"
    [ -f "$DEST/$dst" ] && [ "$(sha "$DEST/$dst")" = "$want" ] || return 1
  done
}

# Move staged files into DEST after checking each against its pin. $1 = staging root, rest = group entries.
install_group() {
  local stage="$1" entry dst want src got
  shift
  for entry in "$@"; do
    IFS='|' read -r dst want src <<<"$entry"
    [ -f "$stage/$src" ] || die "$src not found in the package (layout changed?)"
    got="$(sha "$stage/$src")"
    [ "$got" = "$want" ] || die "$src: sha256 $got, expected $want (package content changed; refusing to use it)"
  done
  for entry in "$@"; do
    IFS='|' read -r dst _ src <<<"$entry"
    mkdir -p "$(dirname "$DEST/$dst")"
    cp "$stage/$src" "$DEST/$dst.part"
    mv -f "$DEST/$dst.part" "$DEST/$dst"
  done
}

write_manifest() {
  local entry dst want tmp="$DEST/MANIFEST.txt.part"
  : >"$tmp"
  for entry in "${POSE2SIM_FILES[@]}" "${OPENCV_FILES[@]}"; do
    IFS='|' read -r dst want _ <<<"$entry"
    printf '%s  %s\n' "$want" "$dst" >>"$tmp"
  done
  mv -f "$tmp" "$DEST/MANIFEST.txt"
}

manifest_ok() {
  [ -f "$DEST/MANIFEST.txt" ] && [ -f "$DEST/SOURCES.txt" ] || return 1
  local entry dst want
  for entry in "${POSE2SIM_FILES[@]}" "${OPENCV_FILES[@]}"; do
    IFS='|' read -r dst want _ <<<"$entry"
    grep -qxF "$want  $dst" "$DEST/MANIFEST.txt" || return 1
  done
}

need_pose2sim=0
need_opencv=0
group_ok "${POSE2SIM_FILES[@]}" || need_pose2sim=1
group_ok "${OPENCV_FILES[@]}" || need_opencv=1
if [ $need_pose2sim -eq 0 ] && [ $need_opencv -eq 0 ] && manifest_ok; then
  say "up to date: $DEST"
  exit 0
fi

mkdir -p "$DEST"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ergo-footage.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ $need_pose2sim -eq 1 ]; then
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to a Python with pip)"
  "$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip; install python3-pip or set PYTHON"
  say "downloading pose2sim==$POSE2SIM_VERSION wheel (about 51 MB) from PyPI"
  # --python-version/--only-binary: the wheel is py3-none-any but declares Requires-Python >= 3.11; we only unpack it.
  if ! "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
       --python-version 3.11 "pose2sim==$POSE2SIM_VERSION" -d "$WORK/wheel" >"$WORK/pip.log" 2>&1; then
    cat "$WORK/pip.log" >&2
    die "pip download pose2sim==$POSE2SIM_VERSION failed (see pip output above)"
  fi
  wheel="$WORK/wheel/pose2sim-$POSE2SIM_VERSION-py3-none-any.whl"
  [ -f "$wheel" ] || die "pip did not produce $(basename "$wheel")"
  members=()
  for entry in "${POSE2SIM_FILES[@]}"; do IFS='|' read -r _ _ src <<<"$entry"; members+=("$src"); done
  # Unpack only the members we need (zipfile: no dependency on `unzip`).
  "$PYTHON" - "$wheel" "$WORK/p2s" "${members[@]}" <<'PY' || die "could not extract files from the pose2sim wheel"
import sys, zipfile
wheel, out, *members = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    missing = [m for m in members if m not in names]
    if missing:
        sys.exit(f"[footage] error: not in {wheel}: {', '.join(missing)}")
    for m in members:
        z.extract(m, out)
PY
  install_group "$WORK/p2s" "${POSE2SIM_FILES[@]}"
  say "pose2sim: ${#POSE2SIM_FILES[@]} files in $DEST/pose2sim"
fi

if [ $need_opencv -eq 1 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this step needs Debian/Ubuntu (package $OPENCV_DEB)"
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found: this step needs Debian/Ubuntu (package $OPENCV_DEB)"
  mkdir -p "$WORK/deb"
  # As root, apt fetches as the unprivileged _apt user: let it write here (avoids the "unsandboxed" warning).
  if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$WORK/deb"; fi
  fetch_deb() { (cd "$WORK/deb" && apt-get download -q "$OPENCV_DEB") >"$WORK/apt.log" 2>&1; }
  say "downloading Debian package $OPENCV_DEB (about 96 MB) with apt-get download"
  if ! fetch_deb; then
    if [ "$(id -u)" -eq 0 ]; then
      say "apt-get download failed; running apt-get update and retrying"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$WORK/apt-update.log" 2>&1 \
        || { cat "$WORK/apt-update.log" >&2; die "apt-get update failed"; }
      fetch_deb || { cat "$WORK/apt.log" >&2; die "apt-get download $OPENCV_DEB failed after apt-get update"; }
    else
      cat "$WORK/apt.log" >&2
      die "apt-get download $OPENCV_DEB failed; if apt has no package index yet, run 'sudo apt-get update' and retry"
    fi
  fi
  debs=("$WORK"/deb/${OPENCV_DEB}_*.deb)
  [ -f "${debs[0]}" ] || die "apt-get download did not produce a $OPENCV_DEB .deb"
  deb_version="$(dpkg-deb -f "${debs[0]}" Version)"
  dpkg-deb -x "${debs[0]}" "$WORK/ocv" || die "dpkg-deb -x failed on ${debs[0]}"
  install_group "$WORK/ocv" "${OPENCV_FILES[@]}"
  say "opencv-doc $deb_version: ${#OPENCV_FILES[@]} files in $DEST/opencv"
else
  deb_version="$(sed -n 's/^opencv: Debian package opencv-doc \([^ ]*\).*/\1/p' "$DEST/SOURCES.txt" 2>/dev/null || true)"
fi

cat >"$DEST/SOURCES.txt.part" <<EOF
Real footage fetched by scripts/fetch_footage.sh; not part of the repository. Checksums: MANIFEST.txt.
pose2sim: PyPI wheel pose2sim==$POSE2SIM_VERSION (BSD-3-Clause, see pose2sim/LICENSE), $POSE2SIM_DEMO/{videos,calibration}
opencv: Debian package opencv-doc ${deb_version:-unknown} (see opencv/copyright), /$OPENCV_DATA
EOF
mv -f "$DEST/SOURCES.txt.part" "$DEST/SOURCES.txt"
write_manifest
group_ok "${POSE2SIM_FILES[@]}" && group_ok "${OPENCV_FILES[@]}" || die "files in $DEST do not match MANIFEST.txt"
say "ready: $DEST"
