// The chat page: welcome (from /v1/documents), quick-question chips (chips.json), city picker (/v1/cities),
// streamed answers (/v1/ask/stream, falling back to /v1/ask), feedback, and errors a citizen understands.
import { ApiError, BUSY_CODES, MAX_QUESTION_CHARS, ask, getJSON, sendFeedback } from './api.js';
import { AnswerView } from './render.js';
import { charCount, clear, el, phoneText } from './dom.js';
import { AnswerFollower } from './follow.js';

const $ = (id) => document.getElementById(id);
const CITY_KEY = 'policybot.city';

const state = {
  sessionId: null,
  busy: false,
  cooldownUntil: 0,
};

const ui = {
  form: $('ask-form'),
  input: $('question'),
  send: $('send'),
  city: $('city'),
  counter: $('counter'),
  formStatus: $('form-status'),
  log: $('log'),
  scope: $('welcome-scope'),
  chips: $('chips'),
  restart: $('restart'),
};

// scrolls each new answer into view (its top below any sticky header, above the question box), unless the
// reader has scrolled up meanwhile
const follow = new AnswerFollower({ header: document.querySelector('.topbar'), footer: document.querySelector('.composer') });

// --- startup: documents, cities, chips ----------------------------------------------------------------
function describeDocuments(docs) {
  clear(ui.scope);
  if (!docs.length) {
    ui.scope.append(el('p', null, '目前还没有收录政策文件。'));
    return;
  }
  ui.scope.append(el('p', null, '我根据下面的政策文件回答问题，回答会摘录文件原文、列出负责的单位，并告诉您到哪里办理：'));
  const list = el('ul', { class: 'doc-list' });
  for (const d of docs) {
    list.append(
      el(
        'li',
        { class: 'doc' },
        el('span', { class: 'doc-title' }, `《${d.title}》`),
        el('span', { class: 'doc-meta' }, `${d.issuer}　${d.date}　共${d.measures}条措施`),
      ),
    );
  }
  ui.scope.append(list);
}

async function loadDocuments(attempt = 0) {
  try {
    describeDocuments(await getJSON('v1/documents'));
  } catch (err) {
    clear(ui.scope);
    if (err instanceof ApiError && err.status === 503 && attempt < 40) {
      ui.scope.append(el('p', null, '服务正在启动，马上就好…'));
      setTimeout(() => loadDocuments(attempt + 1), 3000);
      return;
    }
    ui.scope.append(
      el(
        'p',
        { class: 'error' },
        '暂时读不到收录的政策文件，请检查网络后',
        el('button', { type: 'button', class: 'link-btn', onclick: () => loadDocuments() }, '重新加载'),
        '。',
      ),
    );
  }
}

function savedCity() {
  try {
    return localStorage.getItem(CITY_KEY) || '';
  } catch {
    return '';
  }
}

async function loadCities(attempt = 0) {
  try {
    const cities = await getJSON('v1/cities');
    const keep = ui.city.value || savedCity();
    for (const c of cities) ui.city.append(el('option', { value: c.name }, c.name));
    if (cities.some((c) => c.name === keep)) ui.city.value = keep;
  } catch (err) {
    if (attempt < 40) setTimeout(() => loadCities(attempt + 1), 3000);
  }
}

async function loadChips() {
  let data;
  try {
    data = await getJSON('chips.json');
  } catch {
    return; // the chips are a convenience; the page works without them
  }
  clear(ui.chips);
  for (const group of data.groups || []) {
    const headingId = `chips-${group.id}`;
    const list = el('ul', { class: 'chip-list', 'aria-labelledby': headingId });
    for (const q of group.questions || []) {
      list.append(el('li', null, el('button', { type: 'button', class: 'chip', onclick: () => submit(q) }, q)));
    }
    ui.chips.append(el('div', { class: 'chip-group' }, el('h3', { id: headingId, class: 'chip-heading' }, group.label), list));
  }
}

