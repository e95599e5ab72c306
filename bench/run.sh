#!/usr/bin/env bash
# Scenario benchmarks, Berth beside Docker in the same run. Usage: bench/run.sh [scenario…]
# (`bench/run.sh build [scenario…]` runs only the build benchmark, bench/build.py; with no
# arguments both run.)
# Needs root, a built berth (target/release/berth, built here if missing) and busybox-static.
# With a reference Docker running (../shared/tools/anchors.sh), set ANCHOR_DOCKER_HOST or let it
# default to unix:///run/anchor/docker.sock; without one, Docker's column is empty.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/berth
[ -x "$bin" ] || cargo build --release --locked
export BERTH_BIN=${BERTH_BIN:-$bin}
if [ "${1:-}" = build ]; then
    shift
    exec python3 bench/build.py "$@"
fi
python3 bench/bench.py "$@"
if [ $# -eq 0 ]; then
    export ANCHOR_DOCKER_HOST=${ANCHOR_DOCKER_HOST:-unix:///run/anchor/docker.sock}
    python3 bench/build.py
fi
