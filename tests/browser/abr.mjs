// ABR in a real player: a transcode session with a ladder, played by hls.js in Chromium.
//   node tests/browser/abr.mjs <base url> <token> <media id> down|up <screenshot.png>
// down: the server throttles rendition objects (STREAM_TEST_THROTTLE_BYTES_PER_SEC) well below the
//       top rung; playback starts on the top rung and hls.js must switch to a lower one and play on.
// up:   no throttle; playback starts on the lowest rung and hls.js must climb to the top rung and
//       play a fragment of it.
// hls.js runs with the page's settings plus `startLevel` (the rung to start on); nothing else of
// its ABR is tuned. Prints one JSON line; exit code 0 on success.

import { Failure, check, launch, main, openAndFind, snapshot } from './browser.mjs';

const [base, token, id, direction, screenshot] = process.argv.slice(2);
if (!screenshot || !['down', 'up'].includes(direction)) {
  console.error('usage: abr.mjs <base url> <token> <media id> down|up <screenshot.png>');
  process.exit(2);
}
const TIMEOUT_MS = 40_000;

main(
  async (register) => {
    const session = await launch({ initConfig: { startLevel: direction === 'down' ? 'top' : 'bottom' } });
    register(session);
    const { page } = session;
    const play = await openAndFind(page, base, token, id);
    await play.click();
    await page.waitForFunction(() => (window.player.levels || []).length || window.player.errors.length, null, { timeout: 20_000 });
    let st = await snapshot(page);
    check(st.errors.length === 0, `errors: ${JSON.stringify(st.errors)}`);
    check(st.method === 'transcode' && st.delivery === 'hls.js', `method ${st.method} via ${st.delivery}, expected transcode via hls.js`);
    check(st.levels.length >= 2, `a ladder of ${st.levels.length} rung(s)`);
    const top = st.levels.length - 1;

    // Wait (polling in the page) for the outcome or for the time limit.
    const outcome = await page.evaluate(
      ({ direction, top, timeoutMs }) =>
        new Promise((resolve) => {
          const v = document.querySelector('video');
          const p = window.player;
          const started = performance.now();
          let switchedAt = null;
          const tick = setInterval(() => {
            const done = (r) => {
              clearInterval(tick);
              resolve(r);
            };
            if (p.errors.length) return done('error');
            if (performance.now() - started > timeoutMs) return done('timeout');
            if (direction === 'down') {
              // Switched below the top, and playing on from there for 3 s.
              if (switchedAt === null && p.currentLevel >= 0 && p.currentLevel < top) switchedAt = v.currentTime;
              if (switchedAt !== null && p.currentLevel < top && v.currentTime > switchedAt + 3) return done('ok');
            } else {
              // On the top rung, with a top-rung fragment being played.
              const topFrag = p.fragments.find((f) => f.level === top);
              if (p.currentLevel === top && topFrag && v.currentTime > topFrag.start + 0.5) return done('ok');
            }
            if (v.ended) return done('ended');
          }, 100);
        }),
      { direction, top, timeoutMs: TIMEOUT_MS },
    );
    st = await snapshot(page);
    await page.screenshot({ path: screenshot });
    const summary = {
      direction,
      levels: st.levels.map((l) => `${l.height}p@${l.bitrate}`),
      switches: st.levelSwitches,
      fragments: st.fragments.map((f) => `${f.level}:${f.sn}:${f.bytes}B/${f.ms}ms`),
      bandwidthEstimate: st.bandwidthEstimate,
      currentLevel: st.currentLevel,
      currentTime: st.video.currentTime,
      screenshot,
    };
    if (outcome !== 'ok') {
      const e = new Failure(`ABR ${direction}: ${outcome} (level ${st.currentLevel} of 0..${top}; switches ${JSON.stringify(st.levelSwitches)}; fragments ${summary.fragments.join(' ')}; errors ${JSON.stringify(st.errors)})`);
      throw e;
    }
    check(st.errors.length === 0, `errors: ${JSON.stringify(st.errors)}`);
    if (direction === 'down') {
      check(st.levelSwitches.some((s) => s.level < top), 'no switch below the top rung');
      check(st.fragments.some((f) => f.level < top), 'no fragment of a lower rung loaded');
    } else {
      check(st.levelSwitches.some((s) => s.level === top), 'never switched to the top rung');
    }
    return summary;
  },
  { screenshot },
);
