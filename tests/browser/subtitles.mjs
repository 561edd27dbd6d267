// Subtitles in the player page, in a real browser:
//   node tests/browser/subtitles.mjs <base url> <token> <mkv id> <mov id> <screenshot.png>
// 1. The MKV (SubRip English, ASS French forced, SubRip German SDH) plays by direct play: the
//    menu lists its three tracks as <track>s, the forced French one is on before anyone chose;
//    the viewer picks English and, paused at 1.0 s, the English cue is the active cue.
// 2. The QuickTime copy (mov_text English) is remuxed to HLS and played by hls.js: the menu lists
//    the master's SUBTITLES track, English is chosen again by itself (remembered for this user),
//    and at 2.5 s hls.js's text track shows the second cue, after a seek past it and back.
// Prints one JSON line; exit code 0 on success.

import { check, launch, main, openAndFind, snapshot, waitPast } from './browser.mjs';

const [base, token, mkv, mov, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: subtitles.mjs <base url> <token> <mkv id> <mov id> <screenshot.png>');
  process.exit(2);
}

/**
 * Seeks (paused) to `t` and returns the showing track's active cues' texts: once there are some
 * (or after 15 s), or, with `expectNone`, 1.5 s after the seek ended.
 */
async function cuesAt(page, t, { expectNone = false } = {}) {
  return page.evaluate(
    ({ t, expectNone }) =>
      new Promise((resolve) => {
        const v = document.querySelector('video');
        v.pause();
        v.currentTime = t;
        const started = performance.now();
        const tick = setInterval(() => {
          const showing = [...v.textTracks].filter((x) => x.mode === 'showing');
          const active = showing.flatMap((x) => [...(x.activeCues || [])].map((c) => c.text));
          const waited = performance.now() - started;
          const done = expectNone ? !v.seeking && waited > 1500 : (active.length && !v.seeking) || waited > 15_000;
          if (done) {
            clearInterval(tick);
            resolve({ active, showing: showing.map((x) => x.label), at: v.currentTime });
          }
        }, 50);
      }),
    { t, expectNone },
  );
}

async function menu(page) {
  return page.evaluate(() => {
    const m = document.querySelector('[data-testid=subtitles]');
    return { options: [...m.options].map((o) => o.textContent), chosen: m.selectedOptions[0]?.textContent, disabled: m.disabled };
  });
}

/** Plays `id` from the library (the page is open) and waits until it plays. */
async function playAndWait(page, id, method) {
  await page.locator(`[data-media-id="${id}"] [data-testid="play"]`).click();
  await page.waitForFunction((mid) => (window.player.mediaId === mid && window.player.method) || window.player.errors.length, id, { timeout: 20_000 });
  const st = await snapshot(page);
  check(st.errors.length === 0, `player errors ${JSON.stringify(st.errors)}`);
  check(st.method === method, `method ${st.method}, expected ${method} (reasons ${st.reasons})`);
  await waitPast(page, 0.3);
}

main(
  async (register) => {
    const session = await launch();
    register(session);
    const { page } = session;
    const out = {};

    // 1. Direct play with <track>s.
    await openAndFind(page, base, token, mkv);
    await openAndFind(page, base, token, mov);
    await playAndWait(page, mkv, 'direct_play');
    await page.waitForFunction(() => document.querySelector('[data-testid=subtitles]').options.length === 4, null, { timeout: 10_000 });
    out.direct = await menu(page);
    check(JSON.stringify(out.direct.options) === JSON.stringify(['Off', 'English', 'Français (forced)', 'Deutsch (SDH)']), `menu ${JSON.stringify(out.direct)}`);
    check(out.direct.chosen === 'Français (forced)', `the forced track is not on: ${out.direct.chosen}`);
    const forced = await cuesAt(page, 1.5);
    check(forced.active.some((c) => c.includes('Très')), `forced cue at 1.5 s: ${JSON.stringify(forced)}`);
    check(forced.active.every((c) => !c.includes('{') && !c.includes('\\')), `ASS styling shown as text: ${JSON.stringify(forced)}`);
    await page.selectOption('[data-testid=subtitles]', { label: 'English' });
    out.directCue = await cuesAt(page, 1.0);
    check(out.directCue.showing.join() === 'English', `showing ${out.directCue.showing}`);
    check(out.directCue.active.some((c) => c.includes('Héllo wörld') && c.includes('你好')), `English cue at 1.0 s: ${JSON.stringify(out.directCue)}`);
    const none = await cuesAt(page, 1.8, { expectNone: true });
    check(none.active.length === 0, `a cue shown between the cues: ${JSON.stringify(none)}`);

    // 2. HLS by hls.js; English is remembered.
    await playAndWait(page, mov, 'remux');
    await page.waitForFunction(() => window.player.subtitles.length === 1, null, { timeout: 20_000 });
    out.hls = await menu(page);
    check(out.hls.chosen === 'English', `the remembered language is not chosen: ${JSON.stringify(out.hls)}`);
    await cuesAt(page, 3.5);
    out.hlsCue = await cuesAt(page, 2.5);
    check(out.hlsCue.active.some((c) => c.includes('second')), `HLS cue at 2.5 s: ${JSON.stringify(out.hlsCue)}`);
    const early = await cuesAt(page, 0.2, { expectNone: true });
    check(early.active.length === 0, `a cue before its time: ${JSON.stringify(early)}`);
    await page.screenshot({ path: screenshot });
    const st = await snapshot(page);
    check(st.errors.length === 0, `player errors ${JSON.stringify(st.errors)}`);
    return out;
  },
  { screenshot },
);
