// The core of the tracker in a real headless Chromium: pageviews and URL hygiene, SPA routes,
// the queued API, the core-only build. (Privacy switches and the localhost rule: privacy.test.mjs.)
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launch, withEnv, storageReport, SITE, TAG, ROOT } from './helpers.mjs';

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
      assert.equal(pv.url, `${env.origin}/demo/search.html?utm_source=newsletter&q=green&utm_medium=email`);
      assert.equal(pv.referrer, 'https://www.google.com/search');
      assert.deepEqual(Object.keys(pv).sort(), ['name', 'referrer', 'site', 'url']);
      // The pageview goes out on its own, at once, as text/plain (a CORS-simple beacon).
      const req = env.recorder.requests[0];
      assert.match(req.headers['content-type'], /^text\/plain/);
      assert.equal(JSON.parse(req.body).name, 'pageview');
      const [landed] = await env.waitRows("name = 'pageview'");
      assert.equal(landed.pathname, '/demo/search.html');
      // The referrer's host is kept; the UTM keys name the source (they win over the referrer).
      assert.equal(landed.referrer_host, 'www.google.com');
      assert.deepEqual([landed.referrer_source, landed.referrer_medium], ['newsletter', 'email']);

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
      assert.equal(pvs[1].url, `${env.origin}/demo/category.html?utm_campaign=spring`);

      await page.evaluate(() => history.replaceState({ a: 1 }, '', location.href));
      await page.evaluate(() => history.replaceState({}, '', '/demo/category.html?utm_campaign=spring&sort=name#top'));
      await page.evaluate(() => history.pushState({}, '', '#details'));
      await env.recorder.settle(400);
      assert.equal(env.recorder.named('pageview').length, 2, 'no pageview when the (cleaned) URL did not change');

      await page.evaluate(() => history.go(-2));
      const after = await env.recorder.waitForEvent('pageview', { n: 3 });
      assert.equal(after[2].url, `${env.origin}/demo/index.html`);

      // replaceState to a new URL (a redirect inside the app) is a pageview too.
      await page.evaluate(() => history.replaceState({}, '', '/demo/cart.html'));
      const last = await env.recorder.waitForEvent('pageview', { n: 4 });
      assert.equal(last[3].url, `${env.origin}/demo/cart.html`);
    });
  });

  it('hash routing is opt-in (data-hash): a pageview per route, the route in props.hash, no fragment in url', async () => {
    await withEnv(browser, { tag: TAG.hash }, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('pageview');
      await page.evaluate(() => (location.hash = '#/teas/sencha'));
      const pvs = await env.recorder.waitForEvent('pageview', { n: 2 });
      assert.equal(pvs[1].url, `${env.origin}/demo/index.html`);
      assert.deepEqual(pvs[1].props, { hash: '#/teas/sencha' });
      // Only the route: a query inside the fragment is not sent, and alone is no new route.
      await page.evaluate(() => (location.hash = '#/teas/sencha?token=abc'));
      await page.evaluate(() => (location.hash = '#/cart'));
      const more = await env.recorder.waitForEvent('pageview', { n: 3 });
      assert.deepEqual(more[2].props, { hash: '#/cart' });
      await env.recorder.settle(300);
      assert.equal(env.recorder.named('pageview').length, 3);

      // Without data-hash, fragment changes are no pageviews.
      const plain = await (await env.newContext()).newPage();
      await plain.goto(`${env.base}category.html`);
      await env.recorder.waitForEvent('pageview', { n: 4 });
      await plain.evaluate(() => (location.hash = '#/somewhere'));
      await env.recorder.settle(400);
      assert.equal(env.recorder.named('pageview').length, 4);
      // The routes are stored as sent: the pathname, and the route in props.
      const rows = await env.waitRows("name = 'pageview' AND has(props.key, 'hash')", { n: 2 });
      assert.deepEqual(rows.map((r) => r.prop_values[0]).sort(), ['#/cart', '#/teas/sencha']);
      assert.ok(rows.every((r) => r.pathname === '/demo/index.html'));
    });
  });

  it('calls queued before the script loads are delivered, after the pageview, and land', async () => {
    // Page code that runs before the tag: the queue stub and a few calls (a tag manager, say).
    // The demo product page's own inline script queues its view_item too: the tag is deferred.
    const init = [
      () => {
        window.larder = window.larder || function () { (window.larder.q = window.larder.q || []).push(arguments); };
        const larder = window.larder;
        larder('event', 'newsletter_signup', { props: { plan: 'gold', logged_in: true, items_in_cart: 3 } });
        larder('add_to_cart', { items: [{ id: 'p-sencha', name: 'Sencha Green Tea', category: 'Tea', quantity: 2, price: 4.5 }], currency: 'eur' });
        larder('event', 'gift_card', { revenue: { amount: 0.1 + 8.8, currency: 'eur' } });
        larder('search', { query: '  Green   Tea ', results: 0 });
        window.__queued = larder.q.length;
      },
    ];
    await withEnv(browser, { init }, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}product-sencha.html`);
      await env.recorder.waitForEvent('view_item');
      assert.equal(await page.evaluate(() => window.__queued), 4, 'the calls were queued before the script ran');
      const evs = env.recorder.events();
      assert.deepEqual(
        evs.map((e) => e.name),
        ['pageview', 'newsletter_signup', 'add_to_cart', 'gift_card', 'search', 'view_item'],
      );
      assert.deepEqual(evs[1].props, { plan: 'gold', logged_in: true, items_in_cart: 3 });
      // A numeric price becomes the decimal string the wire format wants; the currency is passed
      // as given (the collector upper-cases it).
      assert.deepEqual(evs[2].items, [{ id: 'p-sencha', name: 'Sencha Green Tea', category: 'Tea', quantity: 2, price: '4.5' }]);
      assert.equal(evs[2].currency, 'eur');
      assert.equal(evs[2].revenue, undefined);
      // 0.1 + 8.8 is 8.900000000000000355… in floating point: sent as '8.9'.
      assert.deepEqual(evs[3].revenue, { amount: '8.9', currency: 'eur' });
      assert.deepEqual(evs[4].search, { query: '  Green   Tea ', results: 0 });
      assert.equal(await page.evaluate(() => typeof window.larder.q), 'undefined', 'the stub was replaced');

      // And they landed, as the collector normalises them.
      const rows = await env.waitRows("name != 'pageview'", { n: 5 });
      const by = Object.fromEntries(rows.map((r) => [r.name, r]));
      assert.deepEqual(Object.keys(by).sort(), ['add_to_cart', 'gift_card', 'newsletter_signup', 'search', 'view_item']);
      const props = Object.fromEntries(by.newsletter_signup.prop_keys.map((k, i) => [k, by.newsletter_signup.prop_values[i]]));
      assert.deepEqual(props, { plan: 'gold', logged_in: 'true', items_in_cart: '3' }, 'props stored as text');
      assert.deepEqual([by.add_to_cart.item_ids, by.add_to_cart.item_quantities, by.add_to_cart.item_prices.map(Number)], [['p-sencha'], [2], [4.5]]);
      assert.equal(by.add_to_cart.currency, 'EUR');
      assert.equal(by.add_to_cart.revenue, null, 'a cart event is no money taken');
      assert.equal(Number(by.gift_card.revenue), 8.9);
      assert.equal(by.gift_card.currency, 'EUR');
      assert.equal(by.search.search_query, 'green tea');
      assert.equal(by.search.search_results, 0);
      assert.equal(by.view_item.currency, 'EUR');
      assert.ok(rows.every((r) => r.pathname === '/demo/product-sencha.html'));
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

  it('core build (larder.core.js): pageviews, e-commerce and search work; no UX events even with data-ux', async () => {
    // Larder serving the core build at /larder.js (ingest.tracker_script), as a site would deploy it.
    await withEnv(browser, { script: 'larder.core.js' }, async (env) => {
      const page = await env.page();
      const served = await (await fetch(`${env.larder.origin}/larder.js`)).text();
      assert.equal(served, readFileSync(path.join(ROOT, 'dist', 'larder.core.js'), 'utf8'), 'Larder serves the core build');
      await page.goto(`${env.base}product-oolong.html`);
      await env.recorder.waitForEvent('view_item');
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html/);
      await page.click('[data-apply-voucher]');
      await page.goto(`${env.base}index.html`);
      for (let i = 0; i < 4; i++) await page.click('[data-promo]');
      await page.goto(`${env.base}search.html?q=oolong`);
      await env.recorder.waitForEvent('search');
      await page.goto(`${env.base}index.html`);
      await env.recorder.settle(500);
      const names = new Set(env.recorder.events().map((e) => e.name));
      for (const n of ['pageview', 'view_item', 'add_to_cart', 'search']) assert.ok(names.has(n), `${n} missing`);
      for (const n of ['engagement', 'rage_click', 'dead_click', 'js_error', 'web_vital']) assert.ok(!names.has(n), `${n} sent by the core build`);
    });
  });

  it('full build without data-ux: no UX events', async () => {
    await withEnv(browser, { tag: TAG.noux }, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      for (let i = 0; i < 4; i++) await page.click('[data-promo]');
      await page.goto(`${env.base}category.html`);
      await env.recorder.waitForEvent('pageview', { n: 2 });
      await env.recorder.settle(400);
      assert.deepEqual([...new Set(env.recorder.events().map((e) => e.name))], ['pageview']);
    });
  });
});
