// How numbers, money, durations, dates and dimension values read on screen. Numbers are shown
// whole (12,345, not 12.3k) so that what the dashboard shows is what the API answered.
import type { Revenue } from './api';

const LOCALE = 'en';
const integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });

export const fmtInt = (n: number): string => integer.format(n);
export const fmtDecimal = (n: number): string => decimal.format(n);

/** A share 0..1 as a percentage with at most one decimal: 0.4567 → "45.7%". */
export const fmtPercent = (share: number): string => `${decimal.format(Math.round(share * 1000) / 10)}%`;

/** Seconds as "1h 2m", "3m 05s", "42s". */
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

const moneyFormats = new Map<string, Intl.NumberFormat>();

/** An amount in ten-thousandths of `currency`: 300000, "EUR" → "€30.00". */
export function fmtMoney(amountE4: number, currency: string): string {
  let f = moneyFormats.get(currency);
  if (!f) {
    try {
      f = new Intl.NumberFormat(LOCALE, { style: 'currency', currency });
    } catch {
      f = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    moneyFormats.set(currency, f);
  }
  return f.format(amountE4 / 10_000);
}

/** Revenue in several currencies, largest first: "€30.00 + $12.00"; "—" when none. */
export function fmtRevenue(revenue: Revenue[] | undefined): string {
  if (!revenue || revenue.length === 0) return '—';
  return revenue.map((r) => fmtMoney(r.amount_e4, r.currency)).join(' + ');
}

/** The currency with the most revenue, if any. */
export function mainCurrency(revenue: Revenue[] | undefined): string | null {
  return revenue && revenue.length ? revenue[0].currency : null;
}

/** A metric value for charts and legends. */
export function fmtMetric(metric: string, value: number, currency?: string | null): string {
  if (metric === 'revenue') return currency ? fmtMoney(Math.round(value * 10_000), currency) : fmtDecimal(value);
  if (metric === 'bounce_rate') return fmtPercent(value);
  if (metric === 'visit_duration') return fmtDuration(value);
  return fmtInt(value);
}

/** A change in percent against the previous period: "+12.5%", "−3%", "new" (nothing before), "—". */
export function fmtChange(change: number | null | undefined, hadBefore: boolean, hasNow = true): string {
  if (change == null) return hadBefore || !hasNow ? '—' : 'new';
  if (change === 0) return '±0%';
  return `${change > 0 ? '+' : '−'}${decimal.format(Math.abs(change))}%`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "2026-11-03" → "3 Nov"; with `year`, "3 Nov 2026". */
export function fmtDay(iso: string, year = false): string {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number);
  return `${d} ${MONTHS[m - 1]}${year ? ` ${y}` : ''}`;
}

/** A time-series bucket label: "3 Nov", "Nov 2026", "14:00". */
export function fmtBucket(bucket: string, interval: string): string {
  if (interval === 'hour') return bucket.slice(11, 16);
  if (interval === 'month') {
    const [y, m] = bucket.split('-').map(Number);
    return `${MONTHS[m - 1]} ${y}`;
  }
  return fmtDay(bucket);
}

/** A date range: "24 Oct – 22 Nov 2026". */
export function fmtRange(range: { from: string; to: string }): string {
  if (range.from === range.to) return fmtDay(range.from, true);
  return `${fmtDay(range.from, range.from.slice(0, 4) !== range.to.slice(0, 4))} – ${fmtDay(range.to, true)}`;
}

/** An ISO timestamp in the viewer's time zone: "2026-11-24 09:41". */
export function fmtTimestamp(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

let regionNames: Intl.DisplayNames | null = null;
try {
  regionNames = new Intl.DisplayNames([LOCALE], { type: 'region' });
} catch {
  regionNames = null;
}

/** "DE" → "Germany". */
export function countryName(code: string): string {
  if (!/^[A-Z]{2}$/.test(code)) return code;
  try {
    return regionNames?.of(code) || code;
  } catch {
    return code;
  }
}

/** What an empty dimension value means, per dimension. */
function emptyValue(dimension: string): string {
  if (dimension === 'source' || dimension === 'referrer' || dimension === 'medium') return 'Direct / none';
  if (dimension.startsWith('utm_')) return '(none)';
  return '(unknown)';
}

/** How a dimension's value reads. */
export function fmtValue(dimension: string, value: string): string {
  if (value === '') return emptyValue(dimension);
  if (dimension === 'country') return countryName(value);
  if (dimension === 'device') return value.charAt(0).toUpperCase() + value.slice(1);
  return value;
}

/** Names of the dimensions, as chips and headings show them. */
export const DIMENSION_NAMES: Record<string, string> = {
  page: 'Page',
  entry_page: 'Entry page',
  exit_page: 'Exit page',
  hostname: 'Hostname',
  source: 'Source',
  referrer: 'Referrer',
  medium: 'Medium',
  utm_source: 'UTM source',
  utm_medium: 'UTM medium',
  utm_campaign: 'UTM campaign',
  utm_term: 'UTM term',
  utm_content: 'UTM content',
  country: 'Country',
  region: 'Region',
  city: 'City',
  device: 'Device',
  browser: 'Browser',
  browser_version: 'Browser version',
  os: 'Operating system',
  os_version: 'OS version',
  event: 'Event',
};

export const dimensionName = (d: string): string =>
  DIMENSION_NAMES[d] || (d.startsWith('prop:') ? `Property ${d.slice(5)}` : d);
