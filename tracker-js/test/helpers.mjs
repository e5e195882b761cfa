// Test helper: a static server for the demo storefront and the built script, the place the
// beacons go, a recorder of what the browser actually sent, and a headless Chromium.
//
// Where the beacons go:
// - LARDER_URL unset: this server's own POST /api/event records every request (headers + raw
//   body), validates it with wire.mjs as the collector would and answers like it (202, or the
//   collector's error statuses). A stand-in until the Larder collector runs in the tests.
// - LARDER_URL=http://127.0.0.1:8080: every page's script tag gets
//   data-api="${LARDER_URL}/api/event", so the browser posts to the real collector. The browser's
//   network events do not show beacon bodies (nor, at all, the beacons sent while a page
//   unloads), so an init script tees each body the tracker hands to sendBeacon/fetch for the
//   collector: after the real call, it sends the same body to this server's POST /__sent,
//   which records it. The collector's answers are read from the browser's network events
//   (every one that is visible must be 202). Nothing is intercepted or mocked either way.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { validateRequest } from './wire.mjs';

export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ARTIFACTS = path.resolve(ROOT, '..', 'test-artifacts', 'storefront');
export const LARDER_URL = (process.env.LARDER_URL || '').replace(/\/+$/, '');
export const SITE = 'demo.larder.test';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Page variants, chosen by a path prefix (`/v/NAME/demo/...`), applied to the script tag:
 * nolocal drops data-allow-localhost, core serves larder.core.js, hash adds data-hash,
 * noux drops data-ux.
 */
const VARIANTS = {
  nolocal: (h) => h.replace(/ data-allow-localhost/g, ''),
  core: (h) => h.replace(/src="\/larder\.js"/g, 'src="/larder.core.js"'),
  hash: (h) => h.replace(/ data-site=/g, ' data-hash data-site='),
  noux: (h) => h.replace(/ data-ux(?=[ >])/g, ''),
};

function rewrite(html, variant) {
  let h = html;
  if (variant) h = VARIANTS[variant](h);
  if (LARDER_URL) {
    h = h.replace(/(<script defer src="\/larder(?:\.core)?\.js")/g, `$1 data-api="${LARDER_URL}/api/event"`);
    h = h.replace(/%LARDER_API%/g, `${LARDER_URL}/api/event`);
  }
  return h;
}

/** Starts the static server (+ recording endpoint) on 127.0.0.1, a free port unless given. */
export async function startServer({ port: wanted = 0 } = {}) {
  const received = []; // requests to this server's /api/event
  const teed = []; // LARDER_URL mode: copies of what the tracker sent to the collector
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/api/event') return api(req, res, received);
      if (url.pathname === '/__sent') return api(req, res, teed);
      let p = decodeURIComponent(url.pathname);
      let variant;
      const m = p.match(/^\/v\/([a-z]+)(\/.*)$/);
      if (m && VARIANTS[m[1]]) [, variant, p] = m;
      let file;
      if (p === '/larder.js' || p === '/larder.core.js') file = path.join(ROOT, 'dist', p);
      else if (p === '/demo' || p === '/demo/') file = path.join(ROOT, 'demo', 'index.html');
      else if (p.startsWith('/demo/')) file = path.join(ROOT, 'demo', p.slice(6));
      else if (p.startsWith('/fixtures/')) file = path.join(ROOT, 'test', 'fixtures', p.slice(10));
      const inside = file && !path.relative(ROOT, file).startsWith('..') && !p.includes('..');
      let body;
      let status = 200;
      if (inside) body = await readFile(file).catch(() => null);
      if (!body && p.startsWith('/demo/')) {
        file = path.join(ROOT, 'demo', '404.html');
        body = await readFile(file);
        status = 404;
      }
      if (!body) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return;
      }
      const ext = path.extname(file);
      if (ext === '.html') body = rewrite(body.toString('utf8'), variant);
      res.writeHead(status, { 'Content-Type': TYPES[ext] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(e));
    }
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(wanted, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    received,
    teed,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function api(req, res, received) {
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const verdict = validateRequest(req.headers['content-type'], body);
    received.push({ headers: req.headers, body, status: verdict.status, error: verdict.error, at: Date.now() });
    res.writeHead(verdict.status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(verdict.status === 202 ? { accepted: verdict.accepted } : { error: verdict.error }));
  });
}

