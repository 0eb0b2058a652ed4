// services.js: every service in the registry, live from GET /events.
import { h, clear } from './dom.js';
import { getJSON, postJSON, servicePath } from './api.js';

export function transportOf(nodes) {
  const kinds = new Set(nodes.map((n) => {
    const md = n.metadata || {};
    if (md.protocol === 'mucp' || md.server === 'mucp') return 'mucp';
    return md.transport || md.protocol || 'grpc';
  }));
  return [...kinds].sort().join(', ') || '-';
}

function metadataTable(md) {
  const keys = Object.keys(md || {}).sort();
  if (!keys.length) return h('p', { class: 'muted' }, 'no metadata');
  return h('table', { class: 'kv' }, h('tbody', {}, keys.map((k) => h('tr', {}, h('th', {}, k), h('td', {}, md[k])))));
}

function nodeList(svc, health) {
  return h('div', { class: 'nodes-detail' },
    svc.nodes.map((n) => {
      const hs = health && health.get(n.id);
      return h('div', { class: 'node card', dataset: { node: n.id } },
        h('div', { class: 'node-head' },
          h('code', { class: 'address' }, n.address),
          h('span', { class: 'muted' }, ` ${n.id} · v${n.version || '?'} · `),
          h('span', { class: 'badge ' + (n.health && n.health !== 'passing' ? 'bad' : 'ok') }, n.health || 'registered'),
          hs ? h('span', { class: 'badge health ' + (hs.status === 'SERVING' ? 'ok' : 'bad'), title: hs.error || '' }, ` ${hs.status}`) : null),
        metadataTable(n.metadata));
    }));
}

export function renderServices(main, ctx) {
  const state = { services: [], open: new Set(), health: new Map(), previous: new Map() };
  const body = h('tbody');
  const note = h('p', { class: 'muted', id: 'services-note' });
  const live = document.getElementById('live');
  main.append(h('section', {},
    h('h1', {}, 'Services'),
    h('p', { class: 'muted' }, 'Live from the registry watch: rows change as nodes come and go. Healthy counts nodes whose health is passing or unknown.'),
    h('table', { class: 'services' },
      h('thead', {}, h('tr', {}, ['Service', 'Versions', 'Nodes', 'Transport', 'Registry', 'Endpoints', ''].map((t) => h('th', {}, t)))),
      body),
    note));

  function render() {
    clear(body);
    if (!state.services.length) {
      body.append(h('tr', {}, h('td', { colSpan: 7, class: 'muted' }, 'Nothing registered.')));
    }
    for (const svc of state.services) {
      const total = svc.nodes.length;
      const counts = `${svc.healthy}/${total}`;
      const before = state.previous.get(svc.name);
      const changed = before !== undefined && before !== counts;
      const link = h('a', { href: '#/service/' + encodeURIComponent(svc.name), class: 'service-name' }, svc.name);
      const toggle = h('button', {
        class: 'small', onclick: () => { state.open.has(svc.name) ? state.open.delete(svc.name) : state.open.add(svc.name); render(); },
      }, state.open.has(svc.name) ? 'Hide nodes' : 'Nodes');
      const healthButton = ctx.config.health ? h('button', {
        class: 'small', onclick: async (e) => {
          e.target.disabled = true;
          try {
            const res = await postJSON('/ui/api/health' + servicePath(svc.name), {});
            const m = state.health.get(svc.name) || new Map();
            for (const n of res.nodes) m.set(n.id, n);
            state.health.set(svc.name, m);
            state.open.add(svc.name);
          } catch (err) {
            note.textContent = `health of ${svc.name}: ${err.message}`;
          }
          render();
        },
      }, 'Check health') : null;
      body.append(h('tr', { dataset: { service: svc.name }, class: changed ? 'changed' : '' },
        h('td', {}, link),
        h('td', {}, svc.versions.join(', ')),
        h('td', { class: 'nodes ' + (svc.healthy < total ? 'degraded' : '') }, counts),
        h('td', { class: 'transport' }, transportOf(svc.nodes)),
        h('td', { class: 'registry muted' }, ctx.config.registry),
        h('td', {}, String(svc.endpoints.length)),
        h('td', { class: 'actions' }, toggle, ' ', healthButton)));
      if (state.open.has(svc.name)) {
        body.append(h('tr', { class: 'detail' }, h('td', { colSpan: 7 }, nodeList(svc, state.health.get(svc.name)))));
      }
    }
    state.previous = new Map(state.services.map((s) => [s.name, `${s.healthy}/${s.nodes.length}`]));
  }

  function update(list) {
    state.services = list;
    render();
    note.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try { update((await getJSON('/')).services); } catch (err) { note.textContent = err.message; }
    }, 50);
  }

  let source;
  function connect() {
    source = new EventSource('/events');
    source.addEventListener('services', (e) => { live.classList.add('on'); update(JSON.parse(e.data).services); });
    for (const type of ['create', 'update', 'delete']) source.addEventListener(type, refresh);
    source.addEventListener('resync', () => { source.close(); setTimeout(connect, 200); });
    source.onerror = () => { live.classList.remove('on'); };
  }
  connect();
  return () => { source.close(); clearTimeout(pending); };
}
