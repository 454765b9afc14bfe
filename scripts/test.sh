#!/usr/bin/env bash
# Runs every check the project has: formatting, lints with warnings denied, and the whole test
# suite (unit tests, element tests and pipelines on the sample media). Installs what is missing
# first, through scripts/setup.sh.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
# ONNX Runtime sends no telemetry from this project's processes.
export ORT_DISABLE_TELEMETRY=1

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The plugin library itself is built first, so that the tests can load it the way
# gst-inspect-1.0 and gst-launch-1.0 do.
cargo build --workspace --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?

# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
