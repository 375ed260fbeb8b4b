'use strict';
// pages/chat/chat.js, the page logic, driven like the WeChat runtime would: Page({...}) registers it, setData
// applies "a.b[2].c" paths, and the fake wx.request replays the recorded /v1/ask/stream responses.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EXPECTED, fixtureBytes, chunksOf, jsonBytes, fakeWx } = require('./helpers.js');

const PAGE = require.resolve('../pages/chat/chat.js');

function setPath(target, path, value) {
  const keys = [];
  path.replace(/([^.[\]]+)|\[(\d+)\]/g, (_, name, index) => {
    keys.push(index === undefined ? name : Number(index));
    return '';
  });
  let at = target;
  keys.slice(0, -1).forEach((k, i) => {
    if (at[k] === undefined || at[k] === null) at[k] = typeof keys[i + 1] === 'number' ? [] : {};
    at = at[k];
  });
  at[keys[keys.length - 1]] = value;
}

/** A page instance from the Page({...}) definition; `scrolls` lists every scroll-into-view value set. */
function loadPage() {
  let def = null;
  global.Page = (d) => {
    def = d;
  };
  delete require.cache[PAGE];
  require(PAGE);
  const page = Object.create(def);
  page.data = JSON.parse(JSON.stringify(def.data));
  page.scrolls = [];
  page.waiters = [];
  page.setData = function (patch) {
    Object.keys(patch).forEach((k) => setPath(this.data, k, patch[k]));
    if ('scrollInto' in patch) this.scrolls.push(patch.scrollInto);
    this.waiters = this.waiters.filter((w) => !w(this.data));
  };
  return page;
}

/** Resolves once predicate(page.data) holds after some setData; fails after `ms`. */
function until(page, predicate, ms = 3000) {
  if (predicate(page.data)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('condition not reached; data: ' + JSON.stringify(page.data).slice(0, 800))), ms);
    page.waiters.push((data) => {
      if (!predicate(data)) return false;
      clearTimeout(timer);
      resolve();
      return true;
    });
  });
}

function routes(stream) {
  return {
    '/v1/documents': () => ({ statusCode: 200, header: {}, data: [] }),
    '/v1/cities': () => ({ statusCode: 200, header: {}, data: [{ name: '苏州' }] }),
    '/chips.json': () => ({ statusCode: 200, header: {}, data: { groups: [] } }),
    '/v1/ask/stream': stream,
  };
}

function recorded(name) {
  return () => ({ statusCode: 200, header: { 'Content-Type': 'text/event-stream' }, chunks: chunksOf(fixtureBytes(name), [97]) });
}

const bot = (page) => page.data.messages.find((m) => m.role === 'bot');
const done = (data) => data.messages.some((m) => m.role === 'bot' && (m.feedback === 'open' || m.error));

test.afterEach(() => {
  delete global.wx;
  delete global.Page;
});

test('an answer: the lead in the bubble, the cards, and scrolled to the answer once it has text', async () => {
  global.wx = fakeWx(routes(recorded('stream.txt')), { makePhoneCall: (o) => global.wx.calls.push({ path: 'tel', opts: o }) });
  const page = loadPage();
  page.onLoad();
  page.submit(EXPECTED['stream.txt'].question);
  const [user] = page.data.messages;
  assert.deepEqual(page.scrolls, [user.id], 'the question is scrolled to, not the empty answer');
  await until(page, done);
  const msg = bot(page);
  assert.equal(msg.view.leadText, EXPECTED['stream.txt'].answer.split('\n')[0]);
  assert.deepEqual(msg.view.cards.map((c) => c.key), ['quote', 'offices', 'contact', 'source']);
  assert.equal(msg.waiting, false);
  assert.equal(msg.inScope, true);
  // the last scroll-into-view names this answer (its node or its top anchor) and differs from the one before
  const last = page.scrolls[page.scrolls.length - 1];
  assert.ok(last === msg.id || last === msg.id + '-top', page.scrolls);
  assert.notEqual(page.scrolls[page.scrolls.length - 2], last);

  // a tap opens a card, and that choice is kept
  const quote = msg.view.cards.findIndex((c) => c.key === 'quote');
  page.onToggleCard({ currentTarget: { dataset: { index: 1, card: quote } } });
  assert.equal(bot(page).view.cards[quote].open, true);
  assert.deepEqual(page.opened[msg.id], { quote: true });
  // 12333 calls
  page.onCall({ currentTarget: { dataset: { phone: '12333' } } });
  assert.equal(global.wx.calls.find((c) => c.path === 'tel').opts.phoneNumber, '12333');
  page.onUnload();
});

test('a reader dragging the list down while the answer comes is not scrolled away', async () => {
  global.wx = fakeWx(routes(recorded('stream.txt')));
  const page = loadPage();
  page.onLoad();
  page.submit(EXPECTED['stream.txt'].question);
  assert.equal(page.data.busy, true);
  page.onLogTouchStart({ touches: [{ clientY: 200 }] });
  page.onLogTouchMove({ touches: [{ clientY: 320 }] });
  await until(page, done);
  assert.deepEqual(page.scrolls, [page.data.messages[0].id]);
  // the next question is followed again
  page.submit('这个找哪个部门');
  await until(page, (data) => data.messages.length === 4 && data.messages[3].feedback === 'open');
  assert.ok(page.scrolls[page.scrolls.length - 1].startsWith(page.data.messages[3].id), page.scrolls);
  page.onUnload();
});

test('a refusal fills the bubble whole, without cards', async () => {
  global.wx = fakeWx(routes(recorded('stream-refusal.txt')));
  const page = loadPage();
  page.onLoad();
  page.submit(EXPECTED['stream-refusal.txt'].question);
  await until(page, done);
  const msg = bot(page);
  assert.equal(msg.inScope, false);
  assert.equal(msg.view.leadText, EXPECTED['stream-refusal.txt'].answer.trim());
  assert.deepEqual(msg.view.cards, []);
  assert.ok(msg.view.lead.some((p) => p.phone === '12333'));
  page.onUnload();
});

test('a busy service (503 + Retry-After): "稍后再试" with a countdown, 12333 tappable', async () => {
  const busy = () => ({
    statusCode: 503,
    header: { 'Retry-After': '3' },
    chunks: [jsonBytes({ code: 'busy', message: '当前咨询人数较多，请稍后再试' }).buffer],
  });
  global.wx = fakeWx(routes(busy));
  const page = loadPage();
  page.onLoad();
  page.submit('稳岗返还怎么申请？');
  await until(page, done);
  const { error } = bot(page);
  assert.match(error.title, /稍后再试/);
  assert.equal(error.retry, true);
  assert.ok(error.wait > 0 && error.wait <= 3, String(error.wait));
  assert.match(error.parts.map((p) => p.text).join(''), /请 3 秒后点“重试”/);
  assert.ok(error.parts.some((p) => p.phone === '12333'));
  assert.equal(page.data.busy, false);
  page.onUnload();
});
