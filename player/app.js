// The player page: token and API base, upload with progress, the library, and playback of what
// `GET /api/v1/stream/{id}` decides for this browser's real capabilities: `direct_play` through
// `<video src>`, HLS through hls.js (or the browser's own HLS where there is no MSE). Progress is
// reported every 10 s and on pause; a saved position is offered as "Resume at mm:ss".
//
// State useful to tests and to a curious user is on `window.player`. `window.PLAYER_CONFIG`
// (set before this module runs, e.g. by a test's init script) may override: `muted`, `hls`
// (hls.js config), `startLevel` ('top' | 'bottom' | index into the sorted levels),
// `progressIntervalMs`, `uploadParallel` (parts sent at once, default 4).

import * as api from './api.js';
import { detect, hlsMode } from './caps.js';
import * as parts from './parts.js';

const cfg = window.PLAYER_CONFIG || {};
const PROGRESS_INTERVAL_MS = cfg.progressIntervalMs ?? 10_000;
const POLL_MIN_MS = 1000;
const POLL_MAX_MS = 10_000;
// An item stuck in `uploading` (an abandoned upload) stops the polling after this long.
const UPLOADING_POLL_WINDOW_MS = 10 * 60 * 1000;

const $ = (id) => document.getElementById(id);
const video = $('video');

const player = {
  mediaId: null,
  title: null,
  state: 'idle', // idle | requesting | choosing | loading | playing | paused | ended | error
  method: null,
  protocol: null,
  reasons: [],
  decision: null,
  delivery: null, // 'file' | 'hls.js' | 'native'
  startPosition: 0,
  resumeOffered: null,
  hls: null,
  levels: [],
  currentLevel: -1,
  levelSwitches: [],
  fragments: [],
  errors: [],
  warnings: [],
  caps: null,
  progressReports: 0,
  lastReport: null,
  library: [],
  uploads: 0,
  // The last upload: { mediaId, multipart, resumed, partsAtStart } (partsAtStart: the parts the
  // server already had when a resumed upload started).
  upload: null,
  download: null, // {mediaId, state: 'preparing'|'ready'|'failed', progress, url, fileName, error}
  storyboard: null, // the seek-bar previews' cues: [{start, end, url, x, y, w, h}]
  ready: false,
};
window.player = player;

// ---------------------------------------------------------------- helpers

export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k === 'type' || k === 'title' || k === 'aria-label') e.setAttribute(k, v);
    else e[k] = v;
  }
  // Text only through text nodes: titles and errors come from users and files.
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function setText(id, text) {
  $(id).textContent = text;
}

function showError(message) {
  const box = $('player-error');
  box.textContent = message;
  box.hidden = !message;
}

function mbps(bits) {
  return bits ? `${(bits / 1e6).toFixed(bits < 1e6 ? 2 : 1)} Mbit/s` : '';
}

function summary(m) {
  const parts = [];
  if (m.duration_seconds != null) parts.push(clock(m.duration_seconds));
  if (m.container) parts.push(m.container);
  const v = m.video;
  if (v) {
    const fps = v.frame_rate ? ` ${Math.round(v.frame_rate * 100) / 100} fps` : '';
    const hdr = v.hdr && v.hdr !== 'sdr' ? ` ${v.hdr}` : '';
    parts.push(`${v.codec}${v.profile ? ` ${v.profile}` : ''} ${v.width}×${v.height} ${v.bit_depth}-bit${fps}${hdr}`);
  } else if (m.status === 'ready') {
    parts.push('no video');
  }
  for (const a of m.audio || []) parts.push(`${a.codec} ${a.channel_layout || `${a.channels} ch`}${a.language ? ` (${a.language})` : ''}`);
  if (m.bitrate) parts.push(mbps(m.bitrate));
  return parts.join(' · ');
}

// ---------------------------------------------------------------- settings

function renderWho() {
  const token = api.settings.token;
  if (!token) {
    setText('who', 'no token: paste one below');
    return;
  }
  const c = api.claims(token);
  if (!c) {
    setText('who', 'token set (not a JWT?)');
    return;
  }
  const roles = [].concat(c.roles || [], typeof c.scope === 'string' ? c.scope.split(' ') : c.scope || []);
  const exp = c.exp ? new Date(c.exp * 1000) : null;
  const expired = exp && exp.getTime() < Date.now();
  setText('who', `${c.sub || '?'}${roles.includes('admin') ? ' (admin)' : ''} · token ${expired ? 'EXPIRED' : 'expires'} ${exp ? exp.toLocaleString() : '?'}`);
}

