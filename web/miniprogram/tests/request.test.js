'use strict';
// utils/request.js against a fake wx.request that replays the recorded /v1/ask/stream responses in chunks.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EXPECTED, fixtureBytes, chunksOf, jsonBytes, fakeWx } = require('./helpers.js');

const request = require('../utils/request.js');
const config = require('../config.js');

const NAME = 'stream.txt';
const BODY = { question: EXPECTED[NAME].question };

function plainAnswer() {
  return { statusCode: 200, header: { 'Content-Type': 'application/json' }, data: { answer: EXPECTED[NAME].answer, in_scope: true, message_id: 'plain', session_id: 's' } };
}

function stream(sizes) {
  return () => ({ statusCode: 200, header: { 'Content-Type': 'text/event-stream' }, chunks: chunksOf(fixtureBytes(NAME), sizes) });
}

function errorResponse(status, code, message, header) {
  return () => ({ statusCode: status, header: header || {}, chunks: [jsonBytes({ code, message }).buffer] });
}

function track() {
  const seen = { meta: 0, deltas: [], restarts: 0, order: [] };
  return {
    seen,
    handlers: {
      onMeta: () => {
        seen.meta += 1;
        seen.order.push('meta');
      },
      onDelta: (t) => {
        seen.deltas.push(t);
        seen.order.push('delta');
      },
      onRestart: () => {
        seen.restarts += 1;
      },
    },
  };
}

test.afterEach(() => {
  request.setAuth(null, null);
  delete global.wx;
});

test('streams: meta first, then deltas adding up to the answer; request options for chunked transfer', async () => {
  for (const sizes of [[1], [3, 7, 1], [64], [100000]]) {
    global.wx = fakeWx({ '/v1/ask/stream': stream(sizes) });
    const { seen, handlers } = track();
    const answer = await request.askStream(BODY, handlers);
    assert.equal(answer.answer, EXPECTED[NAME].answer);
    assert.equal(answer.citations[0].label, '（七）');
    assert.equal(seen.meta, 1);
    assert.equal(seen.order[0], 'meta');
    assert.equal(seen.deltas.join(''), EXPECTED[NAME].answer);
    const [call] = global.wx.calls;
    assert.equal(global.wx.calls.length, 1, 'no fallback');
    assert.equal(call.opts.url, config.apiBase + '/v1/ask/stream');
    assert.equal(call.opts.method, 'POST');
    assert.equal(call.opts.enableChunked, true);
    assert.equal(call.opts.responseType, 'arraybuffer');
    assert.deepEqual(call.opts.data, BODY);
  }
});

test('checks statusCode: a 429 is an error with Retry-After, not an answer (with and without header status)', async () => {
  for (const headersStatus of [true, false]) {
    global.wx = fakeWx({
      '/v1/ask/stream': () => ({
        ...errorResponse(429, 'rate_limited', '请求太频繁了，请稍后再试', { 'retry-after': '7' })(),
        headersStatus,
      }),
    });
    await assert.rejects(request.askStream(BODY), (err) => {
      assert.equal(err.kind, 'http');
      assert.equal(err.status, 429);
      assert.equal(err.code, 'rate_limited');
      assert.equal(err.message, '请求太频繁了，请稍后再试');
      assert.equal(err.retryAfter, 7);
      return true;
    });
    assert.equal(global.wx.calls.length, 1, 'a 429 is not retried at once');
  }
});

test('errors with a status are reported, 503 and 413 included; the body may come in one piece', async () => {
  global.wx = fakeWx({ '/v1/ask/stream': errorResponse(503, 'not_ready', '服务正在启动，请稍后再试') });
  await assert.rejects(request.askStream(BODY), { status: 503, code: 'not_ready' });
  global.wx = fakeWx({
    '/v1/ask/stream': () => ({ statusCode: 413, header: {}, data: jsonBytes({ code: 'question_too_long', message: '问题太长了' }).buffer, noChunkApi: false }),
  });
  await assert.rejects(request.askStream(BODY), { status: 413, code: 'question_too_long', message: '问题太长了' });
});

