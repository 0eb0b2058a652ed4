// auth.mjs: against a gateway with --auth-token, the console asks for the
// token, refuses a wrong one, and with the right one shows the services
// live (the EventSource carries the HttpOnly cookie, which page scripts
// cannot read).
import { open, run, assert } from './lib.mjs';

run(async () => {
  const b = await open('auth');
  const { page } = b;
  await b.goto('#/services');
  await page.locator('#login').waitFor();
  await page.locator('#token').fill('wrong');
  await page.click('#login button[type=submit]');
  await page.locator('#login .error', { hasText: 'wrong token' }).waitFor();
  await page.locator('#token').fill(process.env.API_TOKEN);
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => document.querySelector('tr[data-service="greeter"] td.nodes')?.textContent.includes('/'));
  assert.equal(await page.evaluate(() => document.cookie), '', 'the token cookie is not readable by scripts');
  await page.locator('.live.on').waitFor();
  await b.done({});
});
