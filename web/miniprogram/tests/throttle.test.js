'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createBatcher } = require('../utils/throttle.js');

test('setData is batched: many updates, one call per interval, latest value per path', async () => {
  const calls = [];
  const page = { setData: (d) => calls.push(d) };
  const batch = createBatcher(page, 40);
  for (let i = 0; i < 50; i += 1) batch.set({ 'messages[1].blocks': i, [`k${i % 3}`]: i });
  assert.equal(calls.length, 0);
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(calls, [{ 'messages[1].blocks': 49, k0: 48, k1: 49, k2: 47 }]);
  batch.set({ a: 1 });
  batch.flush();
  assert.deepEqual(calls.at(-1), { a: 1 });
  batch.set({ b: 2 });
  batch.cancel();
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(calls.length, 2);
});
