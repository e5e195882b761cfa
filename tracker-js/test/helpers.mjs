// Test helper: a real Larder (`larder serve --demo` on a fresh data directory, see larder.mjs)
// per test file, a headless Chromium context per test that loads the demo storefront and
// /larder.js from it, a recorder of what the browser sent, and at the end of each test a check
// of what landed in ClickHouse. Nothing is intercepted or mocked: the beacons go to Larder's
// POST /api/event.
//
// Isolation: each test loads the shop from a host of its own, `tN.localhost` (Chromium's host
// resolver maps *.localhost to 127.0.0.1, and it is a secure context like a real https shop), so
// its events are the rows with that `hostname`. A test that needs a Larder to itself (another
// tracker build, or pages on localhost / 127.0.0.1) gets one, on a fresh data directory too.
//
// What the browser sent: the browser's network events do not show beacon bodies (nor, at all,
// the beacons sent while a page unloads), so an init script tees each body the tracker hands to
// sendBeacon/fetch for the collector: after the real call, it sends the same body to a small
// recorder in this process (a CORS-simple beacon, so it also leaves an unloading page). The
// collector's answers are read from the browser's network events (every one seen must be 202).
//
// What landed: `larder sql` through the running server. At the end of every test, every event
// the browser sent must be in the `events` table exactly once, field for field as sent (after
// the collector's documented normalisation), and nothing else; or, for the tests where the
// visitor must not be tracked, nothing at all.
import http from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { after } from 'node:test';
import { validateRequest } from './wire.mjs';
import { ROOT, SITE, startLarder, poll, chromeUA } from './larder.mjs';

export { ROOT, SITE, poll };

// This test file's Larder: started now (while the browser launches), stopped when the file is done.
let shared;
const sharedLarder = () => (shared ??= startLarder());
sharedLarder().catch(() => {}); // reported by the first test that needs it
after(async () => {
  const larder = await shared?.catch(() => null);
  await larder?.dispose();
});
let hosts = 0;
export const ARTIFACTS = path.resolve(ROOT, '..', 'test-artifacts', 'storefront');
const FIREFOX_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

/** The user agent of the tests' browser: a regular desktop Chrome of the installed version. */
let userAgent;

