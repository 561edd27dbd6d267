// One playback case in a real browser:
//   node tests/browser/play.mjs <base url> <token> <media id> <expected method[|other]> <screenshot.png>
// Opens the player page with the token in the fragment (as streamd prints it), clicks play on the
// media, checks the method the page shows, plays past min(3 s, duration/4), seeks to the middle and
// checks playback goes on from there (past middle + 1 s), pauses (which reports the progress),
// takes the screenshot, reloads the page (the token now comes from localStorage), clicks play again,
// takes "Resume at mm:ss" and checks playback starts near the saved position. No media error and no
// fatal hls.js error anywhere. Prints one JSON line; exit code 0 on success.

import { check, clockOf, launch, main, openAndFind, snapshot, waitPast } from './browser.mjs';

const [base, token, id, expected, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: play.mjs <base url> <token> <media id> <expected method> <screenshot.png>');
  process.exit(2);
}
const allowed = expected.split('|');

async function noErrors(page, when) {
  const st = await snapshot(page);
  check(st.errors.length === 0, `${when}: player errors ${JSON.stringify(st.errors)}`);
  check(st.video.error === null, `${when}: media error code ${st.video.error}`);
  return st;
}

main(
  async (register) => {
    const session = await launch();
    register(session);
    const { page } = session;
    const out = {};

    // 1. Open with the token in the fragment; it must be taken and removed from the URL.
    const play = await openAndFind(page, base, token, id);
    check(!page.url().includes('token='), 'the token stayed in the address bar');
    const duration = await page.evaluate((mid) => window.player.library.find((m) => m.id === mid)?.duration_seconds, id);
    check(duration > 2, `unexpected duration ${duration}`);
    out.duration = duration;

    // 2. Play: the method the server decided for this browser's detected capabilities.
    await play.click();
    await page.waitForFunction(() => window.player.method || window.player.errors.length, null, { timeout: 20_000 });
    let st = await noErrors(page, 'stream request');
    check(st.resumeOffered === null, `resume offered on the first play (${st.resumeOffered})`);
    check(allowed.includes(st.method), `method ${st.method}, expected ${expected} (reasons: ${st.reasons})`);
    check(st.shown.method === st.method, `the page shows "${st.shown.method}" for ${st.method}`);
    Object.assign(out, { method: st.method, reasons: st.reasons, delivery: st.delivery, caps: st.caps });

    // 3. Plays.
    const first = Math.min(3, duration / 4);
    const t0 = Date.now();
    await waitPast(page, first);
    out.firstSeconds = (Date.now() - t0) / 1000;

    // 4. Seek to the middle: playback continues from there.
    const mid = duration / 2;
    await page.evaluate((m) => {
      document.querySelector('video').currentTime = m;
    }, mid);
    await page.waitForFunction(
      (m) => {
        const v = document.querySelector('video');
        return (!v.seeking && v.currentTime >= m - 0.3) || window.player.errors.length;
      },
      mid,
      { timeout: 20_000 },
    );
    await noErrors(page, 'after the seek');
    const reportsBefore = await page.evaluate(() => window.player.progressReports);
    await waitPast(page, mid + 1, { pause: true });

    // 5. Pausing reports the position.
    await page.waitForFunction(
      ({ n, at }) => {
        const p = window.player;
        return p.progressReports > n && p.lastReport && p.lastReport.position >= at && p.state === 'paused';
      },
      { n: reportsBefore, at: mid + 1 },
      { timeout: 10_000 },
    );
    st = await noErrors(page, 'after the pause');
    check(st.lastReport.ok, `the progress report failed: ${JSON.stringify(st.lastReport)}`);
    const saved = st.lastReport.position;
    out.saved = saved;
    await page.screenshot({ path: screenshot });
    out.screenshot = screenshot;

    // 6. Reload: the token comes from localStorage; resume is offered and starts there.
    await page.reload();
    const again = await openAndFind(page, base, token, id, { withToken: false });
    await page.evaluate(() => {
      const v = document.querySelector('video');
      window.__firstPlaying = null;
      v.addEventListener('playing', () => {
        if (window.__firstPlaying === null) window.__firstPlaying = v.currentTime;
      });
    });
    await again.click();
    const resume = page.locator('[data-testid="resume"]');
    await resume.waitFor({ state: 'visible', timeout: 20_000 });
    const label = (await resume.textContent()).trim();
    check(label === `Resume at ${clockOf(saved)}`, `resume button says "${label}", saved ${saved}`);
    await resume.click();
    await page.waitForFunction(() => window.__firstPlaying !== null || window.player.errors.length, null, { timeout: 20_000 });
    st = await noErrors(page, 'resume');
    check(allowed.includes(st.method), `method on resume ${st.method}`);
    const resumedAt = await page.evaluate(() => window.__firstPlaying);
    out.resumedAt = resumedAt;
    check(Math.abs(resumedAt - saved) < 1.0, `resumed at ${resumedAt.toFixed(2)} s, saved ${saved} s`);
    await waitPast(page, Math.min(saved + 0.3, duration - 0.2));
    await noErrors(page, 'after resuming');
    return out;
  },
  { screenshot },
);
