// The dashboard end to end, in headless Chromium, against one real `larder serve --demo`
// (embedded store, fresh data directory, loopback) serving this package's dist/:
// - demo.larder.test holds `larder demo-data` (loaded before the server starts); shop.example
//   holds the fixture of fixture.mjs, sent through the collector, whose numbers are known;
// - the tests run in order (they share the server and build on each other: the funnel saved in
//   one is listed in the API in the same test, the viewer is created by the settings test);
//   the lock-out test is last, since a locked-out address locks every account;
// - every page must load without console errors (CSP included), with every control labelled
//   and without horizontal overflow; a screenshot of each is saved in test-artifacts/dashboard/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, apiSession, cli, launch, poll, startLarder } from './larder.mjs';
import { EVENTS, EXPECTED, LATE_ARRIVAL, SHOP, sendFixture } from './fixture.mjs';

const DEMO = 'demo.larder.test';
const OWNER = { email: 'owner@shop.example', password: 'correct horse battery staple' };
const VIEWER = { email: 'viewer@shop.example', password: 'viewer horse battery staple' };
const MAX_FAILED_LOGINS = 3;

let larder;
let browser;
let owner; // the API as the owner, to compare what the pages show with what it answers
let ownerContext;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [larder, browser] = await Promise.all([
    startLarder({
      env: { LARDER_AUTH__MAX_FAILED_LOGINS: String(MAX_FAILED_LOGINS) },
      before: (data, env) => cli(['demo-data', '--site', DEMO, '--events', '10000', '--days', '30', '--data', data], { env }),
    }),
    launch(),
  ]);
  await larder.cli(['sites', 'add', SHOP]);
  await larder.cli(['users', 'add', OWNER.email, '--site', SHOP, '--role', 'owner', '--admin', '--password-stdin'], {
    input: `${OWNER.password}\n`,
  });
  await sendFixture(larder.origin);
  owner = await apiSession(larder.origin, OWNER.email, OWNER.password);
  // The fixture is in the store once the API counts all of it.
  await poll(async () => (await owner.get(`/api/v1/sites/${SHOP}/overview?period=7d`)).current.pageviews === EXPECTED.pageviews, {
    timeout: 15_000,
    what: () => 'the fixture to land',
  });
});

after(async () => {
  await browser?.close();
  await larder?.dispose();
});

/** A browser context whose console errors and page errors are collected. */
async function newContext(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  context.errors = [];
  context.on('page', (page) => {
    page.on('pageerror', (e) => context.errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // Before logging in, the question "who is logged in?" is answered 401: expected.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) context.errors.push(`console: ${m.text()}`);
    });
  });
  return context;
}

/** Waits until no panel is loading. */
async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"], .loading'), null, { timeout: 15_000 });
}

/**
 * What every page must be: loaded, no errors, every control named for assistive technology,
 * nothing wider than the window; then its screenshot.
 */