test('a busy service (503 + Retry-After) is an error with the wait, not re-asked in one piece', async () => {
  for (const headersStatus of [true, false]) {
    global.wx = fakeWx({
      '/v1/ask/stream': () => ({
        ...errorResponse(503, 'busy', '当前咨询人数较多，请稍后再试', { 'Retry-After': '4' })(),
        headersStatus,
      }),
      '/v1/ask': plainAnswer,
    });
    await assert.rejects(request.askStream(BODY), (err) => {
      assert.equal(err.kind, 'http');
      assert.equal(err.status, 503);
      assert.equal(err.code, 'busy');
      assert.equal(err.retryAfter, 4);
      return true;
    });
    assert.deepEqual(global.wx.calls.map((c) => c.path), ['/v1/ask/stream']);
  }
  // without Retry-After a 503 is a service still starting: no wait
  global.wx = fakeWx({ '/v1/ask': () => ({ statusCode: 503, header: {}, data: { code: 'not_ready', message: '服务正在启动' } }) });
  await assert.rejects(request.requestJSON({ path: '/v1/ask', method: 'POST', data: BODY }), { status: 503, retryAfter: 0 });
});

test('falls back to /v1/ask: stream route missing, no onChunkReceived, canIUse says no, network failure', async () => {
  global.wx = fakeWx({ '/v1/ask/stream': errorResponse(404, 'not_found', '没有这个地址'), '/v1/ask': plainAnswer });
  assert.equal((await request.askStream(BODY)).message_id, 'plain');
  assert.deepEqual(global.wx.calls.map((c) => c.path), ['/v1/ask/stream', '/v1/ask']);

  global.wx = fakeWx({ '/v1/ask/stream': () => ({ ...stream([50])(), noChunkApi: true }), '/v1/ask': plainAnswer });
  const { seen, handlers } = track();
  assert.equal((await request.askStream(BODY, handlers)).message_id, 'plain');
  assert.equal(seen.restarts, 0);

  global.wx = fakeWx({ '/v1/ask/stream': stream([50]), '/v1/ask': plainAnswer }, { canIUse: () => false });
  assert.equal((await request.askStream(BODY)).message_id, 'plain');
  assert.deepEqual(global.wx.calls.map((c) => c.path), ['/v1/ask']);

  global.wx = fakeWx({ '/v1/ask/stream': () => ({ fail: 'request:fail' }), '/v1/ask': plainAnswer });
  assert.equal((await request.askStream(BODY)).message_id, 'plain');

  global.wx = fakeWx({ '/v1/ask/stream': () => ({ fail: 'request:fail' }), '/v1/ask': () => ({ fail: 'request:fail timeout' }) });
  await assert.rejects(request.askStream(BODY), { kind: 'timeout' });
});

test('a stream that ends early is asked again in one piece, and what was shown is reset', async () => {
  const bytes = fixtureBytes(NAME);
  const cut = Buffer.from(bytes).indexOf('"type":"delta"') + 300;
  global.wx = fakeWx({
    '/v1/ask/stream': () => ({ statusCode: 200, header: {}, chunks: chunksOf(bytes.slice(0, cut), [97]) }),
    '/v1/ask': plainAnswer,
  });
  const { seen, handlers } = track();
  const answer = await request.askStream(BODY, handlers);
  assert.equal(answer.message_id, 'plain');
  assert.equal(seen.meta, 1);
  assert.equal(seen.restarts, 1);
});

test('a buffered stream delivered whole in success (no chunks) still parses', async () => {
  global.wx = fakeWx({
    '/v1/ask/stream': () => ({ statusCode: 200, header: {}, data: fixtureBytes(NAME).buffer, noChunkApi: false, chunks: null }),
  });
  const answer = await request.askStream(BODY);
  assert.equal(answer.answer, EXPECTED[NAME].answer);
});

