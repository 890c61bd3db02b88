/**
 * The little of HTTP/1.1 (RFC 9112) the gateway relay needs to forward
 * messages byte for byte while knowing where each one ends: request and
 * response heads (the request line, framing headers, a few others) and a
 * scanner for chunked bodies. Anything unusual is refused (null), so the
 * relay hands the connection to node:http, whose parser answers it: the
 * relay never guesses at framing another parser might read differently
 * (request smuggling).
 */

/** The end of a head (index just past CRLF CRLF), or -1 when `buf` has no complete head yet. */
export function headEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf('\r\n\r\n', Math.max(0, from - 3), 'latin1');
  return i < 0 ? -1 : i + 4;
}

/** A request head the relay can forward. */
export interface RequestHead {
  method: string;
  /** The request target as sent (origin-form, `/...`). */
  target: string;
  /** Byte offset just past the target, where ` HTTP/1.x\r\n` starts. */
  targetEnd: number;
  /** Byte offset just past the head. */
  end: number;
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** The client wants the connection closed after this exchange. */
  close: boolean;
  /** An Upgrade request (e.g. a WebSocket handshake). */
  upgrade: boolean;
  authorization: string | undefined;
}

/** A response head as the relay sees it. */
export interface ResponseHead {
  status: number;
  contentLength: number;
  chunked: boolean;
  close: boolean;
  /** Byte offset just past the head. */
  end: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^[0-9]{1,15}$/;

interface Fields {
  contentLength: number;
  chunked: boolean;
  connection: string;
  upgrade: boolean;
  authorization: string | undefined;
}

/** Reads the framing fields of header lines; null when they are malformed, duplicated or ambiguous. */
function readFields(lines: string[]): Fields | null {
  const f: Fields = { contentLength: -1, chunked: false, connection: '', upgrade: false, authorization: undefined };
  let te = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // No colon, an empty name, obs-fold or whitespace before the colon, a stray CR or LF: not ours.
    if (colon <= 0 || line.includes('\n') || line.includes('\r')) return null;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) return null;
    const name = line.slice(0, colon);
    const n = name.length;
    // Only the fields that matter are compared in full (the others stay as sent).
    if (n !== 7 && n !== 10 && n !== 13 && n !== 14 && n !== 17) continue;
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) return null;
    const value = line.slice(colon + 1).trim();
    switch (lower) {
      case 'content-length':
        if (f.contentLength !== -1 || !DIGITS.test(value)) return null;
        f.contentLength = Number(value);
        break;
      case 'transfer-encoding':
        if (te || value.toLowerCase() !== 'chunked') return null;
        te = true;
        f.chunked = true;
        break;
      case 'connection':
        f.connection += `${value.toLowerCase()},`;
        break;
      case 'upgrade':
        f.upgrade = true;
        break;
      case 'authorization':
        if (f.authorization !== undefined) return null;
        f.authorization = value;
        break;
    }
  }
  if (f.chunked && f.contentLength !== -1) return null;
  return f;
}

function hasToken(list: string, token: string): boolean {
  return list !== '' && list.split(',').some((t) => t.trim() === token);
}

/**
 * Parses a request head ending at `end` (from headEnd). Null when the relay
 * should not take it: not HTTP/1.0 or 1.1, not origin-form, malformed or
 * ambiguous framing.
 */
export function parseRequestHead(buf: Buffer, end: number): RequestHead | null {
  const text = buf.toString('latin1', 0, end - 4);
  const lines = text.split('\r\n');
  const first = lines[0]!;
  const sp1 = first.indexOf(' ');
  const sp2 = first.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || first.indexOf(' ', sp2 + 1) >= 0) return null;
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  const version = first.slice(sp2 + 1);
  if (!TOKEN.test(method) || target.charCodeAt(0) !== 47 /* / */) return null;
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') return null;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 32 || c >= 127) return null;
  }
  const f = readFields(lines);
  if (f === null) return null;
  // HTTP/1.0 bodies are framed by Content-Length only.
  if (version === 'HTTP/1.0' && f.chunked) return null;
  const close = version === 'HTTP/1.0' ? !hasToken(f.connection, 'keep-alive') : hasToken(f.connection, 'close');
  return {
    method,
    target,
    targetEnd: sp2,
    end,
    contentLength: f.contentLength,
    chunked: f.chunked,
    close,
    upgrade: f.upgrade && hasToken(f.connection, 'upgrade'),
    authorization: f.authorization,
  };
}

