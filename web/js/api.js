// Thin client of the policy service's HTTP API. URLs are relative to the page so the H5 works when the
// service is mounted under a path prefix behind a proxy.
import { SSEParser, toMessage } from './sse.js';

export const MAX_QUESTION_CHARS = 500;
// the service's back-pressure codes (503): too many answers in flight, too many connections
export const BUSY_CODES = ['busy', 'server_busy'];
const TIMEOUT_MS = 30000;

/** kind: 'network' (no answer at all), 'timeout', 'http' (status + server code/message), 'protocol'. */
export class ApiError extends Error {
  constructor(kind, { status = 0, code = '', message = '', retryAfter = 0 } = {}) {
    super(message || kind);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.serverMessage = message;
    this.retryAfter = retryAfter;
  }
}

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), clamped to 1..600. */
export function retryAfterSeconds(value) {
  if (!value) return 0;
  let s = Number(value);
  if (!Number.isFinite(s)) {
    const at = Date.parse(value);
    s = Number.isFinite(at) ? Math.ceil((at - Date.now()) / 1000) : 0;
  }
  return Math.min(600, Math.max(1, Math.ceil(s)));
}

async function errorFrom(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  return new ApiError('http', {
    status: res.status,
    code: typeof body.code === 'string' ? body.code : '',
    message: typeof body.message === 'string' ? body.message : '',
    // 429: always wait (5 s when the header is missing); 503: wait when the server says how long or says it
    // is busy (back-pressure, 1 s by default); any other 503 without Retry-After is a service still starting
    retryAfter:
      res.status === 429
        ? retryAfterSeconds(res.headers.get('Retry-After')) || 5
        : res.status === 503
          ? retryAfterSeconds(res.headers.get('Retry-After')) || (BUSY_CODES.includes(body.code) ? 1 : 0)
          : 0,
  });
}

function withTimeout(outer) {
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, TIMEOUT_MS);
  const onAbort = () => ctrl.abort();
  if (outer) outer.addEventListener('abort', onAbort);
  return {
    signal: ctrl.signal,
    timedOut: () => timedOut,
    done() {
      clearTimeout(timer);
      if (outer) outer.removeEventListener('abort', onAbort);
    },
  };
}

async function request(path, options, outerSignal) {
  const t = withTimeout(outerSignal);
  try {
    return { res: await fetch(path, { ...options, signal: t.signal, cache: 'no-store' }), t };
  } catch (err) {
    t.done();
    if (outerSignal && outerSignal.aborted) throw err;
    throw new ApiError(t.timedOut() ? 'timeout' : 'network', { message: String(err && err.message) });
  }
}

export async function getJSON(path) {
  const { res, t } = await request(path, { headers: { Accept: 'application/json' } });
  try {
    if (!res.ok) throw await errorFrom(res);
    return await res.json();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(t.timedOut() ? 'timeout' : 'protocol', { message: String(err && err.message) });
  } finally {
    t.done();
  }
}

export async function postJSON(path, body, signal) {
  const { res, t } = await request(
    path,
    { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) },
    signal,
  );
  try {
    if (!res.ok) throw await errorFrom(res);
    return await res.json();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(t.timedOut() ? 'timeout' : 'network', { message: String(err && err.message) });
  } finally {
    t.done();
  }
}

/** The answer in one piece (the fallback). */
export function askPlain(body, signal) {
  return postJSON('v1/ask', body, signal);
}

/**
 * Ask through /v1/ask/stream; falls back to /v1/ask when streaming is unavailable or breaks.
 * handlers: onMeta(meta) once, onDelta(text) per piece, onRestart() if a broken stream is re-asked whole.
 * Resolves to an object shaped like /v1/ask's answer; rejects with ApiError.
 */
export async function ask(body, handlers = {}, signal) {
  const { onMeta = () => {}, onDelta = () => {}, onRestart = () => {} } = handlers;
  const fallback = () => askPlain(body, signal);
  let got;
  try {
    got = await request(
      'v1/ask/stream',
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify(body),
      },
      signal,
    );
  } catch (err) {
    if (err instanceof ApiError && err.kind === 'network') return fallback();
    throw err;
  }
  const { res, t } = got;
  let meta = null;
  let text = '';
  let ended = false;
  try {
    if (!res.ok) {
      // a proxy that does not route the stream endpoint: the plain one may still work
      if (res.status === 404 || res.status === 405 || res.status === 501) return await fallback();
      throw await errorFrom(res);
    }
    const type = res.headers.get('Content-Type') || '';
    if (!res.body || typeof res.body.getReader !== 'function' || !type.includes('text/event-stream')) {
      return await fallback();
    }
    const reader = res.body.getReader();
    const parser = new SSEParser();
    const handle = (events) => {
      for (const evt of events) {
        const msg = toMessage(evt);
        if (!msg || msg.done) continue;
        if (msg.type === 'meta' && !meta) {
          meta = msg;
          onMeta(msg);
        } else if (msg.type === 'delta' && meta && typeof msg.text === 'string') {
          text += msg.text;
          onDelta(msg.text);
        } else if (msg.type === 'replace' && meta && typeof msg.text === 'string') {
          // the generated text failed a check on the server: the deterministic answer replaces what was shown
          meta = { ...meta, ai_generated: false, lead: typeof msg.lead === 'string' ? msg.lead : null };
          text = msg.text;
          onRestart();
          onMeta(meta);
          onDelta(msg.text);
        } else if (msg.type === 'end') {
          ended = true;
        } else if (msg.type === 'error') {
          throw new ApiError('http', { status: 500, code: msg.code || 'stream_error', message: msg.message || '' });
        }
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      handle(parser.feed(value));
    }
    handle(parser.end());
    if (!meta || !ended) throw new ApiError('protocol', { message: 'stream ended early' });
    const answer = { ...meta, answer: text };
    delete answer.type;
    return answer;
  } catch (err) {
    if (signal && signal.aborted) throw err;
    if (err instanceof ApiError && err.kind === 'http') throw err;
    // the stream broke (or timed out) midway: ask again in one piece
    if (meta) onRestart();
    return fallback();
  } finally {
    t.done();
  }
}

export function sendFeedback(messageId, helpful, comment) {
  const body = { message_id: messageId, helpful };
  if (comment) body.comment = comment;
  return postJSON('v1/feedback', body);
}
