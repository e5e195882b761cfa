// The privacy switches in a real headless Chromium against a real Larder: with Global Privacy
// Control or Do Not Track on nothing is sent and nothing lands; the collector honours Sec-GPC on
// its own; nothing is sent from localhost unless the tag allows it.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launch, withEnv, sleep, TAG } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('privacy', () => {
  it('Global Privacy Control on: nothing is sent, nothing lands, and larder() still works as a no-op', async () => {
    // A browser with GPC on: navigator.globalPrivacyControl, and the Sec-GPC header on requests.
    const init = [() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true })];
    const contextOptions = { extraHTTPHeaders: { 'Sec-GPC': '1' } };
    await withEnv(browser, { init, contextOptions, landed: false }, async (env) => {
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

  it('Sec-GPC header without the navigator flag: the script sends, Larder answers 202 and stores nothing', async () => {
    // Some extensions only add the header. The collector honours it (the demo site keeps the default).
    // Without data-ux: the test browser adds extra headers to the page's own requests only, not
    // to the beacons the browser sends for a page that is unloading (the UX batch).
    const contextOptions = { extraHTTPHeaders: { 'Sec-GPC': '1' } };
    await withEnv(browser, { contextOptions, tag: TAG.noux, landed: false }, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}product-oolong.html`);
      await env.recorder.waitForEvent('view_item');
      await page.click('[data-add-to-cart]');
      await page.waitForURL(/cart\.html/);
      await env.recorder.waitForEvent('pageview', { n: 2 });
      const seen = env.recorder.browserSeen.filter((r) => r.url === env.apiUrl);
      assert.equal(seen.length, env.recorder.requests.length);
      assert.ok(seen.length >= 3 && seen.every((r) => r.headers['sec-gpc'] === '1'), 'the beacons carried Sec-GPC: 1');
      await env.recorder.waitFor(() => env.recorder.collectorResponses.length >= 3, { what: 'the collector answers' });
      assert.ok(env.recorder.collectorResponses.every((r) => r.status === 202));
    });
  });

  it('Do Not Track on: nothing is sent, nothing lands', async () => {
    const init = [() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true })];
    await withEnv(browser, { init, landed: false }, async (env) => {
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
    // A Larder of its own: the shop on localhost and 127.0.0.1 (not a test host of its own).
    await withEnv(browser, { own: true, tag: TAG.nolocal }, async (env) => {
      const page = await env.page();
      await page.goto(`http://localhost:${env.port}/demo/index.html`);
      await page.goto(`http://127.0.0.1:${env.port}/demo/category.html`);
      await page.goto(`http://localhost:${env.port}/demo/search.html?q=tea`);
      await sleep(600);
      assert.equal(env.recorder.requests.length, 0);
      assert.equal((await env.rows()).length, 0);
      // The demo's own tag has data-allow-localhost.
      const allowed = await (await env.newContext()).newPage();
      await allowed.goto(`http://localhost:${env.port}/demo/index.html`);
      const [pv] = await env.recorder.waitForEvent('pageview');
      assert.equal(pv.url, `http://localhost:${env.port}/demo/index.html`);
    });
  });

});
