// A person's view of the kernel: JupyterLab (headless Chromium) opens a new notebook on
// the kernel, a cell is typed and run with Shift+Enter, and its output must contain the
// expected text. A screenshot is saved, also on a failure. Started by
// kernel/tests/jupyterlab.sh, which starts the server (common.sh's start_lab).
// Env: JL_URL, JL_TOKEN (the server), KERNEL (default spel), CODE, EXPECT, PNG,
// PW_DIR (where playwright-core is installed), CHROMIUM (default /usr/bin/chromium),
// TIMEOUT_MS (each browser step, default 60000), HIGHLIGHTED (a word of CODE that must be
// highlighted: its span carries a CodeMirror highlighting class).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = process.env;
for (const name of ['JL_URL', 'JL_TOKEN', 'CODE', 'EXPECT', 'PNG', 'PW_DIR']) {
  if (!env[name]) { console.error(`${name} is not set`); process.exit(2); }
}
// An ES module ignores NODE_PATH: load playwright-core from where it was installed.
const { chromium } = createRequire(join(env.PW_DIR, 'index.js'))('playwright-core');
const KERNEL = env.KERNEL || 'spel';
const TIMEOUT = Number(env.TIMEOUT_MS || 60000);
const started = Date.now();
const say = (text) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);
const api = (path, method = 'GET', body) => fetch(`${env.JL_URL}/api/${path}`, {
  method, body, headers: { Authorization: `token ${env.JL_TOKEN}`, 'Content-Type': 'application/json' },
});

// The notebook names its kernel, so Lab starts that kernel when it opens it.
const name = `smoke-${Date.now()}.ipynb`;
const content = { nbformat: 4, nbformat_minor: 5, cells: [],
  metadata: { kernelspec: { name: KERNEL, display_name: KERNEL, language: KERNEL } } };
const created = await api(`contents/${name}`, 'PUT', JSON.stringify({ type: 'notebook', format: 'json', content }));
if (!created.ok) { console.error(`creating ${name}: HTTP ${created.status}`); process.exit(1); }

const profile = mkdtempSync(join(tmpdir(), 'spel-lab-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, timeout: TIMEOUT,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = browser.pages()[0] || await browser.newPage();
page.setDefaultTimeout(TIMEOUT);
let passed = false;
try {
  await page.goto(`${env.JL_URL}/lab/tree/${name}?token=${env.JL_TOKEN}`);
  // Ready means: the server runs the kernel for this notebook, and the status bar says
  // "<kernel> | Idle" (the toolbar's indicator says idle before any kernel exists).
  for (const deadline = Date.now() + TIMEOUT; ;) {
    const sessions = await api('sessions').then((r) => r.json());
    if (sessions.some((s) => s.path === name && s.kernel.name === KERNEL)) break;
    if (await page.locator('.jp-Dialog').isVisible()) {
      throw new Error(`Lab asks for a kernel: is the "${KERNEL}" kernelspec installed?`);
    }
    if (Date.now() > deadline) throw new Error(`no "${KERNEL}" kernel for ${name} after ${TIMEOUT} ms`);
    await page.waitForTimeout(250);
  }
  await page.locator('.jp-StatusBar-TextItem', { hasText: /\| Idle$/ }).waitFor();
  say(`${name} open on an idle ${KERNEL} kernel`);
  const cell = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').first();
  await cell.locator('.cm-content').click();
  // insertText, not type: typing would auto-indent and auto-close brackets.
  await page.keyboard.insertText(env.CODE);
  if (env.HIGHLIGHTED) {
    // JupyterLab's theme gives each highlighted token a generated class (`ͼ` and a number).
    const word = cell.locator('.cm-content span', { hasText: new RegExp(`^${env.HIGHLIGHTED}$`) }).first();
    await word.waitFor();
    const classes = await word.getAttribute('class');
    if (!/(^| )ͼ[0-9a-z]+/.test(classes || '')) {
      throw new Error(`"${env.HIGHLIGHTED}" is not highlighted (class "${classes}")`);
    }
    say(`"${env.HIGHLIGHTED}" is highlighted (class "${classes}")`);
  }
  await page.keyboard.press('Shift+Enter');
  const outputs = cell.locator('.jp-OutputArea-output');
  await outputs.filter({ hasText: env.EXPECT }).first().waitFor();
  const shown = (await outputs.allInnerTexts()).join('\n');
  say(`the cell shows:\n${shown}`);
  passed = shown.includes(env.EXPECT);
} catch (error) {
  console.error(`FAIL: ${error.message.split('\n')[0]}`);
} finally {
  await page.screenshot({ path: env.PNG }).catch(() => {});
  say(`screenshot: ${env.PNG}`);
  await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  const sessions = await api('sessions').then((r) => r.json()).catch(() => []);
  for (const s of sessions.filter((s) => s.path === name)) await api(`sessions/${s.id}`, 'DELETE').catch(() => {});
  await api(`contents/${name}`, 'DELETE').catch(() => {});
}
say(passed ? `PASS: the output contains ${JSON.stringify(env.EXPECT)}` : `FAIL: no ${JSON.stringify(env.EXPECT)} in the output`);
process.exit(passed ? 0 : 1);