// --- the question box --------------------------------------------------------------------------------
function updateCounter() {
  const n = charCount(ui.input.value);
  ui.counter.textContent = `${n}/${MAX_QUESTION_CHARS}`;
  const over = n > MAX_QUESTION_CHARS;
  ui.counter.classList.toggle('over', over);
  ui.input.setAttribute('aria-invalid', over ? 'true' : 'false');
  if (over) setFormStatus(`问题太长了，请控制在${MAX_QUESTION_CHARS}字以内（现在${n}字）。`, true);
  else if (ui.formStatus.dataset.kind === 'length') setFormStatus('');
  if (over) ui.formStatus.dataset.kind = 'length';
}

function setFormStatus(text, isError = false) {
  ui.formStatus.textContent = text;
  ui.formStatus.classList.toggle('error', Boolean(isError && text));
  delete ui.formStatus.dataset.kind;
}

function setBusy(busy) {
  state.busy = busy;
  ui.send.disabled = busy;
  ui.send.textContent = busy ? '回答中…' : '发送';
  ui.log.setAttribute('aria-busy', busy ? 'true' : 'false');
}

function scrollIntoView(node, block) {
  if (node && node.scrollIntoView) node.scrollIntoView({ block, behavior: 'auto' });
}

function submit(raw) {
  const text = (raw === undefined ? ui.input.value : raw).trim();
  if (!text) {
    setFormStatus('请先输入您想咨询的问题。', true);
    ui.input.focus();
    return;
  }
  const n = charCount(text);
  if (n > MAX_QUESTION_CHARS) {
    setFormStatus(`问题太长了，请控制在${MAX_QUESTION_CHARS}字以内（现在${n}字）。`, true);
    ui.input.focus();
    return;
  }
  if (state.busy) {
    setFormStatus('请等上一条回答完成后再提问。', true);
    return;
  }
  const wait = Math.ceil((state.cooldownUntil - Date.now()) / 1000);
  if (wait > 0) {
    setFormStatus(`提问太频繁了，请等 ${wait} 秒后再试。`, true);
    return;
  }
  setFormStatus('');
  const li = el('li', { class: 'msg msg-user' }, el('p', { class: 'bubble' }, text));
  ui.log.append(li);
  if (raw === undefined) {
    ui.input.value = '';
    updateCounter();
  }
  scrollIntoView(li, 'end');
  run(text);
}

// --- asking ------------------------------------------------------------------------------------------
async function run(text) {
  setBusy(true);
  follow.start(); // a new question (or a retry): follow its answer again
  const li = el('li', { class: 'msg msg-bot' });
  ui.log.append(li);
  let messageId = null;
  let revealed = false;
  const view = new AnswerView(li, {
    onFeedback: (helpful, comment) => sendFeedback(messageId, helpful, comment),
    onPickCity: () => ui.city.focus(),
  });
  const body = { question: text };
  if (state.sessionId) body.session_id = state.sessionId;
  if (ui.city.value) body.city = ui.city.value;
  try {
    const answer = await ask(body, {
      onMeta: (meta) => {
        messageId = meta.message_id;
        if (meta.session_id) state.sessionId = meta.session_id;
        view.setMeta(meta); // no scrolling yet: the frame is still empty
      },
      onDelta: (piece) => {
        view.appendText(piece);
        if (!revealed && view.hasText) {
          revealed = true;
          follow.reveal(li);
        }
      },
      onRestart: () => {
        revealed = false;
        view.reset();
      },
    });
    messageId = answer.message_id;
    if (answer.session_id) state.sessionId = answer.session_id;
    view.finish(answer);
    follow.reveal(li);
  } catch (err) {
    showError(li, err, text);
  } finally {
    setBusy(false);
  }
}