function initSettings() {
  $('api-base').value = api.settings.apiBase;
  $('token').value = api.settings.token;
  $('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    api.settings.apiBase = $('api-base').value;
    api.settings.token = $('token').value.trim();
    setText('settings-status', 'Saved.');
    renderWho();
    refreshLibrary();
  });
  $('forget-token').addEventListener('click', () => {
    api.settings.token = '';
    $('token').value = '';
    setText('settings-status', 'Token removed from this browser.');
    renderWho();
    renderLibrary([]);
  });
  renderWho();
}

// ---------------------------------------------------------------- library

const items = new Map(); // id -> {li, sig}
let pollTimer = null;
let pollDelay = POLL_MIN_MS;

function renderItem(m) {
  const playable = m.status === 'ready';
  const li = el(
    'li',
    { 'data-testid': 'media-item', 'data-media-id': m.id, 'data-status': m.status, class: m.id === player.mediaId ? 'current' : '' },
    el('div', { class: 'title' }, m.title || m.filename || m.id),
    el('span', { class: `badge ${m.status}`, 'data-testid': 'status' }, m.status),
    el('div', { class: 'summary', 'data-testid': 'summary' }, summary(m)),
    m.error ? el('div', { class: 'error', 'data-testid': 'media-error' }, m.error) : null,
    el('button', { type: 'button', 'data-testid': 'play', disabled: !playable, onclick: () => play(m.id) }, playable ? 'Play' : m.status === 'failed' ? 'Cannot play' : 'Preparing…'),
  );
  return li;
}

function renderLibrary(list) {
  player.library = list;
  const ul = $('media-list');
  const seen = new Set();
  let prev = null;
  for (const m of list) {
    seen.add(m.id);
    const sig = `${m.status}|${m.updated_at}|${m.title}|${m.id === player.mediaId}`;
    let entry = items.get(m.id);
    if (!entry || entry.sig !== sig) {
      const li = renderItem(m);
      if (entry) entry.li.replaceWith(li);
      entry = { li, sig };
      items.set(m.id, entry);
    }
    // Keep the server's order.
    const want = prev ? prev.nextSibling : ul.firstChild;
    if (want !== entry.li) ul.insertBefore(entry.li, want);
    prev = entry.li;
  }
  for (const [id, entry] of items) {
    if (!seen.has(id)) {
      entry.li.remove();
      items.delete(id);
    }
  }
  setText('library-status', list.length ? '' : api.settings.token ? 'Nothing uploaded yet.' : '');
}

function needsPolling(list) {
  if (player.uploads > 0) return true;
  const now = Date.now();
  return list.some((m) => m.status === 'probing' || (m.status === 'uploading' && now - Date.parse(m.created_at) < UPLOADING_POLL_WINDOW_MS));
}

async function refreshLibrary() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (!api.settings.token) {
    setText('library-status', 'Paste a token to see your library.');
    return;
  }
  let list = player.library;
  try {
    const v = await api.json('/media');
    list = (v && v.items) || [];
    list.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    renderLibrary(list);
  } catch (e) {
    setText('library-status', `Could not load the library: ${e.message}`);
  }
  if (needsPolling(list)) {
    pollTimer = setTimeout(refreshLibrary, pollDelay);
    pollDelay = Math.min(POLL_MAX_MS, Math.round(pollDelay * 1.5));
  } else {
    pollDelay = POLL_MIN_MS;
  }
}

function pollSoon() {
  pollDelay = POLL_MIN_MS;
  refreshLibrary();
}

// ---------------------------------------------------------------- upload

