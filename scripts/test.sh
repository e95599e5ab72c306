#!/usr/bin/env bash
# Runs every test of Berth: formatting, lints, unit tests and the privileged integration tests
# (each on a daemon of its own), as root on a Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: the integration tests create containers" >&2; exit 1; }
./scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Integration tests share two cores with every daemon they start: a few at a time is fastest.
cargo test --workspace --locked -- --test-threads="${BERTH_TEST_THREADS:-4}"
