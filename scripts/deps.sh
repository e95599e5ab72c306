#!/usr/bin/env bash
# Installs what building and testing Berth needs on a Debian machine (as root). Idempotent.
set -euo pipefail
need=()
command -v busybox >/dev/null || [ -x /bin/busybox ] || need+=(busybox-static)
command -v runc >/dev/null || need+=(runc)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
python3 -c 'import docker' 2>/dev/null || need+=(python3-docker)
command -v ps >/dev/null || need+=(procps)
command -v gcc >/dev/null || need+=(build-essential)
command -v curl >/dev/null || need+=(curl)  # the limits tests read the streaming stats API
# The registry's tests use real clients and a reference peer.
command -v skopeo >/dev/null || need+=(skopeo)
command -v docker-registry >/dev/null || need+=(docker-registry)
if ! command -v docker >/dev/null; then need+=(docker-cli); fi
# Networking: nftables for NAT and published ports, iproute2/curl/iperf3 for tests and bench.
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)  # the network tests cover the iptables fallback
command -v iperf3 >/dev/null || need+=(iperf3)
# Builds: git contexts and `ADD` of git URLs use the host's git (its tests serve a repository
# with `git daemon` on loopback).
command -v git >/dev/null || need+=(git)
# userns-remap: the daemon and its tests create remap users and subordinate ranges.
[ -x /usr/sbin/useradd ] && [ -x /usr/sbin/usermod ] || need+=(passwd)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # docker-cli is Debian's name from trixie on; bookworm ships the CLI in docker.io.
  if ! apt-get install -y -qq "${need[@]}" >/dev/null; then
    need=("${need[@]/docker-cli/docker.io}")
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is required (rustup, or Debian's cargo package)" >&2
  exit 1
fi
