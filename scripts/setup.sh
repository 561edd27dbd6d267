#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (root), skipping what is present.
#   scripts/setup.sh            ffmpeg/ffprobe (enough to run streamd)
#   scripts/setup.sh --test     + Java, LocalStack venv, DynamoDB Local (the test stack),
#                               cargo-lambda, the OpenAPI validator, Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v flock >/dev/null 2>&1 || need_apt+=(util-linux)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [[ "${1:-}" == "--test" ]]; then
  command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust) is required and not on PATH" >&2; exit 1; }
if [[ "${1:-}" == "--test" ]]; then
  scripts/stack.sh install
  # The OpenAPI 3.1 validator of tests/tests/openapi.rs, pinned, in its own venv.
  if [[ ! -x .cache/openapi-venv/bin/openapi-spec-validator ]]; then
    echo "setup: installing openapi-spec-validator 0.9.0 into .cache/openapi-venv" >&2
    python3 -m venv .cache/openapi-venv
    .cache/openapi-venv/bin/pip install -q --disable-pip-version-check 'openapi-spec-validator==0.9.0'
  fi
  # cargo-lambda (the Lambda emulator of the cloud end-to-end test), pinned, in its own venv.
  if [[ ! -x .cache/cargo-lambda-venv/bin/cargo-lambda ]]; then
    echo "setup: installing cargo-lambda 1.9.1 into .cache/cargo-lambda-venv" >&2
    python3 -m venv .cache/cargo-lambda-venv
    .cache/cargo-lambda-venv/bin/pip install -q --disable-pip-version-check 'cargo-lambda==1.9.1'
  fi
fi
