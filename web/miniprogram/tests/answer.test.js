'use strict';
// utils/answer.js: the view model (reply bubble + cards), on answers recorded from the service.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EXPECTED, fixtureAnswer } = require('./helpers.js');
const { buildView, bubbleText, phoneParts, noteText, describeError, charCount } = require('../utils/answer.js');

const keys = (view) => view.cards.map((c) => c.key);
const card = (view, key) => view.cards.find((c) => c.key === key);
const joined = (parts) => parts.map((p) => p.text).join('');

/** Every string a reader can see in a view once all its cards are open. */
function shownStrings(view) {
  const out = [view.leadText, view.note];
  for (const c of view.cards) {
    out.push(c.title, c.sub);
    if (!c.open) out.push(c.preview); // the preview shows only while the card is closed
    for (const k of ['quote', 'bureau', 'hint', 'hotline']) if (c[k]) out.push(c[k]);
    for (const item of c.items || []) out.push(...Object.values(item).filter((v) => typeof v === 'string'));
  }
  return out.filter(Boolean).join('\n');
}

function openAll(view) {
  view.cards.forEach((c) => {
    c.open = true;
  });
  return view;
}

const count = (text, part) => text.split(part).length - 1;

test('the bubble is the lead when the service sends one, else the first line; a refusal whole', () => {
  const a = fixtureAnswer('stream.txt');
  assert.equal(a.lead, undefined, 'the recorded service sends no lead yet');
  assert.equal(bubbleText(a), a.answer.split('\n')[0]);
  const withLead = { ...a, lead: '  可以。文件写明拓宽富余从业人员安置渠道。 ' };
  assert.equal(bubbleText(withLead), '可以。文件写明拓宽富余从业人员安置渠道。');
  assert.equal(bubbleText({ ...a, lead: '' }), a.answer.split('\n')[0]);
  const refusal = fixtureAnswer('stream-refusal.txt');
  assert.equal(bubbleText(refusal), refusal.answer.trim());
  assert.equal(buildView(withLead, withLead.answer, true).leadText, '可以。文件写明拓宽富余从业人员安置渠道。');
});

test('in-scope answer: 原文, 责任单位, 就近办理, 来源 cards from the structured fields', () => {
  const a = fixtureAnswer('stream.txt');
  const view = buildView(a, a.answer, true);
  assert.equal(view.inScope, true);
  assert.deepEqual(keys(view), ['quote', 'offices', 'contact', 'source']);
  const quote = card(view, 'quote');
  assert.equal(quote.title, '原文');
  assert.equal(quote.label, '（七）');
  assert.equal(quote.section, '三、促进产业数字化转型升级');
  assert.equal(quote.sub, '第（七）条 三、促进产业数字化转型升级');
  assert.equal(quote.quote, a.citations[0].quote);
  assert.equal(quote.anchor, `${a.citations[0].doc}-7`);
  const offices = card(view, 'offices');
  assert.deepEqual(offices.items.map((o) => o.name), a.offices.map((o) => o.name));
  assert.equal(offices.preview, a.offices.map((o) => o.name).join('、'));
  const jiuye = offices.items.find((o) => o.name === '就业处');
  assert.equal(jiuye.full, '全称待核实：就业促进处');
  assert.equal(jiuye.unconfirmed, true);
  assert.match(jiuye.handles, /^负责：.*稳岗支持/);
  const local = offices.items.find((o) => o.name === '各设区市人力资源社会保障局');
  assert.equal(local.kind, '', 'the local bureau is named once, as printed');
  const contact = card(view, 'contact');
  assert.equal(contact.bureau, '您所在设区市的人力资源和社会保障局');
  assert.match(contact.hint, /选择所在城市/);
  assert.equal(contact.phone, '12333');
  const source = card(view, 'source');
  assert.deepEqual(source.items.map((s) => s.title), [`《${a.sources[0].title}》`]);
  assert.match(source.items[0].meta, /江苏省人力资源和社会保障厅　2022年5月23日/);
  assert.equal(view.note, '以上为文件原文，具体执行以当地人社部门的解释为准。');
  assert.equal(view.aiGenerated, false);
});

