'use strict';
// utils/follow.js: which scroll-into-view id to set while an answer arrives.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createFollower } = require('../utils/follow.js');

test('revealing the same answer twice changes the id, so scroll-into-view fires both times', () => {
  const f = createFollower();
  f.start();
  const first = f.reveal('m2');
  const second = f.reveal('m2');
  assert.ok([first, second].every((id) => id === 'm2' || id === 'm2-top'), [first, second]);
  assert.notEqual(first, second);
  assert.notEqual(f.reveal('m2'), second);
  assert.equal(f.reveal('m4'), 'm4');
  assert.equal(f.reveal(''), '');
});

test('a reader who drags the list down to read back is not pulled to the new answer', () => {
  const f = createFollower();
  f.start();
  f.touchStart(300);
  f.touchMove(304); // a tap's wobble
  assert.equal(f.moved, false);
  assert.equal(f.reveal('m2'), 'm2');
  f.touchMove(360); // finger down: the list scrolls up
  assert.equal(f.moved, true);
  assert.equal(f.reveal('m2'), '');
  // the next question follows again
  f.start();
  assert.equal(f.reveal('m4'), 'm4');
});

test('dragging up (towards newer text) or a move without a start does not stop following', () => {
  const f = createFollower();
  f.start();
  f.touchStart(400);
  f.touchMove(200);
  assert.equal(f.moved, false);
  const g = createFollower();
  g.touchMove(500);
  assert.equal(g.moved, false);
  g.touchStart(null);
  g.touchMove(500);
  assert.equal(g.moved, false);
});
