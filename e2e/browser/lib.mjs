// lib.mjs: what every browser test script shares: Chromium (Debian's, at
// /usr/bin/chromium) launched by playwright-core with a fresh profile; a
// guard that fails the test on any request to a host other than the
// gateway, on any dialog (alert) and on any script error; screenshots; and
// the result line the Go test reads (RESULT {json}).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

export { assert };

export const gateway = new URL(process.env.GATEWAY_URL || 'http://127.0.0.1:8080');
const outDir = process.env.OUT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'micro-console-'));

export async function open(name) {
  const dir = process.env.PLAYWRIGHT_DIR;
  if (!dir) throw new Error('PLAYWRIGHT_DIR is not set: run scripts/install-browser.sh and pass its output');
  const require = createRequire(path.join(dir, 'node_modules', 'noop.js'));
  const { chromium } = require('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `micro-console-profile-${name}-`));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 860 },
    deviceScaleFactor: 1,
  });
  const problems = { foreign: [], dialogs: [], errors: [], console: [] };
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host !== gateway.host || url.protocol !== gateway.protocol) {
      problems.foreign.push(url.href);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('dialog', (d) => { problems.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => problems.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') problems.console.push(m.text()); });
  page.setDefaultTimeout(15000);
  const shots = [];
  return {
    page,
    context,
    problems,
    async goto(hash) {
      await page.goto(new URL('/ui/' + hash, gateway).href);
    },
    async shot(file) {
      const p = path.join(outDir, file);
      await page.screenshot({ path: p, fullPage: false });
      shots.push(p);
      return p;
    },
    // done checks the guards, closes the browser and prints the result.
    async done(result = {}) {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
      // Aborted foreign requests also show as console errors; they are
      // counted once, as foreign.
      const consoleErrors = problems.console.filter((m) => !/ERR_BLOCKED_BY_CLIENT/.test(m));
      console.log('RESULT ' + JSON.stringify({ ...result, screenshots: shots, problems: { ...problems, console: consoleErrors } }));
      assert.deepEqual(problems.foreign, [], 'requests to hosts other than the gateway');
      assert.deepEqual(problems.dialogs, [], 'dialogs opened (a script ran)');
      assert.deepEqual(problems.errors, [], 'script errors on the page');
    },
  };
}

// run runs main and exits 1 with the error when it fails.
export function run(main) {
  main().catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  });
}
