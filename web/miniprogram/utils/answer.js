/**
 * Turns an answer (meta fields + the text streamed so far) into display blocks for chat.wxml - the same
 * layout as the H5 page: the service's own lines, with 【原文摘录】 shown as a collapsible citation card,
 * 【责任单位】 as office cards and 【办理渠道】 with the city bureau and 12333. Unknown sections stay text.
 * WXML {{}} bindings are always text, so nothing here can inject markup.
 */
'use strict';

const SECTION = /^【([^】]{1,12})】(.*)$/;
const LOCAL_BUREAU_KIND = '设区市人力资源和社会保障局';
const NOTE = '以上信息仅供参考，具体以当地人社部门的解释为准。';

function isLocalBureau(o) {
  return !o.full_name && !o.full_name_unconfirmed && (o.kind === LOCAL_BUREAU_KIND || /设区市/.test(o.name || ''));
}

function measureAnchor(doc, measure) {
  return doc + '-' + measure;
}

function citeBlock(c, open) {
  return {
    kind: 'cite',
    open: Boolean(open),
    label: c.label,
    title: c.title || '',
    quote: c.quote || '',
    docTitle: c.doc_title || '',
    anchor: measureAnchor(c.doc, c.measure),
  };
}

function officeBlock(offices, meta) {
  return {
    kind: 'offices',
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
        full,
        unconfirmed,
        kind: local ? '' : o.kind || '',
        local: local && meta.bureau ? '您所在城市：' + meta.bureau : '',
        handles: o.handles ? '负责：' + o.handles : '',
      };
    }),
  };
}

function contactBlock(meta) {
  const hotline = meta.hotline || '12333';
  return {
    kind: 'contact',
    bureau: meta.bureau || '您所在设区市的人力资源和社会保障局',
    hint: meta.bureau ? '' : '（在上方选择城市，可显示具体名称）',
    hotline,
    phone: String(hotline).replace(/[^0-9]/g, ''),
  };
}

/**
 * meta: the answer's fields (citations, offices, bureau, hotline, …); text: the answer text so far;
 * final: true once the whole answer is in (adds the contact card and the note if the text had none).
 */
function buildBlocks(meta, text, final) {
  const m = meta || {};
  const citations = m.citations || [];
  const offices = m.offices || [];
  const blocks = [];
  let section = '';
  let skip = false;
  let related = 0;
  let contact = false;
  let note = false;
  const lines = String(text || '').split('\n');
  // while streaming, the last piece may be an unfinished line: show it as plain text
  const partial = final ? null : lines.pop();
  for (const line of lines) {
    if (!line) continue;
    const s = SECTION.exec(line);
    if (s) {
      const name = s[1];
      const rest = s[2];
      section = name;
      skip = false;
      if (name === '原文摘录' && citations.length) {
        blocks.push(citeBlock(citations[0], true));
        skip = true;
      } else if (name === '责任单位') {
        blocks.push({ kind: 'sec', tag: name, text: rest, cls: '' });
        if (offices.length) {
          blocks.push(officeBlock(offices, m));
          skip = true;
        }
      } else if (name === '办理渠道') {
        blocks.push({ kind: 'sec', tag: name, text: rest, cls: '' });
        blocks.push(contactBlock(m));
        contact = true;
      } else if (name === '提示') {
        blocks.push({ kind: 'note', tag: name, text: rest });
        note = true;
      } else {
        const cls = name === '适用政策' ? 'measure' : name === '来源' ? 'source' : '';
        blocks.push({ kind: 'sec', tag: name, text: rest, cls });
      }
      continue;
    }
    if (skip) continue;
    if (section === '相关条款' && line.charAt(0) === '·') {
      related += 1;
      const c = citations[related];
      blocks.push({ kind: 'line', text: line, anchor: c ? measureAnchor(c.doc, c.measure) : '' });
      continue;
    }
    blocks.push({ kind: 'line', text: line, anchor: '' });
  }
  if (partial) blocks.push({ kind: 'line', text: partial, anchor: '' });
  if (final && m.ai_generated) {
    // generated text has no 【】 sections: the citation and the offices still come from the decision
    if (citations.length && !blocks.some((b) => b.kind === 'cite')) blocks.push(citeBlock(citations[0], false));
    if (offices.length && !blocks.some((b) => b.kind === 'offices')) blocks.push(officeBlock(offices, m));
  }
  if (final) {
    if (!contact) blocks.push(contactBlock(m));
    if (!note) blocks.push({ kind: 'note', tag: '提示', text: NOTE });
  }
  blocks.forEach((b, i) => {
    b.key = i; // wx:key
  });
  return blocks;
}

/** Words a citizen understands for an ApiError (see utils/request.js). */
function describeError(err, maxChars) {
  const phone = '如果一直不行，可以拨打 12333 咨询。';
  const e = err || {};
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
  if (e.status === 503) return { title: '服务正在启动', text: '系统正在准备中，请稍等片刻后点“重试”。' + phone, retry: true };
  return { title: '服务暂时出错了', text: '请稍后点“重试”。' + phone, retry: true };
}

/** Code points, as the service counts them. */
function charCount(text) {
  return Array.from(text || '').length;
}

module.exports = { buildBlocks, describeError, charCount, measureAnchor };
