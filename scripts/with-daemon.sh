#!/usr/bin/env bash
# Runs a command with a private Berth daemon (own data root, exec root, socket, bridge and
# subnet) that has a busybox image made offline from busybox-static; BERTH_TEST_DOCKER_HOST and
# DOCKER_HOST point at it. The daemon, its containers, mounts, bridges and firewall rules are
# removed afterwards. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p berth --locked -q
berth=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/debug/berth
tmp=$(mktemp -d /tmp/berth-live-XXXXXX)
exec_root=/run/bt/live-$$
mkdir -p "$exec_root"
host="unix://$exec_root/api.sock"
# A bridge of our own; its subnet is chosen by the daemon from a test-only pool, free on the host.
net_args=(--bridge "bl$$" --default-address-pool "base=10.224.0.0/11,size=24")
"$berth" daemon --data-root "$tmp/data" --exec-root "$exec_root" -H "$host" "${net_args[@]}" >"$tmp/daemon.log" 2>&1 &
daemon=$!
cleanup() {
  for id in $("$berth" -H "$host" ps -aq 2>/dev/null); do "$berth" -H "$host" rm -f "$id" >/dev/null 2>&1 || true; done
  kill "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  "$berth" daemon --data-root "$tmp/data" --exec-root "$exec_root" "${net_args[@]}" --network-cleanup >/dev/null 2>&1 || true
  grep -E " ($exec_root|$tmp)" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$tmp" "$exec_root"
}
trap cleanup EXIT
for _ in $(seq 1 100); do [ -S "$exec_root/api.sock" ] && break; sleep 0.1; done
root=$tmp/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
cp "$(command -v busybox || echo /bin/busybox)" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" -cf - . | "$berth" -H "$host" import --change 'CMD ["/bin/sh"]' - busybox:latest >/dev/null
BERTH_TEST_DOCKER_HOST=$host DOCKER_HOST=$host "$@"
