// Issue 4's end-to-end scenario: a scripted shopper on the demo storefront served by a real
// Larder, and what the visit left in ClickHouse. (The privacy switches and the queued calls are
// in core.test.mjs: GPC, Sec-GPC, DNT — nothing lands; calls made before the script loaded land.)
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launch, withEnv, clickTimes, storageReport, poll, ROOT } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const SENCHA = ['p-sencha', 'Sencha Green Tea', 'Tea'];
const PROMO = 'main.wrap > section.promo > button.promo-cta';

describe('end to end', () => {
  it("a shopper's visit: each expected event lands once with its fields, one visitor, one session; no cookie or storage left", async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const served = await fetch(`${env.larder.origin}/larder.js`);
      assert.equal(await served.text(), readFileSync(path.join(ROOT, 'dist', 'larder.js'), 'utf8'), 'Larder serves this build');
      assert.ok(served.headers.get('etag'), 'with an ETag');

      const page = await env.page();
      // Arrives from a search engine.
      await page.goto(`${env.base}index.html`, { referer: 'https://www.google.com/search?q=loose+leaf+tea' });
      // Searches for something the shop does not sell...
      await page.fill('#header-q', 'Coffee');
      await page.press('#header-q', 'Enter');
      await page.waitForURL(/search\.html\?q=Coffee/);
      await page.waitForSelector('[data-no-results]:not([hidden])');
      await recorder.waitForEvent('search');
      // ...then for something it does, and clicks the first result.
      await page.fill('#q', 'Green  Tea');
      await page.press('#q', 'Enter');
      await page.waitForURL(/search\.html\?q=Green/);
      await recorder.waitForEvent('search', { n: 2 });
      await page.click('.search-result >> nth=0');
      await page.waitForURL(/product-sencha\.html/);
      await recorder.waitForEvent('view_item');
      // Two packs to the basket, checkout, order.
      await page.fill('#qty', '2');
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html\?cart=p-sencha%3A2|cart\.html\?cart=p-sencha:2/);
      await page.click('[data-checkout]');
      await page.waitForURL(/checkout\.html/);
      await recorder.waitForEvent('begin_checkout');
      await page.fill('#name', 'Ada Lovelace');
      await page.fill('#email', 'ada.lovelace@example.com');
      await page.click('[data-place-order]');
      await page.waitForURL(/order-confirmation\.html/);
      const orderId = new URL(page.url()).searchParams.get('order');
      await recorder.waitForEvent('purchase');
      // Back to the shop: rage-clicks the promo button that does nothing.
      await page.click('main a[href^="index.html"]');
      await page.waitForURL(/index\.html/);
      await recorder.waitForEvent('pageview', { n: 8 });
      await clickTimes(page, '[data-promo]', 5);
      // The basket page, where the voucher button has a bug.
      await page.click('.cart-link');
      await page.waitForURL(/cart\.html/);
      await page.click('[data-apply-voucher]');
      await poll(() => env.pageErrors.length > 0, { timeout: 3000, what: () => 'the voucher bug to throw' });
      // Home again (the basket page's UX events go out as it is left).
      await page.click('a.logo');
      await page.waitForURL(/index\.html/);
      await recorder.waitForEvent('js_error');

      // The browser keeps nothing: no cookie, no Web Storage, no IndexedDB — and the tracker never asked.
      const st = await storageReport(page);
      assert.deepEqual(st.calls, [], 'no Storage, cookie or IndexedDB access at all');
      assert.deepEqual(st.lengths, [0, 0]);
      const state = await env.context.storageState({ indexedDB: true });
      assert.deepEqual(state.cookies, []);
      for (const o of state.origins) {
        assert.deepEqual([o.localStorage, o.indexedDB ?? []], [[], []], `storage of ${o.origin}`);
      }
      assert.deepEqual(await page.evaluate(() => indexedDB.databases()), []);
      // Closing the tab sends the last page's engagement.
      await page.close({ runBeforeUnload: true });
      await recorder.waitForEvent('engagement', { where: (e) => e.url.endsWith('/demo/index.html') });

      // What landed: poll until the visit's events are in ClickHouse (bounded), then check them.
      const expected = {
        pageview: 10,
        search: 2,
        search_click: 1,
        view_item: 1,
        add_to_cart: 1,
        begin_checkout: 1,
        purchase: 1,
        rage_click: 1,
        js_error: 1,
      };
      let rows = [];
      const count = (name) => rows.filter((r) => r.name === name).length;
      await poll(
        async () => {
          rows = await env.rows();
          return Object.entries(expected).every(([name, n]) => count(name) >= n) && rows.some((r) => r.name === 'engagement');
        },
        { timeout: 10_000, what: () => `the visit's events (stored: ${JSON.stringify(rows.map((r) => r.name))})` },
      );
      for (const [name, n] of Object.entries(expected)) assert.equal(count(name), n, `${name} stored ${count(name)} times, want ${n}`);
      for (const name of ['dead_click', 'not_found', 'outbound_click', 'file_download']) assert.equal(count(name), 0, `no ${name}`);
      const one = (name) => rows.find((r) => r.name === name);

      // One visitor, one session, a desktop Chrome on Linux; nothing else identifies anybody.
      assert.equal(new Set(rows.map((r) => r.visitor_id)).size, 1, 'one visitor');
      assert.equal(new Set(rows.map((r) => r.session_id)).size, 1, 'one session');
      assert.notEqual(rows[0].visitor_id, '0');
      for (const r of rows) {
        assert.deepEqual([r.hostname, r.browser, r.os, r.device], [env.host, 'Chrome', 'Linux', 'desktop']);
      }
      const dump = JSON.stringify(rows);
      assert.ok(!/Ada|Lovelace|example\.com|loose/.test(dump), 'no form data, no referrer query');

      // Pages, in the order visited (timestamps are whole seconds, hence the sort of the multiset).
      assert.deepEqual(
        rows.filter((r) => r.name === 'pageview').map((r) => r.pathname).sort(),
        [
          '/demo/cart.html', '/demo/cart.html', '/demo/checkout.html', '/demo/index.html', '/demo/index.html', '/demo/index.html',
          '/demo/order-confirmation.html', '/demo/product-sencha.html', '/demo/search.html', '/demo/search.html',
        ],
      );
      // The visit came from Google; every later page was reached from the shop itself.
      const external = rows.filter((r) => r.name === 'pageview' && r.referrer_medium !== 'internal');
      assert.deepEqual(
        external.map((r) => [r.pathname, r.referrer_host, r.referrer_source, r.referrer_medium]),
        [['/demo/index.html', 'www.google.com', 'Google', 'search']],
      );

      // Site search: the no-result search flagged with 0, the query normalised; the click's position.
      const searches = rows.filter((r) => r.name === 'search').map((r) => [r.pathname, r.search_query, r.search_results]);
      assert.deepEqual(searches.sort(), [['/demo/search.html', 'coffee', 0], ['/demo/search.html', 'green tea', 1]]);
      const click = one('search_click');
      assert.deepEqual([click.pathname, click.search_query, click.search_position, click.search_product], ['/demo/search.html', 'green tea', 1, 'p-sencha']);

      // The funnel: items with their currency, and money only on the purchase.
      const funnel = (name, pathname, quantity) => {
        const r = one(name);
        assert.equal(r.pathname, pathname, name);
        assert.deepEqual([r.item_ids, r.item_names, r.item_categories], SENCHA.map((x) => [x]), `${name} items`);
        assert.deepEqual(r.item_quantities, [quantity], `${name} quantity`);
        assert.deepEqual(r.item_prices.map(Number), [4.5], `${name} price`);
        assert.equal(r.currency, 'EUR', `${name} currency`);
        return r;
      };
      assert.equal(funnel('view_item', '/demo/product-sencha.html', 1).revenue, null);
      assert.equal(funnel('add_to_cart', '/demo/product-sencha.html', 2).revenue, null);
      assert.equal(funnel('begin_checkout', '/demo/checkout.html', 2).revenue, null);
      const purchase = funnel('purchase', '/demo/order-confirmation.html', 2);
      assert.equal(Number(purchase.revenue), 9);
      assert.match(purchase.revenue, /^9(\.0+)?$/);
      assert.equal(purchase.order_id, orderId);

      // UX: the rage click with its selector, the error with its message, source and line.
      const rage = one('rage_click');
      assert.deepEqual([rage.pathname, rage.selector], ['/demo/index.html', PROMO]);
      const err = one('js_error');
      assert.equal(err.pathname, '/demo/cart.html');
      assert.match(err.error_message, /TypeError: Cannot read properties of null \(reading 'apply'\)/);
      assert.equal(err.error_source, `${env.origin}/demo/shop.js`);
      assert.ok(err.error_line > 0);
      // Engagement and vitals of the pages left, each with its measure.
      for (const r of rows.filter((x) => x.name === 'engagement')) assert.ok(r.engaged_ms > 0 && r.scroll_depth > 0, JSON.stringify(r));
      const vitals = rows.filter((x) => x.name === 'web_vital');
      assert.ok(vitals.some((r) => r.vital_name === 'LCP' && r.vital_value > 0), 'an LCP');
      for (const r of vitals) assert.ok(['LCP', 'CLS', 'INP', 'TTFB', 'FCP'].includes(r.vital_name) && r.vital_value >= 0);
      // (withEnv then checks that the stored events are exactly those the browser sent, once each.)
    });
  });
});
