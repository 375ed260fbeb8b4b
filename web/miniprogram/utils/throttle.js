/**
 * Batches setData: many small updates while an answer streams in become one setData per `interval` ms
 * (setData crosses the logic/render thread boundary; calling it per chunk makes long answers stutter).
 */
'use strict';

function createBatcher(page, interval) {
  let pending = null;
  let timer = null;
  let last = 0;

  function flush() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!pending) return;
    const data = pending;
    pending = null;
    last = Date.now();
    page.setData(data);
  }

  return {
    /** Queue {path: value} updates; they go out together at most once per interval. */
    set(data) {
      pending = Object.assign(pending || {}, data);
      if (timer) return;
      const wait = Math.max(0, interval - (Date.now() - last));
      timer = setTimeout(flush, wait);
    },
    flush,
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
      pending = null;
    },
  };
}

module.exports = { createBatcher };