test('only where to go starts open; the reader\'s choices are kept across re-renders', () => {
  const a = fixtureAnswer('stream.txt');
  const view = buildView(a, a.answer, true);
  assert.deepEqual(view.cards.map((c) => c.open), [false, false, true, false]);
  const again = buildView(a, a.answer, true, { quote: true, contact: false });
  assert.deepEqual(again.cards.map((c) => c.open), [true, false, false, false]);
});

test('nothing is shown twice: the notice title, the routing and 12333 once each, with every card open', () => {
  for (const name of ['stream.txt', 'stream-city.txt']) {
    const a = fixtureAnswer(name);
    for (const lead of [undefined, '可以，文件对此有规定。']) {
      const payload = lead ? { ...a, lead } : a;
      const view = openAll(buildView(payload, a.answer, true));
      const shown = shownStrings(view);
      const inLead = (s) => count(view.leadText, s);
      assert.equal(count(shown, a.sources[0].title), 1 + inLead(a.sources[0].title), name);
      assert.equal(count(shown, a.citations[0].doc_title), 1 + inLead(a.citations[0].doc_title), name);
      const routing = a.bureau || '您所在设区市的人力资源和社会保障局';
      assert.equal(count(shown, routing), 1 + inLead(routing), name);
      assert.equal(count(shown, '12333'), 1 + inLead('12333'), name);
      assert.equal(count(shown, a.citations[0].quote), 1, name);
    }
  }
});

test('a named city: its bureau in 就近办理, no prompt to pick one', () => {
  const a = fixtureAnswer('stream-city.txt');
  assert.equal(a.city, EXPECTED['stream-city.txt'].city);
  const contact = card(buildView(a, a.answer, true), 'contact');
  assert.equal(contact.bureau, '苏州市人力资源和社会保障局');
  assert.equal(contact.hint, '');
});

test('related measures get their own card', () => {
  const a = fixtureAnswer('stream.txt');
  const extra = { ...a.citations[0], measure: 10, label: '（十）', title: '四、其他', quote: '另一条。' };
  const view = buildView({ ...a, citations: [a.citations[0], extra] }, a.answer, true);
  assert.deepEqual(keys(view), ['quote', 'offices', 'contact', 'related', 'source']);
  const related = card(view, 'related');
  assert.equal(related.preview, '第（十）条');
  assert.deepEqual(related.items.map((r) => [r.label, r.anchor]), [['第（十）条 四、其他', `${a.citations[0].doc}-10`]]);
});

test('a refusal: the whole text in the bubble with 12333 as a call target, no cards', () => {
  const a = fixtureAnswer('stream-refusal.txt');
  assert.equal(a.in_scope, false);
  const view = buildView(a, a.answer, true);
  assert.equal(view.inScope, false);
  assert.deepEqual(view.cards, []);
  assert.equal(joined(view.lead), a.answer.trim());
  assert.match(view.leadText, /住房公积金/);
  const phones = view.lead.filter((p) => p.phone);
  assert.equal(phones.length, count(a.answer, '12333'));
  assert.ok(phones.every((p) => p.text === '12333' && p.phone === '12333'));
});

test('while streaming: the bubble fills with the first line, the cards come once it is complete', () => {
  const a = fixtureAnswer('stream.txt');
  const first = a.answer.split('\n')[0];
  const half = first.slice(0, 10);
  let view = buildView(a, half, false);
  assert.equal(view.leadText, half);
  assert.deepEqual(view.cards, []);
  view = buildView(a, first + '\n', false);
  assert.equal(view.leadText, first);
  assert.deepEqual(keys(view), ['quote', 'offices', 'contact', 'source']);
  // a lead in the meta frame does not run ahead of the text that has arrived
  view = buildView({ ...a, lead: first }, half, false);
  assert.equal(view.leadText, half);
  assert.equal(buildView(null, '', false).leadText, '');
  assert.deepEqual(buildView(null, '', false).cards, []);
});

