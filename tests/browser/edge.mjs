// hls.js in Chromium plays an HLS session whole through the CDN (the cloud shape's edge):
//   node tests/browser/edge.mjs <page url on the CDN's host> <master playlist url> <hls.js path>
// Opens a page on the CDN's host (so requests are same-origin, as a web player's are once the
// page and the stream share a host), loads hls.js into it, plays the master from the start to the
// end with no fatal hls.js error and no media error, and reports every fragment hls.js loaded
// (URL path, HTTP status as hls.js saw it). Prints one JSON line; exit code 0 on success.

import { check, launch, main } from './browser.mjs';

const [pageUrl, master, hlsPath] = process.argv.slice(2);
if (!hlsPath) {
  console.error('usage: edge.mjs <page url> <master url> <hls.min.js>');
  process.exit(2);
}

main(async (register) => {
  const session = await launch();
  register(session);
  const { page } = session;
  await page.goto(pageUrl);
  await page.addScriptTag({ path: hlsPath });
  const result = await page.evaluate(async (src) => {
    const video = document.createElement('video');
    video.muted = true;
    document.body.appendChild(video);
    const fragments = [];
    const errors = [];
    const hls = new window.Hls({ startPosition: 0 });
    hls.on(window.Hls.Events.FRAG_LOADED, (_, d) => {
      fragments.push({ path: new URL(d.frag.url).pathname, type: d.frag.type, sn: d.frag.sn });
    });
    hls.on(window.Hls.Events.ERROR, (_, d) => {
      if (d.fatal) errors.push(`${d.type}: ${d.details}`);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    const done = new Promise((resolve) => {
      video.addEventListener('ended', () => resolve('ended'));
      video.addEventListener('error', () => resolve('error'));
      setTimeout(() => resolve('timeout'), 60_000);
    });
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => errors.push(String(e))));
    const how = await done;
    return {
      how, fragments, errors,
      currentTime: video.currentTime, duration: video.duration,
      mediaError: video.error && video.error.code,
    };
  }, master);
  check(result.errors.length === 0, `hls.js errors: ${JSON.stringify(result.errors)}`);
  check(result.mediaError === null, `media error ${result.mediaError}`);
  check(result.how === 'ended', `playback did not reach the end (${result.how} at ${result.currentTime} of ${result.duration})`);
  check(result.fragments.length > 0, 'no fragment loaded');
  return result;
});
