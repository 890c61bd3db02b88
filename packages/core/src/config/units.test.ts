/** Tests of duration and size parsing as written in config files. */
import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from './units.js';

describe('parseDuration', () => {
  it('reads milliseconds, seconds, minutes and hours', () => {
    expect(parseDuration('3s')).toBe(3000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration(' 30S ')).toBe(30_000);
    expect(parseDuration(250)).toBe(250);
  });

  it('rejects what is not a duration', () => {
    for (const bad of ['3', 's', '3 days', '-1s', '', null, {}, Number.NaN, -5]) {
      expect(parseDuration(bad)).toBeUndefined();
    }
  });
});

describe('parseSize', () => {
  it('reads binary units', () => {
    expect(parseSize('16MB')).toBe(16 * 1024 * 1024);
    expect(parseSize('512kb')).toBe(512 * 1024);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('100B')).toBe(100);
    expect(parseSize(4096)).toBe(4096);
  });

  it('rejects what is not a size', () => {
    for (const bad of ['16', 'MB', '16 TB', '-1MB', 1.5, -1, true]) {
      expect(parseSize(bad)).toBeUndefined();
    }
  });
});
