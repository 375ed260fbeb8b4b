'use strict';
// Shared by the tests: the recorded fixtures and a fake `wx` whose request() replays them in chunks.
const fs = require('node:fs');
const path = require('node:path');
const { SSEParser, AnswerCollector, toMessage } = require('../utils/sse.js');

const FIXTURES = path.join(__dirname, 'fixtures');
const EXPECTED = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));

function fixtureBytes(name) {
  return new Uint8Array(fs.readFileSync(path.join(FIXTURES, name)));
}

/** The /v1/ask-shaped answer a fixture stream adds up to. */
function fixtureAnswer(name) {
  const p = new SSEParser();
  const c = new AnswerCollector();
  [...p.feed(fixtureBytes(name)), ...p.end()].forEach((e) => c.add(toMessage(e)));
  return c.answer();
}

function chunksOf(bytes, sizes) {
  const out = [];
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = sizes[i++ % sizes.length];
    out.push(bytes.slice(at, at + n).buffer);
    at += n;
  }
  return out;
}

function jsonBytes(value) {
  return new Uint8Array(Buffer.from(JSON.stringify(value), 'utf8'));
}

/**
 * routes: {'/v1/ask/stream': (opts) => response, ...}; a response is
 *   {statusCode, header, chunks?: ArrayBuffer[], data?, headersStatus?: bool, fail?: errMsg, noChunkApi?: bool}
 * Every call is recorded in wx.calls.
 */
function fakeWx(routes, extra) {
  const calls = [];
  const storage = {};
  const wx = Object.assign(
    {
      calls,
      request(opts) {
        const url = new URL(opts.url);
        calls.push({ path: url.pathname, opts });
        const route = routes[url.pathname];
        const res = route ? route(opts, calls) : { statusCode: 404, header: {}, data: { code: 'not_found', message: '没有这个地址' } };
        const task = {
          aborted: false,
          headerListeners: [],
          chunkListeners: [],
          abort() {
            this.aborted = true;
          },
          onHeadersReceived(fn) {
            this.headerListeners.push(fn);
          },
        };
        if (!res.noChunkApi) {
          task.onChunkReceived = function (fn) {
            this.chunkListeners.push(fn);
          };
        }
        setImmediate(() => {
          if (task.aborted) return;
          if (res.fail) {
            opts.fail && opts.fail({ errMsg: res.fail });
            return;
          }
          const header = res.header || {};
          task.headerListeners.forEach((fn) => fn(res.headersStatus === false ? { header } : { header, statusCode: res.statusCode }));
          const chunked = opts.enableChunked && task.chunkListeners.length && res.chunks;
          if (chunked) res.chunks.forEach((c) => task.chunkListeners.forEach((fn) => fn({ data: c })));
          let data = chunked ? new ArrayBuffer(0) : res.data;
          if (data === undefined && res.chunks) data = new Uint8Array(Buffer.concat(res.chunks.map((c) => Buffer.from(c)))).buffer;
          if (!opts.enableChunked && data instanceof ArrayBuffer) data = JSON.parse(Buffer.from(data).toString('utf8'));
          opts.success && opts.success({ statusCode: res.statusCode, header, data });
        });
        return task;
      },
      canIUse() {
        return true;
      },
      login(o) {
        setImmediate(() => o.success({ code: 'code-' + calls.length }));
      },
      getStorageSync(k) {
        return storage[k];
      },
      setStorageSync(k, v) {
        storage[k] = v;
      },
      removeStorageSync(k) {
        delete storage[k];
      },
    },
    extra || {},
  );
  return wx;
}

module.exports = { EXPECTED, fixtureBytes, fixtureAnswer, chunksOf, jsonBytes, fakeWx };