function validContentType(t) {
  return /^(video|audio|application)\/[A-Za-z0-9!#$&^_.+-]+$/.test(t || '');
}

function initUpload() {
  const interrupted = parts.pending();
  if (interrupted) {
    setText('upload-status', `The upload of ${interrupted.name} was interrupted: choose the same file and press Upload to resume it.`);
  }
  $('upload-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = $('file').files[0];
    if (!file) {
      setText('upload-status', 'Choose a file first.');
      return;
    }
    const contentType = validContentType(file.type) ? file.type : 'application/octet-stream';
    // With its size: above the part size the server answers a multipart upload.
    const body = { filename: file.name, content_type: contentType, size: file.size };
    const title = $('title').value.trim();
    if (title) body.title = title;
    const bar = $('upload-progress');
    const button = e.submitter || $('upload-form').querySelector('button');
    button.disabled = true;
    player.uploads += 1;
    const mb = (file.size / 1e6).toFixed(1);
    const onProgress = (f) => {
      bar.value = f;
      setText('upload-status', `Uploading ${file.name}: ${Math.floor(f * 100)} % of ${mb} MB`);
    };
    const inParts = { parallel: cfg.uploadParallel ?? 4, onProgress, onStatus: (t) => setText('upload-status', t) };
    try {
      bar.hidden = false;
      bar.value = 0;
      const resume = await parts.resumable(file);
      if (resume) {
        player.upload = { mediaId: resume.media_id, multipart: true, resumed: true, partsAtStart: resume.parts.length };
        await parts.send(file, resume, inParts);
      } else {
        setText('upload-status', `Creating the upload of ${file.name}…`);
        const up = await api.json('/uploads', { method: 'POST', body });
        player.upload = { mediaId: up.media_id, multipart: !!up.upload_id, resumed: false, partsAtStart: 0 };
        pollSoon();
        if (up.upload_id) await parts.send(file, up, inParts);
        else await api.putFile(up.upload_url, up.upload_headers, file, contentType, onProgress);
      }
      bar.value = 1;
      setText('upload-status', `Uploaded ${file.name}; the server is probing it.`);
      $('upload-form').reset();
    } catch (err) {
      const again = parts.pending() ? ' Press Upload again with the same file to resume.' : '';
      setText('upload-status', `Upload failed: ${err.message}${again}`);
    } finally {
      player.uploads -= 1;
      button.disabled = false;
      pollSoon();
    }
  });
}

// ---------------------------------------------------------------- playback

let playSeq = 0; // a newer play() makes older flows stop at their next await
let switching = false;
let lastReportedAt = -1;

async function requestStream(id, extra, seq) {
  const caps = detect();
  player.caps = caps;
  setText('caps', JSON.stringify(caps, null, 2));
  const q = new URLSearchParams({ ...caps.query, ...extra });
  for (let attempt = 0; ; attempt += 1) {
    player.streamRequests += 1;
    const resp = await api.call(`/stream/${encodeURIComponent(id)}?${q}`);
    if (seq !== playSeq) return null;
    if (resp.status === 202 && attempt < 60) {
      const wait = Math.min(10, Number(resp.headers.get('retry-after')) || 2);
      setText('now', `“${player.title}” is still being prepared; retrying in ${wait} s…`);
      await new Promise((r) => setTimeout(r, wait * 1000));
      if (seq !== playSeq) return null;
      continue;
    }
    if (!resp.ok) throw await api.errorOf(resp);
    return resp.json();
  }
}

function showDecision(d) {
  player.decision = d;
  player.method = d.method;
  player.protocol = d.protocol;
  player.reasons = d.reasons || [];
  setText('method', d.method);
  setText('reasons', player.reasons.length ? player.reasons.join(', ') : 'none: everything fits');
}

function askResume(at) {
  player.resumeOffered = at;
  player.state = 'choosing';
  const box = $('resume-prompt');
  $('resume').textContent = `Resume at ${clock(at)}`;
  box.hidden = false;
  return new Promise((resolve) => {
    const done = (choice) => {
      box.hidden = true;
      $('resume').onclick = null;
      $('start-over').onclick = null;
      resolve(choice);
    };
    $('resume').onclick = () => done('resume');
    $('start-over').onclick = () => done('start');
  });
}

/** Reports the playback position (PUT /progress/{id}). */
async function report(completed = false, { keepalive = false } = {}) {
  const id = player.mediaId;
  if (!id || !video.currentSrc) return;
  let pos = completed && Number.isFinite(video.duration) ? video.duration : video.currentTime;
  if (!Number.isFinite(pos) || pos < 0) return;
  pos = Math.round(pos * 1000) / 1000;
  lastReportedAt = pos;
  const entry = { position: pos, completed, ok: false, status: 0 };
  try {
    const r = await api.call(`/progress/${encodeURIComponent(id)}`, { method: 'PUT', body: { position_seconds: pos, completed }, keepalive });
    entry.status = r.status;
    entry.ok = r.status === 204;
  } catch (e) {
    entry.error = String(e.message || e);
  }
  player.progressReports += 1;
  player.lastReport = entry;
  if (id === player.mediaId) setText('progress-status', entry.ok ? (completed ? 'Watched to the end.' : `Saved at ${clock(pos)}`) : `Could not save the position (${entry.status || entry.error}).`);
}

