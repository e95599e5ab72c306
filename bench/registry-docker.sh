#!/usr/bin/env bash
# `berth registry` driven by the real Docker Engine (the reference dockerd that
# ../shared/tools/anchors.sh starts): push, cross-repository mount, pull, run, and docker login
# through bearer tokens. Not part of CI (which has no Docker Engine); run it by hand:
#   ../shared/tools/anchors.sh && bench/registry-docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_HOST=${ANCHOR_DOCKER_HOST:-unix:///run/anchor/docker.sock}
docker version >/dev/null || { echo "no Docker Engine at $DOCKER_HOST (run ../shared/tools/anchors.sh)" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p berth-registry --example serve
serve=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/examples/serve
[ -x "$serve" ] || serve=$CARGO_TARGET_DIR/release/examples/serve

work=$(mktemp -d)
# Logins go to a private client config, not the user's ~/.docker.
export DOCKER_CONFIG=$work/docker-config
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; docker logout "$tok" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.1; done; exit 1; }
step() { echo "== $*"; }

mkdir -p "$work/root/bin" && cp /bin/busybox "$work/root/bin/"
tar -C "$work/root" -c . | docker import - berth-registry-test/bb:1 >/dev/null

plain=127.0.0.1:$(free_port)
"$serve" serve --addr "$plain" --storage "$work/plain" --log-level warn & pids+=($!)
wait_port "${plain#*:}"
step "push, then push to a second repository (mounted), pull, run"
docker tag berth-registry-test/bb:1 "$plain/a/bb:1"
docker push "$plain/a/bb:1" | tail -1
docker tag berth-registry-test/bb:1 "$plain/b/bb:1"
docker push "$plain/b/bb:1" | grep -E "Mounted|digest"
docker rmi "$plain/a/bb:1" "$plain/b/bb:1" >/dev/null
docker pull "$plain/b/bb:1" | tail -1
docker run --rm "$plain/b/bb:1" /bin/busybox echo "ran from berth registry"

tok=127.0.0.1:$(free_port)
echo "dev:$("$serve" htpasswd dev --cost 5 <<<pw | cut -d: -f2-)" > "$work/htpasswd"
"$serve" serve --addr "$tok" --storage "$work/tok" --htpasswd "$work/htpasswd" --token-auth --log-level warn & pids+=($!)
wait_port "${tok#*:}"
step "bearer tokens: refused before login, push and pull after, refused after logout"
docker tag berth-registry-test/bb:1 "$tok/secure/bb:1"
if docker push "$tok/secure/bb:1" >/dev/null 2>&1; then echo "FAIL: pushed without login"; exit 1; fi
echo pw | docker login -u dev --password-stdin "$tok"
docker push "$tok/secure/bb:1" | tail -1
docker rmi "$tok/secure/bb:1" >/dev/null
docker pull "$tok/secure/bb:1" | tail -1
docker logout "$tok"
docker rmi "$tok/secure/bb:1" >/dev/null
if docker pull "$tok/secure/bb:1" >/dev/null 2>&1; then echo "FAIL: pulled after logout"; exit 1; fi
docker rmi berth-registry-test/bb:1 >/dev/null
echo "ok"
