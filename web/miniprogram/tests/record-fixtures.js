#!/usr/bin/env node
/**
 * Re-records the fixtures from a running service (Node 18+, global fetch):
 *   node web/miniprogram/tests/record-fixtures.js http://127.0.0.1:8000
 * stream*.txt are the raw bytes of /v1/ask/stream; expected.json holds /v1/ask's answer text for the same
 * question (the composer is deterministic, so the streamed deltas must add up to it).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const CASES = [
  { file: 'stream.txt', question: '我们厂搞智能化改造，多出来的工人怎么安置？' },
  { file: 'stream-city.txt', question: '外卖骑手送餐摔伤了有保障吗', city: '苏州' },
  { file: 'stream-refusal.txt', question: '住房公积金怎么提取？' },
];

async function post(base, url, body) {
  const res = await fetch(base + url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

async function main() {
  const base = (process.argv[2] || 'http://127.0.0.1:8000').replace(/\/$/, '');
  const dir = path.join(__dirname, 'fixtures');
  const expected = {};
  for (const c of CASES) {
    const body = { question: c.question };
    if (c.city) body.city = c.city;
    const stream = await post(base, '/v1/ask/stream', body);
    const bytes = Buffer.from(await stream.arrayBuffer());
    fs.writeFileSync(path.join(dir, c.file), bytes);
    const plain = await (await post(base, '/v1/ask', body)).json();
    expected[c.file] = { question: c.question, city: c.city || null, answer: plain.answer, in_scope: plain.in_scope };
    console.log(`${c.file}: ${bytes.length} bytes`);
  }
  fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
