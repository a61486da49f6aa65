// The daemon's native API, relative to the page (<prefix>/ui/ → <prefix>/v1/…),
// so the page works wherever the handler is mounted. The bearer token is
// asked once and kept in sessionStorage; it is sent as a header, never in a
// URL. Behind an embedder's own authentication no token is needed: calls
// go without one until the daemon answers 401.

const TOKEN_KEY = 'dockpack.token';
const base = new URL('../', location.href);

export class ApiError extends Error {
  constructor(status, code, detail, jobID) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.detail = detail || '';
    this.jobID = jobID || 0;
  }
}

// AuthError: the daemon refused the request's credentials (401).
export class AuthError extends ApiError {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(tok) {
  if (tok) sessionStorage.setItem(TOKEN_KEY, tok);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const hd = { Accept: 'application/json', ...extra };
  const tok = token();
  if (tok) hd.Authorization = `Bearer ${tok}`;
  return hd;
}

export function url(path) {
  return new URL(path, base);
}

async function errorOf(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  const Cls = res.status === 401 ? AuthError : ApiError;
  return new Cls(res.status, body.error || '', body.detail || '', body.job_id || 0);
}

// call sends a request and returns the decoded JSON (null for 204).
export async function call(method, path, body, signal) {
  const init = { method, headers: headers(), cache: 'no-store', credentials: 'same-origin', signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url(path), init);
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path, signal) => call('GET', path, undefined, signal);
export const post = (path, body, signal) => call('POST', path, body, signal);
export const put = (path, body, signal) => call('PUT', path, body, signal);

// stream reads a Server-Sent Events stream with fetch (EventSource cannot
// send the Authorization header) and calls onEvent(name, data) for each
// event, data decoded from JSON. It resolves when the stream ends.
export async function stream(path, onEvent, signal) {
  const res = await fetch(url(path), {
    headers: headers({ Accept: 'text/event-stream' }), cache: 'no-store', credentials: 'same-origin', signal,
  });
  if (!res.ok) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, '\n');
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = 'message';
      const data = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) continue; // a comment: keep-alive
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') name = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}
