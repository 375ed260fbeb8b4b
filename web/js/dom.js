// Tiny DOM helpers. Everything from the server or the user goes in as text nodes: no innerHTML anywhere.

/** el('p', {class: 'x', 'aria-label': '…'}, 'text', otherNode) */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, ...children);
  return node;
}

export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Code points, as the server counts them (Python len). */
export function charCount(text) {
  return Array.from(text || '').length;
}

/** The anchor of one measure on measures.html. */
export function measureAnchor(doc, measure) {
  return `${doc}-${measure}`;
}

export function measureHref(doc, measure) {
  return `measures.html#${encodeURIComponent(measureAnchor(doc, measure))}`;
}

/** Digits of a phone number, for a tel: link ("12333" → "12333", "025-1234 5678" → "02512345678"). */
export function phoneDigits(number) {
  return String(number || '').replace(/[^0-9]/g, '');
}

export function telLink(number, attrs) {
  return el('a', { href: `tel:${phoneDigits(number)}`, class: 'tel', ...(attrs || {}) }, String(number));
}

/**
 * Text nodes with every occurrence of the hotline as a tel: link: phoneText('请拨打12333咨询', '12333')
 * → ['请拨打', <a href="tel:12333">12333</a>, '咨询']. The text itself stays text (no markup is parsed).
 */
export function phoneText(text, number = '12333') {
  const s = String(text || '');
  const n = String(number || '');
  if (!n || !s.includes(n)) return [s];
  const out = [];
  s.split(n).forEach((part, i) => {
    if (i) out.push(telLink(n));
    if (part) out.push(part);
  });
  return out;
}
