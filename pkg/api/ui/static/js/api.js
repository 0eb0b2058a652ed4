// api.js: the gateway's JSON API, as the console uses it.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.httpStatus = status;
    this.code = body && typeof body.code === 'number' ? body.code : undefined;
    this.status = body && body.status;
    this.details = (body && body.details) || [];
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

async function check(res) {
  if (res.ok) return res;
  let body;
  try { body = await res.json(); } catch { body = undefined; }
  if (res.status === 401) onUnauthorized();
  throw new ApiError(res.status, body);
}

export async function getJSON(path) {
  const res = await check(await fetch(path, { headers: { Accept: 'application/json' } }));
  return res.json();
}

export async function postJSON(path, value) {
  const res = await check(await fetch(path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value),
  }));
  return res.json();
}

// streamNDJSON posts value and calls onEvent with each line of the answer
// as it arrives; it resolves when the answer ends.
export async function streamNDJSON(path, value, onEvent, signal) {
  const res = await check(await fetch(path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(value), signal,
  }));
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value: chunk, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) onEvent(JSON.parse(line));
    }
  }
  if (buffered.trim()) onEvent(JSON.parse(buffered));
}

export function servicePath(name) {
  return '/' + encodeURIComponent(name);
}
