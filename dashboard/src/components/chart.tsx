// A line chart over labelled buckets (uPlot): the x axis is the bucket index, so the current
// and the previous period line up bucket by bucket. The canvas is hidden from screen readers;
// the figure's caption says what it shows.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: number[];
  /** Filled area under the line. */
  fill?: string;
}

export function LineChart({
  labels,
  series,
  format,
  caption,
  height = 260,
}: {
  labels: string[];
  series: ChartSeries[];
  format: (v: number) => string;
  caption: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = labels.map((_, i) => i);
    const data: uPlot.AlignedData = [xs, ...series.map((s) => s.values)];
    const label = (i: number) => labels[Math.round(i)] ?? '';
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height,
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        legend: { live: true },
        cursor: { points: { size: 7 }, drag: { x: false, y: false } },
        series: [
          { label: 'Date', value: (_u, v) => (v == null ? '' : label(v)) },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            dash: s.dash,
            fill: s.fill,
            points: { show: labels.length <= 40 },
            value: (_u: uPlot, v: number | null) => (v == null ? '—' : format(v)),
          })),
        ],
        axes: [
          {
            incrs: [1, 2, 3, 4, 6, 7, 12, 14, 24, 30, 60],
            values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? label(i) : '')),
            stroke: '#4b5563',
            grid: { show: false },
            ticks: { stroke: '#d1d5db' },
          },
          {
            values: (_u, splits) => splits.map((v) => format(v)),
            size: 64,
            stroke: '#4b5563',
            grid: { stroke: '#e5e7eb' },
            ticks: { show: false },
          },
        ],
      },
      data,
      el,
    );
    plot.root.querySelector('.u-over')?.setAttribute('aria-hidden', 'true');
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [labels, series, height]);
  return (
    <figure class="chart">
      <div ref={box} class="chart-canvas" />
      <figcaption class="sr-only">{caption}</figcaption>
    </figure>
  );
}
