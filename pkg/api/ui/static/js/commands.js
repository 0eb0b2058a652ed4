// commands.js: a request as command lines that make it again: micro call,
// curl (plain route), buf curl (Connect) and grpcurl (straight to a node).

// quote quotes s for a POSIX shell.
export function quote(s) {
  s = String(s);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

function compact(json) {
  try { return JSON.stringify(JSON.parse(json)); } catch { return json.trim(); }
}

function headerPairs(metadata) {
  return Object.entries(metadata || {}).filter(([k]) => k.trim() !== '');
}

// commandsFor returns {micro, curl, buf, grpcurl} for a call.
export function commandsFor({ service, endpoint, method, stream, request, metadata, origin, auth, node, protoset }) {
  const body = compact(request || '{}');
  const headers = headerPairs(metadata);
  const out = {};
  const verb = stream === 'unary' ? 'call' : 'stream';
  out.micro = ['micro', verb, quote(service), quote(endpoint), quote(body),
    ...headers.flatMap(([k, v]) => ['-H', quote(`${k}:${v}`)])].join(' ');
  if (stream === 'client' || stream === 'bidi') {
    // micro stream reads the requests from stdin, one JSON value a line.
    out.micro = ['printf', quote('%s\\n'), quote(body), '|', 'micro', 'stream', quote(service), quote(endpoint),
      ...headers.flatMap(([k, v]) => ['-H', quote(`${k}:${v}`)])].join(' ');
  }
  const authHeader = auth ? ['-H', '"Authorization: Bearer $MICRO_API_TOKEN"'] : [];
  if (stream === 'unary' || stream === 'server') {
    out.curl = ['curl', '-sS', stream === 'server' ? '-N' : null, '-H', quote('Content-Type: application/json'), ...authHeader,
      ...headers.flatMap(([k, v]) => ['-H', quote(`${k}: ${v}`)]),
      '-d', quote(body), quote(`${origin}/${encodeURIComponent(service)}/${endpoint}`)].filter(Boolean).join(' ');
    if (method) {
      out.buf = ['buf', 'curl', '--protocol', 'connect', '--schema', quote(protoset || `${service}.binpb`), ...authHeader,
        ...headers.flatMap(([k, v]) => ['-H', quote(`${k}: ${v}`)]),
        '-d', quote(body), quote(origin + method)].join(' ');
    }
  } else {
    out.curl = '# client and bidi streams are not served on the plain routes; use micro stream or grpcurl';
  }
  if (method && node) {
    out.grpcurl = ['grpcurl', '-plaintext', ...headers.flatMap(([k, v]) => ['-H', quote(`${k}: ${v}`)]),
      '-d', quote(body), quote(node), quote(method.replace(/^\//, ''))].join(' ');
  }
  return out;
}
