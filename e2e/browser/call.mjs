// call.mjs: the Greeter.Hello form with name "Ada" shows "Hello Ada" and
// the node that answered; the command "copy as micro call" gives is
// reported for the Go test to run; an error shows its code, message and
// details; Greeter.Stream shows its 3 responses in order; Greeter.Chat
// sends messages one by one; history runs a request again.
import { open, run, assert } from './lib.mjs';

run(async () => {
  const b = await open('call');
  const { page } = b;
  const nodes = (process.env.NODE_ADDRESSES || '').split(',').filter(Boolean);

  await b.goto('#/service/greeter/Greeter.Hello');
  const name = page.locator('.form-pane > .message > .field[data-field="name"] input');
  await name.fill('Ada');
  // A request header from the metadata editor; greeter echoes x-echo back
  // as a header and as a trailer.
  await page.click('.metadata-editor button.add');
  await page.locator('.metadata-editor .md-key').fill('x-echo');
  await page.locator('.metadata-editor .md-value').fill('hi');
  await page.click('button.call');
  const response = page.locator('.response-json').first();
  await response.waitFor();
  assert.match(await response.textContent(), /"message": "Hello Ada"/);
  await page.locator('.badge.code[data-code="0"]').waitFor();
  const node = (await page.locator('.node-answered').textContent()).replace(/^node /, '');
  assert.ok(nodes.includes(node), `node ${node} is not one of ${nodes.join(', ')}`);
  assert.match(await page.locator('table.response-headers').textContent(), /x-echo\s*hi/);
  assert.match(await page.locator('table.response-trailers').textContent(), /x-echo-trailer\s*hi/);
  const helloResponse = JSON.parse(await response.textContent());
  const microCommand = await page.locator('pre[data-command="micro"]').textContent();
  const curlCommand = await page.locator('pre[data-command="curl"]').textContent();
  await page.locator('pre[data-command="grpcurl"]').waitFor();
  assert.match(microCommand, /^micro call greeter Greeter\.Hello .* -H x-echo:hi$/);
  await b.shot('service.png');

  // The raw JSON tab is in sync with the form, both ways.
  await page.click('button.tab-json');
  const raw = page.locator('textarea.raw-json');
  assert.deepEqual(JSON.parse(await raw.inputValue()), { name: 'Ada' });
  await raw.fill('{"name": "Grace", "mood": "MOOD_HAPPY"}');
  await page.click('button.tab-form');
  assert.equal(await name.inputValue(), 'Grace');
  assert.equal(await page.locator('.field[data-field="mood"] select').inputValue(), 'MOOD_HAPPY');

  // An error: its code, message and decoded details.
  await name.fill('');
  await page.locator('.field[data-field="mood"] select').selectOption('');
  await page.click('button.call');
  const code = page.locator('.badge.code');
  await page.locator('.badge.code.bad').waitFor();
  assert.equal((await code.textContent()).trim(), '3 INVALID_ARGUMENT');
  assert.match(await page.locator('.error-message').textContent(), /name is required/);
  assert.match(await page.locator('.error-detail').first().textContent(), /google\.rpc\.BadRequest/);
  await b.shot('service-error.png');

  // History: the last request runs again.
  const entries = page.locator('.history-entry');
  assert.ok(await entries.count() >= 2, 'history keeps the requests');
  await entries.nth(1).locator('button.rerun').click();
  await page.locator('.badge.code[data-code="0"]').waitFor();
  assert.match(await page.locator('.response-json').first().textContent(), /Hello Ada/);

  // Server streaming: three responses, in order, as they arrive.
  await b.goto('#/service/greeter/Greeter.Stream');
  await page.locator('.endpoint[data-endpoint="Greeter.Stream"]').waitFor();
  await page.locator('.form-pane > .message > .field[data-field="name"] input').fill('Ada');
  await page.locator('.form-pane > .message > .field[data-field="count"] input').fill('3');
  await page.locator('.form-pane > .message > .field[data-field="intervalMs"] input').fill('150');
  await page.click('button.call');
  await page.locator('.message-out').first().waitFor();
  const firstSeen = await page.locator('.message-out').count();
  // The responses come 150 ms apart: the first is shown before the last has come.
  assert.ok(firstSeen < 3, `all ${firstSeen} responses appeared at once, not as they arrived`);
  await page.locator('.badge.code[data-code="0"]').waitFor();
  const streamed = await page.locator('.message-out .response-json').allTextContents();
  assert.deepEqual(streamed.map((t) => JSON.parse(t)), [1, 2, 3].map((sequence) => ({ message: 'Hello Ada', sequence })));
  await b.shot('service-stream.png');

  // Bidi streaming: messages sent one by one, answers as they come.
  await b.goto('#/service/greeter/Greeter.Chat');
  await page.locator('.endpoint[data-endpoint="Greeter.Chat"]').waitFor();
  await page.click('button.open-stream');
  const chatName = page.locator('.form-pane > .message > .field[data-field="name"] input');
  for (const who of ['Ada', 'Grace']) {
    await chatName.fill(who);
    await page.click('button.send');
    await page.locator('.message-out', { hasText: `Hello ${who}` }).waitFor();
  }
  await page.click('button.close-send');
  await page.locator('.badge.code[data-code="0"]').waitFor();
  const chat = await page.locator('.message-out .response-json').allTextContents();
  assert.deepEqual(chat.map((t) => JSON.parse(t).message), ['Hello Ada', 'Hello Grace']);

  await b.done({ helloResponse, node, microCommand, curlCommand, streamed, firstSeen, chat });
});
