// kitchen.mjs: a field of each kind of kitchen.v1.Order (the project's
// kitchen-sink test proto) filled in the form, sent to the kitchen echo
// server and shown back as sent; then the answer pasted in the JSON tab
// fills the form again, field by field.
import { open, run, assert } from './lib.mjs';

const expected = {
  name: 'Ada',
  big: '9007199254740993',
  ubig: '18446744073709551615',
  small: -7,
  ratio: 0.25,
  ok: true,
  blob: 'aGVsbG8=',
  colour: 'COLOUR_GREEN',
  tags: ['a', 'b'],
  counts: { x: '5' },
  item: { sku: 'S1', qty: 2, unitPrice: '300' },
  items: [{ sku: 'S2' }],
  extra: { '@type': 'type.googleapis.com/kitchen.v1.Item', sku: 'S3' },
  at: '2024-01-02T03:04:05Z',
  wait: '1.500s',
  attrs: { k: 'v', n: 1 },
  maybe: '42',
  mask: 'name,item.sku',
  code: 'C1',
  opt: 7,
};

// The form writes a Duration as "1.5s"; the server's JSON says "1.500s".
const expectedSent = { ...expected, wait: '1.5s' };

run(async () => {
  const b = await open('kitchen');
  const { page } = b;
  await b.goto('#/service/kitchen/Kitchen.Place');
  // The proto comments, from descriptors compiled from the .proto.
  assert.match(await page.locator('.endpoint > p.comment').textContent(), /Place answers with the order it was given/);
  await page.locator('details.schemas summary').click();
  assert.match(await page.locator('details.schemas').textContent(), /Order has a field of each kind/);
  await page.locator('details.schemas summary').click();
  const top = (f) => page.locator(`.form-pane > .message > .field[data-field="${f}"]`);
  const input = (f) => top(f).locator('.field-input input').first();

  await input('name').fill('Ada');
  await input('big').fill('9007199254740993');
  await input('ubig').fill('18446744073709551615');
  await input('small').fill('-7');
  await input('ratio').fill('0.25');
  await input('ok').check();
  await input('blob').fill('aGVsbG8=');
  await top('colour').locator('select').selectOption('COLOUR_GREEN');
  await top('tags').locator('button.add').click();
  await top('tags').locator('button.add').click();
  await top('tags').locator('.item input').nth(0).fill('a');
  await top('tags').locator('.item input').nth(1).fill('b');
  await top('counts').locator('button.add').click();
  await top('counts').locator('.item input.map-key').fill('x');
  await top('counts').locator('.item input').nth(1).fill('5');
  const item = top('item').locator('.message.nested');
  await item.locator('.field[data-field="sku"] input').fill('S1');
  await item.locator('.field[data-field="qty"] input').fill('2');
  await item.locator('.field[data-field="unitPrice"] input').fill('300');
  await top('items').locator('button.add').click();
  await top('items').locator('.item .field[data-field="sku"] input').fill('S2');
  await top('extra').locator('textarea').fill('{"@type": "type.googleapis.com/kitchen.v1.Item", "sku": "S3"}');
  await input('at').fill('2024-01-02T03:04:05');
  await input('wait').fill('1.5');
  await top('attrs').locator('textarea').fill('{"k": "v", "n": 1}');
  await input('maybe').fill('42');
  await input('mask').fill('name,item.sku');
  await top('choice').locator('select.oneof').selectOption('code');
  await top('choice').locator('.oneof-field .field[data-field="code"] input').fill('C1');
  await input('opt').fill('7');

  // The JSON tab shows what the form says.
  await page.click('button.tab-json');
  const raw = page.locator('textarea.raw-json');
  const sent = JSON.parse(await raw.inputValue());
  assert.deepEqual(sent, expectedSent, 'the form writes each kind of field as protobuf JSON');
  await page.click('button.tab-form');
  await b.shot('kitchen-form.png');

  await page.click('button.call');
  await page.locator('.badge.code[data-code="0"]').waitFor();
  const got = JSON.parse(await page.locator('.response-json').first().textContent());
  assert.deepEqual(got, expected, 'the echo server answers with what the form sent');
  await page.locator('.response').scrollIntoViewIfNeeded();
  await b.shot('kitchen.png');

  // Back: the answer in the JSON tab fills the form.
  await page.click('button.tab-json');
  await raw.fill('{}');
  await raw.fill(JSON.stringify(got));
  await page.click('button.tab-form');
  assert.equal(await input('big').inputValue(), '9007199254740993');
  assert.equal(await top('colour').locator('select').inputValue(), 'COLOUR_GREEN');
  assert.equal(await top('choice').locator('select.oneof').inputValue(), 'code');
  assert.equal(await input('at').inputValue(), '2024-01-02T03:04:05');
  assert.equal(await input('wait').inputValue(), '1.5');
  assert.equal(await item.locator('.field[data-field="unitPrice"] input').inputValue(), '300');
  await page.click('button.tab-json');
  assert.deepEqual(JSON.parse(await raw.inputValue()), expectedSent, 'the form, filled from JSON, writes the same JSON');

  await b.done({ sent, got });
});
