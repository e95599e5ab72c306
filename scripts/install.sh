#!/usr/bin/env bash
# From a fresh Debian machine (as root): install dependencies, build Berth, install the binary,
# make a busybox image offline from the host's busybox-static, and run a first container.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release --locked
install -m 0755 target/x86_64-unknown-linux-gnu/release/berth /usr/local/bin/berth
if ! berth image inspect busybox >/dev/null 2>&1; then
  d=$(mktemp -d)
  mkdir -p "$d/bin" "$d/etc" "$d/tmp" "$d/root"; chmod 1777 "$d/tmp"
  cp "$(command -v busybox || echo /bin/busybox)" "$d/bin/busybox"
  for a in $("$d/bin/busybox" --list); do [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$d/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$d/etc/group"
  tar -C "$d" -cf - . | berth import --change 'CMD ["/bin/sh"]' - busybox:latest
  rm -rf "$d"
fi
# The CLI starts the daemon in the background on first use (log: /run/berth/berth-daemon.log).
berth run --rm busybox echo "Hello from a Berth container"
