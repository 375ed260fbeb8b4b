// Renders one answer: the lead as the reply bubble, the rest as collapsible cards built from the answer's
// structured fields, each fact shown once:
//
//   bubble     answer.lead (fallback: the first line of answer.answer); the whole text for a refusal and for a
//              generated (ai_generated, AI生成) reply
//   原文       citations[0]: label, section title, the verbatim quote, a link to the measure
//   责任单位   offices: one row each, the short name as printed, full name (全称待核实 when unconfirmed), duties
//   就近办理   the city bureau when known, else a prompt to pick the city; the hotline as a tel: link
//   相关条款   citations[1:], when there are any
//   来源       sources: title, issuer, date (the only place the notice's title is shown)
//
// The answer text streams into the bubble as it arrives (delta frames); the cards come from the meta frame.
// Cards are <details>, so they open and close by touch, mouse and keyboard without any script. Everything
// from the server goes in as text nodes, never innerHTML.
import { clear, el, measureHref, phoneText, telLink } from './dom.js';

const LOCAL_BUREAU_KIND = '设区市人力资源和社会保障局';
// the note line of the answer text: today's '提示：' and the earlier '【提示】'
const NOTE_PREFIXES = ['提示：', '【提示】'];
const DEFAULT_NOTE = '以上信息仅供参考，具体以当地人社部门的解释为准。';

/** The first line of a text, without surrounding blanks. */
export function firstLine(text) {
  const s = String(text || '');
  const i = s.indexOf('\n');
  return (i < 0 ? s : s.slice(0, i)).trim();
}

/** What the reply bubble shows: the lead, else the first line of the answer; a refusal or an AI reply in full. */
export function bubbleText(answer, text) {
  const a = answer || {};
  const full = String(text === undefined ? a.answer || '' : text);
  // a refusal, and a generated (AI生成) reply, which has no lead of the notice's words: the whole text
  if (a.in_scope === false || a.ai_generated) return full.trim();
  if (typeof a.lead === 'string' && a.lead.trim()) return a.lead.trim();
  return firstLine(full);
}

function isLocalBureau(office) {
  return !office.full_name && !office.full_name_unconfirmed && (office.kind === LOCAL_BUREAU_KIND || /设区市/.test(office.name));
}

/**
 * One collapsible card: <details class="card card-{id}"><summary>title · sub · preview</summary>body</details>.
 * `sub` stays in the summary (it heads the body); `preview` shows only while the card is closed, because the
 * open body says the same in full.
 */
function card(id, title, { open = false, sub = null, preview = null } = {}, ...body) {
  return el(
    'details',
    { class: `card card-${id}`, 'data-card': id, open: open ? true : null },
    el(
      'summary',
      { class: 'card-summary' },
      el('span', { class: 'card-title' }, title),
      sub ? el('span', { class: 'card-sub' }, sub) : null,
      preview ? el('span', { class: 'card-preview' }, preview) : null,
    ),
    el('div', { class: 'card-body' }, body),
  );
}

export function quoteCard(c) {
  return card(
    'quote',
    '原文',
    { sub: [el('span', { class: 'cite-label' }, (c.cited || `第${c.label}条`)), c.title ? el('span', { class: 'cite-title' }, c.title) : null] },
    el('blockquote', { class: 'cite-quote', 'data-measure': c.measure, 'data-label': c.label }, c.quote || ''),
    el('p', { class: 'card-link' }, el('a', { href: measureHref(c.doc, c.measure) }, '查看本条全文')),
  );
}

export function officesCard(offices) {
  const list = el('ul', { class: 'offices', 'aria-label': '责任单位' });
  for (const o of offices) {
    const local = isLocalBureau(o);
    const lines = [
      el(
        'p',
        { class: 'office-head' },
        el('span', { class: 'office-name' }, o.name),
        o.kind && !local ? el('span', { class: 'office-kind' }, o.kind) : null,
      ),
    ];
    if (o.full_name) {
      lines.push(el('p', { class: 'office-full' }, `全称：${o.full_name}`));
    } else if (o.full_name_unconfirmed) {
      lines.push(el('p', { class: 'office-full unconfirmed' }, `全称待核实：${o.full_name_unconfirmed}`));
    }
    if (o.handles) lines.push(el('p', { class: 'office-handles' }, `负责：${o.handles}`));
    list.append(el('li', { class: 'office-card' }, lines));
  }
  // collapsed, the card still says who: the short names as printed, in one line
  return card('offices', '责任单位', { preview: offices.map((o) => o.name).join('、') }, list);
}

