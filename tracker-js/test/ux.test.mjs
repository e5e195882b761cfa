// UX signals of the full build (data-ux): rage and dead clicks, scroll depth and engaged time,
// JS errors, Core Web Vitals, and how they are batched.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launch, withEnv, sleep, clickTimes } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('UX signals', () => {
  it('rage click: 5 quick clicks on the dead promo button give one rage_click with a short selector', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('pageview');
      await clickTimes(page, '[data-promo]', 5);
      // Slow clicks elsewhere are no rage.
      await clickTimes(page, 'h1', 3, 600);
      await page.goto(`${env.base}category.html`); // hides the page: the queue is flushed
      const rage = await env.recorder.waitForEvent('rage_click');
      await env.recorder.settle(300);
      assert.equal(env.recorder.named('rage_click').length, 1);
      assert.equal(rage[0].url, `${env.origin}/demo/index.html`);
      assert.equal(rage[0].ux.selector, 'main.wrap > section.promo > button.promo-cta');
      assert.ok(rage[0].age_ms > 0, 'queued events carry their age');
    });
  });

  it('dead click: a click after which nothing happens for 2.5 s gives dead_click; clicks that do something do not', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('pageview');
      await clickTimes(page, '[data-promo]', 1);
      await sleep(2800);
      // A click after which the page changes (here: a class toggles a second later) is not dead.
      await page.evaluate(() => {
        const b = document.createElement('button');
        b.id = 'works';
        b.textContent = 'Show details';
        b.addEventListener('click', () => setTimeout(() => document.body.classList.toggle('details'), 1000));
        document.querySelector('main').append(b);
      });
      await page.click('#works');
      await sleep(2800);
      // A click that navigates is not dead either.
      await page.click('a[href="category.html"] >> nth=0');
      const dead = await env.recorder.waitForEvent('dead_click');
      await env.recorder.settle(300);
      assert.equal(env.recorder.named('dead_click').length, 1);
      assert.equal(dead[0].ux.selector, 'main.wrap > section.promo > button.promo-cta');
      assert.equal(env.recorder.named('rage_click').length, 0);
    });
  });

  it('engagement: scroll depth and engaged time, sent when the page is left (and per SPA route)', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}category.html`);
      await env.recorder.waitForEvent('pageview');
      const expected = await page.evaluate(async () => {
        const h = document.documentElement.scrollHeight;
        window.scrollTo(0, (h - innerHeight) / 2);
        await new Promise((r) => setTimeout(r, 300));
        return Math.round(((scrollY + innerHeight) / h) * 100);
      });
      assert.ok(expected > 40 && expected < 100, `the category page must be long enough to scroll (${expected})`);
      await sleep(500);
      // An SPA route change closes the page's engagement too.
      await page.evaluate(() => history.pushState({}, '', '/demo/cart.html'));
      await env.recorder.waitForEvent('pageview', { n: 2 });
      await sleep(300);
      await page.goto(`${env.base}index.html`);
      const eng = await env.recorder.waitForEvent('engagement', { n: 2 });
      const cat = eng.find((e) => e.url.endsWith('/demo/category.html'));
      const cart = eng.find((e) => e.url.endsWith('/demo/cart.html'));
      assert.ok(cat && cart, JSON.stringify(eng));
      assert.equal(cat.ux.scroll_depth, expected);
      assert.ok(cat.ux.engaged_ms >= 700 && cat.ux.engaged_ms < 20000, `engaged_ms ${cat.ux.engaged_ms}`);
      assert.ok(cart.ux.engaged_ms >= 200, `engaged_ms ${cart.ux.engaged_ms}`);
      assert.equal(env.recorder.named('engagement').length, 2, 'one engagement per page view');
    });
  });

  it('engagement also goes out when the tab is closed', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}product-assam.html`);
      await env.recorder.waitForEvent('view_item');
      await sleep(300);
      await page.close({ runBeforeUnload: true });
      const [eng] = await env.recorder.waitForEvent('engagement');
      assert.equal(eng.url, `${env.origin}/demo/product-assam.html`);
      assert.ok(eng.ux.engaged_ms > 0);
    });
  });

  it('JS errors: one js_error for an error thrown twice; message, source without query, line', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}cart.html?cart=p-sencha:1`);
      await env.recorder.waitForEvent('pageview');
      await page.fill('#voucher', 'SPRING20');
      await page.click('[data-apply-voucher]');
      await page.click('[data-apply-voucher]');
      // And a rejected promise, also twice.
      await page.evaluate(() => {
        for (let i = 0; i < 2; i++) Promise.reject(new Error('voucher service unavailable for ada@example.com'));
      });
      await sleep(200);
      assert.equal(env.pageErrors.length, 4, 'the demo bug did throw');
      await page.goto(`${env.base}index.html`);
      const errs = await env.recorder.waitForEvent('js_error', { n: 2 });
      await env.recorder.settle(300);
      assert.equal(env.recorder.named('js_error').length, 2);
      const [thrown, rejected] = errs;
      assert.match(thrown.ux.error.message, /TypeError/);
      assert.equal(thrown.ux.error.source, `${env.origin}/demo/shop.js`);
      assert.ok(thrown.ux.error.line > 0);
      assert.match(rejected.ux.error.message, /voucher service unavailable for \[email\]/, 'e-mail addresses are redacted');
      assert.ok(!JSON.stringify(errs).includes('SPRING20'), 'no form values');
    });
  });

  it('Core Web Vitals: LCP, TTFB (and FCP, CLS, INP) each sent once, when the page is hidden', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('pageview');
      await sleep(300);
      await page.click('h1'); // an interaction, for INP
      await sleep(200);
      await page.goto(`${env.base}category.html`);
      const vitals = await env.recorder.waitFor((evs) => {
        const v = evs.filter((e) => e.name === 'web_vital' && e.url.endsWith('/index.html'));
        const names = new Set(v.map((e) => e.ux.vital.name));
        return names.has('LCP') && names.has('TTFB') ? v : null;
      }, { what: 'LCP and TTFB' });
      const names = vitals.map((e) => e.ux.vital.name);
      assert.equal(new Set(names).size, names.length, `each vital once: ${names}`);
      for (const v of vitals) assert.ok(v.ux.vital.value >= 0 && Number.isFinite(v.ux.vital.value));
      const lcp = vitals.find((e) => e.ux.vital.name === 'LCP');
      assert.ok(lcp.ux.vital.value > 0 && lcp.ux.vital.value < 10000, `LCP ${lcp.ux.vital.value}`);
      // Leaving the next page sends that page's vitals, not the first page's again.
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitFor((evs) => evs.some((e) => e.name === 'web_vital' && e.url.endsWith('/category.html')));
      await env.recorder.settle(300);
      const firstPage = env.recorder.named('web_vital').filter((e) => e._req === vitals[0]._req);
      assert.equal(firstPage.length, vitals.length);
    });
  });

  it('UX events of a page lifecycle go out together in one request, the pageview alone and at once', async () => {
    await withEnv(browser, {}, async (env) => {
      const page = await env.page();
      await page.goto(`${env.base}cart.html?cart=p-oolong:1`);
      await env.recorder.waitForEvent('pageview');
      assert.equal(env.recorder.requests.length, 1);
      await clickTimes(page, '[data-apply-voucher]', 4);
      await sleep(300);
      assert.equal(env.recorder.requests.length, 1, 'nothing sent while the page is shown');
      await page.goto(`${env.base}index.html`);
      await env.recorder.waitForEvent('js_error');
      const req = env.recorder.requests.find((r) => r.body.includes('"js_error"'));
      const batch = JSON.parse(req.body);
      assert.ok(Array.isArray(batch));
      const names = batch.map((e) => e.name);
      for (const n of ['rage_click', 'js_error', 'engagement', 'web_vital']) assert.ok(names.includes(n), `${n} in ${names}`);
      for (const e of batch) assert.ok(Number.isInteger(e.age_ms) && e.age_ms >= 0 && e.age_ms <= 1_800_000);
    });
  });
});
