// A multipart upload through the page, interrupted and resumed after a reload:
//   node tests/browser/upload-parts.mjs <base url> <token> <file> <screenshot.png>
// The file is larger than the server's part size, so the page sends it in parts, several at a
// time. The connection "dies" after two parts: every later part PUT is reset (the page retries,
// then gives up, keeping {media_id, upload_id} in localStorage). The page is reloaded, the same
// file picked again: the page asks the server which parts it has (GET /uploads/{id}), sends only
// the others, completes, and the library shows the media `ready`. Prints one JSON line with the
// media id and the part numbers sent before and after the reload; exit code 0 on success.

import { check, launch, main, recordProgress } from './browser.mjs';

const [base, token, file, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: upload-parts.mjs <base url> <token> <file> <screenshot.png>');
  process.exit(2);
}

const PARTS_BEFORE = 2;

main(
  async (register) => {
    const session = await launch();
    register(session);
    const { page } = session;
    // Part PUTs (`/objects/...&part=N`): before the reload the first two pass, the rest are reset.
    const sent = { before: [], after: [] };
    let phase = 'before';
    let passed = 0;
    let stored = 0;
    await page.route(/\/objects\/uploads\/.*[?&]part=\d+/, async (route) => {
      const n = Number(new URL(route.request().url()).searchParams.get('part'));
      // Until the reloaded page runs, nothing more gets through (the old page may still retry).
      if (phase === 'reloading') return route.abort('connectionreset');
      if (phase === 'before' && passed >= PARTS_BEFORE) return route.abort('connectionreset');
      if (phase === 'before') passed += 1;
      const response = await route.fetch();
      if (response.ok()) {
        sent[phase].push(n);
        if (phase === 'before') stored += 1;
      }
      return route.fulfill({ response });
    });
    await page.goto(`${base}/#token=${token}`);
    await page.waitForFunction(() => window.player && window.player.ready);
    await page.locator('[data-testid=file]').setInputFiles(file);
    await page.locator('[data-testid=title]').fill('multipart upload test');
    await page.locator('[data-testid=upload]').click();
    const status = page.locator('[data-testid=upload-status]');
    await page.waitForFunction(
      () => /^Upload failed/.test(document.querySelector('[data-testid=upload-status]').textContent),
      null,
      { timeout: 60_000 },
    );
    // Wait until the two parts that got through are stored, then "crash".
    for (let i = 0; i < 600 && stored < PARTS_BEFORE; i++) await new Promise((r) => setTimeout(r, 100));
    check(stored === PARTS_BEFORE, `parts stored before the reload: ${stored}`);
    const remembered = await page.evaluate(() => JSON.parse(localStorage.getItem('stream.multipart') || 'null'));
    check(remembered && remembered.media_id && remembered.upload_id, `nothing remembered: ${JSON.stringify(remembered)}`);

    phase = 'reloading';
    await page.reload();
    await page.waitForFunction(() => window.player && window.player.ready);
    phase = 'after';
    const notice = (await status.textContent()).trim();
    check(/interrupted/.test(notice), `no resume notice after the reload: "${notice}"`);
    await recordProgress(page);
    await page.locator('[data-testid=file]').setInputFiles(file);
    await page.locator('[data-testid=upload]').click();
    const id = remembered.media_id;
    await page.waitForFunction(
      (mid) => [...document.querySelectorAll('[data-testid=media-item]')].some((li) => li.dataset.mediaId === mid && li.dataset.status === 'ready'),
      id,
      { timeout: 60_000 },
    );
    const upload = await page.evaluate(() => window.player.upload);
    const progress = await page.evaluate(() => window.__progress);
    const finalStatus = (await status.textContent()).trim();
    check(upload && upload.resumed && upload.mediaId === id, `not a resume of ${id}: ${JSON.stringify(upload)}`);
    // The bar starts where the parts already sent put it, and ends full.
    const first = progress.find((v) => v > 0);
    check(first >= 0.3 && progress[progress.length - 1] === 1, `progress ${JSON.stringify(progress)}`);
    check(/^Uploaded /.test(finalStatus), `upload status "${finalStatus}"`);
    check(await page.evaluate(() => localStorage.getItem('stream.multipart') === null), 'the resume record was not dropped');
    await page.screenshot({ path: screenshot });
    return { id, before: sent.before, after: sent.after, partsAtStart: upload.partsAtStart, progress, status: finalStatus, screenshot };
  },
  { screenshot },
);
