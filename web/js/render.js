// Renders one answer as it streams in. The answer text is the service's own wording, line by line; the
// sections it has structured data for become cards in place: 【原文摘录】 -> a collapsible citation card,
// 【责任单位】 -> office cards, 【办理渠道】 -> where to go and 12333. Unknown sections stay plain text, so a
// template change on the server degrades to text, never to a missing answer. Text only, never innerHTML.
import { el, clear, measureHref } from './dom.js';

const SECTION = /^【([^】]{1,12})】(.*)$/;
const LOCAL_BUREAU_KIND = '设区市人力资源和社会保障局';

function tag(name) {
  return el('span', { class: 'sec-tag' }, name);
}

function isLocalBureau(office) {
  return !office.full_name && !office.full_name_unconfirmed && (office.kind === LOCAL_BUREAU_KIND || /设区市/.test(office.name));
}

export function citationCard(c, open) {
  const summary = el(
    'summary',
    { class: 'cite-summary' },
    el('span', { class: 'cite-kicker' }, '原文摘录'),
    el('span', { class: 'cite-label' }, `第${c.label}条`),
    c.title ? el('span', { class: 'cite-title' }, c.title) : null,
  );
  return el(
    'details',
    { class: 'cite-card', open: open ? true : null, 'data-measure': c.measure, 'data-label': c.label },
    summary,
    el('blockquote', { class: 'cite-quote' }, c.quote || ''),
    el(
      'p',
      { class: 'cite-meta' },
      c.doc_title ? `《${c.doc_title}》第${c.label}条 · ` : '',
      el('a', { href: measureHref(c.doc, c.measure) }, '查看本条全文和责任单位'),
    ),
  );
}

export function officeCards(offices, answer) {
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
    if (local && answer && answer.bureau) {
      lines.push(el('p', { class: 'office-full office-local' }, `您所在城市：${answer.bureau}`));
    }
    if (o.handles) lines.push(el('p', { class: 'office-handles' }, `负责：${o.handles}`));
    list.append(el('li', { class: 'office-card' }, lines));
  }
  return list;
}

export function contactCard(answer) {
  const hotline = (answer && answer.hotline) || '12333';
  const bureau = answer && answer.bureau;
  return el(
    'div',
    { class: 'contact-card', role: 'group', 'aria-label': '去哪里办' },
    el(
      'p',
      { class: 'contact-row' },
      el('span', { class: 'contact-key' }, '就近办理'),
      el(
        'span',
        { class: 'contact-value bureau' },
        bureau || '您所在设区市的人力资源和社会保障局',
        bureau ? null : el('span', { class: 'contact-hint' }, '（在下方选择城市，可显示具体名称）'),
      ),
    ),
    el(
      'p',
      { class: 'contact-row' },
      el('span', { class: 'contact-key' }, '咨询热线'),
      el(
        'span',
        { class: 'contact-value' },
        el('a', { href: `tel:${hotline.replace(/[^0-9]/g, '')}`, class: 'hotline' }, hotline),
        ' 人力资源和社会保障服务热线',
      ),
    ),
  );
}

export class AnswerView {
  /** root: the <li> of this answer; onFeedback(helpful, comment) -> Promise. */
  constructor(root, { onFeedback } = {}) {
    this.root = root;
    this.onFeedback = onFeedback;
    this.bubble = el('article', { class: 'bubble answer', 'aria-label': '回答', 'aria-busy': 'true' });
    this.body = el('div', { class: 'answer-body' });
    this.bubble.append(this.body);
    clear(root).append(this.bubble);
    this.reset();
  }

  reset() {
    clear(this.body);
    this.meta = null;
    this.pending = '';
    this.section = '';
    this.skip = false;
    this.related = 0;
    this.contactShown = false;
    this.noteShown = false;
    this.partial = null;
    this.waiting = el('p', { class: 'waiting' }, el('span', { class: 'dots', 'aria-hidden': 'true' }), '正在查找相关政策…');
    this.body.append(this.waiting);
  }

