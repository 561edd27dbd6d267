#!/usr/bin/env bash
# Generates the benchmark sources into DIR (default target/bench-media) with ffmpeg, once:
# a stamp naming this script's recipe version skips the work when everything is there.
# Used by scripts/bench.sh; see BENCHMARKS.md for what each file is for.
set -euo pipefail

DIR=${1:-target/bench-media}
RECIPE=4
mkdir -p "$DIR"
STAMP="$DIR/.recipe-$RECIPE"
[[ -f "$STAMP" ]] && exit 0

ff() { ffmpeg -hide_banner -nostdin -loglevel error -y "$@"; }
# make NAME ARGS...: runs ffmpeg into a temporary file, renamed when complete.
make() {
  local name=$1; shift
  [[ -s "$DIR/$name" ]] && return 0
  local ext=${name##*.}
  echo "bench/gen-media.sh: $name" >&2
  ff "$@" "$DIR/.tmp.$ext"
  mv "$DIR/.tmp.$ext" "$DIR/$name"
}
SRC1080="-f lavfi -i testsrc2=size=1920x1080:rate=24"
TONE="-f lavfi -i sine=frequency=440:sample_rate=48000"
GOP2S="-g 48 -keyint_min 48 -sc_threshold 0"

# 1. transcode: 30 s 1080p HEVC Main 10 (x265 ultrafast, keyframe every 2 s) + AC-3 5.1, MKV.
make hevc10_ac3_1080p_30s.mkv $SRC1080 $TONE -t 30 -map 0:v -map 1:a \
  -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le -x265-params keyint=48:min-keyint=48:scenecut=0:log-level=error \
  -c:a ac3 -ac 6 -b:a 448k
# 2. transcode_audio: 30 s 1080p H.264 High (keyframe every 2 s) + E-AC-3 5.1, MP4.
make h264_eac3_1080p_30s.mp4 $SRC1080 $TONE -t 30 -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p $GOP2S -b:v 5M -maxrate 6M -bufsize 10M \
  -c:a eac3 -ac 6 -b:a 640k -movflags +faststart
# 3. remux: the same video + AAC stereo, MKV.
make h264_aac_1080p_30s.mkv -i "$DIR/h264_eac3_1080p_30s.mp4" $TONE -t 30 -map 0:v -map 1:a \
  -c:v copy -c:a aac -ac 2 -b:a 128k
# 4. throughput: 2 min 720p H.264 High 8-bit at a constant 6 Mbit/s (nal-hrd=cbr) + AAC stereo,
#    MP4; a client with max_bitrate=4000000 gets a transcode (bitrate_exceeds_limit).
make h264_aac_720p_120s.mp4 -f lavfi -i testsrc2=size=1280x720:rate=24 $TONE -t 120 -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p $GOP2S \
  -b:v 6M -minrate 6M -maxrate 6M -bufsize 6M -x264-params nal-hrd=cbr \
  -c:a aac -ac 2 -b:a 128k -movflags +faststart
# 5. memory: 10 s and 10 min of the same 640x360 H.264 High 10 (x264 ultrafast) + AAC stereo, MP4.
for d in 10:10s 600:600s; do
  make "h264_10bit_aac_360p_${d#*:}.mp4" -f lavfi -i testsrc2=size=640x360:rate=24 $TONE -t "${d%%:*}" -map 0:v -map 1:a \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p10le $GOP2S -c:a aac -ac 2 -b:a 96k -movflags +faststart
done
# 6. HTTP: a 2-hour film's keyframe index and plan at almost no size (128x72, 1 frame/s, a
#    keyframe every 2 s, 10-bit so it is a transcode): its variant playlist has 1,802 segments.
make h264_10bit_tiny_2h.mp4 -f lavfi -i testsrc2=size=128x72:rate=1 -t 7200 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p10le -g 2 -keyint_min 2 -sc_threshold 0 -movflags +faststart

# 7. start-up with subtitles: file 3 with ten SubRip tracks (ten languages, a cue every 2 s with
#    non-ASCII text), MKV; every track is converted to WebVTT at ingest.
if [[ ! -s "$DIR/h264_aac_1080p_30s_10subs.mkv" ]]; then
  subs=() maps=() meta=() n=0
  for lang in eng fra deu spa ita por nld swe jpn rus; do
    srt="$DIR/.sub-$lang.srt"
    for i in $(seq 0 14); do
      printf '%d\n00:00:%02d,000 --> 00:00:%02d,500\nCue %d (%s) — déjà vu, Ünïcødé\n\n' \
        $((i + 1)) $((i * 2)) $((i * 2 + 1)) "$i" "$lang"
    done > "$srt"
    subs+=(-i "$srt"); maps+=(-map $((n + 1)):s); meta+=(-metadata:s:s:$n "language=$lang"); n=$((n + 1))
  done
  make h264_aac_1080p_30s_10subs.mkv -i "$DIR/h264_aac_1080p_30s.mkv" "${subs[@]}" -map 0:v -map 0:a \
    "${maps[@]}" "${meta[@]}" -c:v copy -c:a copy -c:s srt
  rm -f "$DIR"/.sub-*.srt
fi

touch "$STAMP"
