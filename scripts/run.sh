#!/usr/bin/env bash
# The README's first command: installs what is missing, builds and runs the embedded server.
# Prints a ready dev token and the player page URL when no JWT key is configured.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/player-assets.sh
cargo build --release --locked -p streamd
exec target/release/streamd
