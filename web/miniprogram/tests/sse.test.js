'use strict';
// Run with: node --test web/miniprogram/tests/*.test.js  (Node 20 also takes the directory)
// The fixtures are real /v1/ask/stream responses recorded from the service (see record-fixtures.js).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const SSE_PATH = path.join(__dirname, '..', 'utils', 'sse.js');
const { SSEParser, Utf8Decoder, AnswerCollector, toMessage } = require(SSE_PATH);

const FIXTURES = path.join(__dirname, 'fixtures');
const EXPECTED = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));
const NAMES = Object.keys(EXPECTED);

function load(name) {
  return new Uint8Array(fs.readFileSync(path.join(FIXTURES, name)));
}

/** A fresh ArrayBuffer per chunk, as wx's onChunkReceived delivers them. */
function arrayBufferOf(bytes, start, end) {
  return bytes.slice(start, end).buffer;
}

function parseChunks(chunks) {
  const parser = new SSEParser();
  const messages = [];
  for (const chunk of chunks) for (const evt of parser.feed(chunk)) messages.push(toMessage(evt));
  for (const evt of parser.end()) messages.push(toMessage(evt));
  return messages;
}

function splitAt(bytes, offsets) {
  const cuts = [0, ...offsets, bytes.length];
  const chunks = [];
  for (let i = 0; i + 1 < cuts.length; i += 1) chunks.push(arrayBufferOf(bytes, cuts[i], cuts[i + 1]));
  return chunks;
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function collect(messages) {
  const c = new AnswerCollector();
  messages.forEach((m) => c.add(m));
  return c;
}

for (const name of NAMES) {
  const bytes = load(name);
  const expected = EXPECTED[name];
  const reference = parseChunks([bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)]);

  test(`${name}: the whole response parses into meta, deltas, end and [DONE]`, () => {
    assert.ok(bytes.every((b) => b < 0x80), 'the service promises ASCII-only frames');
    assert.equal(reference[0].type, 'meta');
    assert.deepEqual(reference.at(-1), { done: true });
    assert.equal(reference.at(-2).type, 'end');
    assert.equal(reference.at(-2).message_id, reference[0].message_id);
    assert.ok(reference.slice(1, -2).every((m) => m.type === 'delta'));
    assert.ok(reference.length > 3);
    const c = collect(reference);
    assert.ok(c.complete() && c.done);
    const answer = c.answer();
    assert.equal(answer.answer, expected.answer, 'the deltas add up to /v1/ask\'s answer text');
    assert.equal(answer.in_scope, expected.in_scope);
    assert.equal(answer.type, undefined);
    assert.equal(answer.hotline, '12333');
    if (expected.in_scope) {
      assert.match(answer.citations[0].label, /^（.+）$/);
      assert.ok(answer.offices.length > 0);
    }
    if (expected.city) assert.equal(answer.city, expected.city);
  });

  test(`${name}: split in two at every byte offset`, () => {
    for (let i = 0; i <= bytes.length; i += 1) {
      assert.deepEqual(parseChunks(splitAt(bytes, [i])), reference, `split at ${i}`);
    }
  });

  test(`${name}: one byte per chunk`, () => {
    const chunks = [];
    for (let i = 0; i < bytes.length; i += 1) chunks.push(arrayBufferOf(bytes, i, i + 1));
    assert.deepEqual(parseChunks(chunks), reference);
  });

  test(`${name}: random chunk sizes and random three-way splits`, () => {
    const rand = mulberry32(name.length * 7919);
    for (let trial = 0; trial < 300; trial += 1) {
      const max = 1 + Math.floor(rand() * (trial % 3 === 0 ? 8 : 200));
      const offsets = [];
      for (let at = 1 + Math.floor(rand() * max); at < bytes.length; at += 1 + Math.floor(rand() * max)) {
        offsets.push(at);
      }
      assert.deepEqual(parseChunks(splitAt(bytes, offsets)), reference, `trial ${trial}`);
    }
    for (let trial = 0; trial < 1500; trial += 1) {
      const a = Math.floor(rand() * (bytes.length + 1));
      const b = Math.floor(rand() * (bytes.length + 1));
      assert.deepEqual(parseChunks(splitAt(bytes, [Math.min(a, b), Math.max(a, b)])), reference);
    }
  });

  test(`${name}: typed-array views into a larger buffer are read at their offset`, () => {
    const big = new Uint8Array(bytes.length + 20);
    big.set(bytes, 10);
    const view = big.subarray(10, 10 + bytes.length);
    const mid = Math.floor(bytes.length / 2);
    assert.deepEqual(parseChunks([view.subarray(0, mid), view.subarray(mid)]), reference);
  });

  test(`${name}: CRLF and CR line endings, split at every offset (also between \\r and \\n)`, () => {
    const text = Buffer.from(bytes).toString('latin1');
    const crlf = new Uint8Array(Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1'));
    for (let i = 0; i <= crlf.length; i += 1) {
      assert.deepEqual(parseChunks(splitAt(crlf, [i])), reference, `CRLF split at ${i}`);
    }
    const cr = new Uint8Array(Buffer.from(text.replace(/\n/g, '\r'), 'latin1'));
    const rand = mulberry32(7);
    for (let trial = 0; trial < 300; trial += 1) {
      assert.deepEqual(parseChunks(splitAt(cr, [Math.floor(rand() * (cr.length + 1))])), reference, `CR ${trial}`);
    }
  });

  test(`${name}: raw UTF-8 frames (not what the service sends) survive splits inside characters`, () => {
    const frames = reference.map((m) => (m.done ? 'data: [DONE]\n\n' : `data: ${JSON.stringify(m)}\n\n`));
    const utf8 = new Uint8Array(Buffer.from(frames.join(''), 'utf8'));
    assert.ok(utf8.some((b) => b >= 0x80));
    // every offset through the first frames (meta: Chinese titles, quotes, office names), then random
    for (let i = 0; i <= Math.min(utf8.length, 1500); i += 1) {
      assert.deepEqual(parseChunks(splitAt(utf8, [i])), reference, `split at ${i}`);
    }
    const rand = mulberry32(42);
    for (let trial = 0; trial < 400; trial += 1) {
      const i = Math.floor(rand() * (utf8.length + 1));
      assert.deepEqual(parseChunks(splitAt(utf8, [i])), reference, `split at ${i}`);
    }
    for (let trial = 0; trial < 100; trial += 1) {
      const offsets = [];
      for (let at = 1 + Math.floor(rand() * 5); at < utf8.length; at += 1 + Math.floor(rand() * 5)) offsets.push(at);
      assert.deepEqual(parseChunks(splitAt(utf8, offsets)), reference, `trial ${trial}`);
    }
  });
}

test('works without TextDecoder', () => {
  const saved = globalThis.TextDecoder;
  try {
    delete globalThis.TextDecoder;
    delete require.cache[require.resolve(SSE_PATH)];
    const fresh = require(SSE_PATH);
    const bytes = load(NAMES[0]);
    const parser = new fresh.SSEParser();
    const events = [...parser.feed(bytes.slice(0, 100).buffer), ...parser.feed(bytes.slice(100).buffer), ...parser.end()];
    assert.equal(fresh.toMessage(events.at(-1)).done, true);
    assert.doesNotMatch(fs.readFileSync(SSE_PATH, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''), /TextDecoder/);
  } finally {
    globalThis.TextDecoder = saved;
    delete require.cache[require.resolve(SSE_PATH)];
  }
});

test('SSE rules: comments, fields, multi-line data, a last frame without its blank line', () => {
  const p = new SSEParser();
  const events = [
    ...p.feed(': keep-alive\n\nevent: note\nid: 7\ndata: line one\ndata:line two\n\n'),
    ...p.feed('data\n\nretry: 100\n\ndata: {"type":"end","message_id":"m"}'),
    ...p.end(),
  ];
  assert.deepEqual(events, [
    { data: 'line one\nline two', event: 'note', id: '7' },
    { data: '', event: 'message', id: '7' },
    { data: '{"type":"end","message_id":"m"}', event: 'message', id: '7' },
  ]);
  assert.equal(toMessage(events[0]), null);
  assert.equal(toMessage(events[1]), null);
  assert.deepEqual(toMessage(events[2]), { type: 'end', message_id: 'm' });
  assert.deepEqual(toMessage({ data: ' [DONE] ' }), { done: true });
  assert.equal(toMessage({ data: '"just a string"' }), null);
  assert.equal(toMessage(null), null);
});

test('an interrupted stream is not complete', () => {
  const bytes = load(NAMES[0]);
  const cut = Buffer.from(bytes).indexOf('"type":"end"');
  const c = collect(parseChunks([bytes.slice(0, cut).buffer]));
  assert.ok(c.meta);
  assert.equal(c.complete(), false);
  assert.equal(c.done, false);
});

test('Utf8Decoder: split characters, astral planes and invalid bytes', () => {
  const d = new Utf8Decoder();
  const bytes = Buffer.from('稳岗返还😀', 'utf8');
  let out = '';
  for (const b of bytes) out += d.decode(new Uint8Array([b]));
  out += d.decode(new Uint8Array(0), true);
  assert.equal(out, '稳岗返还😀');
  assert.equal(new Utf8Decoder().decode(new Uint8Array([0x61, 0xff, 0x80, 0x62]), true), 'a\ufffd\ufffdb');
  assert.equal(new Utf8Decoder().decode(new Uint8Array([0xe7, 0xa8]), true), '\ufffd');
  const broken = new Utf8Decoder();
  assert.equal(broken.decode(new Uint8Array([0xe7])) + broken.decode(new Uint8Array([0x41]), true), '\ufffdA');
  assert.throws(() => new Utf8Decoder().decode({}), TypeError);
});
