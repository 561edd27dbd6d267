// Audio languages in the player page, in a real browser:
//   node tests/browser/audio.mjs <base url> <token> <media id> <screenshot.png>
// The media (English 440 Hz default, French 660 Hz, Italian 880 Hz) is remuxed to HLS and played
// by hls.js with its sound on. A Web Audio analyser on the video element measures the pitch: the
// English tone first; the viewer picks Italian in the audio menu and the pitch becomes 880 Hz,
// with no new stream request (the same session: hls.js switches renditions of the master's audio
// group). Prints one JSON line; exit code 0 on success.

import { check, launch, main, openAndFind, snapshot, waitPast } from './browser.mjs';

const [base, token, id, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: audio.mjs <base url> <token> <media id> <screenshot.png>');
  process.exit(2);
}

/** The dominant frequency the element plays now (median of a few analyser reads). */
async function pitch(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const an = window.__analyser;
        const bins = new Float32Array(an.frequencyBinCount);
        const reads = [];
        const tick = setInterval(() => {
          an.getFloatFrequencyData(bins);
          let best = 0;
          for (let i = 1; i < bins.length; i += 1) if (bins[i] > bins[best]) best = i;
          reads.push((best * an.context.sampleRate) / an.fftSize);
          if (reads.length === 7) {
            clearInterval(tick);
            reads.sort((a, b) => a - b);
            resolve(reads[3]);
          }
        }, 120);
      }),
  );
}

main(
  async (register) => {
    const session = await launch({ initConfig: { muted: false } });
    register(session);
    const { page } = session;
    const out = {};
    const play = await openAndFind(page, base, token, id);
    await play.click();
    await page.waitForFunction(() => window.player.method || window.player.errors.length, null, { timeout: 20_000 });
    let st = await snapshot(page);
    check(st.errors.length === 0, `player errors ${JSON.stringify(st.errors)}`);
    check(st.method === 'remux', `method ${st.method} (reasons ${st.reasons})`);
    await waitPast(page, 0.3);
    await page.waitForFunction(() => window.player.audioTracks.length === 3, null, { timeout: 20_000 });
    out.menu = await page.evaluate(() => [...document.querySelector('[data-testid=audio]').options].map((o) => o.textContent));
    check(JSON.stringify(out.menu) === JSON.stringify(['English', 'Français', 'Italiano']), `menu ${JSON.stringify(out.menu)}`);
    const requests = await page.evaluate(() => window.player.streamRequests);

    await page.evaluate(async () => {
      const v = document.querySelector('video');
      const ctx = new AudioContext();
      await ctx.resume();
      const an = ctx.createAnalyser();
      an.fftSize = 8192;
      ctx.createMediaElementSource(v).connect(an);
      an.connect(ctx.destination);
      window.__analyser = an;
      v.muted = false;
      v.volume = 1;
      v.currentTime = 0.5;
      await v.play();
    });
    await waitPast(page, 0.9);
    out.before = await pitch(page);
    check(Math.abs(out.before - 440) < 30, `English plays at ${out.before} Hz, not 440`);

    await page.selectOption('[data-testid=audio]', { label: 'Italiano' });
    await page.waitForFunction(() => window.player.audioTrack === 2, null, { timeout: 15_000 });
    // hls.js flushes the old track's buffer ahead; rewinding makes the new one play now.
    await page.evaluate(async () => {
      const v = document.querySelector('video');
      v.currentTime = 0.5;
      await v.play();
    });
    await waitPast(page, 1.0);
    out.after = await pitch(page);
    check(Math.abs(out.after - 880) < 30, `after the switch the sound is at ${out.after} Hz, not 880`);
    out.streamRequests = await page.evaluate(() => window.player.streamRequests);
    check(out.streamRequests === requests, `the switch made a stream request (${requests} → ${out.streamRequests})`);
    st = await snapshot(page);
    check(st.errors.length === 0, `player errors ${JSON.stringify(st.errors)}`);
    await page.screenshot({ path: screenshot });
    return out;
  },
  { screenshot },
);