export function contactCard(answer, onPickCity) {
  const hotline = (answer && answer.hotline) || '12333';
  const bureau = answer && answer.bureau;
  const where = bureau
    ? el('p', { class: 'contact-row' }, el('span', { class: 'contact-value bureau' }, bureau))
    : el(
        'p',
        { class: 'contact-row' },
        el('span', { class: 'contact-value' }, '您所在设区市的人力资源和社会保障局'),
        onPickCity
          ? el('button', { type: 'button', class: 'pick-city', onclick: onPickCity }, '选择城市，显示具体名称')
          : null,
      );
  return card(
    'contact',
    '就近办理',
    { open: true },
    where,
    el(
      'p',
      { class: 'contact-row' },
      el('span', { class: 'contact-key' }, '咨询热线'),
      telLink(hotline, { class: 'tel hotline' }),
      el('span', { class: 'contact-hint' }, '人力资源和社会保障服务热线'),
    ),
  );
}

export function relatedCard(citations) {
  const list = el('ul', { class: 'related' });
  for (const c of citations) {
    list.append(
      el(
        'li',
        { class: 'related-item' },
        el('a', { href: measureHref(c.doc, c.measure), class: 'related-link' }, (c.cited || `第${c.label}条`), c.title ? ` ${c.title}` : ''),
        c.quote ? el('p', { class: 'related-quote' }, c.quote) : null,
      ),
    );
  }
  return card('related', '相关条款', { preview: citations.map((c) => (c.cited || `第${c.label}条`)).join('、') }, list);
}

export function sourceCard(sources) {
  const items = sources.map((s) =>
    el(
      'p',
      { class: 'source-item' },
      el('span', { class: 'source-title' }, `《${s.title}》`),
      el('span', { class: 'source-meta' }, [s.issuer, s.date].filter(Boolean).join('　')),
    ),
  );
  return card('source', '来源', {}, items);
}

/** The 【提示】 line of the answer text when it has one, else the page's own reminder. */
export function noteText(text) {
  for (const line of String(text || '').split('\n')) {
    const s = line.trim();
    const prefix = NOTE_PREFIXES.find((p) => s.startsWith(p) && s.length > p.length);
    if (prefix) return s.slice(prefix.length);
  }
  return DEFAULT_NOTE;
}

export class AnswerView {
  /** root: the <li> of this answer; onFeedback(helpful, comment) -> Promise; onPickCity() focuses the picker. */
  constructor(root, { onFeedback, onPickCity } = {}) {
    this.root = root;
    this.onFeedback = onFeedback;
    this.onPickCity = onPickCity;
    this.article = el('article', { class: 'answer', 'aria-label': '回答', 'aria-busy': 'true' });
    clear(root).append(this.article);
    this.reset();
  }

  reset() {
    clear(this.article);
    this.meta = null;
    this.text = '';
    this.shown = '';
    this.cards = null;
    this.note = null;
    this.badge = el('p', { class: 'ai-badge', hidden: true }, 'AI生成');
    this.bubble = el('div', { class: 'bubble reply' });
    this.bubble.append(el('p', { class: 'waiting' }, el('span', { class: 'dots', 'aria-hidden': 'true' }), '正在查找相关政策…'));
    this.article.append(this.badge, this.bubble);
  }

  /** True once the bubble shows some of the answer. */
  get hasText() {
    return this.shown.length > 0;
  }

  setMeta(meta) {
    this.meta = meta;
    this.article.classList.toggle('out-of-scope', meta.in_scope === false);
    if (meta.message_id) this.article.dataset.messageId = meta.message_id;
    if (meta.lang) this.article.setAttribute('lang', meta.lang);
    this.badge.hidden = !meta.ai_generated;
  }

