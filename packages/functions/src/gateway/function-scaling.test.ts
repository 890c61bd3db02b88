/** Tests of per-function scaling: overrides merged over the node's defaults, and the checks that name the field. */
import { AetherError } from '@aether/core';
import { describe, expect, it } from 'vitest';
import { checkScaling, effectiveScaling } from './function-scaling.js';
import type { FunctionScaling } from '../registry/types.js';

const defaults = { min: 0, max: 4, targetConcurrency: 16, idleTimeoutS: 60 };

function failure(overrides: FunctionScaling | null): AetherError | undefined {
  try {
    checkScaling(overrides, defaults);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(AetherError);
    return err as AetherError;
  }
}

describe('effectiveScaling', () => {
  it('takes each field the function sets and the default for the others', () => {
    expect(effectiveScaling(null, defaults)).toEqual(defaults);
    expect(effectiveScaling({ max: 1, idleTimeoutS: 0 }, defaults)).toEqual({
      min: 0,
      max: 1,
      targetConcurrency: 16,
      idleTimeoutS: 0,
    });
    expect(effectiveScaling({ min: 2, max: 8, targetConcurrency: 1, idleTimeoutS: 5 }, defaults)).toEqual({
      min: 2,
      max: 8,
      targetConcurrency: 1,
      idleTimeoutS: 5,
    });
  });
});

describe('checkScaling', () => {
  it('accepts null, partial overrides and the bounds themselves', () => {
    for (const ok of [null, {}, { min: 0 }, { min: 4 }, { max: 1000, min: 1000 }, { targetConcurrency: 10_000 }]) {
      expect(failure(ok)).toBeUndefined();
    }
    expect(failure({ idleTimeoutS: 0.25 })).toBeUndefined();
    expect(failure({ idleTimeoutS: 86_400 })).toBeUndefined();
  });

  it('refuses each bad field with AETHER_E_FN_INVALID naming it as the HTTP API does', () => {
    const cases: [FunctionScaling, string][] = [
      [{ min: -1 }, 'scaling.min'],
      [{ min: 0.5 }, 'scaling.min'],
      [{ max: 0 }, 'scaling.max'],
      [{ max: 1001 }, 'scaling.max'],
      [{ targetConcurrency: 0 }, 'scaling.target_concurrency'],
      [{ targetConcurrency: 10_001 }, 'scaling.target_concurrency'],
      [{ idleTimeoutS: -0.1 }, 'scaling.idle_timeout_s'],
      [{ idleTimeoutS: Number.NaN }, 'scaling.idle_timeout_s'],
      [{ idleTimeoutS: 86_401 }, 'scaling.idle_timeout_s'],
      [{ burst: 2 } as FunctionScaling, 'scaling.burst'],
    ];
    for (const [overrides, field] of cases) {
      const err = failure(overrides);
      expect({ overrides, code: err?.code, field: err?.details.field }).toEqual({
        overrides,
        code: 'AETHER_E_FN_INVALID',
        field,
      });
      expect(err?.message).toContain(field);
    }
  });

  it('compares min with max after the defaults are filled in', () => {
    expect(failure({ min: 3, max: 2 })?.message).toBe('scaling.min (3) must not be above scaling.max (2)');
    expect(failure({ min: 5 })?.message).toBe("scaling.min (5) must not be above the node's default max (4)");
    expect(checkScaling.bind(null, { max: 1 }, { ...defaults, min: 2 })).toThrow(
      "the node's default min (2) must not be above scaling.max (1)",
    );
  });
});
