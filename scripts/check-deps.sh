#!/usr/bin/env bash
# Each binary links only what it uses (part of the test command): `streamd` (default features)
# without the AWS SDK, every Lambda function without SQLite. Cargo merges features across a
# workspace build, so this looks at each package's own dependency tree.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
if cargo tree --locked -p streamd -e normal | grep -E 'aws-sdk-|aws-config' ; then
  echo "check-deps: streamd links the AWS SDK (it must only with --features cloud)" >&2
  fail=1
fi
for f in api stream hls ingest transcode cleanup; do
  if cargo tree --locked -p "$f" -e normal | grep -E 'rusqlite|libsqlite3' ; then
    echo "check-deps: the $f function links SQLite" >&2
    fail=1
  fi
done
if ((fail)); then exit 1; fi
echo "check-deps: streamd without the AWS SDK; the functions without SQLite"
