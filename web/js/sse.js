// SSE frame parsing for the H5 page: fetch() + ReadableStream chunks, cut anywhere.
// Same approach as miniprogram/utils/sse.js (kept standalone there): bytes -> text incrementally, then the
// WHATWG line rules ("\n", "\r\n" or "\r"; data lines accumulate; a blank line dispatches; ":" is a comment).

/** Incremental bytes -> string. TextDecoder when present; otherwise a small UTF-8 decoder. */
export function createDecoder() {
  if (typeof TextDecoder === 'function') {
    const td = new TextDecoder('utf-8');
    return (bytes, flush) => td.decode(bytes || new Uint8Array(0), { stream: !flush });
  }
  let pending = [];
  return (bytes, flush) => {
    const input = pending.concat(Array.from(bytes || []));
    pending = [];
    let out = '';
    for (let i = 0; i < input.length; i += 1) {
      const b = input[i];
      if (b < 0x80) {
        out += String.fromCharCode(b);
        continue;
      }
      const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b <= 0xdf ? 2 : 0;
      if (!need) {
        out += '\ufffd';
        continue;
      }
      if (i + need > input.length) {
        if (!flush) pending = input.slice(i);
        else out += '\ufffd';
        break;
      }
      let cp = b & (need === 2 ? 0x1f : need === 3 ? 0x0f : 0x07);
      let k = 1;
      for (; k < need && (input[i + k] & 0xc0) === 0x80; k += 1) cp = (cp << 6) | (input[i + k] & 0x3f);
      if (k < need) {
        out += '\ufffd';
        continue;
      }
      out += String.fromCodePoint(cp);
      i += need - 1;
    }
    return out;
  };
}

/** feed(bytesOrString) and end() return the events completed so far: [{data, event, id}]. */
export class SSEParser {
  constructor() {
    this.decode = createDecoder();
    this.line = '';
    this.skipLF = false;
    this.data = [];
    this.event = '';
    this.id = '';
  }

  feed(chunk) {
    return this._text(typeof chunk === 'string' ? chunk : this.decode(chunk, false));
  }

  end() {
    const events = this._text(this.decode(null, true));
    if (this.line) this._field(this.line);
    this.line = '';
    this._dispatch(events);
    return events;
  }

  _text(text) {
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
  }

  _field(line) {
    if (line.charCodeAt(0) === 58) return;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (name === 'data') this.data.push(value);
    else if (name === 'event') this.event = value;
    else if (name === 'id' && !value.includes('\u0000')) this.id = value;
  }

  _dispatch(events) {
    if (this.data.length) events.push({ data: this.data.join('\n'), event: this.event || 'message', id: this.id });
    this.data = [];
    this.event = '';
  }
}

/** The service's frames: "[DONE]" ends the stream; anything else is one JSON object (null if not). */
export function toMessage(evt) {
  const data = evt && typeof evt.data === 'string' ? evt.data.trim() : '';
  if (data === '[DONE]') return { done: true };
  if (!data) return null;
  try {
    const value = JSON.parse(data);
    return value && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}