async function checkPage(page, name) {
  await settled(page);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button, a[href]')]
      .filter((el) => el.getClientRects().length > 0)
      .filter((el) => {
        const text = (el.getAttribute('aria-label') || el.textContent || '').trim();
        const labels = el.labels ? [...el.labels].map((l) => l.textContent.trim()).join('') : '';
        return !text && !labels && !el.getAttribute('placeholder');
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  assert.deepEqual(unlabelled, [], `${name}: controls without an accessible name`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the window`);
  assert.deepEqual(page.context().errors, [], `${name}: errors in the browser`);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function logIn(page, { email, password }) {
  await page.goto(`${larder.origin}/`);
  await page.waitForURL(/\/login/);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

const cardValue = (page, metric) => page.locator(`.card[data-metric="${metric}"] .card-value`);

/** The headline numbers as shown: visitors, visits, pageviews, bounce rate, revenue. */
async function cards(page) {
  await settled(page);
  const read = async (m) => (await cardValue(page, m).textContent()).trim();
  return {
    visitors: await read('visitors'),
    visits: await read('visits'),
    pageviews: await read('pageviews'),
    bounce_rate: await read('bounce_rate'),
    revenue: await read('revenue'),
  };
}

const fmt = (n) => n.toLocaleString('en');
const pct = (share) => `${Math.round(share * 1000) / 10}%`;

describe('dashboard', () => {
  it('larder serve --demo prints the demo owner; they log in and see the numbers the API answers', async () => {
    const printed = larder.stdout().match(/Dashboard: (\S+) — log in as (\S+) with the password (\S+)/);
    assert.ok(printed, `the start-up lines say how to log in:\n${larder.stdout()}`);
    const [, url, email, password] = printed;
    assert.equal(url, `${larder.origin}/`);
    const context = await newContext();
    const page = await context.newPage();
    await logIn(page, { email, password });
    await page.waitForURL(new RegExp(`/sites/${DEMO}/overview`));
    const demo = await apiSession(larder.origin, email, password);
    const answer = await demo.get(`/api/v1/sites/${DEMO}/overview?period=30d&compare=previous`);
    assert.ok(answer.current.visitors > 100, 'demo data is loaded');
    const shown = await cards(page);
    assert.equal(shown.visitors, fmt(answer.current.visitors));
    assert.equal(shown.pageviews, fmt(answer.current.pageviews));
    assert.equal(shown.visits, fmt(answer.current.visits));
    assert.equal(shown.bounce_rate, pct(answer.current.bounce_rate));
    // A breakdown shows the API's rows, in order. (Pages: the visit-level breakdowns of demo
    // data, whose visits mix sources within a second, are not stable from one request to the next.)
    const pages = await demo.get(`/api/v1/sites/${DEMO}/breakdown/page?period=30d&limit=10`);
    const rows = await page.locator('table[data-dimension="page"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.querySelector('button').dataset.value, ...[...tr.querySelectorAll('td.num')].map((td) => td.textContent.trim())]),
    );
    assert.deepEqual(rows, pages.rows.map((r) => [r.value, fmt(r.visitors), fmt(r.pageviews)]));
    await checkPage(page, 'overview-demo');
    // The same page at phone width.
    await page.setViewportSize({ width: 390, height: 844 });
    await checkPage(page, 'overview-demo-phone');
    await context.close();
  });

  it('an owner logs in and sees the numbers the fixture implies', async () => {
    ownerContext = await newContext();
    const page = await ownerContext.newPage();
    await logIn(page, OWNER);
    await page.waitForURL(new RegExp(`/sites/${SHOP}/overview`));
    const answer = await owner.get(`/api/v1/sites/${SHOP}/overview?period=30d&compare=previous`);
    assert.deepEqual(
      [answer.current.visitors, answer.current.visits, answer.current.pageviews, answer.current.bounce_rate],
      [EXPECTED.visitors, EXPECTED.visits, EXPECTED.pageviews, EXPECTED.bounce_rate],
      'the API counts the fixture',
    );
    assert.deepEqual(await cards(page), {
      visitors: fmt(EXPECTED.visitors),
      visits: fmt(EXPECTED.visits),
      pageviews: fmt(EXPECTED.pageviews),
      bounce_rate: pct(EXPECTED.bounce_rate),
      revenue: EXPECTED.revenue,
    });
    const sources = await page.locator('table[data-dimension="source"] tbody tr').evaluateAll((trs) =>
      Object.fromEntries(trs.map((tr) => [tr.querySelector('button').dataset.value, Number(tr.querySelector('td.num').textContent)])),
    );
    assert.deepEqual(sources, EXPECTED.sources);
    // The chart switches to revenue (the state goes to the URL) and back.
    await page.getByRole('group', { name: 'Chart metric' }).getByRole('button', { name: 'Revenue' }).click();
    await page.waitForURL(/metric=revenue/);
    await settled(page);
    assert.equal(await page.locator('.panel h2', { hasText: 'Revenue over time' }).count(), 1);
    await checkPage(page, 'overview-revenue');
    await page.getByRole('group', { name: 'Chart metric' }).getByRole('button', { name: 'Visitors' }).click();
    await checkPage(page, 'overview');
  });

  it('a breakdown row filters the whole page; the chip removes the filter', async () => {
    const page = ownerContext.pages()[0];
    // By keyboard: focus the row's button and press Enter.
    await page.locator('table[data-dimension="source"] button[data-value="Google"]').focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/filter=source%3D%3DGoogle/);
    const chip = page.locator('.chip[data-filter="source==Google"]');
    await chip.waitFor();
    assert.equal((await chip.locator('span').textContent()).trim(), 'Source is Google');
    const filtered = await owner.get(`/api/v1/sites/${SHOP}/overview?period=30d&filter=${encodeURIComponent('source==Google')}`);
    assert.deepEqual([filtered.current.visitors, filtered.current.pageviews], [EXPECTED.google.visitors, EXPECTED.google.pageviews]);
    await poll(async () => (await cards(page)).visitors === fmt(EXPECTED.google.visitors), { what: () => 'the filtered numbers' });
    assert.equal((await cards(page)).pageviews, fmt(EXPECTED.google.pageviews));
    // The other panels are filtered too: only Google's two visitors' devices.
    const devices = await page.locator('table[data-dimension="device"] tbody td.num').allTextContents();
    assert.equal(devices.map(Number).reduce((a, b) => a + b, 0), EXPECTED.google.visitors);
    await checkPage(page, 'overview-filtered');
    // A bookmark of the filtered view shows the same.
    const bookmark = page.url();
    const other = await ownerContext.newPage();
    const overviewRequests = [];
    let sessionChecked = false;
    let askedBeforeSessionChecked = false;
    other.on('request', (r) => {
      const { pathname } = new URL(r.url());
      if (pathname.startsWith('/api/') && pathname.endsWith('/overview')) {
        overviewRequests.push(r.url());
        askedBeforeSessionChecked ||= !sessionChecked;
      }
    });
    other.on('requestfinished', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/me') sessionChecked = true;
    });
    await other.goto(bookmark);
    assert.equal((await cards(other)).visitors, fmt(EXPECTED.google.visitors));
    // Opened directly, the page asks for its headline numbers alongside the session check, once:
    // the page uses that answer.
    assert.ok(askedBeforeSessionChecked, 'the headline numbers were asked for before the session check ended');
    assert.equal(overviewRequests.length, 1, `overview requests: ${overviewRequests.join(', ')}`);
    await other.close();
    await page.getByRole('button', { name: 'Remove filter: Source is Google' }).click();
    await chip.waitFor({ state: 'detached' });
    assert.ok(!page.url().includes('filter='), 'the filter left the URL');
    await poll(async () => (await cards(page)).visitors === fmt(EXPECTED.visitors), { what: () => 'the unfiltered numbers' });

    // Another date range: the fixture is all from the last few minutes.
    await page.getByLabel('Date range').selectOption('7d');
    await page.waitForURL(/period=7d/);
    assert.equal((await cards(page)).visitors, fmt(EXPECTED.visitors));
    await page.getByLabel('Date range').selectOption('30d');
    await page.waitForURL((url) => !url.search.includes('period='));

    // A range the API refuses: every panel shows the API's error and a retry, none blanks the page.
    await page.goto(`${larder.origin}/sites/${SHOP}/overview?period=custom&from=2026-02-10&to=2026-02-01`);
    await settled(page);
    const errors = page.locator('.panel .error-box');
    assert.ok((await errors.count()) >= 5, 'each panel has its own error');
    assert.match(await errors.first().textContent(), /to: must not be before from/);
    assert.equal(await page.getByRole('button', { name: 'Try again' }).count(), await errors.count());
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview-errors.png'), fullPage: true });
    ownerContext.errors.length = 0; // the browser logs the refused requests
    await page.goto(`${larder.origin}/sites/${SHOP}/overview`);
    assert.equal((await cards(page)).visitors, fmt(EXPECTED.visitors));
  });

  it('realtime shows who is on the site and refreshes by itself', async () => {
    const page = ownerContext.pages()[0];
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Realtime' }).click();
    await page.waitForURL(/\/realtime/);
    const now = page.locator('[data-realtime-visitors]');
    const live = await owner.get(`/api/v1/sites/${SHOP}/realtime`);
    assert.equal(live.visitors, EXPECTED.visitors, 'everyone of the fixture was here in the last five minutes');
    await poll(async () => (await now.textContent()) === String(EXPECTED.visitors), { what: () => 'the realtime count' });
    await checkPage(page, 'realtime');
    // Someone arrives; the page shows them without being reloaded.
    await sendFixture(larder.origin, [LATE_ARRIVAL]);
    await poll(async () => (await now.textContent()) === String(EXPECTED.visitors + 1), {
      timeout: 25_000,
      what: async () => `the new visitor (shown: ${await now.textContent()})`,
    });
    assert.ok(await page.locator('[data-realtime-pages]', { hasText: '/p/assam' }).isVisible(), 'their page is listed');
  });

  it('builds, evaluates and saves a funnel with a property filter and a breakdown', async () => {
    const page = ownerContext.pages()[0];
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Funnels' }).click();
    await page.waitForURL(/\/funnels/);
    await settled(page);
    // Steps from scratch: page "/", event add_to_cart, event purchase with coupon = SPRING.
    const step = (n) => page.locator(`li.step[data-step="${n}"]`);
    await step(1).getByLabel('Step 1 kind').selectOption('page');
    await step(1).getByLabel('Step 1 page path').fill('/');
    await step(2).getByLabel('Step 2 kind').selectOption('event');
    await step(2).getByLabel('Step 2 event name').fill('add_to_cart');
    await step(3).getByLabel('Step 3 kind').selectOption('event');
    await step(3).getByLabel('Step 3 event name').fill('purchase');
    await step(3).getByRole('button', { name: 'Add property filter' }).click();
    await step(3).getByLabel('Property', { exact: true }).fill('coupon');
    await step(3).getByLabel('is', { exact: true }).fill('SPRING');
    await page.getByRole('button', { name: 'Show funnel' }).click();
    await page.locator('.funnel-step').first().waitFor();
    const definition = {
      steps: [{ page: '/' }, { event: 'add_to_cart' }, { event: 'purchase', props: { coupon: 'SPRING' } }],
      window_seconds: 86400,
      order: 'strict',
    };
    const { body: evaluated } = await owner.call('POST', `/api/v1/sites/${SHOP}/funnels/evaluate?period=30d`, definition);
    assert.deepEqual(
      evaluated.result.steps.map((s) => s.visitors),
      EXPECTED.funnel,
    );
    const shown = await page.locator('.funnel-step').evaluateAll((steps) =>
      steps.map((s) => ({
        visitors: s.querySelector('[data-field="visitors"]').textContent,
        conversion: s.querySelector('[data-field="conversion"]').textContent,
        dropped: s.querySelector('[data-field="dropped"]')?.textContent ?? null,
      })),
    );
    assert.deepEqual(
      shown,
      evaluated.result.steps.map((s) => ({
        visitors: fmt(s.visitors),
        conversion: s.step === 1 ? '100%' : pct(s.conversion_rate),
        dropped: s.step === 1 ? null : `${fmt(s.dropped_off)} (${pct(s.drop_off_rate)})`,
      })),
    );
    assert.deepEqual(shown.map((s) => s.visitors), EXPECTED.funnel.map(fmt));
    // Broken down by source.
    await page.getByLabel('Break down by').selectOption('source');
    await page.locator('table[data-breakdown="source"]').waitFor();
    assert.ok(await page.locator('table[data-breakdown="source"] tbody th', { hasText: 'Google' }).count(), 'Google has its row');
    await checkPage(page, 'funnel-builder');
    // Saved under a name: shown as a saved funnel and kept by the API.
    await page.getByLabel('Name', { exact: true }).fill('Checkout with coupon');
    await page.getByRole('button', { name: 'Save funnel' }).click();
    await page.waitForURL(/funnel=/);
    const id = new URL(page.url()).searchParams.get('funnel');
    await page.locator('.saved-funnels a', { hasText: 'Checkout with coupon' }).waitFor();
    const saved = await owner.get(`/api/v1/sites/${SHOP}/funnels`);
    assert.deepEqual(
      saved.funnels.map((f) => [f.id, f.name, f.definition]),
      [[id, 'Checkout with coupon', definition]],
    );
    await page.locator('.funnel-step').first().waitFor();
    assert.deepEqual(await page.locator('.funnel-step [data-field="visitors"]').allTextContents(), EXPECTED.funnel.map(fmt));
    await checkPage(page, 'funnel-saved');
  });

  it('the search report lists no-result queries; one leads to the pages it came from', async () => {
    const page = ownerContext.pages()[0];
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Site search' }).click();
    await page.waitForURL(/\/search/);
    await settled(page);
    const report = await owner.get(`/api/v1/sites/${SHOP}/search?period=30d`);
    assert.equal(report.summary.searches, EXPECTED.searches);
    assert.equal((await page.locator('.card[data-metric="searches"] .card-value').textContent()).trim(), fmt(report.summary.searches));
    assert.equal((await page.locator('.card[data-metric="click_through_rate"] .card-value').textContent()).trim(), pct(report.summary.click_through_rate));
    assert.equal((await page.locator('.card[data-metric="no_result_rate"] .card-value').textContent()).trim(), pct(report.summary.no_result_rate));
    await checkPage(page, 'search');
    await page.locator(`a[data-query="${EXPECTED.noResult.query}"]`).click();
    await page.waitForURL(/query=xyzzy/);
    const from = page.locator('[data-from-pages] li > a:not([data-external])');
    await from.first().waitFor();
    assert.deepEqual(await from.allTextContents(), EXPECTED.noResult.from);
    assert.deepEqual(
      EXPECTED.noResult.from,
      report.no_result_queries.find((q) => q.query === EXPECTED.noResult.query).from_pages.map((p) => p.page),
    );
    await checkPage(page, 'search-no-result-query');
    // Following a page: the overview, filtered to it.
    await from.filter({ hasText: '/c/tea' }).click();
    await page.waitForURL(/\/overview\?.*filter=page%3D%3D%2Fc%2Ftea/);
    await page.locator('.chip[data-filter="page==/c/tea"]').waitFor();
    const filtered = await owner.get(`/api/v1/sites/${SHOP}/overview?period=30d&filter=${encodeURIComponent('page==/c/tea')}`);
    assert.equal((await cards(page)).visitors, fmt(filtered.current.visitors));
    assert.equal(filtered.current.visitors, 2, 'V1 and V3 saw /c/tea');
  });

  it('the UX page shows frustrated clicks, vitals and errors', async () => {
    const page = ownerContext.pages()[0];
    await page.goto(`${larder.origin}/sites/${SHOP}/ux`);
    await settled(page);
    const rage = await page.locator('table[data-clicks="rage"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [tr.querySelector('th').textContent, ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]),
    );
    assert.deepEqual(rage, [['/p/senchabutton.add-to-cart', '2', '1']]);
    const lcp = page.locator('.vital[data-metric="LCP"]');
    assert.match(await lcp.locator('.badge').textContent(), /^4,500 ms/);
    assert.match(await lcp.textContent(), /50% good · 50% poor · 2 samples/);
    assert.ok(await page.locator('td, th', { hasText: 'TypeError: x is undefined' }).count(), 'the JS error is listed');
    await checkPage(page, 'ux');
  });

  it('an owner changes settings, exports with SQL and adds a viewer; the audit log shows it', async () => {
    const page = ownerContext.pages()[0];
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(/\/settings/);
    await settled(page);
    assert.equal(
      await page.locator('[data-snippet]').textContent(),
      `<script defer src="https://${SHOP}/larder.js" data-site="${SHOP}"></script>`,
      'the tracking tag',
    );
    await page.getByLabel('Keep events for (days)').fill('400');
    await page.getByLabel(/Honour Global Privacy Control/).uncheck();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const site = await owner.get(`/api/v1/sites/${SHOP}`);
    assert.deepEqual([site.retention_days, site.honour_privacy_signals], [400, false]);
    await page.reload();
    await settled(page);
    assert.equal(await page.getByLabel('Keep events for (days)').inputValue(), '400', 'kept after a reload');

    // SQL export: the preview holds the query's answer.
    const query = "SELECT count() AS pageviews FROM events WHERE name = 'pageview'";
    await page.getByLabel('Query', { exact: true }).fill(query);
    await page.getByRole('button', { name: 'Run query' }).click();
    const preview = page.locator('pre.preview');
    await preview.waitFor();
    const pageviews = [...EVENTS, LATE_ARRIVAL].filter(([, , e]) => e.name === 'pageview').length;
    const exported = await owner.call('POST', '/api/v1/sql', { sites: [SHOP], query, format: 'csv' });
    assert.equal(exported.status, 200);
    assert.equal(String(exported.body).trim().split('\n').at(-1), String(pageviews), 'the export counts every page view');
    assert.equal(await preview.textContent(), String(exported.body).trim(), 'the preview shows the export');
    assert.ok(await page.getByRole('link', { name: 'Download' }).isVisible());

    // A viewer, added with a password of the owner's choice.
    await page.locator('#users input[name="email"]').fill(VIEWER.email);
    await page.locator('#users select[name="role"]').selectOption('viewer');
    await page.locator('#users input[name="password"]').fill(VIEWER.password);
    await page.locator('#users').getByRole('button', { name: 'Add' }).click();
    await page.locator('#users .notice', { hasText: `Created ${VIEWER.email} as viewer` }).waitFor();
    const users = await owner.get(`/api/v1/sites/${SHOP}/users`);
    assert.deepEqual(users.map((u) => [u.email, u.role]).sort(), [
      [OWNER.email, 'owner'],
      [VIEWER.email, 'viewer'],
    ]);
    // The audit log names all three changes.
    await page.reload();
    await settled(page);
    const actions = await page.locator('table[data-audit] tbody td:nth-child(3)').allTextContents();
    for (const action of ['site updated', 'sql', 'user created']) assert.ok(actions.includes(action), `audit log has "${action}": ${actions}`);
    await checkPage(page, 'settings-owner');
    await page.setViewportSize({ width: 390, height: 844 });
    await checkPage(page, 'settings-owner-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('an owner adds goals in settings; the overview shows their conversions as the API answers them; a goal is deleted', async () => {
    const page = ownerContext.pages()[0];
    const goalsApi = `/api/v1/sites/${SHOP}/goals`;
    assert.deepEqual((await owner.get(goalsApi)).goals, [], 'no goals yet');
    // Without goals, the overview's panel tells an admin where to add one.
    await page.goto(`${larder.origin}/sites/${SHOP}/overview`);
    const empty = page.locator('#goals [data-empty="goals"]');
    await empty.waitFor();
    await empty.getByRole('link', { name: 'add one in Settings' }).click();
    await page.waitForURL(/\/settings#goals$/);
    await settled(page);
    const panel = page.locator('section#goals');
    assert.match(await panel.textContent(), /No goals yet/);

    // An event goal, then a page goal, typed and submitted from the keyboard.
    await panel.getByLabel('Goal name').fill('Purchase');
    await panel.getByLabel('Event name').fill('purchase');
    await panel.getByRole('button', { name: 'Add goal' }).click();
    await panel.getByRole('status').filter({ hasText: 'Added the goal "Purchase" (event purchase).' }).waitFor();
    await panel.getByLabel('see a page').check();
    assert.match(await panel.locator('.help').textContent(), /\* matches one path segment.*\*\* matches anything/);
    // A pattern the API refuses: its message under the field.
    await panel.getByLabel('Goal name').fill('Product page');
    await panel.getByLabel('Page pattern').fill('p/*');
    await panel.getByLabel('Page pattern').press('Enter');
    await panel.locator('.field-error', { hasText: 'must start with /' }).waitFor();
    const refused = 'console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)';
    await poll(async () => ownerContext.errors.length > 0, { what: () => 'the browser to log the refused request' });
    assert.deepEqual(ownerContext.errors, [refused]);
    ownerContext.errors.length = 0; // the browser logs the refused request
    await panel.getByLabel('Page pattern').fill('/p/*');
    await panel.getByLabel('Page pattern').press('Enter');
    await panel.getByRole('status').filter({ hasText: 'Added the goal "Product page" (page /p/*).' }).waitFor();
    // Listed by name, in the page as in the API.
    const saved = (await owner.get(goalsApi)).goals;
    assert.deepEqual(
      saved.map((g) => [g.name, g.event_name ?? null, g.page_pattern ?? null]),
      [
        ['Product page', null, '/p/*'],
        ['Purchase', 'purchase', null],
      ],
    );
    await panel.locator('table[data-goals] tbody tr').nth(1).waitFor();
    assert.deepEqual(await panel.locator('table[data-goals] tbody tr').allTextContents(), [
      'Product pagesee a page matching /p/*Delete',
      'Purchasesend the event purchaseDelete',
    ]);
    await checkPage(page, 'settings-goals');

    // The overview: per goal, converting visitors, conversions, rate and change, as the API
    // answers them. Five visitors (the fixture's four and the late arrival on /p/assam); V1
    // bought; V1, V2, V3 saw /p/sencha and V5 /p/assam; nothing in the previous period.
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Overview' }).click();
    await page.waitForURL(/\/overview/);
    const goalRows = page.locator('#goals table[data-goals] tbody tr');
    await goalRows.nth(1).waitFor();
    await settled(page);
    const shownGoals = () =>
      goalRows.evaluateAll((trs) =>
        trs.map((tr) => [
          tr.querySelector('.goal-name').textContent,
          ...['visitors', 'conversions', 'conversion_rate', 'change'].map((f) => tr.querySelector(`[data-field="${f}"]`).textContent),
        ]),
      );
    const conversions = await owner.get(`${goalsApi}/conversions?period=30d&compare=previous`);
    assert.equal(conversions.visitors, EXPECTED.visitors + 1);
    assert.deepEqual(
      conversions.goals.map((g) => [g.name, g.visitors, g.conversions, g.conversion_rate]),
      [
        ['Product page', 4, 4, 0.8],
        ['Purchase', 1, 1, 0.2],
      ],
    );
    assert.deepEqual(conversions.previous.goals.map((g) => g.visitors), [0, 0]);
    assert.deepEqual(
      await shownGoals(),
      [
        ['Product page', '4', '4', '80%', 'new'],
        ['Purchase', '1', '1', '20%', 'new'],
      ],
    );
    assert.deepEqual(
      await shownGoals(),
      conversions.goals.map((g) => [g.name, fmt(g.visitors), fmt(g.conversions), pct(g.conversion_rate), 'new']),
    );
    assert.equal(await goalRows.nth(0).locator('.goal-target').textContent(), 'page /p/*');
    assert.equal(await goalRows.nth(1).locator('.goal-target').textContent(), 'event purchase · €30.00 revenue');
    // Revenue and average order value by source, as the API answers them.
    const revenue = await owner.get(`/api/v1/sites/${SHOP}/revenue?period=30d&by=source`);
    assert.deepEqual(
      revenue.rows.map((r) => [r.value, r.orders, r.amount_e4, r.average_order_e4]),
      [['Google', 1, 300_000, 300_000]],
    );
    assert.deepEqual(
      await page.locator('table[data-revenue-by="source"] tbody tr').evaluateAll((trs) =>
        trs.map((tr) => [tr.querySelector('button').textContent, ...[...tr.querySelectorAll('td.num')].map((td) => td.textContent)]),
      ),
      [['Google', '1', '€30.00', '€30.00']],
    );
    await checkPage(page, 'overview-goals');
    // The page's filter applies: Google's two visitors, V1 bought, both saw /p/sencha.
    await page.locator('table[data-dimension="source"] button[data-value="Google"]').click();
    await page.waitForURL(/filter=source%3D%3DGoogle/);
    await poll(async () => (await shownGoals())[1]?.[3] === '50%', { what: async () => `the filtered goals (${JSON.stringify(await shownGoals())})` });
    await settled(page);
    const google = await owner.get(`${goalsApi}/conversions?period=30d&compare=previous&filter=${encodeURIComponent('source==Google')}`);
    assert.deepEqual(
      google.goals.map((g) => [g.name, g.visitors, g.conversions, g.conversion_rate]),
      [
        ['Product page', 2, 2, 1],
        ['Purchase', 1, 1, 0.5],
      ],
    );
    assert.deepEqual(await shownGoals(), [
      ['Product page', '2', '2', '100%', 'new'],
      ['Purchase', '1', '1', '50%', 'new'],
    ]);
    await page.getByRole('button', { name: 'Remove filter: Source is Google' }).click();
    await page.waitForURL((url) => !url.search.includes('filter='));

    // Deleting asks first; Escape keeps the goal; confirming (by keyboard) deletes it.
    await page.goto(`${larder.origin}/sites/${SHOP}/settings#goals`);
    await settled(page);
    await panel.getByRole('button', { name: 'Delete the goal Product page' }).click();
    const confirmDelete = panel.getByRole('group', { name: 'Confirm deleting Product page' });
    await confirmDelete.waitFor();
    await page.waitForFunction(() => document.activeElement?.textContent === 'Yes, delete', null, { timeout: 5_000 });
    await page.keyboard.press('Escape');
    await confirmDelete.waitFor({ state: 'detached' });
    // The focus is back on the row's Delete button.
    await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Delete the goal Product page', null, { timeout: 5_000 });
    assert.equal((await owner.get(goalsApi)).goals.length, 2, 'Escape deleted nothing');
    await panel.getByRole('button', { name: 'Delete the goal Product page' }).click();
    // The confirmation takes the focus.
    await page.waitForFunction(() => document.activeElement?.textContent === 'Yes, delete', null, { timeout: 5_000 });
    await page.keyboard.press('Enter');
    await panel.getByRole('status').filter({ hasText: 'Deleted the goal "Product page".' }).waitFor();
    assert.deepEqual((await owner.get(goalsApi)).goals.map((g) => g.name), ['Purchase']);
    await panel.locator('table[data-goals] tbody tr').nth(1).waitFor({ state: 'detached' });
    await settled(page);
    assert.deepEqual(await panel.locator('table[data-goals] tbody th').allTextContents(), ['Purchase']);
    await page.setViewportSize({ width: 390, height: 844 });
    await checkPage(page, 'settings-goals-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('an administrator adds a site; its empty overview says how to install the tag', async () => {
    const page = ownerContext.pages()[0];
    await page.locator('#new-site').getByLabel('Shop domain').fill('new-shop.example');
    await page.locator('#new-site').getByRole('button', { name: 'Add site' }).click();
    await page.waitForURL(/\/sites\/new-shop\.example\/settings/);
    await settled(page);
    const tag = '<script defer src="https://new-shop.example/larder.js" data-site="new-shop.example"></script>';
    assert.equal(await page.locator('[data-snippet]').textContent(), tag);
    assert.equal(await page.locator('[data-role]').textContent(), 'owner', 'whoever adds a site owns it');
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Overview' }).click();
    const install = page.locator('[data-empty="install"]');
    await install.waitFor();
    assert.equal(await install.locator('.snippet code').textContent(), tag, 'the empty state shows the tag');
    await checkPage(page, 'overview-new-site');
    await page.goto(`${larder.origin}/sites/new-shop.example/realtime`);
    await checkPage(page, 'realtime-new-site');
  });

  it('a viewer sees reports and read-only settings, never the SQL export', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await logIn(page, VIEWER);
    await page.waitForURL(new RegExp(`/sites/${SHOP}/overview`));
    assert.equal((await cards(page)).visitors, fmt(EXPECTED.visitors + 1), 'the fixture and the late arrival');
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL(/\/settings/);
    await settled(page);
    assert.equal(await page.locator('[data-role]').textContent(), 'viewer');
    // Goals: listed, but no form and no delete buttons; the API refuses a viewer's changes.
    const goals = page.locator('section#goals');
    assert.deepEqual(await goals.locator('table[data-goals] tbody th').allTextContents(), ['Purchase']);
    assert.equal(await goals.locator('form, input, button').count(), 0, 'no add or delete controls');
    assert.match(await goals.locator('.note').textContent(), /Only the site's admins and owners can add or delete goals/);
    for (const hidden of ['SQL export', 'Users and roles', 'Audit log', 'Delete the site']) {
      assert.equal(await page.getByRole('heading', { name: hidden }).count(), 0, `a viewer does not see "${hidden}"`);
    }
    assert.equal(await page.locator('[data-section="sql-export"], textarea').count(), 0);
    assert.ok(await page.getByLabel('Keep events for (days)').isDisabled(), 'site settings are read-only');
    assert.ok(await page.getByRole('heading', { name: 'Tracking tag' }).isVisible());
    // The API agrees.
    const viewer = await apiSession(larder.origin, VIEWER.email, VIEWER.password);
    const { status } = await viewer.call('POST', '/api/v1/sql', { sites: [SHOP], query: 'SELECT 1 FROM events' });
    assert.equal(status, 403);
    const goalId = (await viewer.get(`/api/v1/sites/${SHOP}/goals`)).goals[0].id;
    assert.equal((await viewer.call('POST', `/api/v1/sites/${SHOP}/goals`, { name: 'Cart', event_name: 'add_to_cart' })).status, 403);
    assert.equal((await viewer.call('DELETE', `/api/v1/sites/${SHOP}/goals/${goalId}`)).status, 403);
    await checkPage(page, 'settings-viewer');
    // The overview's goals panel, for the viewer too.
    await page.getByRole('navigation', { name: 'Reports' }).getByRole('link', { name: 'Overview' }).click();
    await page.locator('#goals table[data-goals] tbody tr').first().waitFor();
    assert.deepEqual(
      await page.locator('#goals table[data-goals] tbody tr').evaluateAll((trs) =>
        trs.map((tr) => [tr.querySelector('.goal-name').textContent, tr.querySelector('[data-field="visitors"]').textContent]),
      ),
      [['Purchase', '1']],
    );
    await checkPage(page, 'overview-viewer');
    await context.close();
  });

  it('after repeated failed logins, login is locked out even with the right password', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const error = page.locator('#login-error');
    await page.goto(`${larder.origin}/login`);
    await page.getByLabel('Email').fill(OWNER.email);
    for (let i = 1; i <= MAX_FAILED_LOGINS; i++) {
      await page.getByLabel('Password').fill(`wrong password ${i}`);
      await page.getByRole('button', { name: 'Log in' }).click();
      await poll(async () => (await error.count()) && (await error.getAttribute('data-locked')) === String(i >= MAX_FAILED_LOGINS), {
        what: () => `the message after failure ${i}`,
      });
      if (i < MAX_FAILED_LOGINS) assert.match(await error.textContent(), new RegExp(`Wrong email or password\\. After ${MAX_FAILED_LOGINS} failed attempts`));
    }
    assert.match(await error.textContent(), /sign-in is locked for 15 minutes, even with the right password/);
    // The right password is refused now, and the page says why.
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForFunction(() => !document.querySelector('button[type=submit]').disabled);
    assert.match(page.url(), /\/login/);
    assert.equal(await error.getAttribute('data-locked'), 'true');
    const direct = await fetch(`${larder.origin}/api/v1/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(OWNER),
    });
    assert.equal(direct.status, 401, 'the API refuses the right password too');
    await checkPage(page, 'login-locked-out');
    await context.close();
  });
});
