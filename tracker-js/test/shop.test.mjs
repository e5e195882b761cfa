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
  it('e-commerce funnel: view_item → add_to_cart → begin_checkout → purchase, with items and revenue as the wire format says', async () => {
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

      // Priced items travel with a revenue (their value): prices are in revenue.currency.
      const view = recorder.named('view_item');
      assert.deepEqual(view[0].items, [{ ...SENCHA, quantity: 1 }]);
      assert.deepEqual(view[0].revenue, { amount: '4.50', currency: 'EUR' });
      assert.deepEqual(view[1].items, [{ ...OOLONG, quantity: 1 }]);
      const add = recorder.named('add_to_cart');
      assert.equal(add.length, 2);
      assert.deepEqual(add[0].items, [{ ...SENCHA, quantity: 2 }]);
      assert.deepEqual(add[0].revenue, { amount: '9.00', currency: 'EUR' });
      assert.deepEqual(add[1].items, [{ ...OOLONG, quantity: 1 }]);
      assert.deepEqual(add[1].revenue, { amount: '7.90', currency: 'EUR' });
      const [checkout] = recorder.named('begin_checkout');
      const items = [{ ...SENCHA, quantity: 2 }, { ...OOLONG, quantity: 1 }];
      assert.deepEqual(checkout.items, items);
      assert.deepEqual(checkout.revenue, { amount: '16.90', currency: 'EUR' });
      assert.deepEqual(purchase.items, items);
      assert.deepEqual(purchase.revenue, { amount: '16.90', currency: 'EUR' });
      assert.match(purchase.order_id, /^LD[0-9A-Z]+$/);
      assert.equal(purchase.url, `${env.server.origin}/demo/order-confirmation.html`, 'cart and order parameters stripped');
      assert.equal(recorder.named('purchase').length, 1);

      // The funnel in order.
      const funnel = recorder.events().filter((e) => /view_item|add_to_cart|begin_checkout|purchase/.test(e.name)).map((e) => e.name);
      assert.deepEqual(funnel, ['view_item', 'add_to_cart', 'view_item', 'add_to_cart', 'begin_checkout', 'purchase']);
      for (const r of recorder.requests) {
        assert.ok(!/Ada|Lovelace|ada\.lovelace|example\.com/.test(r.body), `form data sent: ${r.body}`);
      }
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
      assert.equal(s1.url, `${env.server.origin}/demo/search.html?q=oolong`);
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
      assert.equal(out.url, `${env.server.origin}/demo/index.html`);

      // The PDF opens in the browser (or downloads): either way the event went out on the click.
      await page.click('a[href$="catalogue.pdf"] >> nth=0');
      const [dl] = await recorder.waitForEvent('file_download');
      assert.deepEqual(dl.props, { url: `${env.server.origin}/demo/files/catalogue.pdf` });
      // Internal links are neither.
      await page.goto(`${env.base}index.html`);
      await page.click('a[href="category.html"] >> nth=0');
      await recorder.waitForEvent('pageview', { n: 3 });
      assert.equal(recorder.named('outbound_click').length, 1);
      assert.equal(recorder.named('file_download').length, 1);
    });
  });

  it('404 page: pageview and not_found (for a missing URL and for 404.html itself)', async () => {
    await withEnv(browser, {}, async (env) => {
      const { recorder } = env;
      const page = await env.page();
      const resp = await page.goto(`${env.base}teas/earl-grey-old.html?ref=x`);
      assert.equal(resp.status(), 404);
      const [nf] = await recorder.waitForEvent('not_found');
      assert.equal(nf.url, `${env.server.origin}/demo/teas/earl-grey-old.html`);
      await page.goto(`${env.base}index.html`);
      await recorder.waitForEvent('pageview', { n: 2 });
      assert.equal(recorder.named('not_found').length, 1, 'normal pages are not 404s');
      await page.goto(`${env.base}404.html`);
      await recorder.waitForEvent('not_found', { n: 2 });
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
        '404': 'no-such-page.html',
      };
      for (const [name, url] of Object.entries(pages)) {
        await page.goto(env.base + url);
        await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
      }
      await env.recorder.waitForEvent('pageview', { n: Object.keys(pages).length });
    });
  });
});
