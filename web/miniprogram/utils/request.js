/**
 * wx.request wrappers for the policy service. wx.request's `success` fires for every HTTP status, so each
 * call checks statusCode and turns a non-2xx answer into an ApiError carrying the service's {code, message}.
 *
 *   askStream(body, {onMeta, onDelta, onRestart})  /v1/ask/stream via enableChunked + onChunkReceived,
 *                                                 falling back to /v1/ask when streaming is unavailable
 *   requestJSON({path, method, data})            any other call
 */
'use strict';

const config = require('../config.js');
const { SSEParser, Utf8Decoder, AnswerCollector, toMessage } = require('./sse.js');

// the service's back-pressure codes (503): too many answers in flight, too many connections
const BUSY_CODES = ['busy', 'server_busy'];

let tokenProvider = null; // () => Promise<string|null>, set by app.js after login
let onUnauthorized = null; // () => Promise<void>, clears the token so the next call logs in again

function setAuth(provider, unauthorized) {
  tokenProvider = provider;
  onUnauthorized = unauthorized;
}

function ApiError(kind, opts) {
  const o = opts || {};
  this.kind = kind; // 'network' | 'timeout' | 'http' | 'protocol'
  this.status = o.status || 0;
  this.code = o.code || '';
  this.message = o.message || '';
  this.retryAfter = o.retryAfter || 0;
}

function api() {
  // the global `wx` (tests install a fake as global.wx)
  return typeof wx !== 'undefined' ? wx : undefined; // eslint-disable-line no-undef
}

function headerValue(header, name) {
  if (!header) return '';
  const lower = name.toLowerCase();
  for (const key of Object.keys(header)) {
    if (key.toLowerCase() === lower) return String(header[key]);
  }
  return '';
}

function retryAfterSeconds(value) {
  if (!value) return 0;
  let s = Number(value);
  if (!isFinite(s)) {
    const at = Date.parse(value);
    s = isFinite(at) ? Math.ceil((at - Date.now()) / 1000) : 0;
  }
  return Math.min(600, Math.max(1, Math.ceil(s)));
}

function parseBody(data) {
  if (data == null) return {};
  if (typeof data === 'object' && !(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) return data;
  const text = typeof data === 'string' ? data : new Utf8Decoder().decode(data, true);
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : {};
  } catch (e) {
    return {};
  }
}

function httpError(statusCode, header, data) {
  const body = parseBody(data);
  return new ApiError('http', {
    status: statusCode,
    code: typeof body.code === 'string' ? body.code : '',
    message: typeof body.message === 'string' ? body.message : '',
    // 429: always wait (5 s when the header is missing); 503: wait when the service says how long or says
    // it is busy (back-pressure, 1 s by default); any other 503 without Retry-After is a service still starting
    retryAfter:
      statusCode === 429
        ? retryAfterSeconds(headerValue(header, 'Retry-After')) || 5
        : statusCode === 503
          ? retryAfterSeconds(headerValue(header, 'Retry-After')) || (BUSY_CODES.indexOf(body.code) >= 0 ? 1 : 0)
          : 0,
  });
}

function failError(err) {
  const msg = (err && err.errMsg) || '';
  return new ApiError(/timeout|超时/i.test(msg) ? 'timeout' : 'network', { message: msg });
}

function authHeader() {
  if (!tokenProvider) return Promise.resolve({});
  return Promise.resolve(tokenProvider())
    .catch(() => null)
    .then((token) => (token ? { Authorization: 'Bearer ' + token } : {}));
}

/** One JSON call; resolves to the parsed body of a 2xx answer, rejects with ApiError. */
function requestJSON(opts, retried) {
  return authHeader().then(
    (auth) =>
      new Promise((resolve, reject) => {
        api().request({
          url: config.apiBase + opts.path,
          method: opts.method || 'GET',
          data: opts.data,
          header: Object.assign({ 'Content-Type': 'application/json', Accept: 'application/json' }, auth),
          timeout: config.timeout,
          success(res) {
            if (res.statusCode >= 200 && res.statusCode < 300) resolve(parseBody(res.data));
            else reject(httpError(res.statusCode, res.header, res.data));
          },
          fail(err) {
            reject(failError(err));
          },
        });
      }),
  ).catch((err) => retryOnce401(err, retried, () => requestJSON(opts, true)));
}

function retryOnce401(err, retried, again) {
  if (err instanceof ApiError && err.status === 401 && !retried && onUnauthorized) {
    return Promise.resolve(onUnauthorized()).then(again);
  }
  throw err;
}

function askPlain(body) {
  return requestJSON({ path: '/v1/ask', method: 'POST', data: body });
}

function streamingSupported() {
  const w = api();
  try {
    if (typeof w.canIUse === 'function' && !w.canIUse('request.object.enableChunked')) return false;
  } catch (e) {
    // canIUse itself missing or failing: try, and fall back below if the task lacks onChunkReceived
  }
  return true;
}

