// Seek-bar previews (trick-play) in the player page, in a real browser:
//   node tests/browser/trickplay.mjs <base url> <token> <mp4 id> <mov id> <screenshot.png>
// For the MP4 (direct play) and its QuickTime copy (remuxed to HLS, played by hls.js): the page
// loads the storyboard the stream answer names, shows the seek bar, and hovering it at a time
// shows the preview of that time: the sheet and background offset of the storyboard cue that
// holds the time (the storyboard is parsed here again, independently of the page), and the
// sheet image loaded at the size the cues' tiles make up. The server-side test
// (tests/tests/trickplay.rs) checks that a tile's pixels are the frame of its time.
// Prints one JSON line; exit code 0 on success.

import { check, launch, main, openAndFind, snapshot, waitPast } from './browser.mjs';

const [base, token, mp4, mov, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: trickplay.mjs <base url> <token> <mp4 id> <mov id> <screenshot.png>');
  process.exit(2);
}

/** Plays `id` from the library and waits until it plays and its storyboard is loaded. */
async function playAndWait(page, id, method) {
  await page.locator(`[data-media-id="${id}"] [data-testid="play"]`).click();
  await page.waitForFunction((mid) => (window.player.mediaId === mid && window.player.method) || window.player.errors.length, id, { timeout: 20_000 });
  const st = await snapshot(page);
  check(st.errors.length === 0, `player errors ${JSON.stringify(st.errors)}`);
  check(st.method === method, `method ${st.method}, expected ${method} (reasons ${st.reasons})`);
  await waitPast(page, 0.3, { pause: true });
  await page.waitForFunction(() => window.player.storyboard && !document.querySelector('[data-testid=seekbar]').hidden, null, { timeout: 20_000 });
}

/** Hovers the seek bar at media time `t`; returns what the preview shows and what it should. */
async function hover(page, t) {
  const bar = await page.locator('[data-testid=seekbar]').boundingBox();
  const duration = await page.evaluate(() => document.querySelector('video').duration);
  check(duration > 40, `duration ${duration}`);
  await page.mouse.move(bar.x + (bar.width * t) / duration, bar.y + bar.height / 2);
  await page.waitForFunction(() => /^(\d+x\d+|error)$/.test(document.querySelector('[data-testid=preview]').dataset.loaded || ''), null, { timeout: 20_000 });
  return page.evaluate(async () => {
    const box = document.querySelector('[data-testid=preview]');
    const url = window.player.decision.storyboard_url;
    const text = await (await fetch(url)).text();
    // The storyboard, read again here: cue times, sheet URL, #xywh.
    const cues = [];
    const lines = text.split('\n');
    const secs = (s) => s.split(':').reduce((a, p) => a * 60 + Number(p), 0);
    lines.forEach((l, i) => {
      const m = l.split(' --> ');
      if (m.length !== 2) return;
      const [ref, frag] = lines[i + 1].split('#xywh=');
      const [x, y, w, h] = frag.split(',').map(Number);
      cues.push({ start: secs(m[0]), end: secs(m[1]), url: new URL(ref, new URL(url, location.href)).href, x, y, w, h });
    });
    const time = Number(box.dataset.time);
    const cue = cues.find((c) => c.start <= time && time < c.end);
    const style = getComputedStyle(box);
    return {
      time,
      cue,
      cues: cues.length,
      sheet: box.dataset.sheet,
      position: style.backgroundPosition,
      size: [style.width, style.height],
      background: style.backgroundImage,
      loaded: box.dataset.loaded,
      expectedSheetSize: `${Math.max(...cues.map((c) => c.x + c.w))}x${Math.max(...cues.map((c) => c.y + c.h))}`,
      visible: !box.hidden,
    };
  });
}

function checkPreview(p, t) {
  check(p.visible, 'the preview is not shown');
  check(Math.abs(p.time - t) < 0.5, `hovered at ${p.time}, meant ${t}`);
  check(p.cue, `no storyboard cue holds ${p.time}`);
  check(p.sheet === p.cue.url, `sheet ${p.sheet}, the cue names ${p.cue.url}`);
  check(p.background.includes(p.cue.url.split('?')[0].split('/').pop()), `background ${p.background}`);
  const [px, py] = p.position.split(' ').map((v) => Number.parseFloat(v));
  check(px === -p.cue.x && py === -p.cue.y, `background-position ${p.position}, the cue's tile is at ${p.cue.x},${p.cue.y}`);
  check(p.size[0] === `${p.cue.w}px` && p.size[1] === `${p.cue.h}px`, `preview size ${p.size}`);
  check(p.loaded === p.expectedSheetSize, `the sheet loaded as ${p.loaded}, expected ${p.expectedSheetSize}`);
}

main(
  async (register) => {
    const session = await launch();
    register(session);
    const { page } = session;
    const out = {};
    await openAndFind(page, base, token, mp4);
    await openAndFind(page, base, token, mov);

    // 1. Direct play.
    await playAndWait(page, mp4, 'direct_play');
    out.direct = await hover(page, 21);
    checkPreview(out.direct, 21);
    check(out.direct.cue.x > 0, `21 s is not the first tile: ${JSON.stringify(out.direct.cue)}`);

    // 2. HLS (hls.js): the same sheets, another time.
    await playAndWait(page, mov, 'remux');
    out.hls = await hover(page, 33);
    checkPreview(out.hls, 33);
    check(out.hls.cue.x !== out.direct.cue.x, 'two times, one tile');
    await page.screenshot({ path: screenshot });
    const st = await snapshot(page);
    check(st.errors.length === 0, `player errors ${JSON.stringify(st.errors)}`);
    return out;
  },
  { screenshot },
);
