// history.js: the last requests of each endpoint, kept in localStorage.
const KEY = 'micro.console.history';
const PER_ENDPOINT = 20;

function load() {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

export function historyOf(service, endpoint) {
  return load().filter((e) => e.service === service && e.endpoint === endpoint).reverse();
}

export function remember(entry) {
  const all = load();
  all.push({ ...entry, at: new Date().toISOString() });
  const mine = all.filter((e) => e.service === entry.service && e.endpoint === entry.endpoint);
  const drop = new Set(mine.slice(0, Math.max(0, mine.length - PER_ENDPOINT)));
  try {
    localStorage.setItem(KEY, JSON.stringify(all.filter((e) => !drop.has(e))));
  } catch {
    // full or disabled: history is a convenience
  }
}

export function forget(service, endpoint) {
  localStorage.setItem(KEY, JSON.stringify(load().filter((e) => !(e.service === service && e.endpoint === endpoint))));
}
