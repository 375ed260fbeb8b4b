// The chat page: same layout as the H5 page (the lead as the reply bubble, the rest as cards that open on a
// tap). Streams through /v1/ask/stream (wx.request enableChunked), falls back to /v1/ask, keeps the
// session_id for follow-ups, batches setData while text streams in, scrolls each answer's top into view
// (utils/follow.js) unless the reader is reading back.
const config = require('../../config.js');
const { askStream, requestJSON, sendFeedback } = require('../../utils/request.js');
const { buildView, describeError, charCount } = require('../../utils/answer.js');
const { createBatcher } = require('../../utils/throttle.js');
const { createFollower } = require('../../utils/follow.js');

const NO_CITY = '未选择（江苏省）';
const CITY_KEY = 'policybot.city';

Page({
  data: {
    docs: [],
    docsStatus: '正在读取收录的政策文件…',
    chipGroups: [],
    cityNames: [NO_CITY],
    cityIndex: 0,
    messages: [],
    input: '',
    count: 0,
    max: config.maxQuestionChars,
    over: false,
    busy: false,
    status: '',
    scrollInto: '',
  },

  onLoad() {
    this.sessionId = null;
    this.nextId = 1;
    this.cooldownUntil = 0;
    this.batch = createBatcher(this, config.setDataInterval);
    this.follow = createFollower();
    this.opened = {}; // message id -> {cardKey: open?}, the reader's choices, kept while text streams in
    this.loadDocuments();
    this.loadCities();
    this.loadChips();
  },

  onUnload() {
    this.batch.cancel();
    if (this.countdownTimer) clearInterval(this.countdownTimer);
  },

  // --- startup -----------------------------------------------------------------------------------
  loadDocuments() {
    requestJSON({ path: '/v1/documents' })
      .then((docs) => {
        this.setData({
          docs: (Array.isArray(docs) ? docs : []).map((d) => ({
            title: '《' + d.title + '》',
            meta: d.issuer + '　' + d.date + '　共' + d.measures + '条措施',
          })),
          docsStatus: '我根据下面的政策文件回答问题，回答会摘录文件原文、列出负责的单位，并告诉您到哪里办理：',
        });
      })
      .catch((err) => {
        if (err && err.status === 503) {
          this.setData({ docsStatus: '服务正在启动，马上就好…' });
          setTimeout(() => this.loadDocuments(), 3000);
        } else {
          this.setData({ docsStatus: '暂时读不到收录的政策文件，请检查网络后下拉刷新。' });
        }
      });
  },

  loadCities() {
    requestJSON({ path: '/v1/cities' })
      .then((cities) => {
        const names = [NO_CITY].concat((cities || []).map((c) => c.name));
        let saved = '';
        try {
          saved = wx.getStorageSync(CITY_KEY) || '';
        } catch (e) {
          saved = '';
        }
        const i = names.indexOf(saved);
        this.setData({ cityNames: names, cityIndex: i > 0 ? i : 0 });
      })
      .catch(() => setTimeout(() => this.loadCities(), 5000));
  },

  loadChips() {
    // the same chips.json the H5 page uses, served by the service
    requestJSON({ path: '/chips.json' })
      .then((data) => this.setData({ chipGroups: (data && data.groups) || [] }))
      .catch(() => {});
  },

  onPullDownRefresh() {
    this.loadDocuments();
    if (this.data.cityNames.length < 2) this.loadCities();
    wx.stopPullDownRefresh();
  },

  // --- input ---------------------------------------------------------------------------------------
  onInput(e) {
    const input = e.detail.value;
    const count = charCount(input);
    const over = count > config.maxQuestionChars;
    this.setData({
      input,
      count,
      over,
      status: over ? '问题太长了，请控制在' + config.maxQuestionChars + '字以内（现在' + count + '字）。' : '',
    });
  },

  onCity(e) {
    const cityIndex = Number(e.detail.value) || 0;
    const name = cityIndex > 0 ? this.data.cityNames[cityIndex] : '';
    try {
      wx.setStorageSync(CITY_KEY, name);
    } catch (err) {
      // storage unavailable: the choice lasts for this visit
    }
    this.setData({ cityIndex, status: name ? '已选择' + name + '，下一个问题会按' + name + '回答办理地点。' : '未选择城市。' });
  },

  onChip(e) {
    this.submit(e.currentTarget.dataset.q);
  },

  onSend() {
    this.submit(this.data.input, true);
  },

  submit(raw, fromInput) {
    const text = String(raw || '').trim();
    if (!text) {
      this.setData({ status: '请先输入您想咨询的问题。' });
      return;
    }
    const n = charCount(text);
    if (n > config.maxQuestionChars) {
      this.setData({ status: '问题太长了，请控制在' + config.maxQuestionChars + '字以内（现在' + n + '字）。' });
      return;
    }
    if (this.data.busy) {
      this.setData({ status: '请等上一条回答完成后再提问。' });
      return;
    }
    const wait = Math.ceil((this.cooldownUntil - Date.now()) / 1000);
    if (wait > 0) {
      this.setData({ status: '提问太频繁了，请等 ' + wait + ' 秒后再试。' });
      return;
    }
    const userId = 'm' + this.nextId++;
    const messages = this.data.messages.concat([{ id: userId, role: 'user', text }]);
    this.follow.start();
    const patch = { messages, status: '', scrollInto: userId };
    if (fromInput) Object.assign(patch, { input: '', count: 0, over: false });
    this.setData(patch);
    this.run(text);
  },

  // --- asking --------------------------------------------------------------------------------------
  run(text) {
    const index = this.data.messages.length;
    const id = 'm' + this.nextId++;
    const path = 'messages[' + index + ']';
    // no scrolling to the still empty answer: see utils/follow.js
    this.setData({
      busy: true,
      [path]: { id, role: 'bot', waiting: true, view: null, inScope: true, question: text },
    });
    const body = { question: text };
    if (this.sessionId) body.session_id = this.sessionId;
    if (this.data.cityIndex > 0) body.city = this.data.cityNames[this.data.cityIndex];

    let meta = null;
    let streamed = '';
    let revealed = false;
    const render = (final) => {
      const view = buildView(meta, streamed, final, this.opened[id]);
      const patch = { [path + '.view']: view, [path + '.waiting']: !view.leadText && !final };
      if ((final || !revealed) && view.leadText) {
        revealed = true;
        const into = this.follow.reveal(id);
        if (into) patch.scrollInto = into;
      }
      return patch;
    };
    askStream(body, {
      onMeta: (m) => {
        meta = m;
        if (m.session_id) this.sessionId = m.session_id;
        this.batch.set({ [path + '.inScope']: m.in_scope !== false });
      },
      onDelta: (piece) => {
        streamed += piece;
        this.batch.set(render(false));
      },
      onRestart: () => {
        meta = null;
        streamed = '';
        revealed = false;
        this.batch.set({ [path + '.view']: null, [path + '.waiting']: true });
      },
    })
      .then((answer) => {
        meta = answer;
        streamed = answer.answer || '';
        if (answer.session_id) this.sessionId = answer.session_id;
        this.batch.set(
          Object.assign(render(true), {
            [path + '.inScope']: answer.in_scope !== false,
            [path + '.messageId']: answer.message_id,
            [path + '.feedback']: 'open',
            busy: false,
          }),
        );
        this.batch.flush();
      })
      .catch((err) => {
        this.batch.cancel();
        this.showError(index, path, err, text);
      });
  },

  showError(index, path, err, text) {
    const info = describeError(err, config.maxQuestionChars);
    const patch = {
      busy: false,
      [path + '.waiting']: false,
      [path + '.view']: null,
      [path + '.error']: { title: info.title, parts: info.parts, retry: Boolean(info.retry), wait: 0 },
    };
    const into = this.follow.reveal(this.data.messages[index] && this.data.messages[index].id);
    if (into) patch.scrollInto = into;
    if (info.restore && !this.data.input) Object.assign(patch, { input: text, count: charCount(text) });
    this.setData(patch);
    if (info.wait) {
      this.cooldownUntil = Date.now() + info.wait * 1000;
      const tick = () => {
        const left = Math.max(0, Math.ceil((this.cooldownUntil - Date.now()) / 1000));
        this.setData({ [path + '.error.wait']: left });
        if (!left && this.countdownTimer) {
          clearInterval(this.countdownTimer);
          this.countdownTimer = null;
        }
      };
      if (this.countdownTimer) clearInterval(this.countdownTimer);
      this.countdownTimer = setInterval(tick, 1000);
      tick();
    }
  },

  onRetry(e) {
    const index = Number(e.currentTarget.dataset.index);
    const msg = this.data.messages[index];
    if (!msg || this.data.busy || (msg.error && msg.error.wait > 0)) return;
    // drop the failed answer and ask again
    const messages = this.data.messages.slice(0, index).concat(this.data.messages.slice(index + 1));
    this.setData({ messages });
    this.run(msg.question);
  },

  // --- answer actions ------------------------------------------------------------------------------
  onToggleCard(e) {
    const index = Number(e.currentTarget.dataset.index);
    const at = Number(e.currentTarget.dataset.card);
    const msg = this.data.messages[index];
    const card = msg && msg.view && msg.view.cards[at];
    if (!card) return;
    const open = !card.open;
    this.opened[msg.id] = Object.assign({}, this.opened[msg.id], { [card.key]: open });
    this.setData({ ['messages[' + index + '].view.cards[' + at + '].open']: open });
  },

  onLogTouchStart(e) {
    const t = e.touches && e.touches[0];
    this.follow.touchStart(t ? t.clientY : null);
  },

  onLogTouchMove(e) {
    const t = e.touches && e.touches[0];
    if (this.data.busy && t) this.follow.touchMove(t.clientY);
  },

  onOpenMeasure(e) {
    const anchor = e.currentTarget.dataset.anchor;
    if (!anchor) return;
    const url = config.h5Base + '/measures.html#' + encodeURIComponent(anchor);
    wx.navigateTo({ url: '/pages/web/web?url=' + encodeURIComponent(url) });
  },

  onCall(e) {
    wx.makePhoneCall({ phoneNumber: String(e.currentTarget.dataset.phone || '12333'), fail() {} });
  },

  onHelpful(e) {
    this.feedback(Number(e.currentTarget.dataset.index), true, null);
  },

  onNotHelpful(e) {
    const index = Number(e.currentTarget.dataset.index);
    this.setData({ ['messages[' + index + '].feedback']: 'comment' });
  },

  onComment(e) {
    const index = Number(e.currentTarget.dataset.index);
    this.commentDrafts = this.commentDrafts || {};
    this.commentDrafts[index] = e.detail.value;
  },

  onSendComment(e) {
    const index = Number(e.currentTarget.dataset.index);
    const comment = ((this.commentDrafts || {})[index] || '').trim();
    this.feedback(index, false, comment || null);
  },

  feedback(index, helpful, comment) {
    const msg = this.data.messages[index];
    if (!msg || !msg.messageId) return;
    const key = 'messages[' + index + '].feedback';
    this.setData({ [key]: 'sending' });
    sendFeedback(msg.messageId, helpful, comment)
      .then(() => this.setData({ [key]: helpful ? 'thanks-yes' : 'thanks-no' }))
      .catch((err) => {
        const text = err && err.status === 404 ? '这条回答已过期，无法评价。' : '反馈没有提交成功，请稍后再试。';
        this.setData({ [key]: 'open', status: text });
      });
  },

  onRestart() {
    this.sessionId = null;
    this.opened = {};
    this.setData({ messages: [], status: '已开始新的对话。' });
  },
});
