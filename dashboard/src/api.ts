// The dashboard's only way to the server: same-origin JSON requests to /api/v1/, with the
// session cookie (set by the login answer, HttpOnly) and, on writes, the session's CSRF token
// in the X-CSRF-Token header. Error answers are `{"error":{"code","message","field"}}`.

export type Role = 'viewer' | 'analyst' | 'admin' | 'owner';
export const ROLES: Role[] = ['viewer', 'analyst', 'admin', 'owner'];

/** Whether `have` is at least `need`. */
export const atLeast = (have: Role | undefined, need: Role): boolean =>
  have !== undefined && ROLES.indexOf(have) >= ROLES.indexOf(need);

export interface SiteRole {
  site: string;
  role: Role;
}

export interface Me {
  email: string;
  csrf_token: string | null;
  is_admin: boolean;
  sites: SiteRole[];
}

export interface LoginPolicy {
  max_failed_logins: number;
  failed_login_window_secs: number;
  lockout_secs: number;
  min_password_chars: number;
}

export interface Site {
  site: string;
  role: Role | null;
  timezone: string;
  retention_days: number;
  honour_privacy_signals: boolean;
  search_params: string[];
  allowed_query_params: string[];
  created_at: string;
}

export interface Range {
  from: string;
  to: string;
}

export interface Overview {
  visitors: number;
  visits: number;
  pageviews: number;
  views_per_visit: number;
  bounce_rate: number;
  visit_duration: number;
}

export interface Revenue {
  currency: string;
  amount_e4: number;
  orders: number;
}

export interface OverviewAnswer {
  site: string;
  range: Range;
  current: Overview;
  revenue: Revenue[];
  previous?: { range: Range; values: Overview; revenue: Revenue[]; change: Record<string, number | null> };
}

export interface Point extends Overview {
  bucket: string;
  revenue?: Revenue[];
}

export interface SeriesAnswer {
  interval: 'hour' | 'day' | 'week' | 'month';
  range: Range;
  points: Point[];
  previous?: Point[];
}

export interface BreakdownRow {
  value: string;
  visitors: number;
  visits: number;
  pageviews: number;
  bounce_rate: number | null;
  visit_duration: number | null;
  events: number | null;
  time_on_page: number | null;
}

export interface BreakdownAnswer {
  range: Range;
  dimension: string;
  rows: BreakdownRow[];
  has_more: boolean;
  previous_visitors?: Record<string, number>;
}

export interface Realtime {
  visitors: number;
  pages: { page: string; visitors: number }[];
  per_minute: number[];
}

export interface StepInput {
  page?: string;
  event?: string;
  props?: Record<string, string>;
}

export interface FunnelInput {
  name?: string;
  steps: StepInput[];
  window_seconds?: number;
  order?: 'strict' | 'any';
}

export interface SavedFunnel {
  id: string;
  name: string;
  definition: FunnelInput;
  created_by: string;
}

export interface StepResult {
  step: number;
  label: string;
  visitors: number;
  conversion_rate: number;
  overall_conversion_rate: number;
  dropped_off: number;
  drop_off_rate: number;
  median_seconds_from_previous: number | null;
}

export interface FunnelAnswer {
  range: Range;
  funnel?: SavedFunnel;
  definition: FunnelInput;
  result: {
    order: 'strict' | 'any';
    window_seconds: number;
    steps: StepResult[];
    breakdown?: { dimension: string; rows: { value: string; steps: StepResult[] }[] };
  };
}

export interface CurrencyRevenue extends Revenue {
  average_order_e4: number;
}

export interface SearchAnswer {
  range: Range;
  summary?: {
    searches: number;
    searchers: number;
    no_result_searches: number;
    no_result_rate: number;
    clicked_searches: number;
    click_through_rate: number;
    searches_without_click: number;
    average_clicked_position: number | null;
    refinements: number;
    refinement_rate: number;
    search_exits: number;
    exit_rate: number;
  };
  top_queries?: {
    query: string;
    searches: number;
    searchers: number;
    no_result_rate: number;
    click_through_rate: number;
    average_clicked_position: number | null;
  }[];
  trending?: { query: string; searchers: number; previous_searchers: number; rise: number; change_percent: number | null }[];
  no_result_queries?: {
    query: string;
    searches: number;
    searchers: number;
    share_of_searches: number;
    from_pages: { page: string; searches: number }[];
  }[];
  conversion?: { with_search: VisitGroup; without_search: VisitGroup };
  lost_revenue?: {
    basis: { visits: number; purchasing_visits: number; purchase_rate: number; currency: string | null; average_order_e4: number };
    queries: { query: string; searchers: number; searches: number; estimated_lost_e4: number }[];
  };
}

