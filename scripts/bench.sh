#!/usr/bin/env bash
# scripts/bench.sh: the benchmark command. NOT part of the test suite.
#
# Measures what SPEC §8 "Targets" promises, each figure against a baseline measured in the same
# run (the ratios are what is meaningful on a shared, noisy machine), and rewrites
# BENCHMARKS.md with the machine, the exact commands, and for every figure the median of
# BENCH_RUNS runs (default 5) with min and max:
#
#   1. micro    criterion: decision, segment plans, playlists, JWT and session-token checks
#   2. http     wrk on loopback: streamd's variant playlist route and stream route (JSON)
#               against nginx serving the same playlist bytes as a static file
#   3. ttfs     time to first segment (transcode, transcode_audio, remux; start and middle)
#               against ffmpeg alone making that segment with the workers' exact arguments
#   3b. switch  the segment a player waits for while read-ahead of another rung runs (an ABR
#               switch), a seek while read-ahead runs, an init asked for after its segment: each
#               against ffmpeg alone making that segment (SPEC §4 "Scheduling", §8)
#   3c. ttff    time to first frame in a real browser (Chromium + hls.js via playwright-core, the
#               player page): first `playing` and 1 s played, a seek, an ABR switch, per method
#   4. ladder   a 2-minute 720p source's whole ladder through the workers against one ffmpeg
#               making the same ladder, at the defaults and with STREAM_READ_AHEAD_ALL_RUNGS=1;
#               per-segment encode cost per rung (the cloud model)
#   5. memory   peak RSS of streamd and of every ffmpeg it runs, 10 s vs 10 min source
#   6. edge     the cloud shape (cargo lambda watch, LocalStack, DynamoDB Local) behind the CDN
#               stand-in: what viewers 1, 2 (hls.js) and 3-10 of one transcode session cost the
#               functions, the bucket and DynamoDB (counted by tests/tests/cloud_e2e.rs), and a made
#               segment's time to first byte through the edge against the old redirect path
#   7. load     a minute of mixed traffic at saturation (closed-loop clients: decisions,
#               playlists, edge segments, progress, a few uploads): statuses by class, p50/p99,
#               unexpected 5xx, streamd's RSS and open descriptors every second
#
# From a clean clone: installs what is missing (ffmpeg, wrk, nginx, GNU time; apt), builds
# release itself, generates its media with ffmpeg into target/bench-media (once, cached).
# Takes about 25 minutes on 2 cores plus the first build (about 10 minutes). Usage:
#
#   scripts/bench.sh                 # everything, writes BENCHMARKS.md
#   BENCH_RUNS=5 BENCH_ONLY="micro http" scripts/bench.sh   # a subset: those phases again, the
#                                                          # others' results of the last run kept
#
# Environment: BENCH_RUNS (5), BENCH_WRK_DURATION (5s), BENCH_ONLY (all phases), BENCH_OUT
# (BENCHMARKS.md), BENCH_LOAD_SECONDS (60), BENCH_LOAD_CLIENTS (64). `BENCH_ONLY=load` with no
# other phase's results kept replaces only section 8 of BENCHMARKS.md (see `report::run`). Results (raw JSON, wrk output, logs) stay in target/bench-results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${BENCH_RUNS:-5}
WRK_DURATION=${BENCH_WRK_DURATION:-5s}
ONLY=${BENCH_ONLY:-micro http ttfs switch ttff subs ladder memory edge load}
OUT=${BENCH_OUT:-BENCHMARKS.md}
RES=$ROOT/target/bench-results
TMP=$ROOT/target/bench-tmp
MEDIA=$ROOT/target/bench-media
SECRET="bench-hs256-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
TRANSCODE_QUERY='containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8'
LADDER_QUERY='containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_bitrate=4000000'

want() { [[ " $ONLY " == *" $1 "* ]]; }
log() { printf '\n== %s  [%s, load %s]\n' "$*" "$(date +%T)" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }

# ---- cleanup: only the processes this script started, by pid ------------------------------
STREAMD_PID=""
NGINX_PID=""
stop_streamd() {
  if [[ -n "$STREAMD_PID" ]] && kill -0 "$STREAMD_PID" 2>/dev/null; then
    kill -TERM "$STREAMD_PID" 2>/dev/null || true
    wait "$STREAMD_PID" 2>/dev/null || true
  fi
  STREAMD_PID=""
}
stop_nginx() {
  if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  NGINX_PID=""
}
RA0_PID=""
trap 'stop_streamd; stop_nginx; if [[ -n "$RA0_PID" ]]; then STREAMD_PID=$RA0_PID; stop_streamd; fi' EXIT
trap 'exit 130' INT TERM

