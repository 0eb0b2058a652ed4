// service.js: one service: its endpoints with schemas, a form per
// endpoint, the call and what came back, commands, history.
import { h, clear, pretty, copyText, formatMs } from './dom.js';
import { getJSON, postJSON, streamNDJSON, servicePath } from './api.js';
import { messageEditor, schemaView } from './form.js';
import { commandsFor } from './commands.js';
import { historyOf, remember, forget } from './history.js';
import { transportOf } from './services.js';

const KIND = { unary: 'unary', server: 'server streaming', client: 'client streaming', bidi: 'bidi streaming' };

export function renderService(main, name, endpointName, ctx) {
  const section = h('section', { class: 'service' }, h('h1', {}, name), h('p', { class: 'muted' }, 'Loading…'));
  main.append(section);
  const cleanups = [];
  (async () => {
    let svc;
    try {
      svc = await getJSON('/ui/api/describe' + servicePath(name));
    } catch (err) {
      clear(section).append(h('h1', {}, name), h('p', { class: 'error' }, err.message));
      return;
    }
    const ep = svc.endpoints.find((e) => e.name === endpointName) || svc.endpoints[0];
    clear(section).append(
      h('h1', {}, h('a', { href: '#/services' }, 'Services'), ' / ', h('span', { class: 'service-title' }, svc.name)),
      h('p', { class: 'muted' }, `versions ${svc.versions.join(', ')} · ${svc.healthy}/${svc.nodes.length} nodes · ${transportOf(svc.nodes)} · ${svc.registry} · schemas from ${svc.source}`),
      h('div', { class: 'columns' },
        h('nav', { class: 'endpoints' }, svc.endpoints.map((e) => h('a', {
          href: `#/service/${encodeURIComponent(svc.name)}/${encodeURIComponent(e.name)}`,
          class: e === ep ? 'active' : '', dataset: { endpoint: e.name },
        }, h('span', {}, e.name), h('span', { class: 'badge kind-' + e.stream }, KIND[e.stream] || e.stream)))),
        ep ? endpointPanel(svc, ep, ctx, cleanups) : h('p', { class: 'muted' }, 'No endpoints.')));
  })();
  return () => cleanups.forEach((f) => f());
}

function metadataEditor() {
  const rows = h('div', { class: 'list' });
  const items = [];
  const add = (k = '', v = '') => {
    const key = h('input', { type: 'text', placeholder: 'x-header', value: k, class: 'md-key' });
    const value = h('input', { type: 'text', placeholder: 'value', value: v, class: 'md-value' });
    const row = h('div', { class: 'item' }, key, ' : ', value, h('button', {
      type: 'button', class: 'small remove', onclick: () => { items.splice(items.indexOf(entry), 1); row.remove(); },
    }, '−'));
    const entry = { key, value, row };
    items.push(entry);
    rows.append(row);
  };
  return {
    el: h('div', { class: 'metadata-editor' }, rows, h('button', { type: 'button', class: 'small add', onclick: () => add() }, '+ header')),
    get: () => {
      const out = {};
      for (const i of items) if (i.key.value.trim()) out[i.key.value.trim().toLowerCase()] = i.value.value;
      return out;
    },
    set: (md) => { items.splice(0).forEach((i) => i.row.remove()); for (const [k, v] of Object.entries(md || {})) add(k, v); },
  };
}

function kvTable(md, cls) {
  const keys = Object.keys(md || {}).sort();
  if (!keys.length) return h('p', { class: 'muted ' + cls }, 'none');
  return h('table', { class: 'kv ' + cls }, h('tbody', {}, keys.map((k) => h('tr', {}, h('th', {}, k), h('td', {}, md[k])))));
}