function recordError(source, detail) {
  const e = { source, ...detail, at: video.currentTime };
  player.errors.push(e);
  player.state = 'error';
  showError(`${source}: ${detail.message || detail.details || detail.code || 'error'}`);
}

function showLevel() {
  const l = player.levels[player.currentLevel];
  if (!l) return;
  setText('level', `${l.height ? `${l.height}p` : `level ${player.currentLevel}`} · ${mbps(l.bitrate)} (${player.currentLevel + 1}/${player.levels.length}, ABR ${player.hls?.autoLevelEnabled ? 'on' : 'off'})`);
}

// ---------------------------------------------------------------- subtitles
//
// Direct play: the stream answer's signed WebVTT URLs as <track> elements. HLS: hls.js reads the
// master's SUBTITLES group (its subtitleTracks). Either way one menu; the language chosen (or
// "off") is remembered per user in this browser and chosen again for the next title that has it.

function subtitleKey() {
  const c = api.claims(api.settings.token);
  return `stream.subtitles.${c?.sub || 'anonymous'}`;
}

/** Fills the menu with `tracks` ({key, name, language}) and selects the remembered language. */
function offerSubtitles(tracks) {
  player.subtitles = tracks;
  const menu = $('subtitles');
  menu.replaceChildren(el('option', { value: 'off' }, 'Off'), ...tracks.map((t) => el('option', { value: t.key }, t.name)));
  menu.disabled = tracks.length === 0;
  const remembered = localStorage.getItem(subtitleKey());
  // Nothing chosen yet: the title's forced track (signs, foreign dialogue), else none.
  const pick = remembered
    ? tracks.find((t) => remembered !== 'off' && (t.language || t.name) === remembered)
    : tracks.find((t) => t.forced);
  menu.value = pick ? pick.key : 'off';
  showSubtitle(menu.value);
}

/** Shows track `key` ('off': none). */
function showSubtitle(key) {
  player.subtitle = key;
  if (player.hls) {
    const t = player.subtitles.find((x) => x.key === key);
    player.hls.subtitleDisplay = !!t;
    player.hls.subtitleTrack = t ? t.index : -1;
    return;
  }
  for (const tt of video.textTracks) tt.mode = tt.id === key ? 'showing' : 'disabled';
}

function fileSubtitles(links) {
  for (const old of video.querySelectorAll('track')) old.remove();
  // A <track> on another origin (the CDN, in the cloud) loads only in CORS mode, which the
  // element then uses for the original too (the CDN answers CORS for both).
  const foreign = (links || []).some((l) => new URL(l.url, location.href).origin !== location.origin);
  if (foreign) video.crossOrigin = 'anonymous';
  else video.removeAttribute('crossorigin');
  const tracks = (links || []).map((l) => {
    const key = `t-${l.id}`;
    video.append(el('track', { kind: 'subtitles', id: key, label: l.name, srclang: l.language || '', src: l.url }));
    return { key, name: l.name, language: l.language || null, forced: !!l.forced };
  });
  offerSubtitles(tracks);
}

// ---------------------------------------------------------------- audio tracks
//
// HLS: every audio track of the title is a rendition of the session (hls.js's audioTracks), so
// switching is hls.js's, within the session: no new stream request. Direct play: the browser
// plays the file's default track, so choosing another asks the server again for that track (HLS
// then, from where the viewer is). The language chosen is remembered per user and chosen again
// for the next title played through HLS.

function audioKey() {
  const c = api.claims(api.settings.token);
  return `stream.audio.${c?.sub || 'anonymous'}`;
}

function offerAudio(tracks, selected) {
  player.audioTracks = tracks;
  const menu = $('audio');
  menu.replaceChildren(...tracks.map((t) => el('option', { value: String(t.value) }, t.name)));
  menu.disabled = tracks.length < 2;
  if (selected !== undefined) menu.value = String(selected);
}

