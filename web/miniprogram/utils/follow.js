/**
 * Where the chat's <scroll-view> should go while an answer arrives, as a `scroll-into-view` id.
 *
 * scroll-into-view puts the named element's top at the top of the scroll-view (the question box is below
 * the scroll-view, never over it). Two things make it tricky:
 *   - it reacts only when the value changes, so scrolling to the same answer twice needs two ids: each bot
 *     message has an anchor "<id>-top" as its first child, and reveal() alternates "<id>" and "<id>-top";
 *   - scrolling to an empty answer at the end of the list is clamped and later text stays out of view, so
 *     reveal() is called when the answer's first text arrives and when it is complete, not on its first frame.
 * A reader who drags the list down (to read back) during an answer is left alone until the next question.
 *
 *   const follow = createFollower();
 *   follow.start();                                  // a question was sent
 *   bindtouchstart → follow.touchStart(e.touches[0].clientY); bindtouchmove → follow.touchMove(…clientY)
 *   const into = follow.reveal('m4'); if (into) this.setData({ scrollInto: into });
 */
'use strict';

const DRAG = 8; // px a finger moves down before it counts as reading back (a tap wobbles less)

function createFollower() {
  let moved = false;
  let startY = null;
  let last = '';
  return {
    start() {
      moved = false;
    },
    touchStart(y) {
      startY = typeof y === 'number' ? y : null;
    },
    touchMove(y) {
      // finger moving down = content moving down = scrolling up, towards earlier messages
      if (startY !== null && typeof y === 'number' && y - startY > DRAG) moved = true;
    },
    get moved() {
      return moved;
    },
    /** The scroll-into-view id to set for message `id`, or '' when the reader has scrolled up. */
    reveal(id) {
      if (moved || !id) return '';
      last = last === id ? id + '-top' : id;
      return last;
    },
  };
}

module.exports = { createFollower };
