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

# The CLI's live suite (ignored above: it needs a daemon) against a Berth daemon of its own.
./scripts/with-daemon.sh cargo test -p berth-cli --locked --test engine -- --ignored --test-threads=2
