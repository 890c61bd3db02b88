import { describe, expect, it } from 'vitest';
import { ChunkedScanner, headEnd, parseRequestHead, parseResponseHead } from './http1.js';

const req = (text: string) => {
  const buf = Buffer.from(text, 'latin1');
  const end = headEnd(buf);
  return end < 0 ? undefined : parseRequestHead(buf, end);
};
const res = (text: string) => {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf, headEnd(buf));
};

describe('headEnd', () => {
  it('finds the end of a head, also when the search starts inside the CRLF CRLF', () => {
    const buf = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nbody');
    expect(headEnd(buf)).toBe(buf.length - 4);
    expect(headEnd(buf, buf.length - 5)).toBe(buf.length - 4);
    expect(headEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'))).toBe(-1);
  });
});

describe('parseRequestHead', () => {
  it('reads the request line, framing and the fields the relay needs', () => {
    const h = req(
      'POST /functions/f/a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nAuthorization: Bearer t\r\n\r\n',
    )!;
    expect(h).toMatchObject({
      method: 'POST',
      target: '/functions/f/a?b=1',
      contentLength: 12,
      chunked: false,
      close: false,
      upgrade: false,
      authorization: 'Bearer t',
    });
    expect(Buffer.from('POST /functions/f/a?b=1 HTTP/1.1').toString('latin1', h.targetEnd)).toBe(' HTTP/1.1');
  });

  it('knows chunked bodies, Connection: close, HTTP/1.0 keep-alive and upgrades (any case)', () => {
    expect(req('PUT / HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n')).toMatchObject({
      chunked: true,
      contentLength: -1,
    });
    expect(req('GET / HTTP/1.1\r\nconnection: keep-alive, Close\r\n\r\n')?.close).toBe(true);
    expect(req('GET / HTTP/1.0\r\n\r\n')?.close).toBe(true);
    expect(req('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')?.close).toBe(false);
    expect(req('GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')?.upgrade).toBe(true);
    expect(req('GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n')?.upgrade).toBe(false);
  });

  it.each([
    ['two Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'],
    ['Content-Length and chunked', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a coding other than chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
    ['two Transfer-Encodings', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n'],
    ['a bare LF', 'GET / HTTP/1.1\r\nX-A: 1\nContent-Length: 5\r\n\r\n'],
    ['a line without colon', 'GET / HTTP/1.1\r\nnonsense\r\n\r\n'],
    ['absolute-form', 'GET http://x/functions/f HTTP/1.1\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\n\r\n'],
    ['a non-ASCII target', 'GET /\u00e9 HTTP/1.1\r\n\r\n'],
    ['chunked HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['two Authorizations', 'GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n'],
  ])('refuses %s (node:http answers it instead)', (_what, text) => {
    expect(req(text)).toBeNull();
  });
});

describe('parseResponseHead', () => {
  it('reads status and framing', () => {
    expect(res('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n')).toMatchObject({
      status: 200,
      contentLength: 5,
      chunked: false,
      close: false,
    });
    expect(res('HTTP/1.1 404 \r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n')).toMatchObject({
      status: 404,
      chunked: true,
      close: true,
    });
    expect(res('HTTP/1.0 200 OK\r\n\r\n')).toMatchObject({ contentLength: -1, close: true });
    expect(res('HTTP/1.1 100 Continue\r\n\r\n')?.status).toBe(100);
  });

  it('refuses what is not an HTTP/1.x response', () => {
    expect(res('HTTP/2 200\r\n\r\n')).toBeNull();
    expect(res('SSH-2.0-x\r\n\r\n')).toBeNull();
    expect(res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n')).toBeNull();
  });
});

describe('ChunkedScanner', () => {
  const body = '5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n';

  it('finds the end of a chunked body fed in one piece, with what follows untouched', () => {
    const s = new ChunkedScanner();
    const buf = Buffer.from(`${body}GET / HTTP/1.1`);
    expect(s.feed(buf)).toBe(body.length);
    expect(s.done).toBe(true);
  });

  it('finds the same end at every split of the body', () => {
    const buf = Buffer.from(body);
    for (let cut = 1; cut < buf.length; cut++) {
      const s = new ChunkedScanner();
      expect(s.feed(buf.subarray(0, cut))).toBe(-1);
      expect(s.feed(buf.subarray(cut))).toBe(buf.length - cut);
    }
  });

  it('handles a body fed byte by byte, and an empty body', () => {
    const s = new ChunkedScanner();
    const buf = Buffer.from(body);
    let end = -1;
    for (let i = 0; i < buf.length && end < 0; i++) end = s.feed(buf.subarray(i, i + 1)) < 0 ? -1 : i + 1;
    expect(end).toBe(buf.length);
    expect(new ChunkedScanner().feed(Buffer.from('0\r\n\r\n'))).toBe(5);
  });

  it.each([
    ['a size that is not hex', 'zz\r\n'],
    ['a chunk without its CRLF', '3\r\nabcX\r\n'],
    ['a size line with a bare LF', '3\nabc\r\n'],
    ['a size too large', '1234567890abc\r\n'],
  ])('reports %s as invalid', (_what, text) => {
    const s = new ChunkedScanner();
    expect(s.feed(Buffer.from(text))).toBe(-1);
    expect(s.invalid).toBe(true);
  });
});
