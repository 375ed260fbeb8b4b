/**
 * Turns an answer (its fields + the text streamed so far) into what chat.wxml shows - the same layout as
 * the H5 page, each fact once:
 *
 *   bubble     answer.lead (fallback: the first line of answer.answer); a refusal (in_scope false) and a
 *              generated reply (ai_generated, AI生成) whole
 *   cards      原文 (citations[0]: label, section title, verbatim quote), 责任单位 (one row per office: short
 *              name as printed, full name or 全称待核实, duties), 就近办理 (the city bureau or a prompt to
 *              pick the city; 12333), 相关条款 (citations[1:]), 来源 (title, issuer, date)
 *
 *   buildView(answer, text, final, opened) -> {lead: [{text, phone, key}], inScope, aiGenerated, lang,
 *                                              cards: [{key, title, open, sub, preview, ...}], note}
 *
 * Phone numbers in text become parts with `phone` set, which the page renders as a tap target that calls
 * wx.makePhoneCall. WXML {{}} bindings are always text, so nothing here can inject markup.
 */
'use strict';

const LOCAL_BUREAU_KIND = '设区市人力资源和社会保障局';
// the note line of the answer text: today's '提示：' and the earlier '【提示】'
const NOTE_PREFIXES = ['提示：', '【提示】'];
const DEFAULT_NOTE = '以上信息仅供参考，具体以当地人社部门的解释为准。';
const HOTLINE = '12333';
// the service's back-pressure codes (503), as in utils/request.js (this module stays free of wx and config)
const BUSY_CODES = ['busy', 'server_busy'];
// which cards start open: where to go (short, and the number to call); the others on a tap
const OPEN_AT_FIRST = { contact: true };

function isLocalBureau(o) {
  return !o.full_name && !o.full_name_unconfirmed && (o.kind === LOCAL_BUREAU_KIND || /设区市/.test(o.name || ''));
}

function measureAnchor(doc, measure) {
  return doc + '-' + measure;
}

function firstLine(text) {
  const s = String(text || '');
  const i = s.indexOf('\n');
  return (i < 0 ? s : s.slice(0, i)).trim();
}

/** What the reply bubble shows: the lead, else the first line of the answer; a refusal or an AI reply in full. */
function bubbleText(answer, text) {
  const a = answer || {};
  const full = String(text === undefined ? a.answer || '' : text);
  // a refusal, and a generated (AI生成) reply, which has no lead of the notice's words: the whole text
  if (a.in_scope === false || a.ai_generated) return full.trim();
  if (typeof a.lead === 'string' && a.lead.trim()) return a.lead.trim();
  return firstLine(full);
}

/** 'tel 12333 now' -> [{text: 'tel ', phone: ''}, {text: '12333', phone: '12333'}, {text: ' now', phone: ''}] */
function phoneParts(text, number) {
  const s = String(text || '');
  const n = String(number || HOTLINE);
  const digits = n.replace(/[^0-9]/g, '');
  const parts = [];
  s.split(n).forEach((piece, i) => {
    if (i) parts.push({ text: n, phone: digits });
    if (piece) parts.push({ text: piece, phone: '' });
  });
  parts.forEach((p, i) => {
    p.key = i; // wx:key
  });
  return parts;
}

/** The 【提示】 line of the answer text when it has one, else the client's own reminder. */
function noteText(text) {
  const lines = String(text || '').split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const s = lines[i].trim();
    for (let k = 0; k < NOTE_PREFIXES.length; k += 1) {
      const p = NOTE_PREFIXES[k];
      if (s.indexOf(p) === 0 && s.length > p.length) return s.slice(p.length);
    }
  }
  return DEFAULT_NOTE;
}

function quoteCard(c) {
  return {
    key: 'quote',
    title: '原文',
    sub: (c.cited || '第' + c.label + '条') + (c.title ? ' ' + c.title : ''),
    preview: '',
    label: c.label,
    section: c.title || '',
    quote: c.quote || '',
    anchor: measureAnchor(c.doc, c.measure),
  };
}

function officesCard(offices) {
  return {
    key: 'offices',
    title: '责任单位',
    sub: '',
    // collapsed, the card still says who: the short names as printed, in one line
    preview: offices.map((o) => o.name).join('、'),
    items: offices.map((o) => {
      const local = isLocalBureau(o);
      let full = '';
      let unconfirmed = false;
      if (o.full_name) full = '全称：' + o.full_name;
      else if (o.full_name_unconfirmed) {
        full = '全称待核实：' + o.full_name_unconfirmed;
        unconfirmed = true;
      }
      return {
        name: o.name,
        kind: local ? '' : o.kind || '',
        full,
        unconfirmed,
        handles: o.handles ? '负责：' + o.handles : '',
      };
    }),
  };
}

function contactCard(a) {
  const hotline = String(a.hotline || HOTLINE);
  return {
    key: 'contact',
    title: '就近办理',
    sub: '',
    preview: a.bureau || '',
    bureau: a.bureau || '您所在设区市的人力资源和社会保障局',
    hint: a.bureau ? '' : '在下方选择所在城市，可显示具体名称',
    hotline,
    phone: hotline.replace(/[^0-9]/g, ''),
  };
}

