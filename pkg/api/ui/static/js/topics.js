// topics.js: subscribe to a topic pattern and watch messages live;
// publish a message with headers and an optional protobuf type.
import { h, clear, pretty } from './dom.js';
import { postJSON } from './api.js';

function headerEditor() {
  const rows = h('div', { class: 'list' });
  const items = [];
  const add = () => {
    const key = h('input', { type: 'text', placeholder: 'Header', class: 'hd-key' });
    const value = h('input', { type: 'text', placeholder: 'value', class: 'hd-value' });
    const row = h('div', { class: 'item' }, key, ' : ', value,
      h('button', { type: 'button', class: 'small remove', onclick: () => { items.splice(items.indexOf(entry), 1); row.remove(); } }, '−'));
    const entry = { key, value };
    items.push(entry);
    rows.append(row);
  };
  return {
    el: h('div', {}, rows, h('button', { type: 'button', class: 'small add', onclick: add }, '+ header')),
    get: () => Object.fromEntries(items.filter((i) => i.key.value.trim()).map((i) => [i.key.value.trim(), i.value.value])),
  };
}

function messageView(m) {
  const headers = Object.keys(m.header || {}).sort();
  let body;
  if (m.json !== undefined && m.json !== null) body = h('pre', { class: 'topic-body json' }, pretty(m.json));
  else if (m.text !== undefined && m.text !== '') body = h('pre', { class: 'topic-body text' }, m.text);
  else body = h('pre', { class: 'topic-body base64' }, `base64: ${m.base64}`);
  return h('li', { class: 'topic-message card', dataset: { topic: m.topic } },
    h('div', { class: 'message-head' },
      h('code', { class: 'topic' }, m.topic), ' ',
      h('span', { class: 'muted' }, `${new Date(m.receivedAt).toLocaleTimeString()} · ${m.size} bytes`),
      m.type ? h('span', { class: 'badge' }, m.type) : null,
      m.dropped ? h('span', { class: 'badge bad' }, `${m.dropped} dropped before`) : null),
    headers.length ? h('table', { class: 'kv' }, h('tbody', {}, headers.map((k) => h('tr', {}, h('th', {}, k), h('td', {}, (m.header[k] || []).join(', ')))))) : null,
    m.decodeError ? h('p', { class: 'error' }, m.decodeError) : null,
    body);
}

export function renderTopics(main, ctx) {
  if (!ctx.config.topics) {
    main.append(h('section', {}, h('h1', {}, 'Topics'), h('p', { class: 'muted' }, 'This gateway has no broker, so the topics page is off.')));
    return null;
  }
  const pattern = h('input', { type: 'text', id: 'sub-topic', placeholder: 'topic or pattern (greeter.*, events.>)', value: '>' });
  const subType = h('input', { type: 'text', id: 'sub-type', placeholder: 'decode protobuf as (pkg.Message), optional' });
  const subService = h('input', { type: 'text', id: 'sub-service', placeholder: 'service with its descriptors, optional' });
  const state = h('span', { class: 'muted sub-state' });
  const list = h('ol', { class: 'topic-messages', reversed: true });
  let source = null;
  const stop = () => { if (source) { source.close(); source = null; state.textContent = 'not subscribed'; } };
  const subscribe = (e) => {
    e.preventDefault();
    stop();
    const q = new URLSearchParams({ topic: pattern.value });
    if (subType.value) q.set('type', subType.value);
    if (subService.value) q.set('service', subService.value);
    source = new EventSource('/ui/api/subscribe?' + q);
    state.textContent = 'subscribing…';
    source.addEventListener('subscribed', (ev) => { state.textContent = `subscribed to ${JSON.parse(ev.data).topic}`; state.classList.add('subscribed'); });
    source.addEventListener('message', (ev) => {
      list.prepend(messageView(JSON.parse(ev.data)));
      while (list.children.length > 200) list.lastChild.remove();
    });
    source.onerror = () => { state.textContent = 'disconnected; retrying…'; };
  };

  const topic = h('input', { type: 'text', id: 'pub-topic', placeholder: 'topic' });
  const body = h('textarea', { id: 'pub-body', rows: 6, placeholder: '{"name": "Ada"}' });
  const pubType = h('input', { type: 'text', id: 'pub-type', placeholder: 'send as protobuf type (pkg.Message), optional' });
  const pubService = h('input', { type: 'text', id: 'pub-service', placeholder: 'service with its descriptors, optional' });
  const headers = headerEditor();
  const published = h('p', { class: 'muted pub-result' });
  const publish = async (e) => {
    e.preventDefault();
    try {
      const res = await postJSON('/ui/api/publish', { topic: topic.value, body: body.value, header: headers.get(), type: pubType.value, service: pubService.value });
      published.textContent = `published ${res.size} bytes to ${res.topic}`;
    } catch (err) {
      published.textContent = err.message;
    }
  };

  main.append(h('section', { class: 'topics' },
    h('h1', {}, 'Topics'),
    h('div', { class: 'columns two' },
      h('form', { class: 'card subscribe', onsubmit: subscribe },
        h('h2', {}, 'Subscribe'), h('label', {}, 'Pattern ', pattern), h('label', {}, 'Type ', subType), h('label', {}, 'Service ', subService),
        h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Subscribe'), ' ', h('button', { type: 'button', onclick: stop }, 'Stop'), ' ', state)),
      h('form', { class: 'card publish', onsubmit: publish },
        h('h2', {}, 'Publish'), h('label', {}, 'Topic ', topic), h('label', {}, 'Body ', body), h('label', {}, 'Type ', pubType),
        h('label', {}, 'Service ', pubService), h('div', {}, 'Headers', headers.el),
        h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Publish'), ' ', published))),
    h('h2', {}, 'Messages'), list));
  return () => { stop(); clear(list); };
}
