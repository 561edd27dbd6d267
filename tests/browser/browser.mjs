// Shared by the browser tests: Debian's Chromium driven by playwright-core (no downloaded
// browser), flags from /work/shared/notes/local-stack.md, a fresh profile per run.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export class Failure extends Error {}

/** Launches Chromium with a fresh user-data-dir; returns { context, page, log, close }. */
export async function launch({ initConfig = {} } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Failure(`Chromium not found at ${CHROMIUM}: install it with scripts/setup.sh --test (apt-get install chromium), or set CHROMIUM`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true, // playwright passes --headless
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
    viewport: { width: 1280, height: 800 },
  });
  const log = [];
  // Test settings for the page, before its module runs: muted video (autoplay), hls.js overrides.
  await context.addInitScript((c) => {
    window.PLAYER_CONFIG = c;
  }, { muted: true, ...initConfig });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Aborted segment/range requests are normal player behaviour; keep them for diagnosis only.
    log.push(`requestfailed: ${r.method()} ${new URL(r.url()).pathname} ${r.failure()?.errorText}`);
  });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, log, close };
}

/** Opens the page (the token in the fragment, as streamd prints it) and waits for `id` to be playable. */
export async function openAndFind(page, base, token, id, { withToken = true } = {}) {
  await page.goto(withToken ? `${base}/#token=${token}` : `${base}/`);
  await page.waitForFunction(() => window.player && window.player.ready);
  const play = page.locator(`[data-media-id="${id}"] [data-testid="play"]`);
  await play.waitFor({ state: 'visible', timeout: 20_000 });
  await page.waitForFunction((mid) => {
    const b = document.querySelector(`[data-media-id="${mid}"] [data-testid="play"]`);
    return b && !b.disabled;
  }, id, { timeout: 30_000 });
  return play;
}

/** Player state for the report (without the hls.js instance). */
export async function snapshot(page) {
  return page.evaluate(() => {
    const p = window.player || {};
    const v = document.querySelector('video');
    return {
      state: p.state, method: p.method, reasons: p.reasons, delivery: p.delivery, startPosition: p.startPosition,
      resumeOffered: p.resumeOffered, levels: p.levels, currentLevel: p.currentLevel, levelSwitches: p.levelSwitches,
      fragments: p.fragments, errors: p.errors, warnings: (p.warnings || []).slice(-10), progressReports: p.progressReports,
      lastReport: p.lastReport, caps: p.caps?.query, bandwidthEstimate: p.hls ? Math.round(p.hls.bandwidthEstimate) : null,
      video: v && { currentTime: v.currentTime, duration: v.duration, paused: v.paused, ended: v.ended, readyState: v.readyState, error: v.error && v.error.code, muted: v.muted },
      shown: { method: document.querySelector('[data-testid=method]')?.textContent, reasons: document.querySelector('[data-testid=reasons]')?.textContent, error: document.querySelector('[data-testid=player-error]')?.textContent },
    };
  });
}

/** Resolves when the video's currentTime passes `t` (checked every 50 ms in the page); then pauses if asked. */
export async function waitPast(page, t, { timeoutMs = 30_000, pause = false } = {}) {
  const ok = await page.evaluate(
    ({ t, timeoutMs, pause }) =>
      new Promise((resolve) => {
        const v = document.querySelector('video');
        const started = performance.now();
        const tick = setInterval(() => {
          if (v.currentTime > t && !v.seeking) {
            if (pause) v.pause();
            clearInterval(tick);
            resolve(true);
          } else if (performance.now() - started > timeoutMs || (window.player.errors || []).length) {
            clearInterval(tick);
            resolve(false);
          }
        }, 50);
      }),
    { t, timeoutMs, pause },
  );
  if (!ok) throw new Failure(`playback did not pass ${t.toFixed(2)} s within ${timeoutMs / 1000} s`);
}

/** Records every value the upload progress bar is set to, in `window.__progress`. */
export async function recordProgress(page) {
  await page.evaluate(() => {
    window.__progress = [];
    const bar = document.querySelector('[data-testid=upload-progress]');
    const orig = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
    Object.defineProperty(bar, 'value', {
      get() { return orig.get.call(this); },
      set(v) { orig.set.call(this, v); window.__progress.push(v); },
    });
  });
}

export function check(cond, message) {
  if (!cond) throw new Failure(message);
}

/**
 * Runs `body(register)`; `register(session)` hands over the browser for the failure report. Prints
 * one JSON line {ok, ...result} or {ok: false, error, state, log}, exits 0 / 1. On failure, a
 * screenshot goes to `screenshot` (when given) for diagnosis.
 */
export async function main(body, { screenshot } = {}) {
  let session;
  let result = {};
  const started = Date.now();
  try {
    result = await body((s) => {
      session = s;
    });
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.error = e instanceof Failure ? e.message : String(e && e.stack ? e.stack : e);
    if (session) {
      result.state = await snapshot(session.page).catch((x) => `snapshot failed: ${x}`);
      result.log = session.log.slice(-40);
      if (screenshot) {
        await session.page.screenshot({ path: screenshot }).catch(() => {});
        result.screenshot = screenshot;
      }
    }
  } finally {
    result.seconds = (Date.now() - started) / 1000;
    if (session) await session.close();
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}

/** mm:ss as the page writes it. */
export function clockOf(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
