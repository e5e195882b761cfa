// The core of the tracker in a real headless Chromium: pageviews and URL hygiene, SPA routes,
// the queued API, privacy switches, the localhost rule, the core-only build.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launch, withEnv, storageReport, sleep, SITE } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('core', () => {
  it('pageview: fragment and other query keys stripped, utm_* and q kept, referrer without query; no cookies or storage', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}search.html?utm_source=newsletter&secret=s3cr3t&q=green&utm_medium=email&email=a%40b.c#reviews`, {
        referer: 'https://www.google.com/search?q=loose+leaf+tea&client=x',
      });
      const [pv] = await env.recorder.waitForEvent('pageview');
      assert.equal(pv.site, SITE);
      assert.equal(pv.url, `${env.server.origin}/demo/search.html?utm_source=newsletter&q=green&utm_medium=email`);
      assert.equal(pv.referrer, 'https://www.google.com/search');
      assert.deepEqual(Object.keys(pv).sort(), ['name', 'referrer', 'site', 'url']);
      // The pageview goes out on its own, at once, as text/plain (a CORS-simple beacon).
      const req = env.recorder.requests[0];
      assert.match(req.headers['content-type'], /^text\/plain/);
      assert.equal(JSON.parse(req.body).name, 'pageview');

      // Click around a little, then look for traces.
      await page.click('.search-result a');
      await env.recorder.waitForEvent('pageview', { n: 2 });
      assert.deepEqual(await env.context.cookies(), []);
      const st = await storageReport(page);
      assert.deepEqual(st.calls, [], 'no Storage, cookie or IndexedDB access at all');
      assert.deepEqual(st.lengths, [0, 0]);
    });
  });

  it('SPA: pushState gives a pageview; same-URL replaceState, fragment-only and stripped-key changes give none; popstate does', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('pageview');

      await page.evaluate(() => history.pushState({}, '', '/demo/category.html?utm_campaign=spring&sort=price#top'));
      const pvs = await env.recorder.waitForEvent('pageview', { n: 2 });
      assert.equal(pvs[1].url, `${env.server.origin}/demo/category.html?utm_campaign=spring`);

      await page.evaluate(() => history.replaceState({ a: 1 }, '', location.href));
      await page.evaluate(() => history.replaceState({}, '', '/demo/category.html?utm_campaign=spring&sort=name#top'));
      await page.evaluate(() => history.pushState({}, '', '#details'));
      await env.recorder.settle(400);
      assert.equal(env.recorder.named('pageview').length, 2, 'no pageview when the (cleaned) URL did not change');

      await page.evaluate(() => history.go(-2));
      const after = await env.recorder.waitForEvent('pageview', { n: 3 });
      assert.equal(after[2].url, `${env.server.origin}/demo/index.html`);

      // replaceState to a new URL (a redirect inside the app) is a pageview too.
      await page.evaluate(() => history.replaceState({}, '', '/demo/cart.html'));
      const last = await env.recorder.waitForEvent('pageview', { n: 4 });
      assert.equal(last[3].url, `${env.server.origin}/demo/cart.html`);
    });
  });

  it('hash routing is opt-in (data-hash): a pageview per route, the route in props.hash, no fragment in url', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.server.origin}/v/hash/demo/index.html`);
      await env.recorder.waitForEvent('pageview');
      await page.evaluate(() => (location.hash = '#/teas/sencha'));
      const pvs = await env.recorder.waitForEvent('pageview', { n: 2 });
      assert.equal(pvs[1].url, `${env.server.origin}/v/hash/demo/index.html`);
      assert.deepEqual(pvs[1].props, { hash: '#/teas/sencha' });
      // Only the route: a query inside the fragment is not sent, and alone is no new route.
      await page.evaluate(() => (location.hash = '#/teas/sencha?token=abc'));
      await page.evaluate(() => (location.hash = '#/cart'));
      const more = await env.recorder.waitForEvent('pageview', { n: 3 });
      assert.deepEqual(more[2].props, { hash: '#/cart' });
      await env.recorder.settle(300);
      assert.equal(env.recorder.named('pageview').length, 3);

      // Without data-hash, fragment changes are no pageviews.
      const plain = await env.page();
      await plain.goto(`${env.base}category.html`);
      await env.recorder.waitForEvent('pageview', { n: 4 });
      await plain.evaluate(() => (location.hash = '#/somewhere'));
      await env.recorder.settle(400);
      assert.equal(env.recorder.named('pageview').length, 4);
    });
  });

  it('calls queued before the script loads are delivered, after the pageview', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.server.origin}/fixtures/queue.html`);
      await env.recorder.waitForEvent('search');
      const evs = env.recorder.events();
      assert.deepEqual(
        evs.map((e) => e.name),
        ['pageview', 'newsletter_signup', 'add_to_cart', 'search'],
      );
      assert.deepEqual(evs[1].props, { plan: 'gold', logged_in: true, items_in_cart: 3 });
      // A numeric price becomes the decimal string the wire format wants.
      assert.deepEqual(evs[2].items, [{ id: 'p-sencha', name: 'Sencha Green Tea', category: 'Tea', quantity: 2, price: '4.5' }]);
      // 0.1 + 8.8 is 8.900000000000000355… in floating point: sent as '8.9'. The currency is
      // passed as given (the collector wants an upper-case ISO 4217 code).
      assert.deepEqual(evs[2].revenue, { amount: '8.9', currency: 'eur' });
      assert.deepEqual(evs[3].search, { query: '  Green   Tea ', results: 0 });
      assert.equal(await page.evaluate(() => typeof window.larder.q), 'undefined', 'the stub was replaced');
    });
  });

  it('the public API never throws into the page, whatever it is given', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('pageview');
      const thrown = await page.evaluate(() => {
        const bad = [[], ['event'], ['purchase', null], ['event', 'x', 5], [undefined, {}], ['search', 'tea']];
        const out = [];
        for (const a of bad) {
          try {
            window.larder(...a);
          } catch (e) {
            out.push(String(e));
          }
        }
        window.larder('event', 'still_working', { props: { ok: true } });
        return out;
      });
      assert.deepEqual(thrown, []);
      await env.recorder.waitForEvent('still_working');
      // Nameless calls send nothing; nothing else reached the endpoint but valid events (checkAll).
      assert.ok(env.recorder.events().every((e) => typeof e.name === 'string' && e.name));
    });
  });

  it('Global Privacy Control on: nothing is sent, and larder() still works as a no-op', async () => {
    const init = [() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true })];
    await withEnv(browser, { init }, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}product-sencha.html`);
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html/);
      for (let i = 0; i < 4; i++) await page.click('[data-apply-voucher]');
      await page.evaluate(() => window.larder('event', 'x'));
      await page.goto(`${env.base}index.html`);
      await sleep(500);
      assert.equal(env.recorder.requests.length, 0);
      assert.ok(!env.recorder.browserSeen.some((r) => r.method === 'POST'), 'no POST at all');
    });
  });

  it('Do Not Track on: nothing is sent', async () => {
    const init = [() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true })];
    await withEnv(browser, { init }, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}search.html?q=tea`);
      await page.click('.search-result a');
      await page.waitForURL(/product-/);
      await page.goto(`${env.base}index.html`);
      await sleep(500);
      assert.equal(env.recorder.requests.length, 0);
    });
  });

  it('localhost / 127.0.0.1 without data-allow-localhost: nothing is sent; with it, events flow', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`http://localhost:${env.server.port}/v/nolocal/demo/index.html`);
      await page.goto(`${env.server.origin}/v/nolocal/demo/category.html`);
      await page.goto(`http://localhost:${env.server.port}/v/nolocal/demo/search.html?q=tea`);
      await sleep(600);
      assert.equal(env.recorder.requests.length, 0);
      await page.goto(`http://localhost:${env.server.port}/demo/index.html`);
      const [pv] = await env.recorder.waitForEvent('pageview');
      assert.equal(pv.url, `http://localhost:${env.server.port}/demo/index.html`);
    });
  });

  it('core build (larder.core.js): pageviews, e-commerce and search work; no UX events even with data-ux', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.server.origin}/v/core/demo/product-oolong.html`);
      await env.recorder.waitForEvent('view_item');
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html/);
      await page.click('[data-apply-voucher]');
      await page.goto(`${env.server.origin}/v/core/demo/index.html`);
      for (let i = 0; i < 4; i++) await page.click('[data-promo]');
      await page.goto(`${env.server.origin}/v/core/demo/search.html?q=oolong`);
      await env.recorder.waitForEvent('search');
      await page.goto(`${env.server.origin}/v/core/demo/index.html`);
      await env.recorder.settle(500);
      const names = new Set(env.recorder.events().map((e) => e.name));
      for (const n of ['pageview', 'view_item', 'add_to_cart', 'search']) assert.ok(names.has(n), `${n} missing`);
      for (const n of ['engagement', 'rage_click', 'dead_click', 'js_error', 'web_vital']) assert.ok(!names.has(n), `${n} sent by the core build`);
    });
  });

  it('full build without data-ux: no UX events', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.server.origin}/v/noux/demo/index.html`);
      for (let i = 0; i < 4; i++) await page.click('[data-promo]');
      await page.goto(`${env.server.origin}/v/noux/demo/category.html`);
      await env.recorder.waitForEvent('pageview', { n: 2 });
      await env.recorder.settle(400);
      assert.deepEqual([...new Set(env.recorder.events().map((e) => e.name))], ['pageview']);
    });
  });
});
