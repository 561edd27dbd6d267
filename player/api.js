// The API client: settings (API base URL, token) kept in localStorage, JSON calls with the bearer
// token, errors as `ApiError` carrying the server's `{"error":{code,message}}`.

const KEY_TOKEN = 'stream.token';
const KEY_BASE = 'stream.apiBase';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_error';
  }
}

export const settings = {
  get token() {
    return localStorage.getItem(KEY_TOKEN) || '';
  },
  set token(v) {
    if (v) localStorage.setItem(KEY_TOKEN, v);
    else localStorage.removeItem(KEY_TOKEN);
  },
  /** The configured API base without a trailing slash; '' means the page's own origin. */
  get apiBase() {
    return localStorage.getItem(KEY_BASE) || '';
  },
  set apiBase(v) {
    const clean = (v || '').trim().replace(/\/+$/, '');
    if (clean) localStorage.setItem(KEY_BASE, clean);
    else localStorage.removeItem(KEY_BASE);
  },
  /** The base URL requests go to. */
  get base() {
    return this.apiBase || window.location.origin;
  },
};

/**
 * Takes settings handed over in the URL fragment (`#token=...&api=...`, as streamd prints the
 * page's URL), stores them and removes them from the address bar and history.
 */
export function adoptFragment() {
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash) return false;
  const params = new URLSearchParams(hash);
  let took = false;
  if (params.get('token')) {
    settings.token = params.get('token').trim();
    took = true;
  }
  if (params.get('api')) {
    settings.apiBase = params.get('api');
    took = true;
  }
  if (took) {
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }
  return took;
}

/** The claims of a JWT, for display only (the server verifies it). */
export function claims(token) {
  try {
    const part = token.split('.')[1];
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** A call to `/api/v1{path}`; returns the Response (callers read what they need). */
export async function call(path, { method = 'GET', body, headers = {}, keepalive = false } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (settings.token) h.Authorization = `Bearer ${settings.token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const resp = await fetch(`${settings.base}/api/v1${path}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
    cache: 'no-store',
  });
  return resp;
}

/** A call whose success is JSON (or empty); anything else throws an ApiError. */
export async function json(path, opts) {
  const resp = await call(path, opts);
  if (!resp.ok) throw await errorOf(resp);
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export async function errorOf(resp) {
  let code;
  let message;
  try {
    const v = await resp.json();
    code = v?.error?.code;
    message = v?.error?.message;
  } catch {
    /* not JSON */
  }
  if (resp.status === 401) message = `The token was refused (${message || 'invalid token'}).`;
  return new ApiError(resp.status, code, message || `HTTP ${resp.status}`);
}

/**
 * PUTs one part of a multipart upload (a slice of the file) to its URL; resolves its `ETag`
 * (which completion names). `onProgress(bytes sent)`. A part URL may be sent again: the part is
 * replaced.
 */
export function putPart(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      const etag = xhr.getResponseHeader('ETag');
      if (xhr.status >= 200 && xhr.status < 300 && etag) resolve(etag);
      else if (xhr.status === 409) {
        reject(new ApiError(xhr.status, 'already_uploaded', 'This upload was already made; start a new one.'));
      }
      else reject(new ApiError(xhr.status, 'upload_failed', `A part was refused (HTTP ${xhr.status}).`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'A part failed (network error).'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    xhr.send(blob);
  });
}

/**
 * PUTs `file` to a presigned upload URL with XMLHttpRequest (fetch has no upload progress);
 * `onProgress(fraction)`.
 */
export function putFile(url, headers, file, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    // A presigned S3 PUT is signed with the content type: send exactly the one declared.
    xhr.setRequestHeader('Content-Type', contentType);
    // And with the headers the upload asks for (`If-None-Match: *`: it writes once).
    for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else if (xhr.status === 409 || xhr.status === 412) {
        reject(new ApiError(xhr.status, 'already_uploaded', 'This upload was already made; start a new one.'));
      }
      else reject(new ApiError(xhr.status, 'upload_failed', `The upload was refused (HTTP ${xhr.status}).`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'The upload failed (network error).'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    xhr.send(file);
  });
}
