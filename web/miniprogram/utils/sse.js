/**
 * SSE frame parser for wx.request({enableChunked: true}) + onChunkReceived.
 *
 * The chunks are ArrayBuffers cut anywhere: in the middle of a frame, of a line, of a "\r\n" pair and, in
 * principle, of a UTF-8 character. The policy service sends ASCII-only JSON (ensure_ascii), so one byte is
 * one character, but this module decodes UTF-8 incrementally anyway and never needs TextDecoder (missing on
 * some devices). Plain CommonJS with no dependencies, so it runs in the mini-program and in Node's test runner.
 *
 *   const { SSEParser } = require('../../utils/sse.js');
 *   const parser = new SSEParser();
 *   task.onChunkReceived((res) => parser.feed(res.data).forEach(handle));   // handle({data, event, id})
 *   // on success: parser.end().forEach(handle);
 *   // toMessage(evt) -> {done: true} | the parsed JSON object | null (not JSON)
 */
'use strict';

/** Incremental UTF-8 decoder: bytes in, string out; a character split across chunks is kept until complete. */
function Utf8Decoder() {
  this.pending = []; // bytes of an unfinished multi-byte sequence
}

Utf8Decoder.prototype.decode = function (input, flush) {
  const bytes = toBytes(input);
  const units = [];
  let pending = this.pending;
  let i = 0;
  // finish a sequence started in the previous chunk
  while (pending.length && i < bytes.length) {
    const need = seqLength(pending[0]);
    const b = bytes[i];
    if ((b & 0xc0) !== 0x80) {
      units.push(0xfffd); // truncated sequence
      pending = [];
      break;
    }
    pending.push(b);
    i += 1;
    if (pending.length === need) {
      pushCodePoint(units, codePoint(pending));
      pending = [];
    }
  }
  let out = '';
  for (; i < bytes.length; i += 1) {
    const b = bytes[i];
    if (b < 0x80) {
      // an ASCII run (all of the service's frames): copy it in one go
      let j = i + 1;
      while (j < bytes.length && bytes[j] < 0x80) j += 1;
      if (units.length) {
        out += unitsToString(units);
        units.length = 0;
      }
      out += asciiToString(bytes, i, j);
      i = j - 1;
      continue;
    }
    const need = seqLength(b);
    if (need === 0) {
      units.push(0xfffd); // stray continuation or invalid lead byte
      continue;
    }
    if (i + need > bytes.length) {
      pending = Array.prototype.slice.call(bytes, i);
      break;
    }
    let cp = b & (need === 2 ? 0x1f : need === 3 ? 0x0f : 0x07);
    let k = 1;
    for (; k < need && (bytes[i + k] & 0xc0) === 0x80; k += 1) cp = (cp << 6) | (bytes[i + k] & 0x3f);
    if (k < need) {
      units.push(0xfffd);
      continue;
    }
    pushCodePoint(units, cp);
    i += need - 1;
  }
  if (flush && pending.length) {
    units.push(0xfffd);
    pending = [];
  }
  this.pending = pending;
  return out + unitsToString(units);
};

function asciiToString(bytes, start, end) {
  let out = '';
  for (let i = start; i < end; i += 1024) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 1024)));
  }
  return out;
}

function toBytes(input) {
  if (input == null) return new Uint8Array(0);
  if (input instanceof Uint8Array) return input;
  if (typeof ArrayBuffer !== 'undefined') {
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView && ArrayBuffer.isView(input)) {
      return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    }
  }
  if (Object.prototype.toString.call(input) === '[object ArrayBuffer]') return new Uint8Array(input);
  if (typeof input.length === 'number') return Uint8Array.from(input);
  throw new TypeError('SSE chunk must be an ArrayBuffer, a typed array or a string');
}

