/**
 * Per-function scaling of node functions: the overrides a function may set
 * (`scaling` of `POST /api/functions`), checked against sane bounds and merged
 * over the node's `[functions.node]` defaults into what its pool runs with.
 */
import { aetherError } from '@aether/core';
import type { FunctionScaling } from '../registry/types.js';
import type { PoolScaling } from './request-pool.js';

/** Upper bounds of the scaling fields: beyond them a value is a mistake, not a setting. */
export const SCALING_LIMITS = {
  maxInstances: 1000,
  maxTargetConcurrency: 10_000,
  /** One day. */
  maxIdleTimeoutS: 86_400,
} as const;

/** The settings a function's pool runs with: its overrides over the node's defaults. */
export function effectiveScaling(overrides: FunctionScaling | null, defaults: PoolScaling): PoolScaling {
  return {
    min: overrides?.min ?? defaults.min,
    max: overrides?.max ?? defaults.max,
    targetConcurrency: overrides?.targetConcurrency ?? defaults.targetConcurrency,
    idleTimeoutS: overrides?.idleTimeoutS ?? defaults.idleTimeoutS,
  };
}

function invalid(message: string, field: string): Error {
  return aetherError('AETHER_E_FN_INVALID', message, { field });
}

/**
 * Checks a function's scaling overrides (null: the defaults), naming fields as
 * the HTTP API does (`scaling.target_concurrency`); min and max are compared
 * after the defaults are filled in.
 * @throws AetherError AETHER_E_FN_INVALID
 */
export function checkScaling(overrides: FunctionScaling | null, defaults: PoolScaling): void {
  if (overrides === null) return;
  if (typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw invalid('scaling must be an object {min, max, target_concurrency, idle_timeout_s} or null', 'scaling');
  }
  const wire = { min: 'min', max: 'max', targetConcurrency: 'target_concurrency', idleTimeoutS: 'idle_timeout_s' };
  for (const key of Object.keys(overrides)) {
    if (!Object.hasOwn(wire, key)) {
      throw invalid(
        `scaling.${key} is not a scaling field (known: min, max, target_concurrency, idle_timeout_s)`,
        `scaling.${key}`,
      );
    }
  }
  const whole = (key: 'min' | 'max' | 'targetConcurrency', low: number, high: number): void => {
    const v = overrides[key];
    if (v === undefined) return;
    if (!Number.isSafeInteger(v) || v < low || v > high) {
      throw invalid(
        `scaling.${wire[key]} must be a whole number from ${low} to ${high}, not ${String(v)}`,
        `scaling.${wire[key]}`,
      );
    }
  };
  whole('min', 0, SCALING_LIMITS.maxInstances);
  whole('max', 1, SCALING_LIMITS.maxInstances);
  whole('targetConcurrency', 1, SCALING_LIMITS.maxTargetConcurrency);
  const idle = overrides.idleTimeoutS;
  if (
    idle !== undefined &&
    (typeof idle !== 'number' || !Number.isFinite(idle) || idle < 0 || idle > SCALING_LIMITS.maxIdleTimeoutS)
  ) {
    throw invalid(
      `scaling.idle_timeout_s must be a number of seconds from 0 to ${SCALING_LIMITS.maxIdleTimeoutS}, not ${String(idle)}`,
      'scaling.idle_timeout_s',
    );
  }
  const { min, max } = effectiveScaling(overrides, defaults);
  if (min > max) {
    const maxSource = overrides.max === undefined ? "the node's default max" : 'scaling.max';
    const minSource = overrides.min === undefined ? "the node's default min" : 'scaling.min';
    throw invalid(`${minSource} (${min}) must not be above ${maxSource} (${max})`, 'scaling.min');
  }
}
