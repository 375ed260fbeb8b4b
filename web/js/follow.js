// Keeps a new answer in view while it arrives, without fighting the reader.
//
// The page scrolls (window), with a sticky question box at the bottom and possibly a sticky header at the
// top; the band between them is what the reader sees. reveal(node) scrolls as little as needed so that the
// top of the answer is inside that band: an answer that fits is shown whole, its bottom just above the
// question box; a taller one is shown from its top, just below the header. Call it when the answer's first
// text arrives and again when it is complete (not on the empty first frame: at the end of the page, an empty
// node cannot be scrolled to the top, and content that grows later stays hidden behind the question box).
//
// If the reader scrolls up (wheel, touch, keys) after start(), reveal() does nothing until the next start().
//
//   const follow = new AnswerFollower({ header: topbar, footer: composer });
//   follow.start();            // a question was sent
//   follow.reveal(answerNode); // first text in, answer done
const UP_KEYS = new Set(['PageUp', 'ArrowUp', 'Home']);

function pinned(node, win) {
  if (!node) return false;
  const pos = win.getComputedStyle(node).position;
  return pos === 'sticky' || pos === 'fixed';
}

function editable(target) {
  return Boolean(target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName || '')));
}

export class AnswerFollower {
  constructor({ win = window, header = null, footer = null, margin = 8 } = {}) {
    this.win = win;
    this.header = header;
    this.footer = footer;
    this.margin = margin;
    this.moved = false;
    this.touchY = null;
    win.addEventListener('wheel', (e) => {
      if (e.deltaY < 0) this.moved = true;
    }, { passive: true });
    win.addEventListener('keydown', (e) => {
      if (UP_KEYS.has(e.key) && !editable(e.target)) this.moved = true;
    });
    win.addEventListener('touchstart', () => {
      this.touchY = win.scrollY;
    }, { passive: true });
    win.addEventListener('scroll', () => {
      // a finger dragging the page down (content up), including the fling after the finger lifts
      if (this.touchY !== null && win.scrollY < this.touchY - 4) this.moved = true;
    }, { passive: true });
    win.addEventListener('touchend', () => {
      const y = this.touchY;
      // the fling goes on after touchend: keep watching until the page settles
      setTimeout(() => {
        if (this.touchY === y) this.touchY = null;
      }, 1000);
    }, { passive: true });
  }

  /** A new question: follow its answer again. */
  start() {
    this.moved = false;
  }

  /** The visible band [top, bottom] in viewport pixels: below a sticky header, above a sticky footer. */
  band() {
    const win = this.win;
    let top = 0;
    let bottom = win.innerHeight;
    if (pinned(this.header, win)) top = Math.max(0, this.header.getBoundingClientRect().bottom);
    if (pinned(this.footer, win)) bottom = Math.min(bottom, this.footer.getBoundingClientRect().top);
    return { top: top + this.margin, bottom: bottom - this.margin };
  }

  /** Scroll so that node's top is in the band; returns the distance scrolled (0 if none or not allowed). */
  reveal(node) {
    if (this.moved || !node) return 0;
    const r = node.getBoundingClientRect();
    const { top, bottom } = this.band();
    if (r.top >= top && r.bottom <= bottom) return 0;
    const dy = r.height <= bottom - top ? r.bottom - bottom : r.top - top;
    const before = this.win.scrollY;
    this.win.scrollBy({ top: dy, left: 0, behavior: 'instant' });
    return this.win.scrollY - before;
  }
}
