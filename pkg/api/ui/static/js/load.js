// load.js: a bounded load run of a unary endpoint from the browser
// (capped by the gateway), with requests per second over time and the
// latency histogram drawn as the figures come in.
import { h, s, clear, formatMs } from './dom.js';
import { getJSON, streamNDJSON, servicePath } from './api.js';

const W = 560;
const H = 220;
const PAD = 36;

function rpsChart(points, durationMs) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart rps-chart', role: 'img' });
  const maxY = Math.max(1, ...points.map((p) => p.rps)) * 1.1;
  const maxX = Math.max(durationMs, ...points.map((p) => p.ms), 1);
  const x = (ms) => PAD + (ms / maxX) * (W - PAD - 10);
  const y = (v) => H - PAD - (v / maxY) * (H - PAD - 10);
  svg.append(s('line', { x1: PAD, y1: H - PAD, x2: W - 10, y2: H - PAD, class: 'axis' }));
  svg.append(s('line', { x1: PAD, y1: 10, x2: PAD, y2: H - PAD, class: 'axis' }));
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    svg.append(s('text', { x: PAD - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, String(Math.round(v))));
  }
  svg.append(s('text', { x: W - 10, y: H - 8, class: 'tick', 'text-anchor': 'end' }, `${(maxX / 1000).toFixed(1)} s`));
  svg.append(s('text', { x: PAD + 4, y: 16, class: 'label' }, 'requests per second'));
  if (points.length > 1) {
    svg.append(s('polyline', { class: 'rps-line', points: points.map((p) => `${x(p.ms).toFixed(1)},${y(p.rps).toFixed(1)}`).join(' ') }));
  }
  return svg;
}

function histogram(bounds, counts) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart histogram', role: 'img' });
  const n = counts.length;
  const maxC = Math.max(1, ...counts);
  const bw = (W - PAD - 10) / n;
  svg.append(s('line', { x1: PAD, y1: H - PAD, x2: W - 10, y2: H - PAD, class: 'axis' }));
  svg.append(s('text', { x: PAD + 4, y: 16, class: 'label' }, 'latency histogram (calls per bucket, ms)'));
  counts.forEach((c, i) => {
    const bh = (c / maxC) * (H - PAD - 24);
    svg.append(s('rect', {
      x: (PAD + i * bw + 1).toFixed(1), y: (H - PAD - bh).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: bh.toFixed(1),
      class: 'bar', 'data-count': c,
    }, s('title', {}, `${i ? bounds[i - 1] : 0}–${i < bounds.length ? bounds[i] : '∞'} ms: ${c}`)));
    if (i % 2 === 0) {
      svg.append(s('text', { x: (PAD + i * bw + bw / 2).toFixed(1), y: H - PAD + 14, class: 'tick', 'text-anchor': 'middle' }, i < bounds.length ? String(bounds[i]) : '∞'));
    }
  });
  return svg;
}

export function renderLoad(main, ctx, service, endpoint) {
  const svcSelect = h('select', { id: 'load-service' });
  const epSelect = h('select', { id: 'load-endpoint' });
  const request = h('textarea', { id: 'load-request', rows: 4 }, '{}');
  const concurrency = h('input', { type: 'number', id: 'load-concurrency', min: '1', max: String(ctx.config.maxConcurrency), value: '4', class: 'num' });
  const duration = h('input', { type: 'number', id: 'load-duration', min: '1', max: String(ctx.config.maxBenchMillis / 1000), value: '5', step: '1', class: 'num' });
  const summary = h('div', { class: 'load-summary' });
  const charts = h('div', { class: 'charts' }, rpsChart([], 5000), histogram([], []));
  let abort = null;
  let schemas = {};

  async function loadEndpoints() {
    clear(epSelect);
    const name = svcSelect.value;
    if (!name) return;
    try {
      const svc = await getJSON('/ui/api/describe' + servicePath(name));
      schemas = svc;
      for (const e of svc.endpoints.filter((x) => x.stream === 'unary' && x.method)) {
        epSelect.append(h('option', { value: e.name, selected: e.name === endpoint }, e.name));
      }
    } catch (err) {
      summary.textContent = err.message;
    }
  }
  (async () => {
    try {
      const index = await getJSON('/');
      for (const svc of index.services) svcSelect.append(h('option', { value: svc.name, selected: svc.name === service }, svc.name));
      await loadEndpoints();
    } catch (err) {
      summary.textContent = err.message;
    }
  })();
  svcSelect.addEventListener('change', loadEndpoints);

  async function start(e) {
    e.preventDefault();
    if (abort) abort.abort();
    abort = new AbortController();
    let body;
    try { body = JSON.parse(request.value || '{}'); } catch (err) { summary.textContent = `The request is not JSON: ${err.message}`; return; }
    const points = [];
    const durationMs = Number(duration.value) * 1000;
    summary.textContent = 'running…';
    try {
      await streamNDJSON('/ui/api/bench', {
        service: svcSelect.value, endpoint: epSelect.value, request: body,
        concurrency: Number(concurrency.value), durationMs,
      }, (rep) => {
        if (rep.event === 'tick') points.push({ ms: rep.ms, rps: rep.rps });
        clear(charts).append(rpsChart(points, rep.durationMs), histogram(rep.bounds, rep.counts));
        clear(summary).append(
          h('span', { class: 'badge' + (rep.event === 'end' ? ' ok done' : '') }, rep.event === 'end' ? 'done' : 'running'), ' ',
          `${rep.count} calls · ${rep.errors} errors · ${Math.round(rep.rps)} rps${rep.event === 'end' ? ' overall' : ''} · p50 ${formatMs(rep.p50)} · p90 ${formatMs(rep.p90)} · p99 ${formatMs(rep.p99)} · concurrency ${rep.concurrency}${rep.capped ? ' (capped by the gateway)' : ''}`,
          h('p', { class: 'error' }, rep.lastError ? `last error: ${rep.lastError}` : ''));
      }, abort.signal);
    } catch (err) {
      if (err.name !== 'AbortError') summary.textContent = err.message;
    }
  }

  main.append(h('section', { class: 'load' },
    h('h1', {}, 'Load'),
    h('p', { class: 'muted' }, `A bounded run of a unary endpoint through the gateway: at most ${ctx.config.maxConcurrency} concurrent callers for at most ${ctx.config.maxBenchMillis / 1000} s, one run at a time.`),
    h('form', { class: 'card load-form', onsubmit: start },
      h('label', {}, 'Service ', svcSelect), ' ', h('label', {}, 'Endpoint ', epSelect),
      h('label', {}, 'Request ', request),
      h('label', {}, 'Concurrency ', concurrency), ' ', h('label', {}, 'Duration (s) ', duration), ' ',
      h('button', { type: 'submit', class: 'primary run-load' }, 'Run'), ' ',
      h('button', { type: 'button', onclick: () => abort && abort.abort() }, 'Stop')),
    summary, charts));
  void schemas;
  return () => { if (abort) abort.abort(); };
}