# ---- phase bookkeeping: duration, load and the busiest processes at the start ----------------
mkdir -p "$RES" "$TMP"
PHASE=""; PHASE_T0=0
phase() {
  local now; now=$(date +%s.%N)
  if [[ -n "$PHASE" ]]; then
    printf '%s\t%s\t%s\n' "$PHASE" "$(awk "BEGIN{printf \"%.1f\", $now - $PHASE_T0}")" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/phases.tsv"
  fi
  PHASE=$1; PHASE_T0=$now
  [[ -z "$PHASE" || "$PHASE" == end ]] && return 0
  log "$PHASE"
  # The busiest processes right now (second frame of top: the first is since boot).
  { echo "## $PHASE at $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
    top -b -n 2 -d 0.5 -o %CPU -w 512 2>/dev/null | awk '/^top -/{n++} n==2' | sed -n '8,13p' | awk '{printf "%s%% %s\n", $9, $12}'
  } >> "$RES/load.txt" || true
}

# ---- 0. prerequisites --------------------------------------------------------------------------
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
  echo "scripts/bench.sh: installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# Fresh results (the previous run's are replaced; the media cache stays). With BENCH_ONLY, the
# other phases' results of the last run stay, and the report is made of them all.
if [[ -z "${BENCH_ONLY:-}" ]]; then rm -rf "$RES"; fi
mkdir -p "$RES"/{logs,micro,wrk}
T_START=$(date +%s)

# ---- machine ------------------------------------------------------------------------------------
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem=$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -sr)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "ffmpeg=$(ffmpeg -version | head -1)"
  echo "wrk=$(wrk -v 2>&1 | head -1)"
  echo "nginx=$("$NGINX" -v 2>&1 | head -1)"
  echo "rustc=$(rustc -V)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (work tree has uncommitted changes)')"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "runs=$RUNS"
  echo "wrk_duration=$WRK_DURATION"
  echo "only=$ONLY"
} > "$RES/machine.txt"

