// load.mjs: the load page runs a bounded load of Greeter.Hello and draws
// requests per second over time and the latency histogram as it goes.
import { open, run, assert } from './lib.mjs';

run(async () => {
  const b = await open('load');
  const { page } = b;
  await b.goto('#/load/greeter/Greeter.Hello');
  await page.locator('#load-endpoint option[value="Greeter.Hello"]').waitFor({ state: 'attached' });
  await page.locator('#load-request').fill('{"name": "load"}');
  await page.locator('#load-concurrency').fill('4');
  await page.locator('#load-duration').fill('3');
  await page.click('button.run-load');
  // Drawn while running, before the end.
  await page.locator('.load-summary .badge', { hasText: 'running' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('svg.rps-chart polyline').length === 1);
  const midway = await page.locator('svg.histogram rect.bar').count();
  await page.locator('.load-summary .done').waitFor({ timeout: 20000 });
  const counts = await page.locator('svg.histogram rect.bar').evaluateAll((bars) => bars.map((r) => Number(r.dataset.count)));
  const heights = await page.locator('svg.histogram rect.bar').evaluateAll((bars) => bars.map((r) => Number(r.getAttribute('height'))));
  const total = counts.reduce((a, c) => a + c, 0);
  const summary = await page.locator('.load-summary').textContent();
  assert.ok(midway > 0, 'the histogram is drawn while the run goes on');
  assert.ok(total > 10, `histogram counts ${counts}`);
  assert.ok(heights.some((h) => h > 10), 'some bar is drawn tall');
  assert.match(summary, /\b0 errors/);
  const points = (await page.locator('svg.rps-chart polyline').getAttribute('points')).trim().split(/\s+/).length;
  assert.ok(points >= 5, `rps over time has ${points} points`);
  await b.shot('load.png');
  await b.done({ counts, total, summary, points });
});
