import { describe, expect, it } from 'vitest';
import { has, histogramBuckets, parsePrometheus, quantileBetween, sumOf } from './prometheus.js';

const TEXT = `# HELP aether_workflows_started_total Workflows started on this node
# TYPE aether_workflows_started_total counter
aether_workflows_started_total 12
aether_function_request_duration_seconds_count{function="a",status="2xx"} 5
aether_function_request_duration_seconds_count{function="b",status="5xx"} 2
weird{path="x\\"y\\\\z",other="1"} 3.5 1700000000000
aether_step_duration_seconds_bucket{le="0.1",kind="activity",status="completed"} 1
aether_step_duration_seconds_bucket{le="1",kind="activity",status="completed"} 3
aether_step_duration_seconds_bucket{le="+Inf",kind="activity",status="completed"} 4
aether_step_duration_seconds_bucket{le="0.1",kind="timer",status="completed"} 1
aether_step_duration_seconds_bucket{le="1",kind="timer",status="completed"} 1
aether_step_duration_seconds_bucket{le="+Inf",kind="timer",status="completed"} 1
garbage line
`;

describe('prometheus text', () => {
  it('parses samples with labels, escapes and timestamps, skipping comments and malformed lines', () => {
    const s = parsePrometheus(TEXT);
    expect(s.find((x) => x.name === 'aether_workflows_started_total')).toEqual({
      name: 'aether_workflows_started_total',
      labels: {},
      value: 12,
    });
    expect(s.find((x) => x.name === 'weird')).toEqual({
      name: 'weird',
      labels: { path: 'x"y\\z', other: '1' },
      value: 3.5,
    });
    expect(s.some((x) => x.name === 'garbage')).toBe(false);
  });

  it('sums a metric over label sets, optionally filtered', () => {
    const s = parsePrometheus(TEXT);
    expect(sumOf(s, 'aether_function_request_duration_seconds_count')).toBe(7);
    expect(sumOf(s, 'aether_function_request_duration_seconds_count', { function: 'b' })).toBe(2);
    expect(sumOf(s, 'missing')).toBe(0);
    expect(has(s, 'missing')).toBe(false);
  });

  it('merges histogram buckets over labels and interpolates quantiles of the delta between two scrapes', () => {
    const after = histogramBuckets(parsePrometheus(TEXT), 'aether_step_duration_seconds');
    expect(after).toEqual([
      { le: 0.1, count: 2 },
      { le: 1, count: 4 },
      { le: Infinity, count: 5 },
    ]);
    const before = [
      { le: 0.1, count: 2 },
      { le: 1, count: 2 },
      { le: Infinity, count: 2 },
    ];
    // Three new observations: two in (0.1, 1], one above 1.
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.1 + 0.9 * 0.75);
    expect(quantileBetween(before, after, 0.99)).toBe(1);
    expect(quantileBetween(after, after, 0.5)).toBeNull();
    expect(quantileBetween([], after, 0.2)).toBeCloseTo(0.05);
  });
});