function hlsAudio(hls) {
  const tracks = hls.audioTracks.map((t, i) => ({ value: i, name: t.name, language: t.lang || null }));
  const remembered = localStorage.getItem(audioKey());
  const pick = tracks.find((t) => remembered && t.language === remembered);
  if (pick && pick.value !== hls.audioTrack) hls.audioTrack = pick.value;
  offerAudio(tracks, pick ? pick.value : hls.audioTrack);
}

function fileAudio(d) {
  const tracks = (d.audio_tracks || []).map((t) => ({ value: t.index, name: t.name, language: t.language || null }));
  offerAudio(tracks, (d.audio_tracks || []).find((t) => t.selected)?.index);
}

async function chooseAudio(value) {
  const t = player.audioTracks.find((x) => String(x.value) === value);
  if (!t) return;
  if (t.language) localStorage.setItem(audioKey(), t.language);
  player.audioSwitches += 1;
  if (player.hls) {
    player.hls.audioTrack = t.value;
    return;
  }
  // Direct play: the server makes this track's rendition (HLS), from the current position.
  const id = player.mediaId;
  const at = video.currentTime;
  const seq = ++playSeq;
  const d = await requestStream(id, { audio_track: String(t.value), start: at > 0.5 ? String(at) : '0' }, seq);
  if (!d || seq !== playSeq) return;
  await stop();
  showDecision(d);
  await load(d, d.start_position_seconds ?? at);
}

function initAudio() {
  $('audio').addEventListener('change', (e) => {
    chooseAudio(e.target.value).catch((err) => recordError('stream', { message: err.message, code: err.code, status: err.status }));
  });
}

function initSubtitles() {
  $('subtitles').addEventListener('change', (e) => {
    const key = e.target.value;
    const t = player.subtitles.find((x) => x.key === key);
    localStorage.setItem(subtitleKey(), t ? (t.language || t.name) : 'off');
    showSubtitle(key);
  });
}