function relatedCard(citations) {
  return {
    key: 'related',
    title: '相关条款',
    sub: '',
    preview: citations.map((c) => (c.cited || '第' + c.label + '条')).join('、'),
    items: citations.map((c, i) => ({
      key: i,
      label: (c.cited || '第' + c.label + '条') + (c.title ? ' ' + c.title : ''),
      quote: c.quote || '',
      anchor: measureAnchor(c.doc, c.measure),
    })),
  };
}

function sourceCard(sources) {
  return {
    key: 'source',
    title: '来源',
    sub: '',
    preview: '',
    items: sources.map((s, i) => ({ key: i, title: '《' + s.title + '》', meta: [s.issuer, s.date].filter(Boolean).join('　') })),
  };
}

/**
 * answer: the answer's fields (meta frame or /v1/ask body); text: the answer text so far; final: the whole
 * answer is in; opened: {cardKey: bool} the reader's own open/closed choices, kept across re-renders.
 * The cards appear once the lead (the first line) is complete, or at the end.
 */
function buildView(answer, text, final, opened) {
  const a = answer || {};
  const full = String(text === undefined ? a.answer || '' : text);
  const inScope = a.in_scope !== false;
  const leadText = final ? bubbleText(a, full) : bubbleText(Object.assign({}, a, { lead: null }), full);
  const view = {
    leadText,
    lead: phoneParts(leadText, a.hotline),
    inScope,
    aiGenerated: Boolean(a.ai_generated),
    lang: a.lang || '',
    cards: [],
    note: '',
  };
  if (!inScope || !answer || (!final && full.indexOf('\n') < 0)) return view;
  const citations = a.citations || [];
  const offices = a.offices || [];
  const sources = a.sources || [];
  if (citations.length) view.cards.push(quoteCard(citations[0]));
  if (offices.length) view.cards.push(officesCard(offices));
  view.cards.push(contactCard(a));
  if (citations.length > 1) view.cards.push(relatedCard(citations.slice(1)));
  if (sources.length) view.cards.push(sourceCard(sources));
  const choice = opened || {};
  view.cards.forEach((c) => {
    c.open = Object.prototype.hasOwnProperty.call(choice, c.key) ? Boolean(choice[c.key]) : Boolean(OPEN_AT_FIRST[c.key]);
  });
  view.note = noteText(full);
  return view;
}

/** Words a citizen understands for an ApiError (see utils/request.js); `parts` has the 12333 tap target. */
function describeError(err, maxChars) {
  const info = errorInfo(err || {}, maxChars);
  info.parts = phoneParts(info.text, HOTLINE);
  return info;
}

function errorInfo(e, maxChars) {
  const phone = '如果一直不行，可以拨打 12333 咨询。';
  if (e.kind === 'network') return { title: '网络连接失败', text: '没能连上服务，请检查手机网络后点“重试”。' + phone, retry: true };
  if (e.kind === 'timeout') return { title: '服务响应超时', text: '服务暂时没有回应，请稍后点“重试”。' + phone, retry: true };
  if (e.kind === 'protocol') return { title: '回答没有完整收到', text: '网络可能中断了，请点“重试”。', retry: true };
  if (e.kind !== 'http') return { title: '出错了', text: '请稍后再试。' + phone, retry: true };
  if (e.status === 429) {
    return { title: '提问太频繁了', text: '为了让每个人都能用上，请等 ' + e.retryAfter + ' 秒后再试。', retry: true, wait: e.retryAfter };
  }
  if (e.status === 413) return { title: '问题太长了', text: e.message || '请控制在' + maxChars + '字以内。', restore: true };
  if (e.status === 422 || e.status === 400) {
    return { title: '这个问题没能提交', text: e.message || '请检查问题内容后再试。', restore: true };
  }
  if (e.status === 401) return { title: '需要重新登录', text: e.message || '登录已失效，请点“重试”。', retry: true };
  if (e.status === 403) return { title: '无法提交', text: e.message || '这个问题无法提交。' + phone };
  if (e.status === 503 && e.code !== 'not_ready' && (BUSY_CODES.indexOf(e.code) >= 0 || e.retryAfter)) {
    // back-pressure: too many questions at once; the server says when to come back
    const wait = e.retryAfter || 1;
    return { title: '现在咨询的人较多，请稍后再试', text: '请 ' + wait + ' 秒后点“重试”。' + phone, retry: true, wait: wait };
  }
  if (e.status === 503) return { title: '服务正在启动', text: '系统正在准备中，请稍等片刻后点“重试”。' + phone, retry: true };
  return { title: '服务暂时出错了', text: '请稍后点“重试”。' + phone, retry: true };
}

/** Code points, as the service counts them. */
function charCount(text) {
  return Array.from(text || '').length;
}

module.exports = { buildView, bubbleText, firstLine, phoneParts, noteText, describeError, charCount, measureAnchor };
