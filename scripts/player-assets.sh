#!/usr/bin/env bash
# The player page's build step: installs hls.js (exact version pinned in player/package.json and
# player/package-lock.json) with `npm ci` when player/node_modules is missing or older than the
# lock file, and copies node_modules/hls.js/dist/hls.min.js to player/vendor/hls.min.js, which
# streamd serves (no CDN at run time; player/vendor is git-ignored).
#   scripts/player-assets.sh          the page's assets (scripts/run.sh)
#   scripts/player-assets.sh --test   + the browser tests' playwright-core (tests/browser) and AWS's
#                                     CloudFront signer, @aws-sdk/cloudfront-signer (tests/edge-signer:
#                                     the independent implementation the edge tests compare with);
#                                     each pinned exactly, with its lock file (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_npm() {
  command -v npm >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "player-assets: installing npm with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends npm >/dev/null
  else
    echo "player-assets: npm is required to install hls.js (apt-get install npm)" >&2
    exit 1
  fi
}

npm_ci() { # DIR: npm ci unless DIR/node_modules is present and newer than the lock file
  local dir=$1
  if [[ ! -f "$dir/node_modules/.package-lock.json" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    ensure_npm
    echo "player-assets: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

npm_ci player
mkdir -p player/vendor
src=player/node_modules/hls.js/dist/hls.min.js
if ! cmp -s "$src" player/vendor/hls.min.js; then
  cp "$src" player/vendor/hls.min.js.tmp && mv player/vendor/hls.min.js.tmp player/vendor/hls.min.js
fi
if [[ "${1:-}" == "--test" ]]; then
  npm_ci tests/browser
  npm_ci tests/edge-signer
fi
