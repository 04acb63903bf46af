// Opens a stored notebook in JupyterLab (headless Chromium), waits until its plots are
// drawn, checks their number and saves a screenshot: what a reader of the notebook sees.
// Env: JL_URL, JL_TOKEN (the server), NOTEBOOK (path of the .ipynb), PLOTS (how many
// plots must render), PNG (screenshot), PW_DIR (where playwright-core is installed),
// TIMEOUT_MS. Started by kernel/tests/notebook_in_lab.sh, which starts the server.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const env = process.env;
// An ES module ignores NODE_PATH: load playwright-core from where it was installed.
const { chromium } = createRequire(join(env.PW_DIR, 'index.js'))('playwright-core');
const TIMEOUT = Number(env.TIMEOUT_MS || 60000);
const name = basename(env.NOTEBOOK);
const api = (path, method = 'GET', body) => fetch(`${env.JL_URL}/api/${path}`, {
  method, headers: { Authorization: `token ${env.JL_TOKEN}`, 'Content-Type': 'application/json' }, body });

const content = JSON.parse(readFileSync(env.NOTEBOOK, 'utf8'));
const put = await api(`contents/${name}`, 'PUT', JSON.stringify({ type: 'notebook', format: 'json', content }));
if (!put.ok) { console.error(`uploading ${name} failed: HTTP ${put.status}`); process.exit(1); }

const profile = mkdtempSync(join(tmpdir(), 'spel-lab-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, timeout: TIMEOUT,
  // Tall enough that the notebook's first screens are drawn at once.
  viewport: { width: 1100, height: 3000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const page = browser.pages()[0] || await browser.newPage();
page.setDefaultTimeout(TIMEOUT);
let ok = false;
try {
  await page.goto(`${env.JL_URL}/lab/tree/${name}?token=${env.JL_TOKEN}`);
  const panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  await panel.locator('.jp-OutputArea-output').first().waitFor();
  // Scroll through so every output is attached, counting the plots drawn on the way.
  const drawn = new Set();
  for (let step = 0; step < 40; step++) {
    const plots = panel.locator('.jp-OutputArea-output .vega-embed, .jp-OutputArea-output img, .jp-OutputArea-output svg[role="img"]');
    for (const i of Array(await plots.count()).keys()) {
      const cell = await plots.nth(i).evaluate((el) => {
        const c = el.closest('.jp-Cell');
        return c ? Array.from(c.parentElement.children).indexOf(c) : -1;
      });
      drawn.add(cell);
    }
    const more = await panel.locator('.jp-WindowedPanel-outer').evaluate((el) => {
      const before = el.scrollTop;
      el.scrollBy(0, el.clientHeight * 0.8);
      return el.scrollTop > before;
    }).catch(() => false);
    await page.waitForTimeout(400);
    if (!more) break;
  }
  console.log(`cells with a plot drawn: ${drawn.size}`);
  ok = drawn.size >= Number(env.PLOTS || 1);
  // The screenshot: from the cell with FOCUS down, as a reader scrolls to it.
  await panel.locator('.jp-WindowedPanel-outer').evaluate((el) => el.scrollTo(0, 0)).catch(() => {});
  await page.waitForTimeout(400);
  if (env.FOCUS) {
    for (let step = 0; step < 40; step++) {
      const cell = panel.locator('.jp-MarkdownCell', { hasText: env.FOCUS }).first();
      if (await cell.count()) {
        await cell.evaluate((el) => el.scrollIntoView({ block: 'start' }));
        break;
      }
      await panel.locator('.jp-WindowedPanel-outer').evaluate((el) => el.scrollBy(0, el.clientHeight * 0.8));
      await page.waitForTimeout(300);
    }
  }
  await page.waitForTimeout(1500);
} catch (err) {
  console.error(`FAILED: ${err.message.split('\n')[0]}`);
} finally {
  await page.screenshot({ path: env.PNG }).catch(() => {});
  console.log(`screenshot: ${env.PNG}`);
  await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  await api(`contents/${name}`, 'DELETE').catch(() => {});
}
console.log(ok ? 'PASS' : `FAIL: expected plots in at least ${env.PLOTS} cells`);
process.exit(ok ? 0 : 1);
