#!/usr/bin/env bash
# Generates the small test media into OUTDIR (default target/test-media) with real ffmpeg, plus
# manifest.json: the truth each file was generated with (codecs, sizes, frame rate, keyframe count,
# duration) and which files are broken on purpose. Idempotent: a stamp holding this script's hash
# skips the work when nothing changed. Callers serialise with `flock OUTDIR/.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/test-media}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STAMP="$OUT/.stamp"
HASH="$(sha256sum "$0" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" && -f "$OUT/manifest.json" ]]; then
  exit 0
fi
command -v ffmpeg >/dev/null || { echo "gen-media: ffmpeg is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
rm -f "$STAMP"
TMP="$(mktemp -d "$OUT/.gen.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
video() { # video SIZE RATE SECONDS
  echo -f lavfi -i "testsrc2=size=$1:rate=$2:duration=$3"
}
tone() { # tone SECONDS [FREQ]
  echo -f lavfi -i "sine=frequency=${2:-440}:sample_rate=48000:duration=$1"
}

echo "gen-media: generating test media in $OUT" >&2

# H.264 High / AAC-LC stereo MP4, faststart: direct-play material. GOP 2 s -> keyframes at 0,2,4.
# shellcheck disable=SC2046
ff $(video 640x360 24 6) $(tone 6) -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a aac -b:a 96k -ac 2 -movflags +faststart "$TMP/h264_aac.mp4"

# The same streams in Matroska: a browser cannot open MKV, HLS can carry the streams (remux).
ff -i "$TMP/h264_aac.mp4" -map 0 -c copy "$TMP/h264_aac.mkv"

# H.264 + AC-3 5.1 in MKV: only the audio needs converting for a stereo-AAC client.
# shellcheck disable=SC2046
ff $(video 640x360 24 4) $(tone 4 330) -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a ac3 -b:a 384k -ac 6 "$TMP/h264_ac3_51.mkv"

# HEVC Main 10 / AC-3 5.1 MKV, 1280x720 at 24 fps, a keyframe every second -> 4 keyframes.
# shellcheck disable=SC2046
ff $(video 1280x720 24 4) $(tone 4 550) -map 0:v -map 1:a \
  -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le -tag:v hvc1 \
  -x265-params "keyint=24:min-keyint=24:scenecut=0:log-level=error" \
  -c:a ac3 -b:a 384k -ac 6 "$TMP/hevc10_ac3_51.mkv"

# VP9 / Opus WebM, 30 fps, keyframe every 2 s -> 2 keyframes in 4 s.
# shellcheck disable=SC2046
ff $(video 640x360 30 4) $(tone 4 660) -map 0:v -map 1:a \
  -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 400k -g 60 -keyint_min 60 -pix_fmt yuv420p \
  -c:a libopus -b:a 64k -ac 2 "$TMP/vp9_opus.webm"

# MPEG-4 Part 2 / MP3 AVI, 25 fps, keyframe every second -> 4 keyframes in 4 s.
# shellcheck disable=SC2046
ff $(video 320x240 25 4) $(tone 4 770) -map 0:v -map 1:a \
  -c:v mpeg4 -q:v 5 -g 25 -pix_fmt yuv420p -c:a libmp3lame -b:a 128k -ac 2 "$TMP/mpeg4_mp3.avi"

# H.264 with irregular keyframes (0, 0.5, 3.7, 4.1, 7.9) in MKV: remux must cut only there.
# shellcheck disable=SC2046
ff $(video 640x360 24 10) $(tone 10 220) -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 1000 -keyint_min 1000 -sc_threshold 0 \
  -force_key_frames 0,0.5,3.7,4.1,7.9 -c:a aac -b:a 96k -ac 2 "$TMP/h264_irregular_gop.mkv"

# H.264 + E-AC-3 5.1 in MP4: a browser plays the video, not the audio (transcode_audio).
# shellcheck disable=SC2046
ff $(video 640x360 24 4) $(tone 4 440) -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a eac3 -b:a 384k -ac 6 -movflags +faststart "$TMP/h264_eac3.mp4"

# A file that becomes undecodable halfway: 8 s of H.264/AAC MKV whose second half is overwritten
# with noise (the index at the start stays readable, so it ingests; making later segments fails).
# shellcheck disable=SC2046
ff $(video 640x360 24 8) $(tone 8 300) -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 24 -keyint_min 24 -sc_threshold 0 \
  -c:a aac -b:a 96k -ac 2 "$TMP/corrupt_half.mkv"
size=$(stat -c %s "$TMP/corrupt_half.mkv")
# Seeded noise: the same damage on every machine (random damage may happen to stay decodable).
python3 -c 'import random, sys; r = random.Random(20261126); sys.stdout.buffer.write(r.randbytes(int(sys.argv[1])))' $((size * 4 / 10)) |
  dd of="$TMP/corrupt_half.mkv" bs=1 seek=$((size / 2)) conv=notrunc status=none

# Audio only: AAC in M4A (ready, says it has no video).
# shellcheck disable=SC2046
ff $(tone 3 880) -c:a aac -b:a 96k -ac 2 "$TMP/audio_only.m4a"

# Phone-like sources (2 s, 640x360 coded, a keyframe every second -> 2 keyframes). ffmpeg 5.1
# writes a display matrix only on a stream copy with a `rotate` tag (it reads a tag of 90 back as
# ffprobe `rotation` 90, i.e. shown turned 270 clockwise; any quarter turn is portrait).
# HEVC Main 10 HLG in MOV, as phones record HDR, turned a quarter: portrait 360x640 on screen.
# shellcheck disable=SC2046
ff $(video 640x360 24 2) $(tone 2 500) -map 0:v -map 1:a \
  -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le -tag:v hvc1 \
  -color_primaries bt2020 -color_trc arib-std-b67 -colorspace bt2020nc \
  -x265-params "keyint=24:min-keyint=24:scenecut=0:log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc" \
  -c:a aac -b:a 64k -ac 2 "$TMP/hlg_upright.mov"
ff -i "$TMP/hlg_upright.mov" -map 0 -c copy -metadata:s:v:0 rotate=90 "$TMP/phone_hevc_hlg_r90.mov"
# H.264 clips turned 180 (landscape, upside down) and 270 (portrait).
# shellcheck disable=SC2046
ff $(video 640x360 24 2) $(tone 2 600) -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 24 -keyint_min 24 -sc_threshold 0 \
  -c:a aac -b:a 64k -ac 2 "$TMP/h264_upright.mov"
ff -i "$TMP/h264_upright.mov" -map 0 -c copy -metadata:s:v:0 rotate=180 "$TMP/phone_h264_r180.mov"
ff -i "$TMP/h264_upright.mov" -map 0 -c copy -metadata:s:v:0 rotate=270 "$TMP/phone_h264_r270.mov"
# Dolby Vision profile 8.4 (an iPhone's HDR: an HLG base layer): the HLG clip with a Dolby Vision
# configuration record (`dvcC`) added to its sample entry. There is no RPU metadata in the
# stream (no encoder for it here): players and ffprobe go by the record, which is what the
# service reads. The moov follows the mdat, so adding the box moves no chunk offset.
python3 - "$TMP/hlg_upright.mov" "$TMP/phone_dv84.mov" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
data = bytearray(open(src, "rb").read())
# dv_version 1.0, profile 8, level 4, RPU + base layer present, base compatible with HLG (4).
profile, level, compat = 8, 4, 4
rec = bytes([1, 0, (profile << 1) | (level >> 5), ((level & 31) << 3) | 0b101, compat << 4]) + bytes(19)
box = struct.pack(">I4s", 8 + len(rec), b"dvcC") + rec
skip = {b"stsd": 8, b"hvc1": 78}  # bytes before the child boxes (full box / visual sample entry)
def chain(start, end, path):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == path[0]:
            rest = [] if len(path) == 1 else chain(pos + 8 + skip.get(kind, 0), pos + size, path[1:])
            if rest is not None:
                return [(pos, size)] + rest
        pos += size
    return None
boxes = chain(0, len(data), [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1"])
if not boxes or chain(0, boxes[0][0], [b"mdat"]) is None:
    sys.exit("gen-media: no hvc1 sample entry after the mdat")
end = boxes[-1][0] + boxes[-1][1]
data[end:end] = box
for pos, size in boxes:
    data[pos:pos + 4] = struct.pack(">I", size + len(box))
open(dst, "wb").write(data)
PY
# HDR10 HEVC in MP4 (PQ, mastering display and light level), landscape.
# shellcheck disable=SC2046
ff $(video 640x360 24 2) $(tone 2 700) -map 0:v -map 1:a \
  -c:v libx265 -preset ultrafast -pix_fmt yuv420p10le -tag:v hvc1 \
  -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc \
  -x265-params "keyint=24:min-keyint=24:scenecut=0:log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400" \
  -c:a aac -b:a 64k -ac 2 -movflags +faststart "$TMP/hevc_hdr10.mp4"
rm -f "$TMP/hlg_upright.mov" "$TMP/h264_upright.mov"

# Subtitles (SPEC §3 "Tracks"): an MKV with three text tracks (SubRip with non-ASCII text, ASS
# with styling WebVTT cannot carry, forced; SubRip titled "SDH", default) and an MP4 with a
# mov_text track (MP4 marks it default). The cue texts are the tests' truth; their times are read
# back from the files with ffprobe (the muxer shifts every stream by the video's encoder delay).
cat >"$TMP/en.srt" <<'SRT'
1
00:00:00,500 --> 00:00:01,500
Héllo wörld — “quoted” 你好

2
00:00:02,000 --> 00:00:03,250
<i>second</i> line
SRT
cat >"$TMP/fr.ass" <<'ASS'
[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\an8\pos(10,10)\c&H00FF00&}Ça va ? {\i1}Très{\i0} bien\Nà bientôt
ASS
cat >"$TMP/de.srt" <<'SRT'
1
00:00:03,000 --> 00:00:03,900
[Tür knarrt] Grüße
SRT
# shellcheck disable=SC2046
ff $(video 320x180 24 4) $(tone 4 500) -i "$TMP/en.srt" -i "$TMP/fr.ass" -i "$TMP/de.srt" \
  -map 0:v -map 1:a -map 2 -map 3 -map 4 \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a aac -b:a 96k -ac 2 -c:s:0 srt -c:s:1 ass -c:s:2 srt \
  -metadata:s:s:0 language=eng -metadata:s:s:1 language=fre -metadata:s:s:2 language=ger \
  -metadata:s:s:2 title=SDH -disposition:s:0 0 -disposition:s:1 forced -disposition:s:2 default \
  "$TMP/subs.mkv"
# shellcheck disable=SC2046
ff $(video 320x180 24 4) $(tone 4 600) -i "$TMP/en.srt" -map 0:v -map 1:a -map 2 \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a aac -b:a 96k -ac 2 -c:s mov_text -metadata:s:s:0 language=eng -movflags +faststart \
  "$TMP/subs_mov_text.mp4"
rm -f "$TMP/en.srt" "$TMP/fr.ass" "$TMP/de.srt"
# A bitmap subtitle track (PGS) to burn in: ffmpeg 5.1 cannot encode PGS, so
# scripts/make-pgs.py writes the display sets (a red box 1.0-2.5 s, a green box 3.0-5.0 s,
# at known places on the 320x180 picture), muxed as they are (`-c:s copy`) over a plain grey
# picture. The muxer shifts every stream by the video's encoder delay (21 ms): the tests read
# the times back with ffprobe. 8 s, a keyframe every 2 s.
python3 scripts/make-pgs.py "$TMP/boxes.sup" 320 180 1.0,2.5,32,32,96,48,red 3.0,5.0,176,100,96,48,green
# shellcheck disable=SC2046
ff -f lavfi -i "color=c=gray:size=320x180:rate=24:duration=8" $(tone 8 450) -i "$TMP/boxes.sup" \
  -map 0:v -map 1:a -map 2 \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a aac -b:a 64k -ac 2 -c:s copy -metadata:s:s:0 language=eng "$TMP/subs_pgs.mkv"
rm -f "$TMP/boxes.sup"
# Audio languages (SPEC §3 "Tracks"): English AAC stereo (default, 440 Hz), French AC-3 5.1
# (660 Hz), Italian AAC stereo (880 Hz): each track its own tone, so a client can tell them apart.
# shellcheck disable=SC2046
ff $(video 320x180 24 4) $(tone 4 440) $(tone 4 660) $(tone 4 880) \
  -map 0:v -map 1:a -map 2:a -map 3:a \
  -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 48 -keyint_min 48 -sc_threshold 0 \
  -c:a:0 aac -b:a:0 96k -ac:a:0 2 -c:a:1 ac3 -b:a:1 384k -ac:a:1 6 -c:a:2 aac -b:a:2 96k -ac:a:2 2 \
  -metadata:s:a:0 language=eng -metadata:s:a:1 language=fra -metadata:s:a:2 language=ita \
  -disposition:a:0 default -disposition:a:1 0 -disposition:a:2 0 "$TMP/audio_langs.mkv"
# Broken on purpose.
: >"$TMP/empty.mp4"
head -c 65536 /dev/urandom >"$TMP/random.bin"
# An MP4 whose moov atom is at the end (no faststart), cut in half: the moov is missing.
# shellcheck disable=SC2046
ff $(video 320x240 24 4) -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$TMP/whole.mp4"
size=$(stat -c %s "$TMP/whole.mp4")
head -c $((size / 2)) "$TMP/whole.mp4" >"$TMP/truncated.mp4"
rm -f "$TMP/whole.mp4"

# Trick-play (seek-bar previews): 45 s whose every frame tells its time: testsrc2 (a moving
# pattern and a frame counter) with its hue turning a full circle every 40 s, 10 fps, a keyframe
# every second; small (320x180, crf 30). A tile can be compared with the frame at its time.
# shellcheck disable=SC2046
ff -f lavfi -i "testsrc2=size=320x180:rate=10:duration=45,hue=H=2*PI*t/40" $(tone 45 350) \
  -map 0:v -map 1:a -c:v libx264 -preset veryfast -crf 30 -profile:v high -pix_fmt yuv420p \
  -g 10 -keyint_min 10 -sc_threshold 0 -c:a aac -b:a 48k -ac 2 -movflags +faststart "$TMP/trickplay.mp4"

cat >"$TMP/manifest.json" <<'EOF'
{
  "files": {
    "h264_aac.mp4": {"container": "mp4", "duration": 6.0, "keyframes": 3,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2}]},
    "h264_aac.mkv": {"container": "mkv", "duration": 6.0, "keyframes": 3,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2}]},
    "h264_ac3_51.mkv": {"container": "mkv", "duration": 4.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "ac3", "channels": 6}]},
    "hevc10_ac3_51.mkv": {"container": "mkv", "duration": 4.0, "keyframes": 4,
      "video": {"codec": "hevc", "profile": "Main 10", "width": 1280, "height": 720, "bit_depth": 10, "frame_rate": 24.0},
      "audio": [{"codec": "ac3", "channels": 6}]},
    "vp9_opus.webm": {"container": "webm", "duration": 4.0, "keyframes": 2,
      "video": {"codec": "vp9", "profile": "Profile 0", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 30.0},
      "audio": [{"codec": "opus", "channels": 2}]},
    "mpeg4_mp3.avi": {"container": "avi", "duration": 4.0, "keyframes": 4,
      "video": {"codec": "mpeg4", "profile": "Simple Profile", "width": 320, "height": 240, "bit_depth": 8, "frame_rate": 25.0},
      "audio": [{"codec": "mp3", "channels": 2}]},
    "h264_irregular_gop.mkv": {"container": "mkv", "duration": 10.0, "keyframes": 5,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2}]},
    "h264_eac3.mp4": {"container": "mp4", "duration": 4.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "eac3", "channels": 6}]},
    "phone_hevc_hlg_r90.mov": {"container": "mov", "duration": 2.0, "keyframes": 2,
      "video": {"codec": "hevc", "profile": "Main 10", "width": 640, "height": 360, "bit_depth": 10, "frame_rate": 24.0,
        "rotation": 270, "display_width": 360, "display_height": 640, "hdr": "hlg"},
      "audio": [{"codec": "aac", "channels": 2}]},
    "phone_h264_r180.mov": {"container": "mov", "duration": 2.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0,
        "rotation": 180, "display_width": 640, "display_height": 360, "hdr": "sdr"},
      "audio": [{"codec": "aac", "channels": 2}]},
    "phone_h264_r270.mov": {"container": "mov", "duration": 2.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "bit_depth": 8, "frame_rate": 24.0,
        "rotation": 90, "display_width": 360, "display_height": 640, "hdr": "sdr"},
      "audio": [{"codec": "aac", "channels": 2}]},
    "phone_dv84.mov": {"container": "mov", "duration": 2.0, "keyframes": 2,
      "video": {"codec": "hevc", "profile": "Main 10", "width": 640, "height": 360, "bit_depth": 10, "frame_rate": 24.0,
        "rotation": 0, "display_width": 640, "display_height": 360, "hdr": "dolby_vision",
        "dolby_vision": {"profile": 8, "level": 4, "compatibility": 4}},
      "audio": [{"codec": "aac", "channels": 2}]},
    "hevc_hdr10.mp4": {"container": "mp4", "duration": 2.0, "keyframes": 2,
      "video": {"codec": "hevc", "profile": "Main 10", "width": 640, "height": 360, "bit_depth": 10, "frame_rate": 24.0,
        "rotation": 0, "display_width": 640, "display_height": 360, "hdr": "hdr10"},
      "audio": [{"codec": "aac", "channels": 2}]},
    "subs.mkv": {"container": "mkv", "duration": 4.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 320, "height": 180, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2}],
      "subtitles": [
        {"id": "s2", "language": "en", "name": "English", "codec": "subrip", "forced": false, "default": false,
         "cues": [[0.5, 1.5, "Héllo wörld — “quoted” 你好"], [2.0, 3.25, "<i>second</i> line"]]},
        {"id": "s3", "language": "fr", "name": "Français (forced)", "codec": "ass", "forced": true, "default": false,
         "cues": [[1.0, 2.0, "Ça va ? <i>Très</i> bien\nà bientôt"]]},
        {"id": "s4", "language": "de", "name": "Deutsch (SDH)", "codec": "subrip", "forced": false, "default": true,
         "cues": [[3.0, 3.9, "[Tür knarrt] Grüße"]]}]},
    "subs_mov_text.mp4": {"container": "mp4", "duration": 4.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 320, "height": 180, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2}],
      "subtitles": [
        {"id": "s2", "language": "en", "name": "English", "codec": "mov_text", "forced": false, "default": true,
         "cues": [[0.5, 1.5, "Héllo wörld — “quoted” 你好"], [2.0, 3.25, "<i>second</i> line"]]}]},
    "subs_pgs.mkv": {"container": "mkv", "duration": 8.0, "keyframes": 4,
      "video": {"codec": "h264", "profile": "High", "width": 320, "height": 180, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2}],
      "subtitles": [
        {"id": "s2", "language": "en", "name": "English", "codec": "hdmv_pgs_subtitle", "kind": "bitmap",
         "forced": false, "default": false,
         "boxes": [{"start": 1.0, "end": 2.5, "x": 32, "y": 32, "w": 96, "h": 48, "rgb": [255, 0, 0]},
                   {"start": 3.0, "end": 5.0, "x": 176, "y": 100, "w": 96, "h": 48, "rgb": [0, 255, 0]}]}]},
    "audio_langs.mkv": {"container": "mkv", "duration": 4.0, "keyframes": 2,
      "video": {"codec": "h264", "profile": "High", "width": 320, "height": 180, "bit_depth": 8, "frame_rate": 24.0},
      "audio": [{"codec": "aac", "channels": 2, "language": "eng", "tone": 440},
                {"codec": "ac3", "channels": 6, "language": "fra", "tone": 660},
                {"codec": "aac", "channels": 2, "language": "ita", "tone": 880}]},
    "trickplay.mp4": {"container": "mp4", "duration": 45.0, "keyframes": 45,
      "video": {"codec": "h264", "profile": "High", "width": 320, "height": 180, "bit_depth": 8, "frame_rate": 10.0},
      "audio": [{"codec": "aac", "channels": 2}]},
    "corrupt_half.mkv": {"corrupt": true},
    "audio_only.m4a": {"container": "m4a", "duration": 3.0, "keyframes": 0, "video": null,
      "audio": [{"codec": "aac", "channels": 2}]},
    "empty.mp4": {"broken": "The file is empty"},
    "random.bin": {"broken": "Not a media file"},
    "truncated.mp4": {"broken": "truncated"}
  }
}
EOF

mv "$TMP"/* "$OUT"/
echo "$HASH" >"$STAMP"
echo "gen-media: done" >&2
