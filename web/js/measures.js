// measures.html: every measure by section with its responsible units, from /v1/measures. Each measure has
// the anchor "<doc>-<n>" that answers link to.
import { ApiError, getJSON } from './api.js';
import { clear, el, measureAnchor, phoneText } from './dom.js';

const docsBox = document.getElementById('docs');
const toc = document.getElementById('toc');
const sectionsBox = document.getElementById('sections');

function showTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  const node = document.getElementById(id);
  if (!node) return;
  document.querySelectorAll('.measure-card.target').forEach((n) => n.classList.remove('target'));
  node.classList.add('target');
  node.scrollIntoView({ block: 'start' });
  node.focus({ preventScroll: true });
}

function render(docs, sections) {
  clear(docsBox);
  const names = new Map(docs.map((d) => [d.doc, d]));
  docsBox.append('收录文件：');
  docs.forEach((d, i) => {
    if (i) docsBox.append('；');
    docsBox.append(el('span', { class: 'doc-title' }, `《${d.title}》`), `（${d.issuer}，${d.date}，共${d.measures}条）`);
  });
  clear(toc);
  clear(sectionsBox);
  const tocList = el('ol', { class: 'toc-list' });
  let lastDoc = null;
  let count = 0;
  sections.forEach((s, i) => {
    if (docs.length > 1 && s.doc !== lastDoc) {
      const d = names.get(s.doc);
      sectionsBox.append(el('h2', { class: 'doc-heading' }, d ? d.name : s.doc));
    }
    lastDoc = s.doc;
    const id = `section-${i + 1}`;
    tocList.append(el('li', null, el('a', { href: `#${id}` }, s.heading)));
    const box = el('section', { class: 'measure-section', id, 'aria-labelledby': `${id}-h` });
    box.append(el('h2', { class: 'section-heading', id: `${id}-h` }, s.heading));
    for (const m of s.measures) {
      count += 1;
      const units = el('ul', { class: 'unit-list', 'aria-label': '责任单位' });
      for (const u of m.units) units.append(el('li', { class: 'unit' }, u));
      box.append(
        el(
          'article',
          { class: 'measure-card', id: measureAnchor(m.doc, m.measure), tabindex: '-1', 'data-measure': m.measure },
          el('h3', { class: 'measure-label' }, (m.cited || `第${m.label}条`)),
          el('p', { class: 'measure-text' }, phoneText(m.text)),
          el('div', { class: 'units' }, el('p', { class: 'units-title' }, '责任单位'), units),
        ),
      );
    }
    sectionsBox.append(box);
  });
  toc.append(el('p', { class: 'toc-title' }, `共${sections.length}个部分、${count}条措施`), tocList);
  showTarget();
}

async function load(attempt = 0) {
  try {
    const [docs, sections] = await Promise.all([getJSON('v1/documents'), getJSON('v1/measures')]);
    render(docs, sections);
  } catch (err) {
    clear(docsBox);
    if (err instanceof ApiError && err.status === 503 && attempt < 40) {
      docsBox.append('服务正在启动，马上就好…');
      setTimeout(() => load(attempt + 1), 3000);
      return;
    }
    docsBox.classList.add('error');
    docsBox.append(
      err instanceof ApiError && err.kind === 'network' ? '网络连接失败，暂时读不到措施列表。' : '暂时读不到措施列表。',
      el('button', { type: 'button', class: 'link-btn', onclick: () => load() }, '重新加载'),
    );
  }
}

window.addEventListener('hashchange', showTarget);
load();