export interface VisitGroup {
  visits: number;
  purchasing_visits: number;
  purchase_rate: number;
  revenue: CurrencyRevenue[];
}

export interface ClickRow {
  page: string;
  selector: string;
  clicks: number;
  visitors: number;
}

export interface Vital {
  metric: string;
  samples: number;
  p75: number;
  rating: 'good' | 'needs_improvement' | 'poor';
  good: number;
  needs_improvement: number;
  poor: number;
}

export interface UxAnswer {
  range: Range;
  frustrated_clicks?: { rage: ClickRow[]; dead: ClickRow[] };
  pages?: {
    page: string;
    pageviews: number;
    engaged_seconds_per_view: number;
    scroll_depth: { samples: number; shares: [number, number, number, number]; mean: number } | null;
  }[];
  web_vitals?: { page: string; metrics: Vital[] }[];
  errors?: {
    message: string;
    source: string;
    errors: number;
    visitors: number;
    page_count: number;
    pages: { page: string; errors: number }[];
  }[];
}

export interface Token {
  id: string;
  email: string;
  description: string;
  sites: string[];
  role: Role;
  created_at: string;
  expires_at: string | null;
  expired: boolean;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  site: string;
  detail: string;
}

/** An error answer of the API (or a failure to reach it). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

let csrfToken = '';
let onUnauthenticated: () => void = () => {};

/** The session's CSRF token, sent on every write. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token || '';
}

/** What to do when a request finds the session gone (expired, logged out elsewhere). */
export function whenUnauthenticated(fn: () => void): void {
  onUnauthenticated = fn;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Do not treat a 401 as a lost session (the login request itself). */
  quiet401?: boolean;
}

/** GETs started before the page that reads them is drawn, by path; each is used once. */
const preloaded = new Map<string, Promise<Response | null>>();

/**
 * Starts `GET path` now, for the page about to be drawn: at start-up the headline numbers are
 * asked for alongside the session check instead of after it. The page's own `get` of the same
 * path takes the answer; if that request failed, it asks again.
 */
export function preload(path: string): void {
  if (preloaded.has(path)) return;
  const started = fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' }).then(
    (r) => (r.ok ? r : null),
    () => null,
  );
  preloaded.set(path, started);
}

/** Sends a request; resolves the raw response when it succeeded, throws an ApiError otherwise. */
export async function request(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const early = method === 'GET' ? preloaded.get(path) : undefined;
  if (early) {
    preloaded.delete(path);
    const answer = await early;
    if (answer) return answer;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Larder did not answer: check that it is running and your connection.');
  }
  if (response.ok) return response;
  let code = `http_${response.status}`;
  let message = `Larder answered ${response.status} ${response.statusText}`.trim();
  let field: string | null = null;
  try {
    const answer = await response.json();
    if (answer && answer.error) {
      code = answer.error.code || code;
      message = answer.error.message || message;
      field = answer.error.field ?? null;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401 && !options.quiet401) onUnauthenticated();
  throw new ApiError(response.status, code, message, field);
}

/** A JSON request; resolves the parsed answer (`null` for 204). */
export async function api<T>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<T> {
  const response = await request(method, path, body, options);
  if (response.status === 204) return null as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string, options?: RequestOptions) => api<T>('GET', path, undefined, options);

/** `/api/v1/sites/{site}` plus `rest`, the site escaped. */
export const sitePath = (site: string, rest = '') => `/api/v1/sites/${encodeURIComponent(site)}${rest}`;

/** A goal: converting events are those of `event_name`, or page views whose path matches `page_pattern`. */
export interface Goal {
  id: string;
  name: string;
  event_name?: string;
  page_pattern?: string;
}

export interface GoalConversion extends Goal {
  /** Distinct visitors with a converting event. */
  visitors: number;
  conversions: number;
  /** `visitors` / all visitors of the period, 0..1. */
  conversion_rate: number;
  /** Goals on `purchase` only: revenue per currency. */
  revenue?: CurrencyRevenue[];
}

export interface Conversions {
  /** All visitors of the period: the conversion rates' denominator. */
  visitors: number;
  goals: GoalConversion[];
}

export interface ConversionsAnswer extends Conversions {
  range: Range;
  previous?: Conversions & { range: Range };
}

export interface RevenueBreakdownAnswer {
  range: Range;
  dimension: string;
  total: CurrencyRevenue[];
  rows: (CurrencyRevenue & { value: string })[];
  has_more: boolean;
}