/** Launches the system Chromium. Never downloads a browser. */
export async function launch() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (Debian), or set CHROMIUM=/path/to/chromium`);
  }
  const major = (execFileSync(executablePath, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).match(/(\d+)\.\d+/) || [, '140'])[1];
  userAgent = chromeUA(major);
  return chromium.launch({
    executablePath,
    args: [
      // Larder drops "HeadlessChrome" as a bot. A context's user agent does not reach the
      // beacons a page sends while it unloads (the browser sends those on its own), so the
      // browser itself gets a regular desktop Chrome one.
      `--user-agent=${userAgent}`,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Belt and braces: no name resolves except loopback, so a link to an outside site in the
      // demo can never produce traffic off this machine.
      // *.localhost is loopback: each test's shop host (see the top of this file).
      '--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ],
  });
}

/** The recorder of teed beacon bodies: POST /sent on 127.0.0.1, a free port. */
async function startRecorder() {
  const sent = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method !== 'POST' || url.pathname !== '/sent') {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const doc = url.searchParams.get('doc');
      const seq = Number(url.searchParams.get('seq'));
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), doc, seq };
      // Separate beacons may arrive out of order: keep each page's in the order it sent them.
      let i = sent.length;
      while (i > 0 && sent[i - 1].doc === doc && sent[i - 1].seq > seq) i--;
      sent.splice(i, 0, r);
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, sent, close: () => new Promise((resolve) => server.close(resolve)) };
}

/**
 * In the page: after each real sendBeacon/fetch to an events endpoint, beacon the same body to
 * the recorder, numbered so that the recorder keeps a page's bodies in the order they were sent.
 */
function tee(recorderUrl) {
  const beacon = Navigator.prototype.sendBeacon;
  const doc = Math.random().toString(36).slice(2);
  let seq = 0;
  const isApi = (u) => {
    try {
      return new URL(String(u), location.href).pathname === '/api/event';
    } catch {
      return false;
    }
  };
  const copy = (body) => {
    try {
      beacon.call(navigator, `${recorderUrl}?doc=${doc}&seq=${seq++}`, body);
    } catch {
      // instrumentation only
    }
  };
  Navigator.prototype.sendBeacon = function (url, body) {
    const queued = beacon.call(this, url, body);
    if (queued && isApi(url)) copy(body);
    return queued;
  };
  const f = window.fetch;
  window.fetch = function (input, init) {
    const p = f.call(this, input, init);
    if (isApi(input) && init && init.body != null) copy(init.body);
    return p;
  };
}

/** In the page: records every Storage / cookie / IndexedDB access, with the calling script's stack. */
function watchStorage() {
  const calls = [];
  Object.defineProperty(window, '__storageCalls', { value: calls });
  const note = (what) => calls.push({ what, stack: new Error().stack });
  for (const m of ['getItem', 'setItem', 'removeItem', 'clear', 'key']) {
    const orig = Storage.prototype[m];
    Storage.prototype[m] = function (...a) {
      note(`Storage.${m}`);
      return orig.apply(this, a);
    };
  }
  for (const store of ['localStorage', 'sessionStorage']) {
    const d = Object.getOwnPropertyDescriptor(window, store);
    if (d && d.get) Object.defineProperty(window, store, { ...d, get() { note(store); return d.get.call(this); } });
  }
  const c = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  Object.defineProperty(Document.prototype, 'cookie', {
    configurable: true,
    get() { note('cookie.get'); return c.get.call(this); },
    set(v) { note('cookie.set'); c.set.call(this, v); },
  });
  const idb = Object.getOwnPropertyDescriptor(window, 'indexedDB');
  if (idb && idb.get) Object.defineProperty(window, 'indexedDB', { ...idb, get() { note('indexedDB'); return idb.get.call(this); } });
}

/**
 * In the page: the tag as a store owner would have configured it. Applies `changes` (attribute
 * name → value, or null to remove it) to the demo's `<script data-site>` tag as soon as the
 * parser has inserted it; the deferred script only runs after the whole page is parsed, and it
 * reads its attributes when it runs.
 */
function configureTag(changes) {
  new MutationObserver((_, observer) => {
    const tag = document.querySelector('script[data-site]');
    if (!tag) return;
    observer.disconnect();
    for (const [k, v] of Object.entries(changes)) {
      if (v == null) tag.removeAttribute(k);
      else tag.setAttribute(k, v);
    }
  }).observe(document, { childList: true, subtree: true });
}

/** Tag variants the tests use (see configureTag). */
export const TAG = {
  nolocal: { 'data-allow-localhost': null },
  hash: { 'data-hash': '' },
  noux: { 'data-ux': null },
};

const isApi = (url) => {
  try {
    return new URL(url).pathname === '/api/event';
  } catch {
    return false;
  }
};

/**
 * One test's world: a Larder and the shop host, a browser context (more with `env.newContext`),
 * a recorder of what the browser sent. Options:
 * - `init`: scripts run before every page's own scripts; `tag`: changes to the script tag;
 * - `contextOptions`: for the browser context (the user agent is a normal Chrome one);
 * - `own`: a Larder of its own, the shop on 127.0.0.1 (implied by the next two);
 * - `script`: the build Larder serves at /larder.js (`larder.core.js` for the core build);
 * - `larderEnv`: environment overrides for Larder.
 */
export async function setup(browser, { init = [], tag, contextOptions = {}, own, script, larderEnv } = {}) {
  own = Boolean(own || script || larderEnv);
  const start = own ? startLarder({ ...(script && { script }), ...(larderEnv && { env: larderEnv }) }) : sharedLarder();
  const [larder, rec] = await Promise.all([start, startRecorder()]);
  const logMark = larder.logMark();
  const host = own ? '127.0.0.1' : `t${++hosts}.localhost`;
  const origin = `http://${host}:${larder.port}`;
  // This test's rows: all of its own Larder's, or those of its host.
  const scope = own ? '1' : `hostname = '${host}'`;
  const recorder = new Recorder(rec);
  const pageErrors = [];
  const contexts = [];

  async function newContext({ init: more = [], tag: tagChanges, contextOptions: extra = {} } = {}) {
    const context = await browser.newContext({
      userAgent: userAgent || chromeUA(browser.version().split('.')[0]),
      viewport: { width: 1024, height: 700 },
      ...contextOptions,
      ...extra,
    });
    await context.addInitScript(watchStorage);
    await context.addInitScript(tee, `${rec.origin}/sent`);
    if (tagChanges) await context.addInitScript(configureTag, tagChanges);
    for (const s of more) await context.addInitScript(s);
    recorder.watch(context);
    context.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(e)));
    contexts.push(context);
    return context;
  }

  const context = await newContext({ init, tag });
  return {
    larder,
    own,
    host,
    scope,
    /** The shop's origin as the browser sees it (node reaches Larder at larder.origin). */
    origin,
    port: larder.port,
    base: `${origin}/demo/`,
    apiUrl: `${origin}/api/event`,
    recorderOrigin: rec.origin,
    /** What Larder logged during this test. */
    log: () => larder.logSince(logMark),
    context,
    contexts,
    newContext,
    recorder,
    pageErrors,
    page: () => context.newPage(),
    /** The rows that landed (see ROWS), without the test's barrier events. */
    rows: (where = '1') => larder.sql(`${ROWS} WHERE name != '${BARRIER}' AND ${scope} AND (${where})`),
    /** Polls (bounded) until at least `n` rows match `where`; returns them. */
    async waitRows(where = '1', { n = 1, timeout = 10_000 } = {}) {
      let rows = [];
      await poll(async () => (rows = await this.rows(where)).length >= n, {
        timeout,
        what: () => `${n} stored event(s) where ${where} (have ${rows.length})`,
      });
      return rows;
    },
    async close() {
      await Promise.all(contexts.map((c) => c.close().catch(() => {})));
      await rec.close();
      // A Larder of its own stops in the background (it flushes first) while the next test runs;
      // the test process waits for it to exit before it ends.
      if (own) larder.dispose().catch((e) => console.error(`stopping Larder: ${e.message}`));
    },
  };
}

