// The player page's download button in a real browser:
//   node tests/browser/download.mjs <base url> <token> <media id> <quality> <saved file path>
// Opens the page, clicks play on the media (the download button acts on the current media),
// picks the quality, clicks Download, and checks the page shows the progress while the server
// answers 202, then navigates to the file: Chromium's download (Content-Disposition: attachment;
// the page stays) is saved to the given path. Prints one JSON line; exit code 0 on success.

import { check, launch, main, openAndFind } from './browser.mjs';

const [base, token, id, quality, dest] = process.argv.slice(2);
if (!dest) {
  console.error('usage: download.mjs <base url> <token> <media id> <quality> <saved file path>');
  process.exit(2);
}

main(async (register) => {
  const session = await launch();
  register(session);
  const { page } = session;
  const play = await openAndFind(page, base, token, id);
  await play.click();
  await page.waitForFunction(() => window.player.method || window.player.errors.length, null, { timeout: 20_000 });
  const button = page.locator('[data-testid=download]');
  check(await button.isEnabled(), 'the download button is not enabled for the current media');
  await page.locator('[data-testid=download-quality]').selectOption(quality);
  // Every status the page shows while the server makes the file.
  await page.evaluate(() => {
    window.__downloadStatuses = [];
    const s = document.querySelector('[data-testid=download-status]');
    new MutationObserver(() => window.__downloadStatuses.push(s.textContent)).observe(s, { childList: true, characterData: true, subtree: true });
  });
  const pageUrl = page.url();
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 100_000 }), button.click()]);
  await download.saveAs(dest);
  const failure = await download.failure();
  check(failure === null, `the download failed: ${failure}`);
  const state = await page.evaluate(() => ({ download: window.player.download, statuses: window.__downloadStatuses }));
  check(state.download && state.download.state === 'ready', `download state ${JSON.stringify(state.download)}`);
  check(page.url() === pageUrl, `the page navigated away to ${page.url()}`);
  const preparing = state.statuses.filter((s) => s.startsWith('Preparing'));
  return { suggested: download.suggestedFilename(), fileName: state.download.fileName, preparing: preparing.length, statuses: state.statuses.slice(-5) };
});