  setMeta(meta) {
    this.meta = meta;
    if (this.waiting) this.waiting.remove();
    this.waiting = null;
    this.bubble.classList.toggle('out-of-scope', !meta.in_scope);
    if (meta.message_id) this.bubble.dataset.messageId = meta.message_id;
    this._aiBadge();
  }

  /** Generated text is labelled "AI生成" while it streams and after (WeChat requires the label). */
  _aiBadge() {
    if (this.meta && this.meta.ai_generated && !this.body.querySelector('.ai-badge')) {
      this.body.prepend(el('p', { class: 'ai-badge' }, 'AI生成 · 本回答由AI根据文件原文解读，请以下方原文为准'));
    }
  }

  appendText(piece) {
    this.pending += piece;
    const lines = this.pending.split('\n');
    this.pending = lines.pop();
    for (const line of lines) this._line(line);
    if (this.pending) {
      if (!this.partial) this.partial = el('p', { class: 'line partial' });
      this.partial.textContent = this.pending;
      this.body.append(this.partial);
    } else if (this.partial) {
      this.partial.remove();
    }
  }

  /** The complete answer (from the stream or from /v1/ask). */
  finish(answer) {
    if (!this.meta) {
      this.setMeta(answer);
      this.appendText(answer.answer || '');
    }
    this.meta = { ...this.meta, ...answer };
    if (this.partial) this.partial.remove();
    this.partial = null;
    if (this.pending) this._line(this.pending);
    this.pending = '';
    if (this.meta.ai_generated) {
      // the generated text has no 【】 sections: the citation and the offices still come from the decision
      const citations = this.meta.citations || [];
      if (citations.length && !this.body.querySelector('.cite-card')) this.body.append(citationCard(citations[0], false));
      if ((this.meta.offices || []).length && !this.body.querySelector('.offices')) {
        this.body.append(officeCards(this.meta.offices, this.meta));
      }
    }
    if (!this.contactShown) this.body.append(contactCard(this.meta));
    if (!this.noteShown) {
      this.body.append(el('p', { class: 'note' }, tag('提示'), '以上信息仅供参考，具体以当地人社部门的解释为准。'));
    }
    this._aiBadge();
    this.bubble.append(this._feedback());
    this.bubble.setAttribute('aria-busy', 'false');
  }

  _line(line) {
    const meta = this.meta || {};
    const citations = meta.citations || [];
    const offices = meta.offices || [];
    const m = SECTION.exec(line);
    if (m) {
      const [, name, rest] = m;
      this.section = name;
      this.skip = false;
      if (name === '原文摘录' && citations.length) {
        this.body.append(citationCard(citations[0], true));
        this.skip = true; // the quoted lines are in the card
      } else if (name === '责任单位') {
        this.body.append(el('p', { class: 'sec' }, tag(name), rest));
        if (offices.length) {
          this.body.append(officeCards(offices, meta));
          this.skip = true; // the "· office" lines are in the cards
        }
      } else if (name === '办理渠道') {
        this.body.append(el('p', { class: 'sec' }, tag(name), rest));
        this.body.append(contactCard(meta));
        this.contactShown = true;
      } else if (name === '提示') {
        this.body.append(el('p', { class: 'note' }, tag(name), rest));
        this.noteShown = true;
      } else if (name === '来源') {
        this.body.append(el('p', { class: 'sec source' }, tag(name), rest));
      } else if (name === '适用政策') {
        this.body.append(el('p', { class: 'sec measure' }, tag(name), rest));
      } else {
        this.body.append(el('p', { class: 'sec' }, tag(name), rest));
      }
      return;
    }
    if (this.skip) return;
    if (this.section === '相关条款' && line.startsWith('·')) {
      this.related += 1;
      const c = citations[this.related];
      this.body.append(
        el('p', { class: 'line related' }, line, c ? ' ' : null, c ? el('a', { href: measureHref(c.doc, c.measure) }, '查看') : null),
      );
      return;
    }
    this.body.append(el('p', { class: 'line' }, line));
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
