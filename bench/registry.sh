#!/usr/bin/env bash
# Registry benchmark: `berth registry` against distribution 2.8 (Debian's docker-registry), on
# the same machine in the same run. CLIENTS concurrent clients each pull a SIZE_MB image (all
# blobs) and push an image of their own, ROUNDS times. Prints throughput, p50/p99 latency of a
# whole pull and a whole push, and each server's peak RSS (VmHWM).
#
#   bench/registry.sh                 # 20 clients, 100 MB image, 3 rounds, 10 MB pushes
#   CLIENTS=5 SIZE_MB=20 ROUNDS=1 bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-20} SIZE_MB=${SIZE_MB:-100} ROUNDS=${ROUNDS:-3} PUSH_MB=${PUSH_MB:-10}
LAYERS=5
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p berth-registry --example serve --example loadgen
bin=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/examples
[ -x "$bin/serve" ] || bin=$CARGO_TARGET_DIR/release/examples
command -v docker-registry >/dev/null || { echo "docker-registry is needed (apt-get install docker-registry)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$1/status; }

bench_one() { # name pid port
  local name=$1 pid=$2 port=$3
  "$bin/loadgen" seed 127.0.0.1:$port bench/big:v1 $LAYERS $((SIZE_MB / LAYERS))
  local out; out=$("$bin/loadgen" run 127.0.0.1:$port bench/big:v1 "$CLIENTS" "$ROUNDS" "$PUSH_MB")
  python3 - "$name" "$out" "$(hwm "$pid")" <<'PY'
import json, sys
name, r, rss = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
print(f"{name:22} {r['mb_per_s']:9.1f} MB/s  pull p50 {r['pull_p50_ms']:8.0f} ms  p99 {r['pull_p99_ms']:8.0f} ms  "
      f"push p50 {r['push_p50_ms']:7.0f} ms  p99 {r['push_p99_ms']:7.0f} ms  peak RSS {rss:>7} MiB  failed {r['failed_clients']}")
PY
}

echo "# $CLIENTS clients x $ROUNDS rounds: pull a ${SIZE_MB} MB image + push a ${PUSH_MB} MB image; $(nproc) CPUs"
port=$(free_port)
"$bin/serve" serve --addr 127.0.0.1:$port --storage "$work/berth" --log-level warn &
pids+=($!); wait_port "$port"
bench_one "berth registry" "${pids[-1]}" "$port"

port=$(free_port)
cat > "$work/dist.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/dist}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/dist.yml" >/dev/null 2>&1 &
pids+=($!); wait_port "$port"
bench_one "distribution 2.8" "${pids[-1]}" "$port"
