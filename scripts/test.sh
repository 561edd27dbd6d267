#!/usr/bin/env bash
# The README's test command: installs what is missing, generates the test media, starts the local
# AWS stack (LocalStack S3 + DynamoDB Local) once, runs every test (unit, contract suites against
# both storage shapes, HTTP and ingest tests), and always stops the stack.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
export STREAM_TEST_MEDIA_DIR="$PWD/target/test-media"
mkdir -p "$STREAM_TEST_MEDIA_DIR"
flock "$STREAM_TEST_MEDIA_DIR/.lock" scripts/gen-media.sh "$STREAM_TEST_MEDIA_DIR"
# The infrastructure template: cfn-lint clean and in step with infra/tables.json.
scripts/lint-infra.sh
scripts/player-assets.sh --test
# Each binary links only what it uses (streamd: no AWS SDK; functions: no SQLite).
scripts/check-deps.sh
# Build before starting the emulators so they run only as long as the tests need them. The
# benchmarks (tools/bench) are not built for a test run, only checked so they keep compiling
# (scripts/bench.sh builds and runs them); their report writer's golden test does run.
cargo build --workspace --lib --bins --tests --locked
cargo check -p stream-bench --benches --locked
scripts/stack.sh run -- cargo test --workspace --locked -- --include-ignored