test('AI生成 label and language come from the answer', () => {
  const a = fixtureAnswer('stream.txt');
  const view = buildView({ ...a, ai_generated: true, lang: 'en' }, a.answer, true);
  assert.equal(view.aiGenerated, true);
  assert.equal(view.lang, 'en');
});

test('phone parts and the note', () => {
  assert.deepEqual(phoneParts('请拨打12333或12333', '12333').map((p) => [p.text, p.phone]), [
    ['请拨打', ''],
    ['12333', '12333'],
    ['或', ''],
    ['12333', '12333'],
  ]);
  assert.deepEqual(phoneParts('没有电话').map((p) => p.phone), ['']);
  assert.deepEqual(phoneParts(''), []);
  assert.equal(noteText('甲\n【提示】以当地为准。\n乙'), '以当地为准。');
  assert.match(noteText('没有提示'), /以当地人社部门的解释为准/);
});

test('errors in words a citizen understands; 12333 in them is a call target', () => {
  assert.match(describeError({ kind: 'http', status: 429, retryAfter: 9 }, 500).text, /请等 9 秒/);
  assert.equal(describeError({ kind: 'http', status: 429, retryAfter: 9 }, 500).wait, 9);
  const network = describeError({ kind: 'network' }, 500);
  assert.equal(network.title, '网络连接失败');
  assert.equal(joined(network.parts), network.text);
  assert.deepEqual(network.parts.filter((p) => p.phone).map((p) => p.phone), ['12333']);
  assert.equal(describeError({ kind: 'http', status: 503 }, 500).title, '服务正在启动');
  assert.equal(describeError({ kind: 'http', status: 503 }, 500).wait, undefined);
  const busy = describeError({ kind: 'http', status: 503, retryAfter: 4 }, 500);
  assert.match(busy.title, /稍后再试/);
  assert.match(busy.text, /请 4 秒后点“重试”/);
  assert.equal(busy.wait, 4);
  assert.equal(busy.retry, true);
  // the service's own "busy" codes are back-pressure even without a wait; "not ready" never is
  const coded = describeError({ kind: 'http', status: 503, code: 'busy' }, 500);
  assert.match(coded.title, /稍后再试/);
  assert.equal(coded.wait, 1);
  assert.equal(describeError({ kind: 'http', status: 503, code: 'server_busy', retryAfter: 2 }, 500).wait, 2);
  assert.equal(describeError({ kind: 'http', status: 503, code: 'not_ready', retryAfter: 5 }, 500).title, '服务正在启动');
  const long = describeError({ kind: 'http', status: 413, message: '问题太长了，请控制在500字以内' }, 500);
  assert.equal(long.text, '问题太长了，请控制在500字以内');
  assert.equal(long.restore, true);
  assert.equal(describeError({ kind: 'http', status: 413 }, 500).text, '请控制在500字以内。');
  assert.equal(charCount('稳岗😀'), 3);
});

test('a generated answer: its whole text in the bubble, the decision\'s cards after it', () => {
  const a = Object.assign(fixtureAnswer('stream.txt'), { ai_generated: true, lead: '' });
  const text = '企业可以通过转型转产、主辅分离等办法安置富余人员。\n具体由就业处负责。';
  const view = buildView(a, text, true);
  assert.equal(view.aiGenerated, true);
  assert.equal(view.leadText, text);
  assert.deepEqual(keys(view), ['quote', 'offices', 'contact', 'source']);
  assert.equal(card(view, 'quote').label, '（七）');
  assert.deepEqual(card(view, 'offices').items.map((o) => o.name), a.offices.map((o) => o.name));
  // while it streams, the text so far, whole
  assert.equal(buildView(a, text.slice(0, 30), false).leadText, text.slice(0, 30));
  // a deterministic answer with the same text shows its lead line only
  assert.equal(buildView({ ...a, ai_generated: false }, text, true).leadText, text.split('\n')[0]);
});