  appendText(piece) {
    this.text += piece;
    this._showBubble(bubbleText({ ...this.meta, lead: null }, this.text));
    // the lead is the first line: once it is complete, the cards follow it
    if (this.meta && this.meta.in_scope !== false && this.text.includes('\n')) this._showCards();
  }

  /** The complete answer (from the stream or from /v1/ask). */
  finish(answer) {
    this.meta = { ...(this.meta || {}), ...answer };
    this.setMeta(this.meta);
    this.text = answer.answer || this.text;
    this._showBubble(bubbleText(this.meta, this.text));
    if (this.meta.in_scope !== false) {
      this._showCards();
      this.note.textContent = noteText(this.text); // the whole text is in now
    }
    this.article.append(this._feedback());
    this.article.setAttribute('aria-busy', 'false');
  }

  _showBubble(text) {
    if (text === this.shown) return;
    this.shown = text;
    const hotline = (this.meta && this.meta.hotline) || '12333';
    clear(this.bubble).append(el('p', { class: 'reply-text' }, phoneText(text, hotline)));
  }

  _showCards() {
    if (this.cards) return;
    const m = this.meta || {};
    const citations = m.citations || [];
    const offices = m.offices || [];
    const sources = m.sources || [];
    this.cards = el('div', { class: 'cards' });
    if (citations.length) this.cards.append(quoteCard(citations[0]));
    if (offices.length) this.cards.append(officesCard(offices));
    this.cards.append(contactCard(m, this.onPickCity));
    if (citations.length > 1) this.cards.append(relatedCard(citations.slice(1)));
    if (sources.length) this.cards.append(sourceCard(sources));
    this.note = el('p', { class: 'note' }, noteText(this.text));
    this.cards.append(this.note);
    this.article.append(this.cards);
  }

  _feedback() {
    const status = el('p', { class: 'fb-status', role: 'status' });
    const yes = el('button', { type: 'button', class: 'fb-btn fb-yes', 'aria-pressed': 'false' }, '有帮助');
    const no = el('button', { type: 'button', class: 'fb-btn fb-no', 'aria-pressed': 'false' }, '没帮助');
    const commentId = `fb-comment-${(this.meta && this.meta.message_id) || Math.random().toString(36).slice(2)}`;
    const input = el('input', { id: commentId, type: 'text', maxlength: '500', class: 'fb-input', autocomplete: 'off' });
    const submit = el('button', { type: 'submit', class: 'fb-btn fb-send' }, '提交');
    const form = el(
      'form',
      { class: 'fb-comment', hidden: true },
      el('label', { for: commentId }, '哪里没帮到您？（选填）'),
      el('div', { class: 'fb-row' }, input, submit),
    );
    const box = el(
      'div',
      { class: 'feedback', role: 'group', 'aria-label': '这条回答有帮助吗？' },
      el('div', { class: 'fb-row' }, el('span', { class: 'fb-q' }, '这条回答对您有帮助吗？'), el('span', { class: 'fb-btns' }, yes, no)),
      form,
      status,
    );
    const send = async (helpful, comment) => {
      yes.disabled = true;
      no.disabled = true;
      submit.disabled = true;
      status.textContent = '正在提交…';
      try {
        await this.onFeedback(helpful, comment);
        (helpful ? yes : no).setAttribute('aria-pressed', 'true');
        form.hidden = true;
        status.textContent = '谢谢您的反馈！';
      } catch (err) {
        status.textContent = feedbackError(err);
        yes.disabled = false;
        no.disabled = false;
        submit.disabled = false;
      }
    };
    yes.addEventListener('click', () => send(true, null));
    no.addEventListener('click', () => {
      no.setAttribute('aria-pressed', 'true');
      form.hidden = false;
      input.focus();
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      send(false, input.value.trim() || null);
    });
    return box;
  }
}

function feedbackError(err) {
  if (err && err.status === 404) return '这条回答已过期，无法评价。';
  if (err && err.status === 429) return '提交太频繁了，请稍后再试。';
  if (err && (err.kind === 'network' || err.kind === 'timeout')) return '网络不太好，反馈没有提交成功，请稍后再试。';
  return (err && err.serverMessage) || '反馈没有提交成功，请稍后再试。';
}