function startHls(url, start) {
  const Hls = window.Hls;
  const conf = {
    // Ladder rungs are chosen by bandwidth, not by the element's size on the page.
    capLevelToPlayerSize: false,
    autoStartLoad: false,
    startPosition: start > 0 ? start : -1,
    ...(cfg.hls || {}),
  };
  const hls = new Hls(conf);
  player.hls = hls;
  let recoveredMedia = false;
  let recoveredNetwork = false;
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    player.levels = hls.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate, codecs: l.codecSet }));
    const sl = cfg.startLevel;
    if (sl === 'top') hls.startLevel = hls.levels.length - 1;
    else if (sl === 'bottom') hls.startLevel = 0;
    else if (Number.isInteger(sl)) hls.startLevel = sl;
    hls.startLoad(conf.startPosition);
  });
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, () => hlsAudio(hls));
  hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, d) => {
    player.audioTrack = d.id;
    $('audio').value = String(d.id);
  });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, d) => {
    const tracks = (d.subtitleTracks || []).map((t, index) => ({ key: `h-${index}`, index, name: t.name, language: t.lang || null, forced: !!t.forced }));
    offerSubtitles(tracks);
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
    player.currentLevel = d.level;
    player.levelSwitches.push({ level: d.level, height: player.levels[d.level]?.height, at: video.currentTime });
    showLevel();
  });
  hls.on(Hls.Events.FRAG_LOADED, (_, d) => {
    const f = d.frag;
    if (f.type !== 'main') return;
    const s = f.stats;
    player.fragments.push({ level: f.level, sn: f.sn, start: f.start, bytes: s.loaded, ms: Math.round(s.loading.end - s.loading.start), bwEstimate: Math.round(hls.bandwidthEstimate) });
    if (player.fragments.length > 500) player.fragments.shift();
  });
  hls.on(Hls.Events.ERROR, (_, d) => {
    const detail = { type: d.type, details: d.details, fatal: d.fatal, message: d.error?.message || d.details, status: d.response?.code };
    if (!d.fatal) {
      player.warnings.push(detail);
      if (player.warnings.length > 200) player.warnings.shift();
      return;
    }
    recordError('hls.js', detail);
    // hls.js's documented recovery, once each; then give up.
    if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !recoveredMedia) {
      recoveredMedia = true;
      hls.recoverMediaError();
    } else if (d.type === Hls.ErrorTypes.NETWORK_ERROR && !recoveredNetwork) {
      recoveredNetwork = true;
      hls.startLoad();
    } else {
      hls.destroy();
      if (player.hls === hls) player.hls = null;
    }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

function seekWhenReady(start) {
  if (!(start > 0)) return;
  const seek = () => {
    video.currentTime = start;
  };
  if (video.readyState >= HTMLMediaElement.HAVE_METADATA) seek();
  else video.addEventListener('loadedmetadata', seek, { once: true });
}

async function load(d, start) {
  player.startPosition = start || 0;
  player.state = 'loading';
  video.muted = !!cfg.muted;
  if (d.protocol === 'file') {
    player.delivery = 'file';
    fileSubtitles(d.subtitles);
    fileAudio(d);
    video.src = d.url;
    seekWhenReady(start);
  } else {
    const mode = hlsMode();
    player.delivery = mode;
    if (mode === 'hls.js') {
      startHls(d.url, start);
    } else if (mode === 'native') {
      video.src = d.url;
      seekWhenReady(start);
    } else {
      recordError('player', { message: window.Hls ? 'This browser cannot play HLS (no Media Source Extensions, no native HLS).' : 'hls.js is not installed (run scripts/player-assets.sh) and this browser has no native HLS.' });
      return;
    }
  }
  setText('delivery', `${d.protocol === 'file' ? 'the original file, <video src>' : `HLS via ${player.delivery}`}${start > 0 ? `, from ${clock(start)}` : ''}`);
  try {
    await video.play();
  } catch (e) {
    if (e.name === 'NotAllowedError') {
      // Autoplay policy: muted playback is always allowed; the controls unmute.
      video.muted = true;
      setText('now', `${$('now').textContent} (muted by the browser's autoplay policy: unmute with the controls)`);
      try {
        await video.play();
      } catch {
        /* the user presses play */
      }
    } else if (e.name !== 'AbortError') {
      player.warnings.push({ source: 'play()', message: e.message });
    }
  }
}

/** Stops what plays now, saving its position first. */
async function stop() {
  if (player.mediaId && video.currentSrc && !video.ended && video.currentTime > 0) await report(false);
  switching = true;
  try {
    if (player.hls) {
      player.hls.destroy();
      player.hls = null;
    }
    video.pause();
    for (const t of video.querySelectorAll('track')) t.remove();
    offerSubtitles([]);
    offerAudio([]);
    video.removeAttribute('src');
    video.load();
  } finally {
    switching = false;
  }
}

async function play(id) {
  const seq = ++playSeq;
  await stop();
  if (seq !== playSeq) return;
  const m = player.library.find((x) => x.id === id);
  Object.assign(player, {
    mediaId: id, title: m ? m.title : id, state: 'requesting', method: null, protocol: null, reasons: [], decision: null, delivery: null,
    startPosition: 0, resumeOffered: null, levels: [], currentLevel: -1, levelSwitches: [], fragments: [], errors: [], warnings: [], lastReport: null,
    subtitles: [], subtitle: 'off', audioTracks: [], audioSwitches: 0, streamRequests: 0, storyboard: null,
  });
  lastReportedAt = -1;
  showError('');
  for (const k of ['method', 'reasons', 'delivery', 'level', 'progress-status']) setText(k, '–');
  $('resume-prompt').hidden = true;
  setText('now', `“${player.title}”`);
  $('download').disabled = false;
  renderLibrary(player.library);
  try {
    let d = await requestStream(id, {}, seq);
    if (!d) return;
    showDecision(d);
    let start = 0;
    const saved = d.resume_position_seconds;
    if (saved != null && saved > 0.5) {
      const choice = await askResume(saved);
      if (seq !== playSeq) return;
      if (choice === 'resume') {
        if (d.protocol === 'hls') {
          // The server starts the session there (EXT-X-START) and reports where.
          d = await requestStream(id, { resume: 'true' }, seq);
          if (!d) return;
          showDecision(d);
          start = d.start_position_seconds ?? saved;
        } else {
          start = saved;
        }
      }
    }
    loadStoryboard(d.storyboard_url, seq);
    await load(d, start);
  } catch (e) {
    if (seq !== playSeq) return;
    recordError('stream', { message: e.message, code: e.code, status: e.status });
  }
}

// ---------------------------------------------------------------- download

let downloadSeq = 0;

/**
 * Downloads the current media for offline playback: `GET /download/{id}` with this browser's
 * detected capabilities and the chosen quality. While the server makes the MP4 (`202`), shows
 * its progress and asks again after `Retry-After`; when ready (`200` JSON, the page cannot read a
 * redirect's target), navigates to the file, whose answer says `Content-Disposition:
 * attachment`, so the browser saves it and the page stays.
 */
async function download() {
  const id = player.mediaId;
  if (!id) return;
  const seq = ++downloadSeq;
  const q = new URLSearchParams(detect().query);
  const quality = $('download-quality').value;
  if (quality) q.set('quality', quality);
  const bar = $('download-progress');
  player.download = { mediaId: id, state: 'preparing', progress: 0, url: null, fileName: null, error: null };
  $('download').disabled = true;
  bar.hidden = false;
  bar.value = 0;
  try {
    for (;;) {
      const resp = await api.call(`/download/${encodeURIComponent(id)}?${q}`);
      if (seq !== downloadSeq) return;
      if (resp.status === 202) {
        const v = await resp.json();
        player.download.progress = v.progress ?? 0;
        bar.value = player.download.progress;
        setText('download-status', `Preparing… ${Math.round(player.download.progress * 100)} %`);
        const wait = Math.min(10, Number(resp.headers.get('retry-after')) || 2);
        await new Promise((r) => setTimeout(r, wait * 1000));
        if (seq !== downloadSeq) return;
        continue;
      }
      if (!resp.ok) throw await api.errorOf(resp);
      const v = await resp.json();
      Object.assign(player.download, { state: 'ready', progress: 1, url: v.url, fileName: v.file_name });
      bar.value = 1;
      setText('download-status', `Saving ${v.file_name}${v.original ? ' (the original)' : ''}`);
      window.location.assign(v.url);
      return;
    }
  } catch (e) {
    if (seq !== downloadSeq) return;
    Object.assign(player.download, { state: 'failed', error: e.message });
    bar.hidden = true;
    setText('download-status', `Download failed: ${e.message}`);
  } finally {
    if (seq === downloadSeq) $('download').disabled = false;
  }
}

// ---------------------------------------------------------------- seek-bar previews
// The storyboard (`storyboard_url` of the stream answer, any method): WebVTT whose cues each
// name a JPEG sheet and the tile of that thumbnail on it (`sheet.jpg?…#xywh=x,y,w,h`). Hovering
// the seek bar shows the tile of the time under the pointer as the preview's CSS background,
// shifted by -x -y; a click seeks there. Works the same for direct play and HLS (the sheets are
// the server's, not the stream's).

/** The cues of a storyboard: `{start, end, url, x, y, w, h}` (URLs resolved against `base`). */
export function parseStoryboard(text, base) {
  const seconds = (t) => t.split(':').reduce((acc, p) => acc * 60 + Number(p), 0);
  const cues = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const m = lines[i].match(/^([\d:.]+)\s+-->\s+([\d:.]+)/);
    if (!m || i + 1 >= lines.length) continue;
    const [ref, frag] = lines[i + 1].trim().split('#xywh=');
    const xywh = (frag || '').split(',').map(Number);
    if (xywh.length !== 4 || xywh.some((n) => !Number.isFinite(n))) continue;
    const [x, y, w, h] = xywh;
    cues.push({ start: seconds(m[1]), end: seconds(m[2]), url: new URL(ref, base).href, x, y, w, h });
  }
  return cues;
}

