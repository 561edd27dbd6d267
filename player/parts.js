// Multipart uploads from the page (SPEC §3 "Uploads from phones"): a file larger than the part
// size is sent in parts, several at a time, each retried a few times, with one progress figure
// for the whole file. What is needed to resume ({media_id, upload_id} and which file it was) is
// kept in localStorage, so after a reload (or a crash) the user picks the same file again and
// only the parts the server has not received are sent: `GET /uploads/{id}` says which.

import * as api from './api.js';

const KEY = 'stream.multipart';
const ATTEMPTS = 3;

/** The interrupted upload this browser remembers, or null. */
export function pending() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

function remember(record) {
  localStorage.setItem(KEY, JSON.stringify(record));
}

export function forget() {
  localStorage.removeItem(KEY);
}

/** Whether `file` is the file of the remembered upload (same name, size and date). */
export function matches(record, file) {
  return !!record && record.name === file.name && record.size === file.size && record.lastModified === file.lastModified;
}

/**
 * The state of the remembered upload of `file` on the server, to resume it; null when there is
 * nothing to resume (another file, or the server answers it is complete, cancelled or expired:
 * the record is then dropped).
 */
export async function resumable(file) {
  const record = pending();
  if (!matches(record, file)) return null;
  try {
    return await api.json(`/uploads/${record.media_id}`);
  } catch (err) {
    if ([404, 409, 410].includes(err.status)) {
      forget();
      return null;
    }
    throw err;
  }
}

/**
 * Sends the parts of `file` the server does not have and completes the upload.
 * `upload`: the answer of `POST /uploads` (part URLs) or of `GET /uploads/{id}` (parts received).
 * `onProgress(fraction)`, `onStatus(text)`. Resolves the completed media view.
 */
export async function send(file, upload, { parallel = 4, onProgress, onStatus }) {
  const id = upload.media_id;
  remember({ media_id: id, upload_id: upload.upload_id, name: file.name, size: file.size, lastModified: file.lastModified });
  const size = upload.part_size;
  const count = upload.part_count;
  const range = (n) => [(n - 1) * size, Math.min(n * size, file.size)];
  const etags = new Map();
  const loaded = new Map();
  // Parts already received (a resume) count as sent, if they are whole.
  for (const p of upload.parts || []) {
    if (p.etag && p.size === range(p.number)[1] - range(p.number)[0]) {
      etags.set(p.number, p.etag);
      loaded.set(p.number, p.size);
    }
  }
  const urls = new Map((upload.parts || []).filter((p) => p.url).map((p) => [p.number, p.url]));
  const todo = [];
  for (let n = 1; n <= count; n++) if (!etags.has(n)) todo.push(n);
  const report = () => {
    let sum = 0;
    for (const v of loaded.values()) sum += v;
    onProgress(Math.min(1, sum / file.size));
  };
  report();
  onStatus(`Uploading ${file.name} in ${count} parts (${count - todo.length} already sent)…`);

  const urlOf = async (n) => {
    if (!urls.has(n)) {
      const ask = [n, ...todo.filter((m) => !urls.has(m) && m !== n)].slice(0, 100);
      const more = await api.json(`/uploads/${id}/parts`, { method: 'POST', body: { numbers: ask } });
      for (const p of more.parts) urls.set(p.number, p.url);
    }
    return urls.get(n);
  };
  const sendPart = async (n) => {
    const [from, to] = range(n);
    for (let attempt = 1; ; attempt++) {
      try {
        const etag = await api.putPart(await urlOf(n), file.slice(from, to), (bytes) => {
          loaded.set(n, bytes);
          report();
        });
        loaded.set(n, to - from);
        etags.set(n, etag);
        report();
        return;
      } catch (err) {
        loaded.set(n, 0);
        if (attempt >= ATTEMPTS || err.code === 'already_uploaded') throw err;
        urls.delete(n); // it may have expired: ask for a fresh one
      }
    }
  };
  const worker = async () => {
    while (todo.length) await sendPart(todo.shift());
  };
  await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, worker));

  onStatus(`Assembling ${file.name}…`);
  const parts = [...etags.entries()].sort((a, b) => a[0] - b[0]).map(([number, etag]) => ({ number, etag }));
  const media = await api.json(`/uploads/${id}/complete`, { method: 'POST', body: { parts } });
  forget();
  return media;
}