/** What the browser sent to the events endpoint: raw bodies, statuses, parsed events. */
export class Recorder {
  constructor(rec) {
    this.rec = rec;
    this.browserSeen = []; // every request the pages made: url, method, headers
    this.collectorResponses = []; // the collector's answers the browser saw: url, status, body
  }

  watch(context) {
    context.on('request', (r) => this.browserSeen.push({ url: r.url(), method: r.method(), headers: r.headers() }));
    context.on('response', async (r) => {
      if (!isApi(r.url())) return;
      const entry = { url: r.url(), status: r.status() };
      this.collectorResponses.push(entry);
      if (r.status() !== 202) entry.body = await r.text().catch(() => '(body not available)');
    });
  }

  /**
   * Every request body the tracker sent to the events endpoint (the teed copies): in the order
   * each page sent them, pages in the order their bodies arrived.
   */
  get requests() {
    return this.rec.sent;
  }

  /** Every event sent, flattened out of batches, each with `_req` (its request's index). */
  events() {
    const out = [];
    this.requests.forEach((r, i) => {
      let v;
      try {
        v = JSON.parse(r.body);
      } catch {
        return;
      }
      for (const e of Array.isArray(v) ? v : [v]) out.push(Object.defineProperty({ ...e }, '_req', { value: i }));
    });
    return out;
  }

  named(name) {
    return this.events().filter((e) => e.name === name);
  }