/** The cue whose times hold `t` (the last one past the end). */
export function cueAt(cues, t) {
  return cues.find((c) => c.start <= t && t < c.end) || (t >= 0 && cues.length ? cues[cues.length - 1] : null);
}

/** Fetches the storyboard of what now plays (none: the seek bar stays hidden). */
async function loadStoryboard(url, seq) {
  player.storyboard = null;
  $('seekbar').hidden = true;
  if (!url) return;
  try {
    const resp = await fetch(url);
    if (seq !== playSeq) return;
    if (!resp.ok) throw new Error(`storyboard: HTTP ${resp.status}`);
    const cues = parseStoryboard(await resp.text(), new URL(url, window.location.href).href);
    if (seq !== playSeq) return;
    player.storyboard = cues;
    $('seekbar').hidden = cues.length === 0;
  } catch (e) {
    player.warnings.push({ source: 'storyboard', message: e.message });
  }
}

/** The media time under the pointer on the seek bar. */
function seekTime(event) {
  const bar = $('seekbar').getBoundingClientRect();
  const duration = video.duration || player.storyboard?.at(-1)?.end || 0;
  const frac = Math.min(1, Math.max(0, (event.clientX - bar.left) / bar.width));
  return { t: frac * duration, x: frac * bar.width };
}

