// Larder tracker, UX signals (full build only, opt-in with data-ux): scroll depth and engaged
// time, rage clicks, dead clicks, JS errors and Core Web Vitals. These events are queued and
// sent together when the page is hidden or left (one request), each with its `age_ms`.
import type { Ev, Ux } from './types';
import { ev, on, page, safe, send, strip } from './core';

const w = window;
const d = document;
const now = () => performance.now();

/** At most `n` bytes of UTF-8. */
const cut = (s: string, n: number) => {
  s = s.slice(0, n);
  while (new Blob([s]).size > n) s = s.slice(0, -1);
  return s;
};

/** A short CSS selector: tag + id, or tag + up to 2 classes; at most 3 levels. Never text or other attributes. */
export const selector = (e: Element | null) => {
  const parts: string[] = [];
  for (let i = 0; e && e != d.documentElement && i < 3; i++, e = e.parentElement) {
    if (e.id) {
      parts.unshift(e.localName + '#' + e.id);
      break;
    }
    parts.unshift(e.localName + [...e.classList].slice(0, 2).map((c) => '.' + c).join(''));
  }
  return cut(parts.join(' > '), 256);
};

export const ux = () => {
  const queue: Ev[] = [];
  const times: number[] = [];
  const flush = () => {
    const t = now();
    if (queue.length) send(queue.map((e, i) => ({ ...e, age_ms: Math.min(Math.round(t - times[i]), 18e5) })));
    queue.length = times.length = 0;
  };
  const push = (name: string, x: Ux, url?: string) => {
    const t = now();
    queue.push(ev(name, url ? { url, ux: x } : { ux: x }));
    times.push(t);
    // Keep requests small and events fresh; otherwise wait for the page to be hidden.
    if (queue.length > 9 || t - times[0] > 6e4) flush();
  };

  // --- scroll depth and engaged (visible) time, per page or SPA route
  let depth = 0;
  let engaged = 0;
  let since = d.visibilityState == 'visible' ? 0 : -1;
  const scroll = () => {
    const h = d.documentElement.scrollHeight;
    const v = innerHeight;
    depth = Math.max(depth, h <= v ? 100 : Math.min(100, Math.round(((scrollY + v) / h) * 100)));
  };
  const engagement = () => {
    const t = now();
    if (since >= 0) {
      engaged += t - since;
      since = t;
    }
    scroll();
    if (engaged >= 1) push('engagement', { scroll_depth: depth, engaged_ms: Math.min(Math.round(engaged), 864e5) });
    engaged = 0;
  };

  // --- dead clicks: nothing changed within 2.5 s of a click
  let timer: number | undefined;
  const idle = () => {
    clearTimeout(timer);
    observer.disconnect();
  };
  const observer = new MutationObserver(idle);

  // --- rage clicks: >= 3 clicks within 1 s, within 30 px of each other
  let clicks: number[][] = [];
  let raged = 0;

  on(
    d,
    'click',
    (e: MouseEvent) => {
      const t = e.target as Element;
      const el = t.closest('a,button,[role=button],input,select,textarea,label,summary') || t;
      const x = e.clientX;
      const y = e.clientY;
      const ts = e.timeStamp;
      clicks = clicks.filter((c) => ts - c[0] < 1e3 && Math.abs(c[1] - x) < 30 && Math.abs(c[2] - y) < 30);
      clicks.push([ts, x, y]);
      if (clicks.length < 2) raged = 0;
      else if (clicks.length > 2 && !raged) {
        raged = 1;
        push('rage_click', { selector: selector(el) });
      }

      idle();
      // Not dead-click candidates: the page background, form fields, media and embedded apps
      // (they react without touching the DOM), links that open elsewhere.
      if (
        el == d.body ||
        el == d.documentElement ||
        el.closest(
          'input,select,textarea,label,option,[contenteditable],video,audio,canvas,iframe,embed,object,a[target=_blank],a[download],a[href^=mailto],a[href^=tel]',
        )
      )
        return;
      const sel = '' + getSelection();
      const focus = d.activeElement;
      observer.observe(d, { subtree: true, childList: true, attributes: true, characterData: true });
      timer = setTimeout(
        safe(() => {
          idle();
          if ('' + getSelection() == sel && d.activeElement == focus) push('dead_click', { selector: selector(el) });
        }),
        2500,
      );
    },
    true,
  );
  on(w, 'scroll', () => (idle(), scroll()), { passive: true });
  on(d, 'selectionchange', () => '' + getSelection() && idle());
  on(w, 'hashchange', idle);
  on(w, 'popstate', idle);

  // --- JS errors: message, source (no query/fragment), line; deduplicated, at most 10 per page load
  const seen: Record<string, 1> = {};
  let errors = 0;
  const error = (message: string, source?: string, line?: number) => {
    const key = message + source + line;
    if (seen[key] || errors > 9) return;
    seen[key] = 1;
    errors++;
    push('js_error', {
      error: {
        message: cut(message.replace(/[^\s@]+@[^\s@]+\.\w+/g, '[email]'), 500) || 'error',
        source: source ? cut(strip(source), 2048) : undefined,
        line,
      },
    });
  };
  on(w, 'error', (e: ErrorEvent) => e.message && error(e.message, e.filename, e.lineno));
  on(w, 'unhandledrejection', (e: PromiseRejectionEvent) => error('Uncaught (in promise) ' + e.reason));

  // --- Core Web Vitals, each sent once when the page is first hidden
  const vitals: Record<string, number> = {};
  const url = page;
  const observe = (type: string, f: (e: any) => unknown, o?: object) => {
    if (PerformanceObserver.supportedEntryTypes.includes(type)) {
      new PerformanceObserver((l) => l.getEntries().forEach(safe(f))).observe({ type, buffered: true, ...o });
      return 1;
    }
  };
  observe('largest-contentful-paint', (e) => (vitals.LCP = e.startTime));
  observe('paint', (e) => e.name == 'first-contentful-paint' && (vitals.FCP = e.startTime));
  // CLS: the largest session window (shifts < 1 s apart, window <= 5 s).
  let win = 0;
  let first = 0;
  let prev = 0;
  if (
    observe('layout-shift', (e) => {
      if (e.hadRecentInput) return;
      if (e.startTime - prev > 1e3 || e.startTime - first > 5e3) {
        first = e.startTime;
        win = 0;
      }
      prev = e.startTime;
      win += e.value;
      vitals.CLS = Math.max(vitals.CLS || 0, win);
    })
  )
    vitals.CLS = vitals.CLS || 0;
  // INP: the longest interaction, or the 98th percentile on pages with many interactions.
  const inter: Record<number, number> = {};
  const interaction = (e: any) => e.interactionId && (inter[e.interactionId] = Math.max(inter[e.interactionId] || 0, e.duration));
  observe('event', interaction, { durationThreshold: 16 });
  observe('first-input', interaction);
  let reported = 0;
  const report = () => {
    if (reported) return;
    reported = 1;
    const nav = performance.getEntriesByType('navigation')[0] as any;
    if (nav) vitals.TTFB = Math.max(0, nav.responseStart - (nav.activationStart || 0));
    const ds = Object.values(inter).sort((a, b) => b - a);
    if (ds.length) vitals.INP = ds[Math.min(ds.length - 1, (ds.length / 50) | 0)];
    for (const name in vitals) {
      const v = vitals[name];
      if (v >= 0 && v < 1e9)
        push('web_vital', { vital: { name: name as 'LCP', value: Math.round(v * (name == 'CLS' ? 1e4 : 10)) / (name == 'CLS' ? 1e4 : 10) } }, url);
    }
  };

  // --- the page is hidden or left: everything goes out in one request
  const hide = () => {
    idle();
    engagement();
    since = -1;
    report();
    flush();
  };
  on(d, 'visibilitychange', () => (d.visibilityState == 'hidden' ? hide() : (since = now())));
  on(w, 'pagehide', hide);
  on(w, 'pageshow', (e: PageTransitionEvent) => e.persisted && (since = now()));

  // An SPA route is left: close that page's engagement (sent with the next batch).
  return () => {
    idle();
    engagement();
    depth = 0;
  };
};