test('login token: sent as a bearer token; a 401 logs in again and retries once', async () => {
  let tokens = 0;
  let invalidated = 0;
  request.setAuth(
    () => Promise.resolve('t' + tokens++),
    () => {
      invalidated += 1;
      return Promise.resolve();
    },
  );
  let first = true;
  global.wx = fakeWx({
    '/v1/ask/stream': (opts) => {
      if (first) {
        first = false;
        return errorResponse(401, 'token_expired', '登录已过期，请重新登录')();
      }
      return stream([500])();
    },
  });
  const answer = await request.askStream(BODY);
  assert.equal(answer.answer, EXPECTED[NAME].answer);
  assert.equal(invalidated, 1);
  assert.deepEqual(global.wx.calls.map((c) => c.opts.header.Authorization), ['Bearer t0', 'Bearer t1']);

  global.wx = fakeWx({ '/v1/feedback': errorResponse(401, 'login_required', '请先登录') });
  await assert.rejects(request.sendFeedback('m', true), { status: 401 });
  assert.equal(global.wx.calls.length, 2, 'retried once, then reported');
});

test('requestJSON checks statusCode too', async () => {
  global.wx = fakeWx({
    '/v1/feedback': (opts) =>
      opts.data.message_id === 'known'
        ? { statusCode: 201, header: {}, data: { ok: true, id: 3 } }
        : { statusCode: 404, header: {}, data: { code: 'not_found', message: '没有这条回答' } },
  });
  assert.deepEqual(await request.sendFeedback('known', true, '很好'), { ok: true, id: 3 });
  assert.deepEqual(global.wx.calls[0].opts.data, { message_id: 'known', helpful: true, comment: '很好' });
  await assert.rejects(request.sendFeedback('gone', false), { kind: 'http', status: 404, message: '没有这条回答' });
});

test('Retry-After as seconds or an HTTP date', () => {
  assert.equal(request.retryAfterSeconds('12'), 12);
  assert.equal(request.retryAfterSeconds('0'), 1);
  assert.equal(request.retryAfterSeconds('100000'), 600);
  const soon = new Date(Date.now() + 30000).toUTCString();
  assert.ok(Math.abs(request.retryAfterSeconds(soon) - 30) <= 1);
  assert.equal(request.retryAfterSeconds(''), 0);
});

test('a replace frame: the generated text shown so far is dropped for the deterministic answer', async () => {
  const frames = [
    { type: 'meta', in_scope: true, ai_generated: true, lead: '', citations: [], offices: [], message_id: 'm', session_id: 's' },
    { type: 'delta', text: '符合条件的企业可以享受稳岗返还。' },
    { type: 'replace', text: '【适用政策】确定的回答', lead: '确定的回答', ai_generated: false, fallback: 'guard:number' },
    { type: 'end', message_id: 'm', ai_generated: false },
  ];
  const sse = frames.map((f) => 'data: ' + JSON.stringify(f) + '\n\n').join('') + 'data: [DONE]\n\n';
  const bytes = new Uint8Array(Buffer.from(sse, 'utf8'));
  global.wx = fakeWx({
    '/v1/ask/stream': () => ({ statusCode: 200, header: { 'Content-Type': 'text/event-stream' }, chunks: chunksOf(bytes, [5]) }),
  });
  const { seen, handlers } = track();
  const answer = await request.askStream(BODY, handlers);
  assert.equal(answer.answer, '【适用政策】确定的回答');
  assert.equal(answer.ai_generated, false);
  assert.equal(answer.lead, '确定的回答', 'the deterministic lead comes back with the replace frame');
  assert.equal(seen.restarts, 1);
  assert.equal(seen.meta, 2);
  assert.equal(seen.deltas[seen.deltas.length - 1], '【适用政策】确定的回答');
  assert.equal(global.wx.calls.length, 1, 'no fallback request');
});
