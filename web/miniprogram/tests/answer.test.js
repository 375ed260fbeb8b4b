'use strict';
// utils/answer.js: the answer layout, on answers recorded from the service.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EXPECTED, fixtureAnswer } = require('./helpers.js');
const { buildBlocks, describeError, charCount } = require('../utils/answer.js');

const kinds = (blocks) => blocks.map((b) => b.kind);

test('in-scope answer: measure line, open citation card, office cards, where to go, note, source', () => {
  const a = fixtureAnswer('stream.txt');
  const blocks = buildBlocks(a, a.answer, true);
  assert.equal(blocks[0].kind, 'sec');
  assert.equal(blocks[0].cls, 'measure');
  assert.match(blocks[0].text, /第（七）条/);
  const cite = blocks.find((b) => b.kind === 'cite');
  assert.equal(cite.label, '（七）');
  assert.equal(cite.open, true);
  assert.equal(cite.quote, a.citations[0].quote);
  assert.equal(cite.anchor, `${a.citations[0].doc}-7`);
  const offices = blocks.find((b) => b.kind === 'offices');
  assert.deepEqual(offices.items.map((o) => o.name), a.offices.map((o) => o.name));
  const jiuye = offices.items.find((o) => o.name === '就业处');
  assert.equal(jiuye.full, '全称待核实：就业促进处');
  assert.equal(jiuye.unconfirmed, true);
  const contact = blocks.filter((b) => b.kind === 'contact');
  assert.equal(contact.length, 1);
  assert.equal(contact[0].phone, '12333');
  assert.equal(blocks.filter((b) => b.kind === 'note').length, 1);
  assert.ok(blocks.some((b) => b.kind === 'sec' && b.cls === 'source'));
  // the quoted lines and the "· office" lines are in the cards, not repeated as text
  assert.ok(!blocks.some((b) => b.kind === 'line' && (b.text.startsWith('“') || b.text.startsWith('·'))));
  assert.deepEqual(blocks.map((b) => b.key), blocks.map((_, i) => i));
});

test('a named city shows its bureau on the office card and the contact card', () => {
  const a = fixtureAnswer('stream-city.txt');
  assert.equal(a.city, EXPECTED['stream-city.txt'].city);
  const blocks = buildBlocks(a, a.answer, true);
  const local = blocks.find((b) => b.kind === 'offices').items.find((o) => o.local);
  assert.equal(local.local, `您所在城市：${a.bureau}`);
  assert.equal(blocks.find((b) => b.kind === 'contact').bureau, '苏州市人力资源和社会保障局');
});

test('a refusal: the service\'s words, then 12333 and the note', () => {
  const a = fixtureAnswer('stream-refusal.txt');
  assert.equal(a.in_scope, false);
  const blocks = buildBlocks(a, a.answer, true);
  assert.deepEqual(kinds(blocks), ['line', 'line', 'contact', 'note']);
  assert.match(blocks[0].text, /住房公积金/);
  assert.equal(blocks[2].hotline, '12333');
  assert.match(blocks[2].hint, /选择城市/);
});

test('while streaming, an unfinished last line shows as text and no closing cards are added yet', () => {
  const a = fixtureAnswer('stream.txt');
  const cut = a.answer.indexOf('【办理渠道】') + 8;
  const blocks = buildBlocks(a, a.answer.slice(0, cut), false);
  assert.equal(blocks.at(-1).kind, 'line');
  assert.equal(blocks.at(-1).text, a.answer.slice(a.answer.lastIndexOf('\n', cut) + 1, cut));
  assert.ok(!blocks.some((b) => b.kind === 'contact'));
  assert.deepEqual(buildBlocks(null, '', false), []);
});

test('errors in words a citizen understands', () => {
  assert.match(describeError({ kind: 'http', status: 429, retryAfter: 9 }, 500).text, /请等 9 秒/);
  assert.equal(describeError({ kind: 'http', status: 429, retryAfter: 9 }, 500).wait, 9);
  assert.equal(describeError({ kind: 'network' }, 500).title, '网络连接失败');
  assert.equal(describeError({ kind: 'http', status: 503 }, 500).title, '服务正在启动');
  const long = describeError({ kind: 'http', status: 413, message: '问题太长了，请控制在500字以内' }, 500);
  assert.equal(long.text, '问题太长了，请控制在500字以内');
  assert.equal(long.restore, true);
  assert.equal(describeError({ kind: 'http', status: 413 }, 500).text, '请控制在500字以内。');
  assert.equal(charCount('稳岗😀'), 3);
});

test('a generated answer: its text first, then the decision\'s citation card and office cards', () => {
  const a = Object.assign(fixtureAnswer('stream.txt'), { ai_generated: true });
  const text = '企业可以通过转型转产、主辅分离等办法安置富余人员。\n具体由就业处负责。';
  const blocks = buildBlocks(a, text, true);
  assert.deepEqual(kinds(blocks), ['line', 'line', 'cite', 'offices', 'contact', 'note']);
  assert.equal(blocks[2].label, '（七）');
  assert.deepEqual(blocks[3].items.map((o) => o.name), a.offices.map((o) => o.name));
  // while it streams, only the text
  assert.deepEqual(kinds(buildBlocks(a, text, false)), ['line', 'line']);
});