# ---- build ---------------------------------------------------------------------------------------
phase build
cargo build --release -p streamd 2> "$RES/logs/build-streamd.log" || { tail -30 "$RES/logs/build-streamd.log"; exit 1; }
cargo bench -p stream-bench --no-run 2> "$RES/logs/build-benches.log" || { tail -30 "$RES/logs/build-benches.log"; exit 1; }
E2E=$(cargo bench -p stream-bench --bench e2e --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*"' | tail -1 | sed 's/"executable":"//; s/"$//')
[[ -x "$E2E" ]] || { echo "scripts/bench.sh: cannot find the e2e bench binary" >&2; exit 1; }
STREAMD=$ROOT/target/release/streamd

# ---- media ---------------------------------------------------------------------------------------
phase media
bench/gen-media.sh "$MEDIA"

# ---- streamd -------------------------------------------------------------------------------------
# start_streamd NAME [VAR=VALUE...]: a fresh data dir, a free port; sets STREAMD_PID and BASE.
start_streamd() {
  local name=$1; shift
  local data=$TMP/streamd-$name
  rm -rf "$data" && mkdir -p "$data"
  env STREAM_LISTEN=127.0.0.1:0 STREAM_DATA_DIR="$data" STREAM_JWT_SECRET="$SECRET" RUST_LOG=info "$@" \
    "$STREAMD" > "$RES/logs/streamd-$name.out" 2> "$RES/logs/streamd-$name.err" &
  STREAMD_PID=$!
  for _ in $(seq 1 200); do
    BASE=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$RES/logs/streamd-$name.out" | head -1)
    [[ -n "$BASE" ]] && return 0
    kill -0 "$STREAMD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "scripts/bench.sh: streamd did not start:" >&2; cat "$RES/logs/streamd-$name.err" >&2; exit 1
}

# ---- 1. micro ------------------------------------------------------------------------------------
if want micro; then
  phase micro
  for i in $(seq 1 "$RUNS"); do
    rm -rf target/criterion
    cargo bench -p stream-bench --bench micro > "$RES/logs/micro-$i.log" 2>&1
    mkdir -p "$RES/micro/run$i"
    for f in target/criterion/*/new/estimates.json; do
      cp "$f" "$RES/micro/run$i/$(basename "$(dirname "$(dirname "$f")")").json"
    done
    echo "  micro run $i: $(ls "$RES/micro/run$i" | wc -l) benchmarks" >&2
  done
fi

# ---- 2. http -------------------------------------------------------------------------------------
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
}
# wrk_run NAME URL [wrk args...]
wrk_run() {
  local name=$1 url=$2; shift 2
  wrk -t2 -c32 -d"$WRK_DURATION" --latency "$@" "$url" > "$RES/wrk/$name.txt" 2>&1 || true
  printf '  %-24s %s req/s\n' "$name" "$(awk '/^Requests\/sec/{print $2}' "$RES/wrk/$name.txt")" >&2
}
if want http; then
  phase http
  start_streamd http
  # Two sessions: a 30 s transcode (the v1080 variant: 10 segments) and a 2-hour film's plan
  # (1,802 segments); their first variant playlists are also written for nginx.
  WWW=$TMP/www; rm -rf "$WWW"; mkdir -p "$WWW"
  declare -A S L
  while IFS='=' read -r k v; do S[$k]=$v; done < <("$E2E" session --base "$BASE" --secret "$SECRET" \
    --file "$MEDIA/hevc10_ac3_1080p_30s.mkv" --query "$TRANSCODE_QUERY" --save-variant "$TMP/short.m3u8")
  while IFS='=' read -r k v; do L[$k]=$v; done < <("$E2E" session --base "$BASE" --secret "$SECRET" \
    --file "$MEDIA/h264_10bit_tiny_2h.mp4" --query "$TRANSCODE_QUERY" --save-variant "$TMP/long.m3u8")
  [[ -n "${S[variant_path]:-}" && -n "${L[variant_path]:-}" ]] || { echo "scripts/bench.sh: could not open the HTTP sessions" >&2; exit 1; }
  # nginx serves the same bytes at the same path (the query is ignored by a static server).
  for pair in "${S[variant_path]}|$TMP/short.m3u8" "${L[variant_path]}|$TMP/long.m3u8"; do
    p=${pair%%|*}; p=${p%%\?*}
    mkdir -p "$WWW$(dirname "$p")"
    cp "${pair#*|}" "$WWW$p"
  done
  NGINX_PORT=$(free_port)
  mkdir -p "$TMP/nginx/tmp"
  cat > "$TMP/nginx/nginx.conf" <<EOF
# The static baseline: nginx at its defaults for static files, tuned only in its favour
# (no access log, sendfile, unlimited keep-alive requests, as many workers as cores).
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  types { application/vnd.apple.mpegurl m3u8; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WWW;
    location / { add_header Cache-Control "public, max-age=10"; }
  }
}
EOF
  "$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2> "$RES/logs/nginx.err" &
  NGINX_PID=$!
  NGINX_BASE="http://127.0.0.1:$NGINX_PORT"
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "$NGINX_BASE${S[variant_path]}" 2>/dev/null && break; sleep 0.1; done
  # Same bytes from both.
  for path in "${S[variant_path]}" "${L[variant_path]}"; do
    cmp <(curl -fsS "$BASE$path") <(curl -fsS "$NGINX_BASE$path") \
      || { echo "scripts/bench.sh: streamd and nginx serve different playlist bytes" >&2; exit 1; }
  done
  {
    echo "short_variant_path=${S[variant_path]}"; echo "short_variant_bytes=${S[variant_bytes]}"; echo "short_variant_segments=${S[variant_segments]}"
    echo "long_variant_path=${L[variant_path]}"; echo "long_variant_bytes=${L[variant_bytes]}"; echo "long_variant_segments=${L[variant_segments]}"
    echo "stream_path=${S[stream_path]}"
    echo "nginx_port=$NGINX_PORT"
  } > "$RES/http.txt"
  AUTH=(-H "Authorization: Bearer ${S[jwt]}" -H "Accept: application/json")
  # Warm-up (not recorded): first connections, SQLite page cache, nginx open-file cache.
  for u in "$BASE${S[variant_path]}" "$NGINX_BASE${S[variant_path]}"; do wrk -t2 -c32 -d1s "$u" > /dev/null 2>&1 || true; done
  wrk -t2 -c32 -d1s "${AUTH[@]}" "$BASE${S[stream_path]}" > /dev/null 2>&1 || true
  for i in $(seq 1 "$RUNS"); do
    # Alternate which server goes first in each pair.
    if ((i % 2)); then order="streamd nginx"; else order="nginx streamd"; fi
    for size in short long; do
      if [[ $size == short ]]; then path=${S[variant_path]}; else path=${L[variant_path]}; fi
      for who in $order; do
        if [[ $who == streamd ]]; then wrk_run "playlist-$size-streamd-$i" "$BASE$path"
        else wrk_run "playlist-$size-nginx-$i" "$NGINX_BASE$path"; fi
      done
    done
    wrk_run "stream-json-streamd-$i" "$BASE${S[stream_path]}" "${AUTH[@]}"
  done
  # A profile of streamd serving the short playlist under the same load (when perf works here).
  if command -v perf >/dev/null && perf record -q -o "$TMP/perf-probe.data" -- true >/dev/null 2>&1; then
    wrk -t2 -c32 -d6s "$BASE${S[variant_path]}" > "$RES/wrk/perf-load.txt" 2>&1 &
    WRK_PID=$!
    sleep 1
    perf record -q -F 999 -g -p "$STREAMD_PID" -o "$TMP/perf.data" -- sleep 4 > /dev/null 2>&1 || true
    wait "$WRK_PID" 2>/dev/null || true
    perf report -i "$TMP/perf.data" --no-children --sort dso -g none --stdio 2>/dev/null | grep '%' | grep -v '^#' > "$RES/perf-dso.txt" || true
    perf report -i "$TMP/perf.data" --children --sort symbol -g none --stdio 2>/dev/null | grep '%' | grep -v '^#' | sed 's/ *$//' > "$RES/perf-symbols.txt" || true
  fi
  stop_nginx
  stop_streamd
fi

# ---- 3. time to first segment ----------------------------------------------------------------------
if want ttfs; then
  phase ttfs
  start_streamd ttfs
  "$E2E" ttfs --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" --runs "$RUNS" \
    --transcode "$MEDIA/hevc10_ac3_1080p_30s.mkv" \
    --transcode-audio "$MEDIA/h264_eac3_1080p_30s.mp4" \
    --remux "$MEDIA/h264_aac_1080p_30s.mkv" \
    --out "$RES/ttfs.json"
  stop_streamd
  # Diagnostics of the transcode start and seek (what bounds it): a second streamd without
  # read-ahead, and the client asking for init and segment in a row or together; all interleaved.
  start_streamd ttfs-ra0 STREAM_READ_AHEAD=0
  RA0_PID=$STREAMD_PID; RA0_BASE=$BASE; STREAMD_PID=""
  start_streamd ttfs-diag
  "$E2E" ttfs-diag --base "$BASE" --base-ra0 "$RA0_BASE" --secret "$SECRET" --pid "$STREAMD_PID" --pid "$RA0_PID" \
    --runs "$RUNS" --transcode "$MEDIA/hevc10_ac3_1080p_30s.mkv" --out "$RES/ttfs-diag.json"
  stop_streamd
  STREAMD_PID=$RA0_PID; RA0_PID=""; stop_streamd
fi

# ---- 3b. the segment a player waits for while read-ahead runs ------------------------------------------
if want switch; then
  phase switch
  start_streamd switch
  "$E2E" switch --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" --runs "$RUNS" \
    --file "$MEDIA/hevc10_ac3_1080p_30s.mkv" --out "$RES/switch.json" \
    || echo "scripts/bench.sh: the switch phase failed (see above); the report says so" >&2
  stop_streamd
fi

# ---- 3c. time to first frame in a real browser --------------------------------------------------------
# upload_media FILE TOKEN: uploads FILE to $BASE as the token's user; prints the media id once ready.
upload_media() {
  local file=$1 token=$2 r id url status
  r=$(curl -fsS -X POST "$BASE/api/v1/uploads" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"filename\": \"$(basename "$file")\"}")
  id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["media_id"])' <<< "$r")
  url=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["upload_url"])' <<< "$r")
  curl -fsS -X PUT --data-binary "@$file" "$url" > /dev/null
  for _ in $(seq 1 600); do
    status=$(curl -fsS "$BASE/api/v1/media/$id" -H "authorization: Bearer $token" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
    [[ "$status" == ready ]] && { echo "$id"; return 0; }
    [[ "$status" == failed ]] && break
    sleep 0.2
  done
  echo "scripts/bench.sh: $file did not become ready ($status)" >&2; return 1
}
if want ttff; then
  phase ttff
  if scripts/setup.sh --test > "$RES/logs/ttff-setup.log" 2>&1 && scripts/player-assets.sh --test >> "$RES/logs/ttff-setup.log" 2>&1; then
    start_streamd ttff STREAM_PLAYER_DIR="$ROOT/player"
    TOKEN=$("$E2E" token --secret "$SECRET")
    ffmpeg -v error -y -i "$MEDIA/h264_aac_1080p_30s.mkv" -c copy "$TMP/direct.mp4"
    ffmpeg -v error -y -i "$MEDIA/h264_aac_1080p_30s.mkv" -c copy -f mov "$TMP/remux.mov"
    cases="["
    for c in "direct_play:$TMP/direct.mp4" "remux:$TMP/remux.mov" \
      "transcode_audio:$MEDIA/h264_eac3_1080p_30s.mp4" "transcode:$MEDIA/hevc10_ac3_1080p_30s.mkv"; do
      ids=""
      for _ in $(seq 1 "$RUNS"); do ids+="\"$(upload_media "${c#*:}" "$TOKEN")\","; done
      cases+="{\"name\": \"${c%%:*}\", \"expected\": \"${c%%:*}\", \"ids\": [${ids%,}]},"
    done
    echo "${cases%,}]" > "$TMP/ttff-cases.json"
    node tests/browser/ttff.mjs "$BASE" "$TOKEN" "$TMP/ttff-cases.json" "$RES/ttff.json" > "$RES/logs/ttff.log" 2>&1 \
      || { tail -5 "$RES/logs/ttff.log"; echo "scripts/bench.sh: the ttff phase failed; the report says so" >&2; }
    stop_streamd
  else
    echo "scripts/bench.sh: Chromium, node or the npm assets could not be installed; see $RES/logs/ttff-setup.log" >&2
  fi
fi

# ---- 3d. start-up with ten subtitle tracks ----------------------------------------------------------
if want subs; then
  phase subs
  start_streamd subs
  # Twice the runs: a run is short, and the two medians are compared with each other.
  "$E2E" subs --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" --runs "$((RUNS * 2))" \
    --plain "$MEDIA/h264_aac_1080p_30s.mkv" --subs "$MEDIA/h264_aac_1080p_30s_10subs.mkv" \
    --out "$RES/subs.json" \
    || echo "scripts/bench.sh: the subs phase failed (see above); the report says so" >&2
  stop_streamd
fi

# ---- 4. ladder throughput and per-segment cost -------------------------------------------------------
if want ladder; then
  phase ladder
  # The row measures the pool's throughput against one ffmpeg on the same cores; the bench's
  # one "user" asks for every rung at once, which the per-user cap (one user cannot occupy
  # every worker, STREAM_ENCODES_PER_USER) exists to stop: lifted to the pool's size here.
  LADDER_ENV=(STREAM_ENCODES_PER_USER="$(nproc)")
  start_streamd ladder "${LADDER_ENV[@]}"
  "$E2E" throughput --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" --runs "$RUNS" \
    --file "$MEDIA/h264_aac_720p_120s.mp4" --query "$LADDER_QUERY" --workers "$(nproc)" \
    --tmp "$TMP/ladder" --out "$RES/throughput.json"
  stop_streamd
  # The same with the whole-ladder read-ahead (every rung of a read-ahead segment from one decode).
  start_streamd ladder-all-rungs STREAM_READ_AHEAD_ALL_RUNGS=1 "${LADDER_ENV[@]}"
  "$E2E" throughput --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" --runs "$RUNS" \
    --file "$MEDIA/h264_aac_720p_120s.mp4" --query "$LADDER_QUERY" --workers "$(nproc)" \
    --tmp "$TMP/ladder" --out "$RES/throughput-all-rungs.json"
  stop_streamd
  phase segcost
  "$E2E" segcost --samples "$RUNS" --out "$RES/segcost.json" \
    --file "$MEDIA/h264_aac_1080p_30s.mkv" --file "$MEDIA/hevc10_ac3_1080p_30s.mkv" --file "$MEDIA/h264_aac_720p_120s.mp4"
fi

# ---- 5. memory -------------------------------------------------------------------------------------------
if want memory; then
  phase memory
  # ffmpeg and ffprobe through a wrapper that logs each run's peak RSS (GNU time, from wait4).
  WRAP=$TMP/wrap; mkdir -p "$WRAP"
  for tool in ffmpeg ffprobe; do
    cat > "$WRAP/$tool" <<EOF
#!/usr/bin/env bash
kind=$tool
case " \$* " in
  *" -filters "*) kind=ffmpeg_features ;;
  *" -frames:v 1 "*) kind=ffmpeg_init_video ;;
  *" -vn "*" -t 0.1 "*) kind=ffmpeg_init_audio ;;
  *" -c:v libx264 "*) kind=ffmpeg_video_transcode ;;
  *" -c:v copy "*) kind=ffmpeg_video_copy ;;
  *" -vn "*) kind=ffmpeg_audio_run ;;
  *" packet="*) kind=ffprobe_keyframes ;;
  *" -show_format "*) kind=ffprobe_probe ;;
esac
t=\$(mktemp)
/usr/bin/time -f '%M\t%e' -o "\$t" $(command -v $tool) "\$@"
rc=\$?
printf '%s\t%s\n' "\$kind" "\$(tail -1 "\$t")" >> "\$BENCH_TOOL_LOG"
rm -f "\$t"
exit \$rc
EOF
    chmod +x "$WRAP/$tool"
  done
  for src in 10s:h264_10bit_aac_360p_10s.mp4 600s:h264_10bit_aac_360p_600s.mp4; do
    for i in $(seq 1 "$RUNS"); do
      toollog=$RES/logs/tools-${src%%:*}-$i.tsv; : > "$toollog"
      start_streamd "mem-${src%%:*}-$i" STREAM_FFMPEG="$WRAP/ffmpeg" STREAM_FFPROBE="$WRAP/ffprobe" BENCH_TOOL_LOG="$toollog"
      "$E2E" memory --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" --file "$MEDIA/${src#*:}" \
        --query "$TRANSCODE_QUERY" --ffmpeg-log "$toollog" --out "$RES/memory-${src%%:*}-$i.json"
      echo "  memory ${src%%:*} run $i: streamd VmHWM $(grep -o '"streamd_hwm_kb": [0-9]*' "$RES/memory-${src%%:*}-$i.json" | grep -o '[0-9]*$') kB" >&2
      stop_streamd
    done
  done
fi

# ---- 6. edge ----------------------------------------------------------------------------------------------
# Counts, not times, are the point here (the times are one loopback comparison): the cloud
# end-to-end test runs once with STREAM_EDGE_FIGURES and writes them. It needs what the test
# command installs (LocalStack, DynamoDB Local, cargo-lambda, Chromium, the npm assets) and the
# debug binaries of the functions.
if want edge; then
  phase edge
  # A failure here leaves the other phases' figures standing (the report says the edge's are missing).
  if scripts/setup.sh --test > "$RES/logs/edge-setup.log" 2>&1 \
    && cargo build --workspace --bins --tests 2> "$RES/logs/build-debug.log" \
    && STREAM_EDGE_FIGURES="$RES/edge.json" scripts/stack.sh run -- \
      cargo test -p stream-tests --test cloud_e2e -- --include-ignored --nocapture > "$RES/logs/edge.log" 2>&1; then
    echo "  edge: figures in $RES/edge.json" >&2
  else
    echo "scripts/bench.sh: the edge phase failed; see $RES/logs/edge*.log and build-debug.log" >&2
  fi
fi

# ---- 7. load ----------------------------------------------------------------------------------------------
# A fresh streamd; the driver sets up its media and sessions, makes the pieces the edge requests
# will read, then runs the closed loop (BENCH_LOAD_SECONDS after a 20 s warm-up).
if want load; then
  phase load
  rm -f "$RES/load.json"
  start_streamd load
  "$E2E" load --base "$BASE" --secret "$SECRET" --pid "$STREAMD_PID" \
    --seconds "${BENCH_LOAD_SECONDS:-60}" --clients "${BENCH_LOAD_CLIENTS:-64}" \
    --remux "$MEDIA/h264_aac_1080p_30s.mkv" --transcode "$MEDIA/hevc10_ac3_1080p_30s.mkv" \
    --direct "$MEDIA/h264_10bit_aac_360p_10s.mp4" --upload "$MEDIA/h264_10bit_aac_360p_10s.mp4" \
    --out "$RES/load.json" \
    || echo "scripts/bench.sh: the load phase failed (see above); the report says so" >&2
  stop_streamd
fi

phase end
echo "total_seconds=$(( $(date +%s) - T_START ))" >> "$RES/machine.txt"
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/machine.txt"

# ---- report ------------------------------------------------------------------------------------------------
[[ "$OUT" == /* ]] || OUT=$ROOT/$OUT
"$E2E" report --dir "$RES" --out "$OUT"
echo "scripts/bench.sh: wrote $OUT in $(( $(date +%s) - T_START )) s (results in target/bench-results)" >&2
