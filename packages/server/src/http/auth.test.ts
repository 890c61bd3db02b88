/** Tests of which bearer tokens open which routes ([auth] token vs [edge] token). */
import { describe, expect, it } from 'vitest';
import { acceptedTokens } from './auth.js';

describe('acceptedTokens', () => {
  it('leaves everything open without tokens, and /health always', () => {
    expect(acceptedTokens('POST', '/register', {})).toEqual([]);
    expect(acceptedTokens('GET', '/health', { token: 'admin', edgeToken: 'edge' })).toEqual([]);
  });

  it('requires the admin token everywhere but lets edge nodes use theirs on their routes', () => {
    const tokens = { token: 'admin', edgeToken: 'edge' };
    expect(acceptedTokens('POST', '/api/functions', tokens)).toEqual(['admin']);
    expect(acceptedTokens('POST', '/execute', tokens)).toEqual(['admin']);
    expect(acceptedTokens('DELETE', '/api/functions/f', tokens)).toEqual(['admin']);
    expect(acceptedTokens('POST', '/register', tokens)).toEqual(['admin', 'edge']);
    expect(acceptedTokens('POST', '/callback', tokens)).toEqual(['admin', 'edge']);
    expect(acceptedTokens('GET', '/api/functions/f', tokens)).toEqual(['admin', 'edge']);
    expect(acceptedTokens('GET', '/api/functions/f/wasm', tokens)).toEqual(['admin', 'edge']);
    expect(acceptedTokens('GET', '/api/functions/manifest', tokens)).toEqual(['admin', 'edge']);
  });

  it('with only an edge token, guards joining but leaves the API open', () => {
    const tokens = { edgeToken: 'edge' };
    expect(acceptedTokens('POST', '/register', tokens)).toEqual(['edge']);
    expect(acceptedTokens('POST', '/callback', tokens)).toEqual(['edge']);
    expect(acceptedTokens('GET', '/api/functions/f/wasm', tokens)).toEqual([]);
    expect(acceptedTokens('POST', '/api/functions', tokens)).toEqual([]);
  });
});
