// The test-side wire-format validator (wire.mjs) must itself be right, or the browser tests'
// "every body is valid" check means nothing. Cases follow docs/wire-format.md.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateRequest } from './wire.mjs';

const base = { site: 'shop.example', name: 'pageview', url: 'https://shop.example/p/1' };
const ok = (body, ct = 'text/plain') => {
  const v = validateRequest(ct, typeof body === 'string' ? body : JSON.stringify(body));
  assert.equal(v.status, 202, JSON.stringify(v.error));
  return v;
};
const bad = (body, status, field, ct = 'application/json') => {
  const v = validateRequest(ct, typeof body === 'string' ? body : JSON.stringify(body));
  assert.equal(v.status, status, `expected ${status} for ${JSON.stringify(body)}, got ${JSON.stringify(v)}`);
  if (field) assert.equal(v.error.field, field);
};

describe('wire-format validator', () => {
  it('accepts the documented example event and batches', () => {
    const full = {
      site: 'shop.example',
      name: 'pageview',
      url: 'https://shop.example/p/green-tea?utm_source=newsletter&q=tea',
      referrer: 'https://www.google.com/',
      age_ms: 0,
      props: { plan: 'gold', logged_in: true, items_in_cart: 3 },
      revenue: { amount: '12.50', currency: 'EUR' },
      order_id: '1001',
      items: [{ id: 'p-1', name: 'Green Tea', category: 'Tea', quantity: 2, price: '4.50' }],
      search: { query: 'green tea', results: 12, position: 3, product: 'p-1' },
      ux: {
        scroll_depth: 80,
        engaged_ms: 35000,
        selector: 'button.add-to-cart',
        vital: { name: 'LCP', value: 1234.5 },
        error: { message: 'TypeError: x is undefined', source: 'https://shop.example/app.js', line: 12 },
      },
    };
    ok(full, 'application/json');
    ok(full, 'text/plain;charset=UTF-8');
    assert.equal(ok([base, base]).accepted, 2);
    ok({ ...base, revenue: { amount: 12.5, currency: 'EUR' } });
    ok({ ...base, name: 'search', search: { query: 'x', results: null } });
  });

  it('rejects what the collector rejects, naming the field', () => {
    bad(base, 415, undefined, 'application/x-www-form-urlencoded');
    bad('not json', 400);
    bad([], 400);
    bad('"a string"', 400);
    bad(Array(101).fill(base), 413);
    bad({ ...base, extra: 1 }, 422, 'extra');
    bad([base, { ...base, revenue: { amount: '1.5', currency: 'euro' } }], 422, 'events[1].revenue.currency');
    bad({ ...base, revenue: { amount: '1.23456', currency: 'EUR' } }, 422, 'revenue.amount');
    bad({ ...base, url: '/relative' }, 422, 'url');
    bad({ ...base, url: 'ftp://shop.example/' }, 422, 'url');
    bad({ site: 'shop.example', url: base.url }, 422, 'name');
    bad({ ...base, name: 'a\nb' }, 422, 'name');
    bad({ ...base, age_ms: 1_800_001 }, 422, 'age_ms');
    bad({ ...base, props: { k: { nested: 1 } } }, 422, 'props.k');
    bad({ ...base, props: Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, i])) }, 422, 'props');
    bad({ ...base, items: [{ name: 'no id' }] }, 422, 'items[0].id');
    bad({ ...base, items: [{ id: 'a', quantity: 0 }] }, 422, 'items[0].quantity');
    bad({ ...base, items: [{ id: 'a', brand: 'x' }] }, 422, 'items[0].brand');
    bad({ ...base, items: [{ id: 7 }] }, 422, 'items[0].id');
    bad({ ...base, items: [{ id: 'a', price: '1.00' }] }, 422, 'items[0].price');
    ok({ ...base, items: [{ id: 'a', price: '1.00' }], revenue: { amount: '1.00', currency: 'EUR' } });
    ok({ ...base, items: [{ id: 'a' }] });
    bad({ ...base, search: { position: 0 } }, 422, 'search.position');
    bad({ ...base, ux: { scroll_depth: 101 } }, 422, 'ux.scroll_depth');
    bad({ ...base, ux: { vital: { name: 'FID', value: 1 } } }, 422, 'ux.vital.name');
    bad({ ...base, ux: { vital: { name: 'CLS', value: -1 } } }, 422, 'ux.vital.value');
    bad({ ...base, ux: { error: { line: 1 } } }, 422, 'ux.error.message');
  });

  it('checks what each known event must carry', () => {
    bad({ ...base, name: 'engagement' }, 422, 'ux');
    bad({ ...base, name: 'search', search: { results: 1 } }, 422, 'search.query');
    bad({ ...base, name: 'search_click', search: { query: 'x' } }, 422, 'search.position');
    bad({ ...base, name: 'rage_click' }, 422, 'ux.selector');
    bad({ ...base, name: 'web_vital' }, 422, 'ux.vital');
    bad({ ...base, name: 'js_error', ux: {} }, 422, 'ux.error.message');
    bad({ ...base, name: 'outbound_click' }, 422, 'props.url');
    ok({ ...base, name: 'newsletter_signup' });
  });
});