/** Parses a response head ending at `end`; null when it is not a valid HTTP/1.x response head. */
export function parseResponseHead(buf: Buffer, end: number): ResponseHead | null {
  const text = buf.toString('latin1', 0, end - 4);
  const lines = text.split('\r\n');
  const first = lines[0]!;
  if (!/^HTTP\/1\.[01] [1-9][0-9]{2}( |$)/.test(first)) return null;
  const f = readFields(lines);
  if (f === null) return null;
  const close = first.startsWith('HTTP/1.0') ? !hasToken(f.connection, 'keep-alive') : hasToken(f.connection, 'close');
  return {
    status: Number(first.slice(9, 12)),
    contentLength: f.contentLength,
    chunked: f.chunked,
    close,
    end,
  };
}

const enum Chunk {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  /** At the start of a trailer line (or of the final empty line). */
  Trailer,
  /** Inside a trailer field line. */
  TrailerLine,
  TrailerLf,
  LastLf,
  Done,
}

/**
 * Finds where a chunked body ends, fed the body's bytes in order. Only
 * framing is checked (the bytes are forwarded as they are); a malformed body
 * is reported so the relay can cut the connection.
 */
export class ChunkedScanner {
  private state = Chunk.Size;
  private size = 0;
  private digits = 0;
  private left = 0;
  /** The body broke chunked framing. */
  invalid = false;

  /** True once the last chunk and trailers were seen. */
  get done(): boolean {
    return this.state === Chunk.Done;
  }

  /**
   * Scans `buf` from `start`; returns the offset just past the body's end,
   * or -1 when the body continues past `buf` (or is invalid: see `invalid`).
   */
  feed(buf: Buffer, start = 0): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case Chunk.Size: {
          const c = buf[i]!;
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (d >= 0) {
            if (++this.digits > 12) return this.fail();
            this.size = this.size * 16 + d;
            i++;
          } else if (this.digits === 0) {
            return this.fail();
          } else if (c === 13) {
            this.state = Chunk.SizeLf;
            i++;
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            this.state = Chunk.Ext;
            i++;
          } else return this.fail();
          break;
        }
        case Chunk.Ext: {
          const cr = buf.indexOf(13, i);
          if (cr < 0) return -1;
          i = cr + 1;
          this.state = Chunk.SizeLf;
          break;
        }
        case Chunk.SizeLf:
          if (buf[i] !== 10) return this.fail();
          i++;
          if (this.size === 0) {
            this.state = Chunk.Trailer;
          } else {
            this.left = this.size;
            this.state = Chunk.Data;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case Chunk.Data: {
          const take = Math.min(this.left, n - i);
          this.left -= take;
          i += take;
          if (this.left === 0) this.state = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (buf[i] !== 13) return this.fail();
          i++;
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (buf[i] !== 10) return this.fail();
          i++;
          this.state = Chunk.Size;
          break;
        case Chunk.Trailer:
          // An empty line ends the trailers; otherwise skip a trailer field line.
          if (buf[i] === 13) {
            this.state = Chunk.LastLf;
            i++;
          } else this.state = Chunk.TrailerLine;
          break;
        case Chunk.TrailerLine: {
          const cr = buf.indexOf(13, i);
          if (cr < 0) return -1;
          i = cr + 1;
          this.state = Chunk.TrailerLf;
          break;
        }
        case Chunk.TrailerLf:
          if (buf[i] !== 10) return this.fail();
          i++;
          this.state = Chunk.Trailer;
          break;
        case Chunk.LastLf:
          if (buf[i] !== 10) return this.fail();
          this.state = Chunk.Done;
          return i + 1;
        case Chunk.Done:
          return i;
      }
    }
    return -1;
  }

  private fail(): number {
    this.invalid = true;
    return -1;
  }
}
