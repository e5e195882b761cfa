// Larder tracker, core: pageviews (incl. SPA routes), the queued public API, e-commerce and site
// search events, outbound links, downloads and 404 pages. The UX module (ux.ts) plugs in on top.
//
// Rules this file keeps (see ../README.md and docs/wire-format.md):
// - no cookies, no Web Storage, no IndexedDB, no fingerprinting APIs;
// - nothing is sent when GPC or DNT is on, nor on localhost/file: without data-allow-localhost;
// - URLs lose their fragment and every query key except utm_*, the search parameter and
//   data-allow-params BEFORE anything is sent;
// - never form values, never element text (only a number read from the result-count element);
// - nothing thrown here reaches the page.
//
// Written for size (the core must stay under 1.5 KB gzipped): options are read from the script
// tag when used, not copied into variables.
import type { Ev, LarderFn, Opts, Plugin } from './types';

const w = window;
const d = document;
const loc = location;
const nav = navigator;

let script: HTMLScriptElement;
let site: string;
let api: string;
/** The cleaned URL of the page or SPA route shown now: the `url` of every event. */
export let page: string;
/** Dedupe key of the last pageview: cleaned URL (+ fragment route in hash mode). */
let last: string;
/** The search query of the current page (URL parameter or the last larder('search') call). */
let query: string | undefined;
let leave: (() => void) | undefined;

/** A data-* attribute of the script tag, or null. */
const attr = (n: string) => script.getAttribute('data-' + n);
const has = (n: string) => attr(n) != null;

/** Wraps a function so that nothing it throws reaches the page. */
export const safe =
  <A extends unknown[]>(f: (...a: A) => unknown) =>
  (...a: A): void => {
    try {
      f(...a);
    } catch (e) {
      // never throw into the page
    }
  };

export const on = (t: EventTarget, type: string, f: (e: any) => unknown, o?: boolean | AddEventListenerOptions) =>
  t.addEventListener(type, safe(f), o);

