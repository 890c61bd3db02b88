/** Converts `ctx.sleep` durations to milliseconds, rejecting nonsense early. */
import { TerminalError } from '@aether/core';
import type { SleepDuration } from './types.js';

const UNIT_MS = { milliseconds: 1, seconds: 1000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;

/** The duration in whole milliseconds; throws AETHER_E_INVALID_ARGUMENT when negative or not finite. */
export function durationToMs(duration: SleepDuration): number {
  let ms = 0;
  if (typeof duration === 'number') {
    ms = duration;
  } else if (duration !== null && typeof duration === 'object') {
    for (const [unit, factor] of Object.entries(UNIT_MS)) {
      const v = (duration as Record<string, number | undefined>)[unit];
      if (v !== undefined) ms += v * factor;
    }
  } else {
    ms = Number.NaN;
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw new TerminalError('AETHER_E_INVALID_ARGUMENT', `invalid sleep duration ${JSON.stringify(duration)}`, {
      duration: String(JSON.stringify(duration)),
    });
  }
  return Math.ceil(ms);
}
