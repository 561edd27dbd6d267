// Time to first frame in a real browser (a benchmark of scripts/bench.sh, not a test):
//   node tests/browser/ttff.mjs <base url> <token> <cases.json> <out.json>
// cases.json: [{"name": "transcode", "expected": "transcode", "ids": ["<media id>", ...]}, ...],
// one freshly uploaded media per run (nothing made yet). For each: a fresh Chromium profile
// opens the player page (the token in the fragment), and from the click on play (the stream
// request follows at once) measures the first `playing` event and `currentTime` ≥ 1 s; then a
// seek to the middle (to `playing` again and `currentTime` ≥ middle + 0.5 s); for an HLS ladder,
// an ABR switch to the lowest rung (hls.js `currentLevel`, which drops the buffer ahead): to the
// switch's first fragment of that rung loaded and the video playing again. Prints one JSON line;
// the results go to out.json.

import fs from 'node:fs';

import { check, launch, main, openAndFind } from './browser.mjs';

const [base, token, casesFile, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: ttff.mjs <base url> <token> <cases.json> <out.json>');
  process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const LIMIT = 30_000;

/** Milliseconds from now until `pred()` holds in the page. */
async function until(page, pred, arg) {
  const t0 = Date.now();
  await page.waitForFunction(pred, arg, { timeout: LIMIT, polling: 10 });
  return Date.now() - t0;
}

// Long because it is one run in the order a viewer meets it: start, first frame, a second of
// playback, the seek, the switch.
async function run(id, expected) {
  const session = await launch();
  try {
    const { page } = session;
    const play = await openAndFind(page, base, token, id);
    await page.evaluate(() => {
      const v = document.querySelector('video');
      window.__ttff = { playing: 0 };
      v.addEventListener('playing', () => { window.__ttff.playing += 1; });
    });
    const t0 = Date.now();
    await play.click();
    await page.waitForFunction(() => window.__ttff.playing > 0 || window.player.errors.length, null, { timeout: LIMIT, polling: 10 });
    const firstFrame = Date.now() - t0;
    await until(page, () => document.querySelector('video').currentTime >= 1);
    const oneSecond = Date.now() - t0;
    const st = await page.evaluate(() => ({ method: window.player.method, delivery: window.player.delivery, errors: window.player.errors, duration: document.querySelector('video').duration, levels: (window.player.levels || []).length }));
    check(st.errors.length === 0, `errors: ${JSON.stringify(st.errors)}`);
    check(st.method === expected, `method ${st.method}, expected ${expected}`);
    const mid = st.duration / 2;
    const seek = await until(page, (m) => {
      const v = document.querySelector('video');
      if (!window.__seekStarted) { window.__seekStarted = true; v.currentTime = m; }
      return !v.seeking && v.currentTime >= m + 0.5;
    }, mid);
    let abrSwitch = null;
    if (st.delivery === 'hls.js' && st.levels >= 2) {
      abrSwitch = await until(page, () => {
        const p = window.player;
        const v = document.querySelector('video');
        if (!window.__switchFrom) {
          window.__switchFrom = p.fragments.length;
          window.__switchAt = v.currentTime;
          p.hls.currentLevel = 0;
        }
        const got = p.fragments.slice(window.__switchFrom).some((f) => f.level === 0);
        return got && !v.paused && v.currentTime > window.__switchAt + 0.25;
      });
    }
    return { firstFrameMs: firstFrame, oneSecondMs: oneSecond, seekMs: seek, switchMs: abrSwitch, delivery: st.delivery };
  } finally {
    await session.close();
  }
}

main(async () => {
  const out = [];
  for (const c of cases) {
    const runs = [];
    for (const id of c.ids) {
      runs.push(await run(id, c.expected));
    }
    out.push({ name: c.name, expected: c.expected, runs });
  }
  fs.writeFileSync(outFile, JSON.stringify({ cases: out }, null, 2));
  return { cases: out.length };
});
