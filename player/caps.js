// What this browser can really play, asked of the browser itself (never guessed from the
// User-Agent): `<video>.canPlayType` for files played by `<video src>` (direct play), and
// `MediaSource.isTypeSupported` for what hls.js feeds through Media Source Extensions.
// The answer becomes the capability parameters of `GET /api/v1/stream/{id}`.

// One representative codec string per codec name the API knows.
export const VIDEO = {
  h264: 'avc1.640028', // High, level 4.0
  hevc: 'hvc1.2.4.L153.B0', // Main 10, level 5.1
  vp9: 'vp09.00.10.08',
  av1: 'av01.0.08M.08',
};
// 10-bit variants: any of them supported means 10-bit video can be decoded.
export const VIDEO_10BIT = {
  h264: 'avc1.6e0028', // High 10
  hevc: 'hvc1.2.4.L153.B0',
  vp9: 'vp09.02.10.10',
  av1: 'av01.0.08M.10',
};
// Dolby Vision as HLS names it: profile 5 (no compatible base) and 8.4 (an HLG base, phones).
export const DOLBY_VISION = {
  p5: 'dvh1.05.06',
  p84: 'dvh1.08.04',
};
export const AUDIO = {
  aac: ['audio/mp4; codecs="mp4a.40.2"'],
  mp3: ['audio/mpeg', 'audio/mp4; codecs="mp3"'],
  opus: ['audio/webm; codecs="opus"', 'audio/mp4; codecs="opus"'],
  ac3: ['audio/mp4; codecs="ac-3"'],
  eac3: ['audio/mp4; codecs="ec-3"'],
  flac: ['audio/flac', 'audio/mp4; codecs="flac"'],
};
// Containers a `<video src>` may open, each with the codec strings it is asked with: a bare
// container type only ever answers "maybe"; with codecs the answer is definite.
export const CONTAINERS = {
  mp4: { mime: 'video/mp4', probes: [VIDEO.h264, 'mp4a.40.2'] },
  webm: { mime: 'video/webm', probes: [VIDEO.vp9, 'opus'] },
  mkv: { mime: 'video/x-matroska', probes: [VIDEO.h264, 'mp4a.40.2'] },
};
// Codecs HLS can carry (the server transcodes anything else when it needs HLS).
const HLS_VIDEO = new Set(['h264', 'hevc', 'av1']);

const yes = (answer) => answer === 'probably' || answer === 'maybe';

function mse() {
  return window.ManagedMediaSource || window.MediaSource || null;
}

function mseSupports(type) {
  const M = mse();
  try {
    return !!(M && typeof M.isTypeSupported === 'function' && M.isTypeSupported(type));
  } catch {
    return false;
  }
}

/** How HLS plays here: 'hls.js' (MSE), 'native' (the browser itself), or null. */
export function hlsMode(Hls = window.Hls) {
  if (Hls && typeof Hls.isSupported === 'function' && Hls.isSupported()) return 'hls.js';
  const v = document.createElement('video');
  if (yes(v.canPlayType('application/vnd.apple.mpegurl'))) return 'native';
  return null;
}

/** Detects the capabilities; returns { query: {param: value}, detail: {...} }. */
export function detect(Hls = window.Hls) {
  const v = document.createElement('video');
  const can = (type) => v.canPlayType(type);
  const mode = hlsMode(Hls);
  const detail = { hls: mode, video: {}, audio: {}, containers: {} };

  const containers = [];
  for (const [name, c] of Object.entries(CONTAINERS)) {
    const answer = can(`${c.mime}; codecs="${c.probes.join(', ')}"`);
    detail.containers[name] = answer;
    if (answer === 'probably') containers.push(name);
  }

  // A codec counts when `<video src>` plays it and, if HLS goes through hls.js and the codec can
  // travel in HLS, when MSE takes it in fMP4 too.
  const videoOk = (codec) => {
    const file = can(`video/mp4; codecs="${codec}"`) || can(`video/webm; codecs="${codec}"`);
    const viaMse = mseSupports(`video/mp4; codecs="${codec}"`) || mseSupports(`video/webm; codecs="${codec}"`);
    return { file: yes(file), mse: viaMse };
  };
  const videoCodecs = [];
  for (const [name, codec] of Object.entries(VIDEO)) {
    const r = videoOk(codec);
    detail.video[name] = r;
    const hlsOk = mode !== 'hls.js' || !HLS_VIDEO.has(name) || r.mse;
    if (r.file && hlsOk) videoCodecs.push(name);
  }
  let tenBit = false;
  for (const [name, codec] of Object.entries(VIDEO_10BIT)) {
    const r = videoOk(codec);
    detail.video[`${name}_10bit`] = r;
    if (r.file && (mode !== 'hls.js' || !HLS_VIDEO.has(name) || r.mse)) tenBit = true;
  }

  const audioCodecs = [];
  for (const [name, types] of Object.entries(AUDIO)) {
    const file = types.some((t) => yes(can(t)));
    const viaMse = types.some((t) => mseSupports(t));
    detail.audio[name] = { file, mse: viaMse };
    // One list serves both paths: a codec counts when the file path plays it and, with hls.js,
    // when MSE takes it too (a remux copies the audio track into the HLS segments).
    if (file && (mode !== 'hls.js' || viaMse)) audioCodecs.push(name);
  }

  // The screen in device pixels, but never below 1080p: browsers scale video down cheaply, and a
  // 1080p file on a smaller laptop screen should play directly rather than be transcoded.
  const dpr = window.devicePixelRatio || 1;
  const sw = Math.round((window.screen?.width || 1920) * dpr);
  const sh = Math.round((window.screen?.height || 1080) * dpr);
  const maxWidth = Math.max(sw, sh, 1920);
  const maxHeight = Math.max(Math.min(sw, sh), 1080);

  // HDR: a screen that shows it (the video plane's range where the browser reports it, else the
  // screen's) and a 10-bit decoder for the codecs HDR travels in (HEVC Main 10 carries phones'
  // HLG and Dolby Vision 8.4; AV1 and VP9 profile 2 carry PQ). Dolby Vision: the browser names
  // it (Safari on Apple's devices does), needed for profile 5, which has no HDR10/HLG base.
  const media = (q) => !!window.matchMedia?.(q).matches;
  const screenHdr = media('(video-dynamic-range: high)') || media('(dynamic-range: high)');
  const hdr = screenHdr && tenBit;
  const dolbyVision = hdr && Object.values(DOLBY_VISION).some((codec) => {
    const r = videoOk(codec);
    return r.file && (mode !== 'hls.js' || r.mse);
  });
  detail.hdr = { screen: screenHdr, ten_bit: tenBit, dolby_vision: dolbyVision };

  const query = {
    containers: containers.join(','),
    video_codecs: videoCodecs.join(','),
    audio_codecs: audioCodecs.join(','),
    max_width: String(maxWidth),
    max_height: String(maxHeight),
    max_audio_channels: '2',
    max_video_bit_depth: tenBit ? '10' : '8',
    hdr: hdr ? 'true' : 'false',
    dolby_vision: dolbyVision ? 'true' : 'false',
  };
  // The API refuses an empty list: leave such a parameter out (the server then assumes its
  // conservative default) rather than send nothing.
  for (const k of ['containers', 'video_codecs', 'audio_codecs']) {
    if (!query[k]) delete query[k];
  }
  return { query, detail };
}
