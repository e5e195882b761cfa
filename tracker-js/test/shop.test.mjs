// A scripted shopper on the demo storefront: the e-commerce funnel, site search, outbound
// links, downloads, the 404 page; and a screenshot of every page.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { launch, withEnv, ensureArtifacts } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const SENCHA = { id: 'p-sencha', name: 'Sencha Green Tea', category: 'Tea', price: '4.50' };
const OOLONG = { id: 'p-oolong', name: 'Milk Oolong', category: 'Tea', price: '7.90' };

describe('storefront', () => {
  it('e-commerce funnel: view_item → add_to_cart → begin_checkout → purchase (and remove_from_cart), with items, currency and revenue as the wire format says', async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await page.click('a[href="category.html"] >> nth=0');
      await page.click('.card a[href="product-sencha.html"]');
      await recorder.waitForEvent('view_item');
      await page.fill('#qty', '2');
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html\?cart=/);
      // Back to the shop, the basket travels in the URL (and is stripped from what is sent).
      await page.click('a[href^="category.html"] >> nth=0');
      await page.click('.card a[href^="product-oolong.html"]');
      await recorder.waitForEvent('view_item', { n: 2 });
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html/);
      await page.click('[data-checkout]');
      await page.waitForURL(/checkout\.html/);
      await recorder.waitForEvent('begin_checkout');
      // Personal data typed into the checkout form must never leave the page.
      await page.fill('#name', 'Ada Lovelace');
      await page.fill('#email', 'ada.lovelace@example.com');
      await page.click('[data-place-order]');
      await page.waitForURL(/order-confirmation\.html/);
      const [purchase] = await recorder.waitForEvent('purchase');

      // Priced items say their currency: `currency` on the steps before the order, the order's
      // revenue on the purchase (the only money taken).
      const view = recorder.named('view_item');
      assert.deepEqual(view[0].items, [{ ...SENCHA, quantity: 1 }]);
      assert.equal(view[0].currency, 'EUR');
      assert.deepEqual(view[1].items, [{ ...OOLONG, quantity: 1 }]);
      assert.equal(view[1].currency, 'EUR');
      const add = recorder.named('add_to_cart');
      assert.equal(add.length, 2);
      assert.deepEqual(add[0].items, [{ ...SENCHA, quantity: 2 }]);
      assert.deepEqual(add[1].items, [{ ...OOLONG, quantity: 1 }]);
      const [checkout] = recorder.named('begin_checkout');
      const items = [{ ...SENCHA, quantity: 2 }, { ...OOLONG, quantity: 1 }];
      assert.deepEqual(checkout.items, items);
      for (const e of [...view, ...add, checkout]) {
        assert.equal(e.currency, 'EUR', `${e.name} carries the currency`);
        assert.equal(e.revenue, undefined, `${e.name} carries no revenue`);
      }
      assert.deepEqual(purchase.items, items);
      assert.deepEqual(purchase.revenue, { amount: '16.90', currency: 'EUR' });
      assert.equal(purchase.currency, undefined);
      assert.match(purchase.order_id, /^LD[0-9A-Z]+$/);
      assert.equal(purchase.url, `${env.origin}/demo/order-confirmation.html`, 'cart and order parameters stripped');
      assert.equal(recorder.named('purchase').length, 1);

      // The funnel in order.
      const funnel = recorder.events().filter((e) => /view_item|add_to_cart|begin_checkout|purchase/.test(e.name)).map((e) => e.name);
      assert.deepEqual(funnel, ['view_item', 'add_to_cart', 'view_item', 'add_to_cart', 'begin_checkout', 'purchase']);
      for (const r of recorder.requests) {
        assert.ok(!/Ada|Lovelace|ada\.lovelace|example\.com/.test(r.body), `form data sent: ${r.body}`);
      }

      // A later basket: removing a line says its currency too.
      await page.goto(`${env.base}cart.html?cart=p-oolong:1,p-sencha:3`);
      await page.click('[data-remove="p-sencha"]');
      await page.waitForURL(/cart\.html\?cart=p-oolong(%3A|:)1$/);
      const [removed] = await recorder.waitForEvent('remove_from_cart');
      assert.deepEqual(removed.items, [{ ...SENCHA, quantity: 3 }]);
      assert.equal(removed.currency, 'EUR');
      assert.equal(removed.revenue, undefined);

      // In ClickHouse: money only on the purchase; every step with its items and currency.
      await recorder.settle(150);
      const rows = await env.waitRows("name IN ('view_item', 'add_to_cart', 'remove_from_cart', 'begin_checkout', 'purchase')", { n: 7 });
      for (const r of rows) {
        assert.equal(r.currency, 'EUR', `${r.name} stored with its currency`);
        assert.equal(r.revenue === null, r.name !== 'purchase', `${r.name}: revenue ${r.revenue}`);
      }
      const [bought] = rows.filter((r) => r.name === 'purchase');
      assert.equal(Number(bought.revenue), 16.9);
      assert.equal(bought.order_id, purchase.order_id);
      assert.equal(bought.pathname, '/demo/order-confirmation.html');
      assert.deepEqual(bought.item_ids, ['p-sencha', 'p-oolong']);
      assert.deepEqual(bought.item_quantities, [2, 1]);
      assert.deepEqual(bought.item_prices.map(Number), [4.5, 7.9]);
      assert.equal(rows.filter((r) => r.name === 'add_to_cart').length, 2);
      const [gone] = rows.filter((r) => r.name === 'remove_from_cart');
      assert.deepEqual([gone.pathname, gone.item_ids, gone.item_quantities, gone.currency], ['/demo/cart.html', ['p-sencha'], [3], 'EUR']);
    });
  });

  it('site search: query and result count, a zero-result search, and search_click with its position', async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await page.fill('#header-q', 'oolong');
      await page.press('#header-q', 'Enter');
      await page.waitForURL(/search\.html\?q=oolong/);
      const [s1] = await recorder.waitForEvent('search');
      assert.deepEqual(s1.search, { query: 'oolong', results: 1 });
      assert.equal(s1.url, `${env.origin}/demo/search.html?q=oolong`);
      await page.click('.search-result a');
      const [c1] = await recorder.waitForEvent('search_click');
      assert.deepEqual(c1.search, { query: 'oolong', position: 1, product: 'p-oolong' });

      await page.goto(`${env.base}search.html?q=tea`);
      await recorder.waitForEvent('search', { n: 2 });
      assert.deepEqual(recorder.named('search')[1].search, { query: 'tea', results: 3 });
      await page.click('.search-result >> nth=1');
      const clicks = await recorder.waitForEvent('search_click', { n: 2 });
      assert.deepEqual(clicks[1].search, { query: 'tea', position: 2, product: 'p-assam' });

      await page.goto(`${env.base}search.html?q=coffee`);
      const searches = await recorder.waitForEvent('search', { n: 3 });
      assert.deepEqual(searches[2].search, { query: 'coffee', results: 0 }, 'a no-result search is flagged with results: 0');
      assert.ok(await page.isVisible('[data-no-results]'));
      assert.equal(recorder.named('search_click').length, 2);
    });
  });

  it('outbound link and file download events carry the link URL without query', async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await recorder.waitForEvent('pageview');
      // Keep the browser on the page: the outside site is not reachable from the tests (and the
      // host resolver maps every outside name to nothing).
      await page.evaluate(() =>
        document.querySelector('a[href^="https://tea-guide"]').addEventListener('click', (e) => e.preventDefault()),
      );
      await page.click('a[href^="https://tea-guide"]');
      const [out] = await recorder.waitForEvent('outbound_click');
      assert.deepEqual(out.props, { url: 'https://tea-guide.example.org/brewing' });
      assert.equal(out.url, `${env.origin}/demo/index.html`);

      // The PDF opens in the browser (or downloads): either way the event went out on the click.
      await page.click('a[href$="catalogue.pdf"] >> nth=0');
      const [dl] = await recorder.waitForEvent('file_download');
      assert.deepEqual(dl.props, { url: `${env.origin}/demo/files/catalogue.pdf` });
      // Internal links are neither.
      await page.goto(`${env.base}index.html`);
      await page.click('a[href="category.html"] >> nth=0');
      await recorder.waitForEvent('pageview', { n: 3 });
      assert.equal(recorder.named('outbound_click').length, 1);
      assert.equal(recorder.named('file_download').length, 1);
    });
  });

  it('404 page: pageview and not_found (the storefront 404 page, marked with <meta name="larder-404">)', async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const page = await env.page();
      await page.goto(`${env.base}404.html?ref=x#top`);
      const [nf] = await recorder.waitForEvent('not_found');
      assert.equal(nf.url, `${env.origin}/demo/404.html`);
      assert.deepEqual(recorder.events().map((e) => e.name), ['pageview', 'not_found']);
      await page.goto(`${env.base}index.html`);
      await recorder.waitForEvent('pageview', { n: 2 });
      assert.equal(recorder.named('not_found').length, 1, 'normal pages are not 404s');
      await page.goto(`${env.base}404.html`);
      await recorder.waitForEvent('not_found', { n: 2 });
      const rows = await env.waitRows("name = 'not_found'", { n: 2 });
      assert.ok(rows.every((r) => r.pathname === '/demo/404.html'));
    });
  });

  it('404 page for a missing URL: status 404, pageview and not_found with the missing URL', async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const page = await env.page();
      const resp = await page.goto(`${env.base}teas/earl-grey-old.html?ref=x`);
      assert.equal(resp.status(), 404);
      const [nf] = await recorder.waitForEvent('not_found', { timeout: 3000 });
      assert.equal(nf.url, `${env.origin}/demo/teas/earl-grey-old.html`);
    });
  });

  it('screenshots of every demo page (test-artifacts/storefront/)', async () => {
    const dir = ensureArtifacts();
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      const cart = 'cart=p-sencha:2,p-oolong:1';
      const pages = {
        'index': 'index.html',
        'category': 'category.html',
        'product-sencha': 'product-sencha.html',
        'product-assam': 'product-assam.html',
        'product-oolong': 'product-oolong.html',
        'search': 'search.html?q=tea',
        'search-no-results': 'search.html?q=coffee',
        'cart': `cart.html?${cart}`,
        'checkout': `checkout.html?${cart}`,
        'order-confirmation': `order-confirmation.html?${cart}&order=LDDEMO1`,
        '404': '404.html',
      };
      for (const [name, url] of Object.entries(pages)) {
        await page.goto(env.base + url);
        await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
      }
      await env.recorder.waitForEvent('pageview', { n: Object.keys(pages).length });
    });
  });
});
