// app.js: the console's shell: configuration, login, and a router over
// the location hash (#/services, #/service/NAME/ENDPOINT, #/topics, #/load).
import { h, clear } from './dom.js';
import { getJSON, postJSON, setUnauthorizedHandler } from './api.js';
import { renderServices } from './services.js';
import { renderService } from './service.js';
import { renderTopics } from './topics.js';
import { renderLoad } from './load.js';

const main = document.getElementById('main');
const ctx = { config: null, cleanup: null };

function route() {
  if (ctx.cleanup) { try { ctx.cleanup(); } catch { /* gone */ } ctx.cleanup = null; }
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = hash.split('/');
  const params = rest.map((p) => decodeURIComponent(p));
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.page === (page === 'service' ? 'services' : page || 'services'));
  }
  clear(main);
  let cleanup;
  switch (page) {
    case 'service': cleanup = renderService(main, params[0], params[1], ctx); break;
    case 'topics': cleanup = renderTopics(main, ctx); break;
    case 'load': cleanup = renderLoad(main, ctx, params[0], params[1]); break;
    default: cleanup = renderServices(main, ctx);
  }
  ctx.cleanup = cleanup || null;
}

function showLogin() {
  if (document.getElementById('login')) return;
  clear(main);
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'current-password', placeholder: 'token' });
  const message = h('p', { class: 'error' });
  const form = h('form', {
    id: 'login', class: 'card',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await postJSON('/ui/login', { token: input.value });
        location.reload();
      } catch (err) {
        message.textContent = err.message;
      }
    },
  }, h('h2', {}, 'This gateway asks for a token'),
  h('p', { class: 'muted' }, 'Give the --auth-token of micro api. It is kept in an HttpOnly cookie for this site only.'),
  input, ' ', h('button', { type: 'submit' }, 'Sign in'), message);
  main.append(form);
  input.focus();
}

async function start() {
  setUnauthorizedHandler(showLogin);
  try {
    ctx.config = await getJSON('/ui/api/config');
  } catch (err) {
    if (err.httpStatus === 401) { showLogin(); return; }
    clear(main).append(h('p', { class: 'error' }, `Cannot read the console's configuration: ${err.message}`));
    return;
  }
  const where = document.getElementById('where');
  where.textContent = `registry: ${ctx.config.registry}` + (ctx.config.broker ? ` · broker: ${ctx.config.broker}` : '');
  if (!ctx.config.topics) document.querySelector('nav a[data-page="topics"]').classList.add('off');
  window.addEventListener('hashchange', route);
  route();
}

start();