/** Shows the tile of time `t` at `x` px along the bar; its sheet is loaded as an image first. */
function showPreview(t, x) {
  const cue = player.storyboard && cueAt(player.storyboard, t);
  const box = $('preview');
  if (!cue) {
    box.hidden = true;
    return;
  }
  Object.assign(box.style, {
    left: `${x}px`,
    width: `${cue.w}px`,
    height: `${cue.h}px`,
    backgroundImage: `url("${cue.url}")`,
    backgroundPosition: `${-cue.x}px ${-cue.y}px`,
  });
  box.dataset.time = String(t);
  box.dataset.sheet = cue.url;
  box.dataset.xywh = `${cue.x},${cue.y},${cue.w},${cue.h}`;
  setText('preview-time', clock(t));
  box.hidden = false;
  // Whether the sheet loaded (the browser caches it: the background uses the same image).
  box.dataset.loaded = 'pending';
  const img = new Image();
  img.onload = () => {
    if (box.dataset.sheet === cue.url) box.dataset.loaded = `${img.naturalWidth}x${img.naturalHeight}`;
  };
  img.onerror = () => {
    if (box.dataset.sheet === cue.url) box.dataset.loaded = 'error';
  };
  img.src = cue.url;
}

function initSeekbar() {
  const bar = $('seekbar');
  bar.addEventListener('mousemove', (e) => {
    const { t, x } = seekTime(e);
    showPreview(t, x);
  });
  bar.addEventListener('mouseleave', () => {
    $('preview').hidden = true;
  });
  bar.addEventListener('click', (e) => {
    const { t } = seekTime(e);
    if (Number.isFinite(t)) video.currentTime = t;
  });
  video.addEventListener('timeupdate', () => {
    const d = video.duration;
    $('seek-played').style.width = d > 0 ? `${(100 * video.currentTime) / d}%` : '0';
  });
}

function initVideo() {
  video.addEventListener('playing', () => {
    player.state = 'playing';
  });
  video.addEventListener('pause', () => {
    if (switching || video.ended || !player.mediaId) return;
    player.state = 'paused';
    report(false);
  });
  video.addEventListener('ended', () => {
    player.state = 'ended';
    report(true);
  });
  video.addEventListener('error', () => {
    if (switching || !video.currentSrc) return;
    const err = video.error;
    // With hls.js the element's source is a MediaSource: hls.js reports (and recovers) itself.
    recordError('media', { code: err?.code, message: err?.message || `media error ${err?.code}` });
  });
  setInterval(() => {
    if (!player.mediaId || video.paused || video.seeking || video.ended) return;
    if (Math.abs(video.currentTime - lastReportedAt) < 0.5) return;
    report(false);
  }, PROGRESS_INTERVAL_MS);
  // Leaving the page: a last report that survives the unload.
  window.addEventListener('pagehide', () => {
    if (player.mediaId && video.currentSrc && !video.ended && video.currentTime > 0) report(false, { keepalive: true });
  });
}

function init() {
  const fromFragment = api.adoptFragment();
  initSettings();
  initUpload();
  initVideo();
  initSubtitles();
  initAudio();
  initSeekbar();
  $('refresh').addEventListener('click', pollSoon);
  $('download').addEventListener('click', download);
  if (fromFragment) setText('settings-status', 'Token taken from the link and kept in this browser.');
  // The link opened again in a tab already showing the page changes only the fragment.
  window.addEventListener('hashchange', () => {
    if (!api.adoptFragment()) return;
    $('api-base').value = api.settings.apiBase;
    $('token').value = api.settings.token;
    setText('settings-status', 'Token taken from the link and kept in this browser.');
    renderWho();
    pollSoon();
  });
  refreshLibrary();
  player.ready = true;
}

init();
