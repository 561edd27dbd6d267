// Upload through the page:
//   node tests/browser/upload.mjs <base url> <token> <file> <screenshot.png>
// Opens the page with the token, picks the file, uploads it (POST /uploads, then an XHR PUT to the
// presigned URL with progress shown), and waits, without reloading, for the library (which polls
// while uploading/probing) to show it `ready` with its probe summary. Prints one JSON line with
// the media id; exit code 0 on success.

import path from 'node:path';
import { check, launch, main, recordProgress } from './browser.mjs';

const [base, token, file, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: upload.mjs <base url> <token> <file> <screenshot.png>');
  process.exit(2);
}

main(
  async (register) => {
    const session = await launch();
    register(session);
    const { page } = session;
    await page.goto(`${base}/#token=${token}`);
    await page.waitForFunction(() => window.player && window.player.ready);
    // Record the progress bar's values as the upload goes.
    await recordProgress(page);
    const title = `upload test ${path.basename(file)}`;
    await page.locator('[data-testid=file]').setInputFiles(file);
    await page.locator('[data-testid=title]').fill(title);
    await page.locator('[data-testid=upload]').click();
    const item = page.locator('[data-testid=media-item]', { hasText: title });
    await item.waitFor({ state: 'attached', timeout: 20_000 });
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('[data-testid=media-item]')].some((li) => li.textContent.includes(t) && li.dataset.status === 'ready'),
      title,
      { timeout: 30_000 },
    );
    const id = await item.getAttribute('data-media-id');
    const summary = (await item.locator('[data-testid=summary]').textContent()).trim();
    const status = (await page.locator('[data-testid=upload-status]').textContent()).trim();
    const progress = await page.evaluate(() => window.__progress);
    check(progress.length > 0 && progress[progress.length - 1] === 1, `the progress bar did not reach 100 %: ${JSON.stringify(progress)}`);
    check(/^Uploaded /.test(status), `upload status "${status}"`);
    check(await item.locator('[data-testid=play]').isEnabled(), 'the play button is not enabled');
    await page.screenshot({ path: screenshot });
    return { id, summary, status, progress, screenshot };
  },
  { screenshot },
);
