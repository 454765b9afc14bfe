#!/usr/bin/env bash
# Codes the sample photos and clip with dctenc and with jpegenc at the same quality, and the
# photos with the learned codec (neuralenc) and the speech with the learned speech codec
# (neuralaudioenc) next to opusenc, writes the coded streams, decoded pictures and speech to
# demo-output/, and prints a comparison per file.
# Arguments are passed on, e.g. --quality 60 or --out DIR.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
# ONNX Runtime sends no telemetry from this project's processes.
export ORT_DISABLE_TELEMETRY=1
cargo build --release --locked --workspace
cargo run --release --locked --quiet -p percept-examples --bin roundtrip -- "$@"
