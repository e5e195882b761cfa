// A tiny history-API router. The URL is the state: the path names the page
// (`/sites/{site}/{page}`), the query holds the view (period, filters, chart metric, tabs), so
// a view can be bookmarked, shared, and gone back to with the browser's Back button.
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

function notify(): void {
  for (const l of listeners) l();
}

/** Goes to `url` (path, query and maybe a section's `#id`); `replace` keeps the history entry. */
export function navigate(url: string, { replace = false } = {}): void {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) {
    location.assign(target.href);
    return;
  }
  const next = target.pathname + target.search;
  if (next === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', next + target.hash);
  else history.pushState(null, '', next + target.hash);
  if (!replace) window.scrollTo(0, 0);
  notify();
  // A link to a section of another page (`…/settings#goals`): there once the page is drawn.
  if (target.hash) setTimeout(() => document.getElementById(decodeURIComponent(target.hash.slice(1)))?.scrollIntoView());
}

/** The current location, re-rendering on every change. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return loc;
}

window.addEventListener('popstate', notify);

// Same-origin links navigate without a page load (unless opened elsewhere or downloaded).
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || !a.href || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/demo/')) return;
  // In-page anchors scroll as usual.
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

/** A copy of `query` with `changes` applied: a string sets, an array sets repeated keys, null removes. */
export function withParams(query: URLSearchParams, changes: Record<string, string | string[] | null>): URLSearchParams {
  const next = new URLSearchParams(query);
  for (const [key, value] of Object.entries(changes)) {
    next.delete(key);
    if (value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) next.append(key, v);
  }
  return next;
}

/** `path` with the query, `?` only when there is one. */
export function href(path: string, query?: URLSearchParams): string {
  const q = query?.toString();
  return q ? `${path}?${q}` : path;
}

/** The query keys that describe what is looked at (kept when moving between report pages). */
export const VIEW_KEYS = ['period', 'from', 'to', 'filter'];

/** Only the view keys of `query`. */
export function viewOf(query: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of query) if (VIEW_KEYS.includes(k)) out.append(k, v);
  return out;
}