/** Drops query and fragment (referrers, link targets, error sources). */
export const strip = (u: string) => u.split(/[?#]/)[0];

/**
 * Search queries as typed (the collector lower-cases them and collapses whitespace), cut to 166
 * UTF-16 units: at most 498 bytes of UTF-8, under the 500-byte limit.
 */
const trimQuery = (q: unknown) => (q && ('' + q).slice(0, 166)) as string | undefined;

export const ev = (name: string, x?: Partial<Ev>): Ev => ({ site, name, url: page, ...x });

/**
 * Money and ids as the wire format wants them: amounts and prices are decimal strings (numbers
 * get at most 4 fractional digits), ids are strings.
 */
const wire = (k: string, v: any) => (v?.toFixed && /amount|price|id$|product/.test(k) ? '' + +v.toFixed(4) : v);

/** One request, never retried: a beacon, or fetch with keepalive where beacons are refused. */
export const send = (body: Ev | Ev[]) => {
  const b = new Blob([JSON.stringify(body, wire)], { type: 'text/plain' });
  nav.sendBeacon(api, b) || fetch(api, { method: 'POST', body: b, keepalive: true }).catch(() => {});
};

/**
 * Options to event fields: props, revenue, currency, order_id and items pass as they are (the collector
 * rejects unknown or invalid fields, as the wire format says); query, results, position and
 * product go into `search`.
 */
const fields = ({ query, results, position, product, ...o }: Opts = {}): Partial<Ev> => ({
  ...(o as Partial<Ev>),
  search:
    query || position ? { query: trimQuery(query), results, position, product: product as string } : undefined,
});

/** The public API: larder('event', name, opts) or larder(helper, opts). */
const larder: LarderFn = (cmd, a, b) => {
  try {
    const custom = cmd == 'event';
    const name = (custom ? a : cmd) as string;
    const f = fields((custom ? b : a) as Opts);
    if (cmd == 'search') query = f.search!.query;
    if (name) send(ev(name, f));
  } catch (e) {
    // never throw into the page
  }
};
larder.v = 1;

/** Sends the site-search event once the result-count element is there (waits up to 2 s). */
const search = (q: string, tries: number) => {
  const sel = attr('search-results');
  const items = attr('search-result-item');
  const el = sel && d.querySelector(sel);
  if (sel && !el && tries < 8) return void setTimeout(search, 250, q, tries + 1); // cannot throw: the selector worked before
  const n = el && ((el as HTMLElement).dataset.count ?? el.textContent!).match(/\d[\d,. ]*/);
  send(
    ev('search', {
      // No count element: count the result items; none either is "unknown" (null), not a
      // zero-result search (which needs the count element, showing 0).
      search: { query: q, results: n ? +n[0].replace(/\D/g, '') : (items && d.querySelectorAll(items).length) || null },
    }),
  );
};

const pageview = (force?: 1) => {
  const u = new URL(loc.href);
  const p = new URLSearchParams();
  const param = attr('search-param');
  const allow = (attr('allow-params') || '').split(',');
  u.searchParams.forEach((v, k) => {
    if (/^utm_/.test(k) || k == param || allow.includes(k)) p.append(k, v);
  });
  const q = param && u.searchParams.get(param);
  u.search = '' + p;
  u.hash = '';
  const h = has('hash') ? loc.hash.split('?')[0].slice(0, 256) : '';
  const key = u.href + h;
  if (key == last && !force) return;
  if (last) leave?.();
  page = u.href;
  send(ev('pageview', { referrer: strip(d.referrer) || undefined, props: h ? { hash: h } : undefined }));
  if (!last && (has('404') || d.querySelector('meta[name=larder-404]'))) send(ev('not_found'));
  last = key;
  query = trimQuery(q);
  if (query) search(query, 0);
};

const click = (e: MouseEvent) => {
  if (e.button > 1) return;
  const t = e.target as Element;
  const items = attr('search-result-item');
  const item = items && t.closest(items);
  if (item)
    send(
      ev('search_click', {
        search: {
          query,
          position: [...d.querySelectorAll(items)].indexOf(item) + 1,
          product: (item as HTMLElement).dataset.productId,
        },
      }),
    );
  const a = t.closest('a[href]') as HTMLAnchorElement | null;
  if (a && /^http/.test(a.protocol)) {
    const dl =
      has('downloads') &&
      (a.hasAttribute('download') ||
        /\.(pdf|zip|t?gz|dmg|exe|msi|apk|csv|xlsx?|docx?|pptx?|txt|epub|mp[34])$/i.test(a.pathname));
    if (dl || (has('outbound') && a.hostname != loc.hostname))
      send(ev(dl ? 'file_download' : 'outbound_click', { props: { url: strip(a.href).slice(0, 256) } }));
  }
};

export const start = (plugin?: Plugin) => {
  try {
    const prev = w.larder;
    if (prev && prev.v) return; // loaded twice
    script = d.currentScript as HTMLScriptElement;
    if (
      nav.globalPrivacyControl ||
      nav.doNotTrack == '1' ||
      (!has('allow-localhost') &&
        (/^(localhost|127\.0\.0\.1|\[::1])$/.test(loc.hostname) || loc.protocol == 'file:'))
    ) {
      // Off: swallow queued and later calls, send nothing.
      w.larder = () => {};
      return;
    }
    site = attr('site')!;
    api = new URL(attr('api') || '/api/event', script.src).href;

    pageview();
    const route = safe(() => pageview());
    const H = history as any;
    for (const m of ['pushState', 'replaceState']) {
      const orig = H[m];
      H[m] = function (this: History) {
        orig.apply(this, arguments);
        route();
      };
    }
    // popstate also fires for fragment navigations, so hash routes need no hashchange listener.
    on(w, 'popstate', route);
    // Back/forward from the bfcache shows the page again without reloading it.
    on(w, 'pageshow', (e: PageTransitionEvent) => e.persisted && pageview(1));
    on(d, 'click', click, true);
    on(d, 'auxclick', click, true);
    w.larder = larder;
    for (const args of (prev && prev.q) || []) larder.apply(0, args as any);
    // Last, so that a browser too old for the UX module still has the API and the queue.
    if (plugin && has('ux')) leave = plugin();
  } catch (e) {
    // never throw into the page
  }
};
