// The controls over every report: the date range and the active filters, both in the URL.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { describeFilter, filtersOf, formatFilter } from '../filters';
import { fmtRange } from '../format';
import { href, navigate, useLocation, withParams } from '../router';
import type { Range } from '../api';

export const PERIODS: [string, string][] = [
  ['today', 'Today'],
  ['yesterday', 'Yesterday'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['month', 'This month'],
  ['last_month', 'Last month'],
  ['12mo', 'Last 12 months'],
  ['custom', 'Custom range'],
];

/** The API query of the view in the URL: period (default 30d), custom dates, filters; plus `extra`. */
export function statsQuery(query: URLSearchParams, extra: Record<string, string> = {}): string {
  const out = new URLSearchParams();
  const period = query.get('period') || '30d';
  out.set('period', period);
  if (period === 'custom') {
    out.set('from', query.get('from') || '');
    out.set('to', query.get('to') || '');
  }
  for (const f of query.getAll('filter')) out.append('filter', f);
  for (const [k, v] of Object.entries(extra)) out.set(k, v);
  return out.toString();
}

const isoDay = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function PeriodPicker({ range }: { range?: Range | null }) {
  const loc = useLocation();
  const period = loc.query.get('period') || '30d';
  const [choice, setChoice] = useState(period);
  const [from, setFrom] = useState(loc.query.get('from') || range?.from || isoDay(new Date(Date.now() - 29 * 86_400_000)));
  const [to, setTo] = useState(loc.query.get('to') || range?.to || isoDay(new Date()));
  useEffect(() => setChoice(period), [period]);

  const go = (changes: Record<string, string | null>) => navigate(href(loc.path, withParams(loc.query, changes)));
  const pick = (value: string) => {
    setChoice(value);
    if (value === 'custom') {
      if (range) {
        setFrom(range.from);
        setTo(range.to);
      }
      return;
    }
    go({ period: value === '30d' ? null : value, from: null, to: null });
  };
  return (
    <div class="period">
      <label>
        <span class="sr-only">Date range</span>
        <select value={choice} onChange={(e) => pick((e.target as HTMLSelectElement).value)} aria-label="Date range">
          {PERIODS.map(([k, name]) => (
            <option key={k} value={k}>
              {name}
            </option>
          ))}
        </select>
      </label>
      {choice === 'custom' && (
        <form
          class="custom-range"
          onSubmit={(e) => {
            e.preventDefault();
            go({ period: 'custom', from, to });
          }}
        >
          <label>
            From <input type="date" value={from} max={to} required onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            To <input type="date" value={to} min={from} required onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit" class="button small">
            Apply
          </button>
        </form>
      )}
      {range && <span class="range-text">{fmtRange(range)}</span>}
    </div>
  );
}

/** The active filters as chips, each removable; "Clear all" when there are several. */
export function FilterChips() {
  const loc = useLocation();
  const filters = filtersOf(loc.query);
  if (filters.length === 0) return null;
  const set = (kept: string[]) => navigate(href(loc.path, withParams(loc.query, { filter: kept })));
  return (
    <ul class="chips" aria-label="Active filters">
      {filters.map((f, i) => {
        const text = describeFilter(f);
        return (
          <li key={formatFilter(f)} class="chip" data-filter={formatFilter(f)}>
            <span>{text}</span>
            <button
              type="button"
              class="chip-remove"
              aria-label={`Remove filter: ${text}`}
              onClick={() => set(filters.filter((_, j) => j !== i).map(formatFilter))}
            >
              ×
            </button>
          </li>
        );
      })}
      {filters.length > 1 && (
        <li>
          <button type="button" class="button small ghost" onClick={() => set([])}>
            Clear all filters
          </button>
        </li>
      )}
    </ul>
  );
}

/** The bar above a report: date range and filters. */
export function ReportBar({ range, children }: { range?: Range | null; children?: ComponentChildren }) {
  return (
    <div class="report-bar">
      <PeriodPicker range={range} />
      <FilterChips />
      {children}
    </div>
  );
}
