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
  for (const child of children.flat()) {
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
