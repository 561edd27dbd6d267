#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a bounded time each (README "Fuzzing"):
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default 60 s, every target
#
# Not part of the test command or CI: a fuzzing run finds nothing in a fixed time budget that
# a unit test would not pin down better, and it would cost CI minutes every run. What a run
# finds becomes a unit test next to the code it concerns.
#
# cargo-fuzz passes nightly-only flags (`-Z sanitizer`, `-C passes=sancov-module`); the
# project's one stable toolchain accepts them with RUSTC_BOOTSTRAP=1. The sanitizer is `none`
# by default (the targets are safe Rust: the instrumentation for coverage is what matters, and
# it runs about twice as fast as with AddressSanitizer); FUZZ_SANITIZER=address works too.
#
# The corpus of each target is fuzz/corpus/<target>/: the committed seeds (`seed-*`, small)
# and whatever a run adds (ignored by git). A crash, a timeout (> 10 s for one input) or an
# out-of-memory (> 2 GiB) stops that target, leaves the input in fuzz/artifacts/<target>/, and
# makes this script exit non-zero after the other targets ran.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
[ $# -gt 0 ] && shift
ALL=(paths tokens ffprobe_json fmp4 playlists)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
SANITIZER=${FUZZ_SANITIZER:-none}
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
export RUSTC_BOOTSTRAP=1

cd fuzz
# Every target at once (one build of the instrumented crates); each run below reuses it.
cargo fuzz build --sanitizer "$SANITIZER"

mkdir -p logs
failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s (corpus/$t: $(ls "corpus/$t" | wc -l) inputs)"
  status=0
  started=$SECONDS
  cargo fuzz run --sanitizer "$SANITIZER" "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  echo "   ran $((SECONDS - started)) s, executions: ${execs:-?}, corpus now $(ls "corpus/$t" | wc -l) inputs, log fuzz/$log"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "   FAILED (exit $status):"
    grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -n 8 | sed 's/^/     /'
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs under fuzz/artifacts/<target>/;"
  echo "  replay one with: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $SANITIZER <target> <file>)"
  exit 1
fi
echo "fuzz.sh: no crash in ${TARGETS[*]}"
