// xss.mjs: what the registry and the broker say is text, never markup. The
// Go test registered a service whose name, version, node ID and metadata
// are HTML with script in it; here a body of such text is published. No
// dialog may open, no script error happen, no element be made from the
// data, and the text must show as typed.
import { execFileSync } from 'node:child_process';
import { open, run, assert } from './lib.mjs';

const name = process.env.XSS_NAME || '<img src=x onerror=alert(1)>';
const note = process.env.XSS_NOTE || '<img src=x onerror=alert(2)>';
const body = '<img src=x onerror=alert(3)><script>alert(4)</script>';

run(async () => {
  const b = await open('xss');
  const { page } = b;
  await page.addInitScript(() => { window.addEventListener('error', (e) => { window.__errors = (window.__errors || 0) + 1; void e; }, true); });
  await b.goto('#/services');
  const row = page.locator('tr[data-service]').filter({ has: page.locator('a.service-name', { hasText: name }) });
  await row.waitFor();
  assert.equal(await row.locator('a.service-name').textContent(), name);
  await row.locator('button', { hasText: 'Nodes' }).click();
  const detail = page.locator('tr.detail', { hasText: note });
  await detail.waitFor();
  assert.ok((await detail.locator('td').allTextContents()).some((t) => t.includes(note)));
  assert.equal(await page.locator('main img, main script, main svg:not(.chart)').count(), 0, 'no element made from the data');
  await b.shot('xss-services.png');

  // Its service page: the name as the title, as text.
  await row.locator('a.service-name').click();
  await page.locator('.service-title').waitFor();
  assert.equal(await page.locator('.service-title').textContent(), name);

  // A published body of markup shows as typed.
  await b.goto('#/topics');
  await page.locator('#sub-topic').fill('xss.>');
  await page.click('form.subscribe button[type=submit]');
  await page.locator('.sub-state.subscribed').waitFor();
  execFileSync(process.env.MICRO_BIN, ['publish', 'xss.body', body, '-H', `X-Note:${note}`, '-H', 'Content-Type:text/html'],
    { env: process.env, encoding: 'utf8', timeout: 30000 });
  const msg = page.locator('.topic-message', { hasText: 'alert(3)' });
  await msg.waitFor();
  assert.equal(await msg.locator('.topic-body').textContent(), body);
  assert.match(await msg.locator('table.kv').textContent(), new RegExp(note.replace(/[()]/g, '\\$&')));
  await page.waitForTimeout(300); // a handler would have fired by now
  assert.equal(await page.locator('main img, main script').count(), 0, 'no element made from the data');
  assert.equal(await page.evaluate(() => window.__errors || 0), 0, 'no error event (an image that failed to load)');
  await b.shot('xss.png');
  await b.done({ name, note, body });
});