/** Launches the system Chromium. Never downloads a browser. */
export async function launch() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (Debian), or set CHROMIUM=/path/to/chromium`);
  }
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Belt and braces: no name resolves except loopback, so a link to an outside site in the
      // demo can never produce traffic off this machine.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ],
  });
}

/**
 * One test's world: a server, a browser context and a recorder of what the browser sent.
 * `init` scripts run before every page's own scripts.
 */
export async function setup(browser, { init = [], contextOptions = {} } = {}) {
  const server = await startServer();
  // A regular desktop Chrome user agent: a real collector drops "HeadlessChrome" as a bot.
  const major = browser.version().split('.')[0];
  const context = await browser.newContext({
    userAgent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`,
    viewport: { width: 1024, height: 700 },
    ...contextOptions,
  });
  // Records every Storage / cookie / IndexedDB access, with the calling script's stack.
  await context.addInitScript(() => {
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
  });
  if (LARDER_URL) await context.addInitScript(tee, `${LARDER_URL}/api/event`);
  for (const s of init) await context.addInitScript(s);

  const recorder = new Recorder(server, context);
  const pageErrors = [];
  context.on('page', (p) => p.on('pageerror', (e) => pageErrors.push(e)));

  const base = `${server.origin}/demo/`;
  return {
    server,
    context,
    recorder,
    pageErrors,
    base,
    apiUrl: LARDER_URL ? `${LARDER_URL}/api/event` : `${server.origin}/api/event`,
    async page() {
      const p = await context.newPage();
      return p;
    },
    async close() {
      await context.close().catch(() => {});
      await server.close();
    },
  };
}

/**
 * LARDER_URL mode, in the page: after each real sendBeacon/fetch to the collector, send the
 * same body to this test server (/__sent, same origin as the page). A beacon, so that it also
 * leaves a page that is unloading.
 */
function tee(api) {
  const beacon = Navigator.prototype.sendBeacon;
  const copy = (body) => {
    try {
      beacon.call(navigator, '/__sent', body);
    } catch {
      // instrumentation only
    }
  };
  Navigator.prototype.sendBeacon = function (url, body) {
    const queued = beacon.call(this, url, body);
    if (queued && String(url) === api) copy(body);
    return queued;
  };
  const f = window.fetch;
  window.fetch = function (input, init) {
    const p = f.call(this, input, init);
    if (String(input) === api && init && init.body != null) copy(init.body);
    return p;
  };
}

/** What the browser sent to the events endpoint: raw bodies, statuses, parsed events. */
export class Recorder {
  constructor(server, context) {
    this.server = server;
    this.browserSeen = []; // every request the pages made (url, method)
    this.collectorStatuses = []; // LARDER_URL mode: the collector's answers the browser saw
    context.on('request', (r) => this.browserSeen.push({ url: r.url(), method: r.method() }));
    if (LARDER_URL) {
      context.on('response', (r) => {
        if (r.url() === `${LARDER_URL}/api/event`) this.collectorStatuses.push(r.status());
      });
    }
  }

  /**
   * Every request body sent to the events endpoint, in arrival order: as this server's
   * endpoint received them, or (LARDER_URL) as teed from the page.
   */
  get requests() {
    return LARDER_URL ? this.server.teed : this.server.received;
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

/**
 * What every test checks at its end, whatever it did:
 * - every request body is valid by the wire format, and the endpoint answered 202;
 * - every event is for the demo site, and its URL has no fragment and no query key other than
 *   utm_* and the allow-listed ones;
 * - the pages made no request to any other host than the shop and the collector;
 * - nothing the tracker did threw into the page.
 */
export function checkAll(env, { allowParams = ['q'] } = {}) {
  const { recorder } = env;
  recorder.requests.forEach((r, i) => {
    const v = validateRequest(r.headers['content-type'], r.body);
    assert.equal(v.status, 202, `request ${i} is invalid by the wire format: ${JSON.stringify(v.error)}\n${r.body}`);
    assert.equal(r.headers.cookie, undefined, `request ${i} carried cookies`);
  });
  for (const s of recorder.collectorStatuses) assert.equal(s, 202, `the collector at ${LARDER_URL} answered ${s}`);
  for (const e of recorder.events()) {
    assert.equal(e.site, SITE);
    const u = new URL(e.url);
    assert.equal(u.hash, '', `fragment sent: ${e.url}`);
    for (const k of u.searchParams.keys()) {
      assert.ok(/^utm_/.test(k) || allowParams.includes(k), `query key ${k} was sent: ${e.url}`);
    }
    if (e.referrer) assert.ok(!/[?#]/.test(e.referrer), `referrer with query or fragment: ${e.referrer}`);
  }
  const allowed = [env.server.origin, 'http://localhost:' + env.server.port, LARDER_URL].filter(Boolean);
  for (const r of recorder.browserSeen) {
    if (!/^(https?|wss?):/.test(r.url)) continue; // data:, blob:, the PDF viewer's chrome:// parts
    assert.ok(allowed.some((o) => r.url.startsWith(o + '/')), `request to an unexpected place: ${r.method} ${r.url}`);
  }
  for (const err of env.pageErrors) {
    assert.ok(!/\/larder(\.core)?\.js/.test(err.stack || ''), `the tracker threw into the page: ${err.stack}`);
  }
}

/** Runs `fn(env)` in a fresh world, then the common checks; always cleans up. */
export async function withEnv(browser, opts, fn) {
  const env = await setup(browser, opts);
  try {
    await fn(env);
    await env.recorder.settle(150);
    checkAll(env, opts);
  } finally {
    await env.close();
  }
}
