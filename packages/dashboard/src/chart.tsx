/**
 * A time-series chart on uPlot that follows its container's width (1280 px
 * desktops and 390 px phones alike) and takes new data without being rebuilt.
 */
import { useEffect, useRef, type ReactNode } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
}

const HEIGHT = 220;

/** `data[0]` are epoch seconds; `data[i]` the values of `series[i - 1]` (null is a gap). */
export function TimeChart({
  title,
  unit,
  series,
  data,
}: {
  title: string;
  unit: string;
  series: ChartSeries[];
  data: (number | null)[][];
}): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const width = Math.max(200, el.clientWidth);
    const u = new uPlot(
      {
        width,
        height: HEIGHT,
        scales: {
          // At least the last minute, so the first samples do not stretch over years.
          x: { time: true, range: (_u, min, max) => (max - min < 60 ? [max - 60, max] : [min, max]) },
          y: { range: (_u, min, max) => [0, Math.max(max, min, 1e-9) * 1.1] },
        },
        axes: [
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.15)' } },
          {
            stroke: 'currentColor',
            grid: { stroke: 'rgba(128,128,128,0.15)' },
            size: 56,
            values: (_u, ticks) => ticks.map((t) => `${+t.toPrecision(3)}${unit}`),
          },
        ],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => (v === null ? '–' : `${+v.toPrecision(3)}${unit}`),
          })),
        ],
        legend: { live: true },
      },
      [[], ...series.map(() => [])],
      el,
    );
    plot.current = u;
    const observer = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height: HEIGHT });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data flows in below.
  }, [key, unit]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data, key]);

  return (
    <figure className="card chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-box" />
    </figure>
  );
}

/** Distinct colours for series, in order. */
export const PALETTE = ['#3451b2', '#1a7f37', '#c62828', '#9a6700', '#8250df', '#0a7ea4', '#bf3989', '#57606a'];