  /** Polls until `pred(events)` is truthy; returns its value. */
  async waitFor(pred, { timeout = 5000, what = 'events' } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = pred(this.events());
      if (v) return v;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${what}; got: ${JSON.stringify(this.events().map((e) => e.name))}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for at least `n` events named `name`; returns them. */
  async waitForEvent(name, { n = 1, timeout = 5000, where = () => true } = {}) {
    return this.waitFor(
      (evs) => {
        const m = evs.filter((e) => e.name === name && where(e));
        return m.length >= n ? m : null;
      },
      { timeout, what: `${n} × ${name}` },
    );
  }

  /** Waits until nothing new has arrived for `quiet` ms. */
  async settle(quiet = 400) {
    let n = -1;
    while (n !== this.requests.length) {
      n = this.requests.length;
      await new Promise((r) => setTimeout(r, quiet));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What landed in ClickHouse

/** The columns the tests read, one row per stored event. */
export const ROWS = `SELECT name, hostname, pathname, referrer_host, referrer_source, referrer_medium,
  search_query, search_results, search_position, search_product,
  items.product_id AS item_ids, items.name AS item_names, items.category AS item_categories,
  items.quantity AS item_quantities, arrayMap(p -> toString(p), items.price) AS item_prices,
  toString(revenue) AS revenue, currency, order_id, props.key AS prop_keys, props.value AS prop_values,
  selector, scroll_depth, engaged_ms, vital_name, vital_value, error_message, error_source, error_line,
  browser, os, device, toString(visitor_id) AS visitor_id, toString(session_id) AS session_id,
  toString(timestamp) AS timestamp
FROM events`;
const BARRIER = 'test_barrier';

/** The collector's normalisation of a search query (docs/wire-format.md): lower-cased, whitespace collapsed. */
export const normQuery = (q) => (q == null ? '' : String(q).trim().toLowerCase().replace(/\s+/g, ' '));
const num = (v) => (v == null ? null : Number(v));
const round = (v) => (v == null ? null : Math.round(Number(v) * 1e6) / 1e6);

/** An event as sent, reduced to what the `events` table must hold for it. */
export function expectedRow(e) {
  const u = new URL(e.url);
  const items = e.items || [];
  const props = Object.entries(e.props || {})
    .map(([k, v]) => [k, String(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    name: e.name,
    hostname: u.hostname,
    pathname: u.pathname,
    search_query: normQuery(e.search?.query),
    search_results: e.search?.results ?? null,
    search_position: e.search?.position ?? null,
    search_product: e.search?.product ?? '',
    items: items.map((i) => [i.id, i.name ?? '', i.category ?? '', i.quantity ?? 1, num(i.price ?? 0)]),
    revenue: e.revenue ? num(e.revenue.amount) : null,
    currency: String(e.revenue?.currency ?? e.currency ?? '').trim().toUpperCase(),
    order_id: e.order_id ?? '',
    props,
    selector: e.ux?.selector ?? '',
    scroll_depth: e.ux?.scroll_depth ?? null,
    engaged_ms: e.ux?.engaged_ms ?? null,
    vital: e.ux?.vital ? [e.ux.vital.name.toUpperCase(), round(e.ux.vital.value)] : null,
    error: e.ux?.error ? [e.ux.error.message, e.ux.error.source ?? '', e.ux.error.line ?? 0] : null,
  };
}

/** A stored row, in the shape of expectedRow. */
export function landedRow(r) {
  return {
    name: r.name,
    hostname: r.hostname,
    pathname: r.pathname,
    search_query: r.search_query,
    search_results: r.search_results,
    search_position: r.search_position,
    search_product: r.search_product,
    items: r.item_ids.map((id, i) => [id, r.item_names[i], r.item_categories[i], r.item_quantities[i], num(r.item_prices[i])]),
    revenue: num(r.revenue),
    currency: r.currency,
    order_id: r.order_id,
    props: r.prop_keys.map((k, i) => [k, r.prop_values[i]]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    selector: r.selector,
    scroll_depth: r.scroll_depth,
    engaged_ms: r.engaged_ms,
    vital: r.vital_name ? [r.vital_name, round(r.vital_value)] : null,
    error: r.error_message ? [r.error_message, r.error_source, r.error_line ?? 0] : null,
  };
}

const sortedJson = (rows) => rows.map((r) => JSON.stringify(r)).sort();

/**
 * Waits (bounded) until what landed matches what the browser sent, then asserts: every sent
 * event is stored exactly once with its fields, and nothing else is stored; with `landed: false`,
 * nothing at all is stored. To know that nothing more is on its way, it first posts a barrier
 * event (from this process, as another visitor) and waits for it too: what the collector accepted
 * before the barrier has been flushed to ClickHouse by the time the barrier is there. Returns the
 * stored rows (raw).
 */
export async function checkLanded(env, { landed = true, timeout = 10_000 } = {}) {
  const res = await fetch(`${env.larder.origin}/api/event`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain', 'User-Agent': FIREFOX_UA },
    body: JSON.stringify({ site: SITE, name: BARRIER, url: `${env.origin}/__barrier` }),
  });
  assert.equal(res.status, 202, `the barrier event was refused: ${await res.text()}`);
  const want = sortedJson(landed ? env.recorder.events().map(expectedRow) : []);
  const covered = (got) => {
    const left = [...got];
    return want.every((w) => {
      const i = left.indexOf(w);
      if (i < 0) return false;
      left.splice(i, 1);
      return true;
    });
  };
  let rows = [];
  let barrier = false;
  await poll(
    async () => {
      const all = await env.larder.sql(`${ROWS} WHERE ${env.scope}`);
      barrier = all.some((r) => r.name === BARRIER);
      rows = all.filter((r) => r.name !== BARRIER);
      return barrier && covered(sortedJson(rows.map(landedRow)));
    },
    { timeout, every: 50, what: () => `the events sent to land (${want.length} sent, ${rows.length} stored, barrier ${barrier ? '' : 'not '}stored)` },
  ).catch((e) => {
    assert.deepEqual(sortedJson(rows.map(landedRow)), want, e.message);
    throw e;
  });
  assert.deepEqual(sortedJson(rows.map(landedRow)), want, 'stored events = sent events, each exactly once');
  return rows;
}

/**
 * Every Storage / cookie / IndexedDB access the page made so far (the demo makes none, so any is
 * the tracker's), then localStorage and sessionStorage sizes.
 */
export async function storageReport(page) {
  return page.evaluate(() => {
    const calls = window.__storageCalls.map((c) => ({ what: c.what, stack: c.stack }));
    return { calls, lengths: [localStorage.length, sessionStorage.length] };
  });
}

export function ensureArtifacts() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Clicks the centre of `selector` n times, `gap` ms apart, with the mouse (real coordinates). */
export async function clickTimes(page, selector, n, gap = 80) {
  const box = await page.locator(selector).boundingBox();
  for (let i = 0; i < n; i++) {
    await page.mouse.click(box.x + box.width / 2 + (i % 2) * 4, box.y + box.height / 2);
    if (gap) await sleep(gap);
  }
}

/**
 * What every test checks at its end, whatever it did:
 * - every request body is valid by the wire format, and every collector answer seen is 202;
 * - every event is for the demo site, and its URL has no fragment and no query key other than
 *   utm_* and the allow-listed ones;
 * - the pages made no request to any other host than Larder (and the test's recorder);
 * - no cookie exists in the browser; nothing the tracker did threw into the page;
 * - Larder logged no error;
 * - what landed in ClickHouse is exactly what was sent (or nothing, with `landed: false`).
 */
export async function checkAll(env, { allowParams = ['q'], landed = true } = {}) {
  const { recorder } = env;
  recorder.requests.forEach((r, i) => {
    const v = validateRequest(r.headers['content-type'], r.body);
    assert.equal(v.status, 202, `request ${i} is invalid by the wire format: ${JSON.stringify(v.error)}\n${r.body}`);
  });
  for (const r of recorder.collectorResponses) {
    assert.equal(r.status, 202, `Larder answered ${r.status} ${r.body ?? ''} at ${r.url}`);
  }
  for (const r of recorder.browserSeen.filter((x) => isApi(x.url))) {
    assert.equal(r.method, 'POST');
    assert.equal(r.headers.cookie, undefined, `a request to the collector carried cookies: ${r.url}`);
    if (r.headers['content-type']) assert.match(r.headers['content-type'], /^text\/plain/, `content type of a beacon: ${r.url}`);
  }
  for (const e of recorder.events()) {
    assert.equal(e.site, SITE);
    const u = new URL(e.url);
    assert.equal(u.hash, '', `fragment sent: ${e.url}`);
    for (const k of u.searchParams.keys()) {
      assert.ok(/^utm_/.test(k) || allowParams.includes(k), `query key ${k} was sent: ${e.url}`);
    }
    if (e.referrer) assert.ok(!/[?#]/.test(e.referrer), `referrer with query or fragment: ${e.referrer}`);
  }
  const allowed = [env.origin, `http://localhost:${env.port}`, `http://127.0.0.1:${env.port}`, env.recorderOrigin];
  for (const r of recorder.browserSeen) {
    if (!/^(https?|wss?):/.test(r.url)) continue; // data:, blob:, the PDF viewer's chrome:// parts
    assert.ok(allowed.some((o) => r.url.startsWith(o + '/')), `request to an unexpected place: ${r.method} ${r.url}`);
  }
  for (const c of env.contexts) assert.deepEqual(await c.cookies(), [], 'no cookies');
  for (const err of env.pageErrors) {
    assert.ok(!/\/larder(\.core)?\.js/.test(err.stack || ''), `the tracker threw into the page: ${err.stack}`);
  }
  await checkLanded(env, { landed });
  // eslint-disable-next-line no-control-regex
  const errors = env.log().replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => /\bERROR\b/.test(l));
  assert.deepEqual(errors, [], 'Larder logged errors');
}

/** Runs `fn(env)` in a fresh world (its own Larder), then the common checks; always cleans up. */
export async function withEnv(browser, opts, fn) {
  const t0 = Date.now();
  const env = await setup(browser, opts);
  const t1 = Date.now();
  try {
    await fn(env);
    const t2 = Date.now();
    await env.recorder.settle(150);
    await checkAll(env, opts);
    if (process.env.LARDER_TEST_TIMING) {
      console.error(`timing: setup ${t1 - t0} test ${t2 - t1} checks ${Date.now() - t2}${env.log() ? `\nLarder logged:\n${env.log()}` : ''}`);
    }
  } finally {
    await env.close();
  }
}
