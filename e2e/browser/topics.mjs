// topics.mjs: the topics page subscribes to a pattern and shows a message
// published by `micro publish` (run here, with the test's environment),
// then one published from the page itself with a header.
import { execFileSync } from 'node:child_process';
import { open, run, assert } from './lib.mjs';

run(async () => {
  const b = await open('topics');
  const { page } = b;
  await b.goto('#/topics');
  await page.locator('#sub-topic').fill('console.>');
  await page.click('form.subscribe button[type=submit]');
  await page.locator('.sub-state.subscribed').waitFor();

  const out = execFileSync(process.env.MICRO_BIN, ['publish', 'console.greeted', '{"name":"Ada","via":"micro publish"}', '-H', 'X-Trace:t-1'],
    { env: process.env, encoding: 'utf8', timeout: 30000 });
  const published = page.locator('.topic-message', { hasText: 'micro publish' });
  await published.waitFor();
  assert.equal(await published.locator('code.topic').textContent(), 'console.greeted');
  assert.deepEqual(JSON.parse(await published.locator('.topic-body').textContent()), { name: 'Ada', via: 'micro publish' });
  assert.match(await published.locator('table.kv').textContent(), /X-Trace\s*t-1/);

  await page.locator('#pub-topic').fill('console.page');
  await page.locator('#pub-body').fill('{"from": "the console"}');
  await page.click('form.publish button.add');
  await page.locator('form.publish .hd-key').fill('X-Origin');
  await page.locator('form.publish .hd-value').fill('page');
  await page.click('form.publish button[type=submit]');
  const own = page.locator('.topic-message', { hasText: 'the console' });
  await own.waitFor();
  assert.match(await own.locator('table.kv').textContent(), /X-Origin\s*page/);
  await b.shot('topics.png');
  await b.done({ publishOutput: out });
});