function seqLength(lead) {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

function codePoint(seq) {
  const n = seq.length;
  let cp = seq[0] & (n === 2 ? 0x1f : n === 3 ? 0x0f : 0x07);
  for (let k = 1; k < n; k += 1) cp = (cp << 6) | (seq[k] & 0x3f);
  return cp;
}

function pushCodePoint(units, cp) {
  if (cp > 0xffff) {
    const v = cp - 0x10000;
    units.push(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
  } else {
    units.push(cp);
  }
}

function unitsToString(units) {
  let out = '';
  for (let i = 0; i < units.length; i += 4096) {
    out += String.fromCharCode.apply(null, units.slice(i, i + 4096));
  }
  return out;
}

/**
 * Server-sent events parser (the WHATWG line rules): lines end with "\n", "\r\n" or "\r"; "data:" lines
 * accumulate; an empty line dispatches; ":" lines are comments. Feed strings or byte chunks.
 */
function SSEParser() {
  this.decoder = new Utf8Decoder();
  this.line = ''; // unfinished line
  this.skipLF = false; // the previous chunk ended with "\r": a leading "\n" belongs to it
  this.data = [];
  this.event = '';
  this.id = '';
}

SSEParser.prototype.feed = function (chunk) {
  const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, false);
  return this._text(text);
};

/** Call once when the response is complete: dispatches a last frame that lacks its blank line. */
SSEParser.prototype.end = function () {
  const events = this._text(this.decoder.decode(new Uint8Array(0), true));
  if (this.line) {
    this._field(this.line);
    this.line = '';
  }
  this._dispatch(events);
  return events;
};

SSEParser.prototype._text = function (text) {
  const events = [];
  let start = 0;
  let i = 0;
  if (this.skipLF && text.length) {
    if (text.charCodeAt(0) === 10) {
      start = 1;
      i = 1;
    }
    this.skipLF = false;
  }
  for (; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c !== 10 && c !== 13) continue;
    const line = this.line + text.slice(start, i);
    this.line = '';
    if (c === 13) {
      if (i + 1 < text.length) {
        if (text.charCodeAt(i + 1) === 10) i += 1;
      } else {
        this.skipLF = true;
      }
    }
    start = i + 1;
    if (line === '') this._dispatch(events);
    else this._field(line);
  }
  this.line += text.slice(start);
  return events;
};

SSEParser.prototype._field = function (line) {
  if (line.charCodeAt(0) === 58) return; // ":" comment
  const colon = line.indexOf(':');
  const name = colon < 0 ? line : line.slice(0, colon);
  let value = colon < 0 ? '' : line.slice(colon + 1);
  if (value.charCodeAt(0) === 32) value = value.slice(1);
  if (name === 'data') this.data.push(value);
  else if (name === 'event') this.event = value;
  else if (name === 'id' && value.indexOf('\u0000') < 0) this.id = value;
};

SSEParser.prototype._dispatch = function (events) {
  if (this.data.length) {
    events.push({ data: this.data.join('\n'), event: this.event || 'message', id: this.id });
  }
  this.data = [];
  this.event = '';
};

/** The service's frames: "[DONE]" ends the stream, anything else is one JSON object. */
function toMessage(evt) {
  const data = evt && typeof evt.data === 'string' ? evt.data.trim() : '';
  if (data === '[DONE]') return { done: true };
  if (!data) return null;
  try {
    const value = JSON.parse(data);
    return value && typeof value === 'object' ? value : null;
  } catch (e) {
    return null;
  }
}

/**
 * Folds the service's messages into one answer: meta fields, the text from the deltas, whether "end" and
 * "[DONE]" were seen. `collect().add(msg)` per message, `.answer()` for an object shaped like /v1/ask's.
 */
function AnswerCollector() {
  this.meta = null;
  this.text = '';
  this.ended = false;
  this.done = false;
}

AnswerCollector.prototype.add = function (msg) {
  if (!msg) return;
  if (msg.done) this.done = true;
  else if (msg.type === 'meta') this.meta = msg;
  else if (msg.type === 'delta' && typeof msg.text === 'string') this.text += msg.text;
  else if (msg.type === 'replace' && this.meta && typeof msg.text === 'string') {
    // the generated text failed a check on the server: the deterministic answer replaces it
    this.meta = Object.assign({}, this.meta, { ai_generated: false, lead: typeof msg.lead === 'string' ? msg.lead : null });
    this.text = msg.text;
  } else if (msg.type === 'end') this.ended = true;
};

AnswerCollector.prototype.complete = function () {
  return Boolean(this.meta && this.ended);
};

AnswerCollector.prototype.answer = function () {
  const out = {};
  const meta = this.meta || {};
  Object.keys(meta).forEach((k) => {
    if (k !== 'type') out[k] = meta[k];
  });
  out.answer = this.text;
  return out;
};

module.exports = { SSEParser, Utf8Decoder, AnswerCollector, toMessage };
