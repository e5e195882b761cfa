// A small shop's last few minutes, sent through the real collector (POST /api/event) as four
// visitors, so that every number on the dashboard is known in advance. Each visitor is a
// browser of its own (the collector tells visitors apart by address and user agent; all come
// from 127.0.0.1); `age_ms` places each event that many milliseconds before it was sent, so the
// order and the time between events are exact.
//
// What it implies, for any period that includes today (see EXPECTED):
// - 4 visitors, 4 visits, 12 pageviews, 1 bounce (V4: one page view), €30.00 from 1 order;
// - sources: Google (V1, V2), DuckDuckGo (V4, campaign "spring"), direct (V3);
// - funnel page "/" → add_to_cart → purchase (coupon SPRING): 3 → 2 → 1;
// - search: 3 searches, 2 of them "xyzzy" without results (V1 from "/", V3 from "/c/tea"),
//   one "green tea" that was clicked;
// - UX: 2 rage clicks on /p/sencha `button.add-to-cart`, a dead click, LCP 1800 and 4500 ms on
//   "/", one JavaScript error, engagement on /p/sencha.
import { chromeUA } from './larder.mjs';

export const SHOP = 'shop.example';
const url = (p) => `https://${SHOP}${p}`;
const SENCHA = { id: 'p-sencha', name: 'Sencha Green Tea', category: 'Tea', quantity: 2, price: '15.00' };

export const VISITORS = {
  V1: { ua: chromeUA(140, 1), referrer: 'https://www.google.com/' },
  V2: {
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    referrer: 'https://www.google.com/',
  },
  V3: { ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0', referrer: '' },
  V4: {
    ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36',
    referrer: 'https://duckduckgo.com/',
  },
  // Arrives while the realtime page is open.
  V5: { ua: chromeUA(140, 5), referrer: '' },
};

/** [visitor, seconds ago, event] in the order they happened. */
export const EVENTS = [
  ['V1', 200, { name: 'pageview', url: url('/') }],
  ['V1', 190, { name: 'pageview', url: url('/search?q=xyzzy') }],
  ['V1', 189, { name: 'search', url: url('/search?q=xyzzy'), search: { query: 'xyzzy', results: 0 } }],
  ['V1', 170, { name: 'pageview', url: url('/c/tea') }],
  ['V1', 160, { name: 'pageview', url: url('/p/sencha') }],
  ['V1', 159, { name: 'view_item', url: url('/p/sencha'), currency: 'EUR', items: [SENCHA] }],
  ['V1', 120, { name: 'add_to_cart', url: url('/p/sencha'), currency: 'EUR', items: [SENCHA] }],
  ['V1', 101, { name: 'pageview', url: url('/checkout') }],
  ['V1', 100, { name: 'begin_checkout', url: url('/checkout'), currency: 'EUR', items: [SENCHA] }],
  ['V1', 95, { name: 'engagement', url: url('/p/sencha'), ux: { scroll_depth: 80, engaged_ms: 30000 } }],
  [
    'V1',
    90,
    {
      name: 'purchase',
      url: url('/checkout'),
      revenue: { amount: '30.00', currency: 'EUR' },
      order_id: 'A-1001',
      items: [SENCHA],
      props: { coupon: 'SPRING' },
    },
  ],
  ['V1', 60, { name: 'web_vital', url: url('/'), ux: { vital: { name: 'LCP', value: 1800 } } }],
  ['V2', 180, { name: 'pageview', url: url('/') }],
  ['V2', 175, { name: 'pageview', url: url('/p/sencha') }],
  ['V2', 150, { name: 'add_to_cart', url: url('/p/sencha'), currency: 'EUR', items: [SENCHA] }],
  ['V2', 140, { name: 'rage_click', url: url('/p/sencha'), ux: { selector: 'button.add-to-cart' } }],
  ['V2', 130, { name: 'rage_click', url: url('/p/sencha'), ux: { selector: 'button.add-to-cart' } }],
  ['V2', 50, { name: 'web_vital', url: url('/'), ux: { vital: { name: 'LCP', value: 4500 } } }],
  ['V3', 150, { name: 'pageview', url: url('/c/tea') }],
  ['V3', 140, { name: 'pageview', url: url('/search?q=xyzzy') }],
  ['V3', 139, { name: 'search', url: url('/search?q=xyzzy'), search: { query: 'xyzzy', results: 0 } }],
  ['V3', 130, { name: 'pageview', url: url('/search?q=green+tea') }],
  ['V3', 129, { name: 'search', url: url('/search?q=green+tea'), search: { query: 'green tea', results: 5 } }],
  ['V3', 120, { name: 'search_click', url: url('/search?q=green+tea'), search: { query: 'green tea', position: 1, product: 'p-sencha' } }],
  ['V3', 110, { name: 'pageview', url: url('/p/sencha') }],
  ['V3', 100, { name: 'dead_click', url: url('/p/sencha'), ux: { selector: 'span.price' } }],
  [
    'V3',
    40,
    { name: 'js_error', url: url('/p/sencha'), ux: { error: { message: 'TypeError: x is undefined', source: url('/app.js'), line: 12 } } },
  ],
  ['V4', 60, { name: 'pageview', url: url('/?utm_campaign=spring') }],
];

/** The event V5 sends while the realtime page is open. */
export const LATE_ARRIVAL = ['V5', 0, { name: 'pageview', url: url('/p/assam') }];

/** What the events imply (period: any that includes today). */
export const EXPECTED = {
  visitors: 4,
  visits: 4,
  pageviews: 12,
  bounce_rate: 0.25,
  revenue: '€30.00',
  sources: { Google: 2, DuckDuckGo: 1, '': 1 },
  google: { visitors: 2, pageviews: 7 },
  funnel: [3, 2, 1],
  searches: 3,
  noResult: { query: 'xyzzy', from: ['/', '/c/tea'] },
};

/** Sends one visitor's events as one batch, from that visitor's browser. */
async function sendBatch(origin, visitor, events) {
  const { ua, referrer } = VISITORS[visitor];
  const body = events.map(([, ago, e]) => ({ site: SHOP, ...(referrer ? { referrer } : {}), age_ms: ago * 1000, ...e }));
  const res = await fetch(`${origin}/api/event`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain', 'User-Agent': ua },
    body: JSON.stringify(body),
  });
  if (res.status !== 202) throw new Error(`the collector refused ${visitor}'s events: ${res.status} ${await res.text()}`);
}

/** Sends the fixture through the collector, one batch per visitor, in order. */
export async function sendFixture(origin, events = EVENTS) {
  const byVisitor = new Map();
  for (const e of events) byVisitor.set(e[0], [...(byVisitor.get(e[0]) ?? []), e]);
  for (const [visitor, list] of byVisitor) await sendBatch(origin, visitor, list);
}