function describe(err) {
  const phone = '如果一直不行，可以拨打 12333 咨询。';
  if (!(err instanceof ApiError)) {
    return { title: '页面出错了', text: `请刷新页面后再试。${phone}`, retry: true };
  }
  if (err.kind === 'network') {
    return { title: '网络连接失败', text: `没能连上服务，请检查手机网络后点“重试”。${phone}`, retry: true };
  }
  if (err.kind === 'timeout') return { title: '服务响应超时', text: `服务暂时没有回应，请稍后点“重试”。${phone}`, retry: true };
  if (err.kind === 'protocol') return { title: '回答没有完整收到', text: '网络可能中断了，请点“重试”。', retry: true };
  const s = err.status;
  if (s === 429) {
    return { title: '提问太频繁了', text: `为了让每个人都能用上，请等 ${err.retryAfter} 秒后再试。`, retry: true, wait: err.retryAfter };
  }
  if (s === 413) {
    return { title: '问题太长了', text: err.serverMessage || `请控制在${MAX_QUESTION_CHARS}字以内。`, restore: true };
  }
  if (s === 422 || s === 400) {
    return { title: '这个问题没能提交', text: err.serverMessage || '请检查问题内容后再试。', restore: true };
  }
  if (s === 401 || s === 403) {
    return { title: '暂时无法提问', text: `${err.serverMessage || '需要登录后才能提问。'}${phone}` };
  }
  if (s === 503 && err.code !== 'not_ready' && (BUSY_CODES.includes(err.code) || err.retryAfter)) {
    // back-pressure: too many questions at once; the server says when to come back
    const wait = err.retryAfter || 1;
    return {
      title: '现在咨询的人较多，请稍后再试',
      text: `请 ${wait} 秒后点“重试”。${phone}`,
      retry: true,
      wait,
    };
  }
  if (s === 503) {
    return { title: '服务正在启动', text: `系统正在准备中，请稍等片刻后点“重试”。${phone}`, retry: true };
  }
  return { title: '服务暂时出错了', text: `请稍后点“重试”。${phone}`, retry: true };
}

function showError(li, err, text) {
  const info = describe(err);
  const card = el(
    'div',
    { class: 'bubble error-card', role: 'alert', 'data-status': err && err.status ? err.status : null, 'data-kind': err && err.kind },
    el('p', { class: 'error-title' }, info.title),
    el('p', { class: 'error-text' }, phoneText(info.text)),
  );
  clear(li).append(card);
  if (info.restore && !ui.input.value) {
    ui.input.value = text;
    updateCounter();
    ui.input.focus();
  }
  if (info.retry) {
    const retry = el('button', { type: 'button', class: 'retry-btn' }, '重试');
    retry.addEventListener('click', () => {
      if (state.busy) {
        setFormStatus('请等上一条回答完成后再试。', true);
        return;
      }
      li.remove();
      run(text);
    });
    card.append(retry);
    if (info.wait) {
      state.cooldownUntil = Date.now() + info.wait * 1000;
      retry.disabled = true;
      const countdown = el('span', { class: 'countdown' });
      card.append(countdown);
      const tick = () => {
        const left = Math.ceil((state.cooldownUntil - Date.now()) / 1000);
        if (left > 0) {
          countdown.textContent = `（${left} 秒后可重试）`;
          setTimeout(tick, 1000);
        } else {
          countdown.textContent = '';
          retry.disabled = false;
        }
      };
      tick();
    }
  }
  follow.reveal(li);
}

function restart() {
  state.sessionId = null;
  clear(ui.log);
  setFormStatus('已开始新的对话。');
  ui.input.focus();
}

// --- wiring ------------------------------------------------------------------------------------------
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  submit();
});
ui.input.addEventListener('keydown', (e) => {
  // Enter sends; Shift+Enter is a new line; never while an IME is composing (Chinese input)
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    submit();
  }
});
ui.input.addEventListener('input', updateCounter);
ui.city.addEventListener('change', () => {
  try {
    localStorage.setItem(CITY_KEY, ui.city.value);
  } catch {
    // private mode: the choice lasts for this page only
  }
  setFormStatus(ui.city.value ? `已选择${ui.city.value}，下一个问题会按${ui.city.value}回答办理地点。` : '未选择城市。');
});
ui.restart.addEventListener('click', restart);

// keep scrolled-to messages clear of the sticky question box (its height changes with the textarea)
const composer = document.querySelector('.composer');
function syncComposerHeight() {
  document.documentElement.style.scrollPaddingBottom = `${composer.offsetHeight + 8}px`;
}
if (typeof ResizeObserver === 'function') new ResizeObserver(syncComposerHeight).observe(composer);
else window.addEventListener('resize', syncComposerHeight);
syncComposerHeight();

updateCounter();
loadDocuments();
loadCities();
loadChips();
document.documentElement.dataset.ready = 'true';