function endpointPanel(svc, ep, ctx, cleanups) {
  const schema = { messages: svc.messages, enums: svc.enums };
  const hasForm = !!ep.requestType;
  const editor = hasForm ? messageEditor(schema, ep.requestType) : null;
  const raw = h('textarea', { class: 'raw-json', rows: 12, spellcheck: false });
  const rawError = h('p', { class: 'error small' });
  const metadata = metadataEditor();
  const formPane = h('div', { class: 'pane form-pane' }, editor ? editor.el : h('p', { class: 'muted' }, 'No descriptors: write the request as JSON.'));
  const rawPane = h('div', { class: 'pane raw-pane hidden' }, raw, rawError);
  let tab = hasForm ? 'form' : 'json';
  const syncToRaw = () => { if (editor) raw.value = pretty(editor.get()); };
  const tabs = h('div', { class: 'tabs' },
    h('button', { type: 'button', class: 'tab tab-form', onclick: () => showTab('form'), disabled: !hasForm }, 'Form'),
    h('button', { type: 'button', class: 'tab tab-json', onclick: () => showTab('json') }, 'JSON'));
  function showTab(t) {
    if (t === 'json' && tab === 'form') syncToRaw();
    tab = t;
    formPane.classList.toggle('hidden', t !== 'form');
    rawPane.classList.toggle('hidden', t !== 'json');
    tabs.querySelector('.tab-form').classList.toggle('active', t === 'form');
    tabs.querySelector('.tab-json').classList.toggle('active', t === 'json');
  }
  if (editor) {
    formPane.addEventListener('input', syncToRaw);
    formPane.addEventListener('change', syncToRaw);
    raw.addEventListener('input', () => {
      try {
        editor.set(JSON.parse(raw.value || '{}'));
        rawError.textContent = '';
      } catch (err) {
        rawError.textContent = 'not JSON yet: ' + err.message;
      }
    });
    syncToRaw();
  } else {
    raw.value = '{}';
  }
  showTab(tab);
  const requestText = () => (editor && tab === 'form' ? pretty(editor.get()) : raw.value);
  const timeout = h('input', { type: 'number', min: '0', step: '100', class: 'num timeout', placeholder: String(ctx.config.timeoutMillis) });

  const result = h('div', { class: 'result' });
  const commands = h('div', { class: 'commands' });
  const history = h('div', { class: 'history' });
  let lastNode = (svc.nodes[0] || {}).address;

  function showCommands() {
    clear(commands);
    const cmds = commandsFor({
      service: svc.name, endpoint: ep.name, method: ep.method, stream: ep.stream, request: requestText(),
      metadata: metadata.get(), origin: location.origin, auth: ctx.config.auth, node: lastNode,
      protoset: `${svc.name}.binpb`,
    });
    for (const [kind, label] of [['micro', 'micro call'], ['curl', 'curl'], ['buf', 'buf curl'], ['grpcurl', 'grpcurl']]) {
      if (!cmds[kind]) continue;
      const pre = h('pre', { class: 'command', dataset: { command: kind } }, cmds[kind]);
      const copied = h('span', { class: 'muted small' });
      commands.append(h('div', { class: 'command-row' },
        h('button', {
          type: 'button', class: 'small copy', dataset: { copy: kind },
          onclick: async () => { copied.textContent = (await copyText(cmds[kind])) ? ' copied' : ' select and copy'; },
        }, `Copy as ${label}`), copied, pre));
    }
    if (ep.method) {
      commands.append(h('p', { class: 'muted small' }, 'buf curl reads the schema from ',
        h('a', { href: '/ui/api/protoset' + servicePath(svc.name), download: `${svc.name}.binpb` }, `${svc.name}.binpb`),
        '; grpcurl goes straight to the node, by reflection.'));
    }
  }

  function showHistory() {
    clear(history);
    const entries = historyOf(svc.name, ep.name);
    if (!entries.length) { history.append(h('p', { class: 'muted' }, 'No requests yet.')); return; }
    history.append(h('button', { type: 'button', class: 'small', onclick: () => { forget(svc.name, ep.name); showHistory(); } }, 'Clear'));
    history.append(h('ul', {}, entries.map((e) => h('li', { class: 'history-entry' },
      h('button', {
        type: 'button', class: 'small rerun', onclick: () => {
          raw.value = e.request;
          if (editor) { try { editor.set(JSON.parse(e.request)); } catch { /* raw only */ } }
          metadata.set(e.metadata);
          run();
        },
      }, 'Run again'), ' ',
      h('span', { class: 'muted' }, `${new Date(e.at).toLocaleTimeString()} · ${e.status || ''} · ${formatMs(e.ms)} `),
      h('code', {}, e.request.replace(/\s+/g, ' ').slice(0, 120))))));
  }

  let session = null;
  let abort = null;
  function view() {
    const status = h('div', { class: 'status' }, h('span', { class: 'badge' }, 'calling…'));
    const node = h('span', { class: 'node-answered' });
    const latency = h('span', { class: 'latency' });
    const messages = h('ol', { class: 'messages' });
    const headers = h('div', { class: 'headers' });
    const trailers = h('div', { class: 'trailers' });
    const error = h('div', { class: 'call-error' });
    clear(result).append(h('div', { class: 'result-head' }, status, ' ', latency, ' ', node), error,
      h('h3', {}, 'Response'), messages, h('h3', {}, 'Headers'), headers, h('h3', {}, 'Trailers'), trailers);
    return {
      event(ev) {
        switch (ev.event) {
          case 'node': lastNode = ev.address; node.textContent = `node ${ev.address}`; break;
          case 'header': clear(headers).append(kvTable(ev.metadata, 'response-headers')); break;
          case 'trailer': clear(trailers).append(kvTable(ev.metadata, 'response-trailers')); break;
          case 'message':
            messages.append(h('li', { class: 'message-out', dataset: { sequence: ev.sequence } },
              h('span', { class: 'muted small' }, `#${ev.sequence} at ${formatMs(ev.ms)}`), h('pre', { class: 'response-json' }, pretty(ev.message))));
            break;
          case 'end': {
            clear(status).append(h('span', { class: 'badge code ' + (ev.code === 0 ? 'ok' : 'bad'), dataset: { code: ev.code } }, `${ev.code} ${ev.status}`));
            latency.textContent = formatMs(ev.ms);
            if (ev.code !== 0) {
              error.append(h('p', { class: 'error error-message' }, ev.error || ''));
              for (const d of ev.details || []) error.append(h('pre', { class: 'error-detail' }, pretty(d)));
            }
            break;
          }
          default:
        }
      },
      fail(err) {
        clear(status).append(h('span', { class: 'badge code bad', dataset: { code: err.code ?? '' } }, `${err.code ?? ''} ${err.status || 'ERROR'}`));
        error.append(h('p', { class: 'error error-message' }, err.message));
        for (const d of err.details || []) error.append(h('pre', { class: 'error-detail' }, pretty(d)));
        return { code: err.code, status: err.status };
      },
    };
  }

  function parseRequest() {
    const text = requestText();
    try {
      return { text, value: JSON.parse(text || '{}') };
    } catch (err) {
      clear(result).append(h('p', { class: 'error' }, `The request is not JSON: ${err.message}`));
      return null;
    }
  }

  async function run() {
    const req = parseRequest();
    if (!req) return;
    showCommands();
    const md = metadata.get();
    const v = view();
    let end = {};
    const started = performance.now();
    if (abort) abort.abort();
    abort = new AbortController();
    try {
      await streamNDJSON('/ui/api/call', {
        service: svc.name, endpoint: ep.name, request: req.value, metadata: md, timeoutMs: Number(timeout.value) || 0,
      }, (ev) => { v.event(ev); if (ev.event === 'end') end = ev; }, abort.signal);
    } catch (err) {
      if (err.name === 'AbortError') return;
      end = v.fail(err);
    }
    remember({ service: svc.name, endpoint: ep.name, request: req.text, metadata: md, status: end.status, ms: end.ms ?? performance.now() - started });
    showHistory();
  }

  // Client and bidi streams: a session, messages sent one at a time.
  async function openStream() {
    if (session) return;
    showCommands();
    const md = metadata.get();
    const v = view();
    let opened;
    try {
      opened = await postJSON('/ui/api/sessions', { service: svc.name, endpoint: ep.name, metadata: md, timeoutMs: Number(timeout.value) || 0 });
    } catch (err) {
      v.fail(err);
      return;
    }
    const source = new EventSource(`/ui/api/sessions/${opened.id}/events`);
    session = { id: opened.id, source, sent: 0 };
    for (const type of ['node', 'header', 'message', 'trailer', 'end']) {
      source.addEventListener(type, (e) => {
        const ev = JSON.parse(e.data);
        v.event(ev);
        if (type === 'end') {
          source.close();
          remember({ service: svc.name, endpoint: ep.name, request: requestText(), metadata: md, status: ev.status, ms: ev.ms });
          session = null;
          streamButtons();
          showHistory();
        }
      });
    }
    streamButtons();
  }
  async function sendOne() {
    const req = parseRequest();
    if (!req || !session) return;
    try {
      const res = await postJSON(`/ui/api/sessions/${session.id}/send`, req.value);
      session.sent = res.sent;
      sentNote.textContent = `${res.sent} sent`;
    } catch (err) {
      sentNote.textContent = err.message;
    }
  }
  async function closeSend() {
    if (session) await postJSON(`/ui/api/sessions/${session.id}/close`, {});
  }
  async function cancelStream() {
    if (session) await fetch(`/ui/api/sessions/${session.id}`, { method: 'DELETE' });
  }
  cleanups.push(() => { if (session) { session.source.close(); cancelStream(); } if (abort) abort.abort(); });

  const sentNote = h('span', { class: 'muted sent' });
  const actions = h('div', { class: 'actions' });
  const streaming = ep.stream === 'client' || ep.stream === 'bidi';
  function streamButtons() {
    clear(actions);
    if (!streaming) {
      actions.append(h('button', { type: 'button', class: 'primary call', onclick: run }, 'Call'));
      if (ep.stream === 'unary' && ep.method) actions.append(' ', h('a', { href: `#/load/${encodeURIComponent(svc.name)}/${encodeURIComponent(ep.name)}` }, 'Load test'));
      return;
    }
    if (!ctx.config.streams) {
      actions.append(h('p', { class: 'muted' }, 'This gateway cannot open client or bidi streams.'));
      return;
    }
    if (!session) {
      actions.append(h('button', { type: 'button', class: 'primary open-stream', onclick: openStream }, 'Open stream'));
    } else {
      actions.append(
        h('button', { type: 'button', class: 'primary send', onclick: sendOne }, 'Send message'), ' ',
        h('button', { type: 'button', class: 'close-send', onclick: closeSend }, 'Close sending'), ' ',
        h('button', { type: 'button', class: 'cancel', onclick: cancelStream }, 'Cancel'), ' ', sentNote);
    }
  }
  streamButtons();
  showCommands();
  showHistory();

  return h('div', { class: 'endpoint', dataset: { endpoint: ep.name } },
    h('h2', {}, ep.name, ' ', h('span', { class: 'badge kind-' + ep.stream }, KIND[ep.stream] || ep.stream)),
    ep.method ? h('p', {}, h('code', {}, ep.method)) : null,
    ep.description ? h('p', { class: 'comment' }, ep.description) : null,
    h('details', { class: 'schemas' }, h('summary', {}, 'Request and response schemas'),
      h('div', { class: 'columns two' },
        h('div', {}, h('h3', {}, 'Request'), ep.requestType ? schemaView(schema, ep.requestType) : h('pre', {}, pretty(ep.request))),
        h('div', {}, h('h3', {}, 'Response'), ep.responseType ? schemaView(schema, ep.responseType) : h('pre', {}, pretty(ep.response))))),
    h('div', { class: 'columns two' },
      h('div', { class: 'request card' },
        h('h3', {}, 'Request'), tabs, formPane, rawPane,
        h('h3', {}, 'Metadata'), metadata.el,
        h('p', {}, h('label', {}, 'Timeout (ms) ', timeout)),
        actions,
        h('h3', {}, 'Copy as command'), commands,
        h('h3', {}, 'History'), history),
      h('div', { class: 'response card' }, result)));
}
