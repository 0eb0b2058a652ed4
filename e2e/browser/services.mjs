// services.mjs: the services page shows greeter 2/2, its nodes' metadata
// and health; after kill -9 of one greeter (KILL_PID) it shows 1/1 within
// the TTL, live, without a reload.
import { open, run, assert } from './lib.mjs';

run(async () => {
  const b = await open('services');
  const { page } = b;
  let loads = 0;
  page.on('load', () => { loads++; });
  await b.goto('#/services');
  const nodes = page.locator('tr[data-service="greeter"] td.nodes');
  await page.waitForFunction(() => document.querySelector('tr[data-service="greeter"] td.nodes')?.textContent === '2/2');
  assert.equal(await page.locator('tr[data-service="greeter"] td.transport').textContent(), 'grpc');
  await b.shot('services.png');

  await page.locator('tr[data-service="greeter"] button', { hasText: 'Check health' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tr.detail .badge.health').length === 2);
  const health = await page.locator('tr.detail .badge.health').allTextContents();
  assert.deepEqual(health.map((t) => t.trim()), ['SERVING', 'SERVING']);
  await b.shot('services-nodes.png');

  const pid = Number(process.env.KILL_PID);
  assert.ok(pid > 0, 'KILL_PID names the greeter to kill');
  const loadsBefore = loads;
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await page.waitForFunction(() => document.querySelector('tr[data-service="greeter"] td.nodes')?.textContent === '1/1',
    null, { timeout: Number(process.env.WITHIN_MS || 15000) });
  const tookMs = Date.now() - killedAt;
  assert.equal(loads, loadsBefore, 'the page was not reloaded');
  assert.equal(await nodes.textContent(), '1/1');
  await b.shot('services-after-kill.png');
  await b.done({ tookMs, health });
});