/**
 * Ask through /v1/ask/stream. Resolves to an object shaped like /v1/ask's answer; rejects with ApiError.
 * handlers.onMeta(meta) once, onDelta(text) per piece, onRestart() when a broken stream is re-asked whole.
 */
function askStream(body, handlers, retried) {
  const h = handlers || {};
  const onMeta = h.onMeta || function () {};
  const onDelta = h.onDelta || function () {};
  const onRestart = h.onRestart || function () {};
  if (!config.stream || !streamingSupported()) return askPlain(body);

  return authHeader()
    .then(
      (auth) =>
        new Promise((resolve, reject) => {
          const parser = new SSEParser();
          const collector = new AnswerCollector();
          const errorBytes = [];
          let status = 0; // from onHeadersReceived on devices (devtools omit it)
          let chunked = false;
          let settled = false;

          function handle(events) {
            for (const evt of events) {
              const msg = toMessage(evt);
              if (!msg) continue;
              const hadMeta = Boolean(collector.meta);
              collector.add(msg);
              if (!hadMeta && collector.meta) onMeta(collector.meta);
              else if (msg.type === 'delta' && collector.meta && typeof msg.text === 'string') onDelta(msg.text);
              else if (msg.type === 'replace' && collector.meta) {
                onRestart(); // what was shown is replaced by the deterministic answer
                onMeta(collector.meta);
                onDelta(collector.text);
              }
            }
          }

          function finishStream(res) {
            const statusCode = res.statusCode || status;
            if (statusCode !== 200) {
              const data = chunked ? concat(errorBytes) : res.data;
              throw httpError(statusCode, res.header, data);
            }
            if (!chunked && res.data) handle(parser.feed(res.data)); // delivered in one piece (proxy buffering)
            handle(parser.end());
            if (!collector.complete()) {
              const e = new ApiError('protocol', { message: 'stream ended early' });
              e.partial = Boolean(collector.meta);
              throw e;
            }
            return collector.answer();
          }

          const task = api().request({
            url: config.apiBase + '/v1/ask/stream',
            method: 'POST',
            data: body,
            header: Object.assign({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }, auth),
            enableChunked: true,
            responseType: 'arraybuffer',
            timeout: config.timeout,
            success(res) {
              if (settled) return;
              settled = true;
              try {
                resolve(finishStream(res));
              } catch (err) {
                reject(err);
              }
            },
            fail(err) {
              if (settled) return;
              settled = true;
              const e = failError(err);
              e.partial = Boolean(collector.meta);
              reject(e);
            },
          });
          if (!task || typeof task.onChunkReceived !== 'function') {
            settled = true;
            if (task && typeof task.abort === 'function') task.abort();
            reject(new ApiError('protocol', { code: 'no_chunked', message: 'onChunkReceived unsupported' }));
            return;
          }
          if (typeof task.onHeadersReceived === 'function') {
            task.onHeadersReceived((res) => {
              if (res && typeof res.statusCode === 'number') status = res.statusCode;
            });
          }
          task.onChunkReceived((res) => {
            chunked = true;
            if (settled) return;
            // keep the raw bytes until the status is known to be 200: an error body is JSON, decoded at the end
            if (status !== 200) errorBytes.push(toUint8(res.data).slice());
            if (status && status !== 200) return;
            try {
              handle(parser.feed(res.data));
            } catch (err) {
              settled = true;
              if (typeof task.abort === 'function') task.abort();
              const e = new ApiError('protocol', { message: String(err && err.message) });
              e.partial = Boolean(collector.meta);
              reject(e);
            }
          });
        }),
    )
    .catch((err) => {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401 && !retried && onUnauthorized) {
        return Promise.resolve(onUnauthorized()).then(() => askStream(body, handlers, true));
      }
      // a proxy without the stream route, an old base library, a dropped connection: ask in one piece
      const fallback = (err.kind === 'http' && [404, 405, 501].indexOf(err.status) >= 0) || err.kind === 'network' || err.kind === 'protocol';
      if (!fallback) throw err;
      if (err.partial) onRestart(); // what was shown of the broken stream is replaced by the whole answer
      return askPlain(body);
    });
}

function toUint8(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data && ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(0);
}

function concat(parts) {
  let n = 0;
  parts.forEach((p) => (n += p.length));
  const out = new Uint8Array(n);
  let at = 0;
  parts.forEach((p) => {
    out.set(p, at);
    at += p.length;
  });
  return out;
}

function sendFeedback(messageId, helpful, comment) {
  const data = { message_id: messageId, helpful: Boolean(helpful) };
  if (comment) data.comment = comment;
  return requestJSON({ path: '/v1/feedback', method: 'POST', data });
}

module.exports = { ApiError, BUSY_CODES, askStream, askPlain, requestJSON, sendFeedback, setAuth, retryAfterSeconds };
