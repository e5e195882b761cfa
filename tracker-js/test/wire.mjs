// A validator mirroring docs/wire-format.md, so the tests can check every body the browser sent.
// It answers like the collector would: { status: 202, accepted } or { status, error: { code, message, field } }.
// Keep it in step with the document and with the Rust validator (core/src/wire.rs).

const enc = new TextEncoder();
const bytes = (s) => enc.encode(s).length;
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
// A decimal: string (surrounding whitespace ignored) or number, at most 10 integer and 4
// fractional digits (`1.` reads as 1, as in the collector), within ±1e9.
const DECIMAL = /^-?\d{1,10}(\.\d{0,4})?$/;
const isDecimal = (v) => {
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= 1e9 && DECIMAL.test(String(v));
  return typeof v === 'string' && DECIMAL.test(v.trim()) && Math.abs(Number(v)) <= 1e9;
};
// An ISO 4217 code: three ASCII letters, any case (the collector upper-cases).
const CURRENCY = /^[A-Za-z]{3}$/;

export const EVENT_KEYS = ['site', 'name', 'url', 'referrer', 'age_ms', 'props', 'revenue', 'currency', 'order_id', 'items', 'search', 'ux'];
const ITEM_KEYS = ['id', 'name', 'category', 'quantity', 'price'];
const SEARCH_KEYS = ['query', 'results', 'position', 'product'];
const UX_KEYS = ['scroll_depth', 'engaged_ms', 'selector', 'vital', 'error'];
export const VITALS = ['LCP', 'CLS', 'INP', 'TTFB', 'FCP'];

class Invalid extends Error {
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

const check = (cond, field, message) => {
  if (!cond) throw new Invalid(field, message);
};
const onlyKeys = (o, keys, field) => {
  for (const k of Object.keys(o)) check(keys.includes(k), field ? `${field}.${k}` : k, 'unknown field');
};
const str = (v, field, max, { min = 0 } = {}) => {
  check(typeof v === 'string', field, 'must be a string');
  check(bytes(v) >= min && bytes(v) <= max, field, `must be ${min}–${max} bytes`);
};
const intIn = (v, field, lo, hi) => check(isInt(v) && v >= lo && v <= hi, field, `must be an integer ${lo}–${hi}`);
const httpUrl = (v, field) => {
  str(v, field, 2048, { min: 1 });
  let u;
  try {
    u = new URL(v);
  } catch {
    throw new Invalid(field, 'must be an absolute URL');
  }
  check(u.protocol === 'http:' || u.protocol === 'https:', field, 'must be http(s)');
};

/** Throws Invalid naming the field (prefix `p`, e.g. "events[2]."). */
export function validateEvent(e, p = '') {
  check(isObj(e), p.replace(/\.$/, '') || 'event', 'must be an object');
  onlyKeys(e, EVENT_KEYS, p.replace(/\.$/, ''));
  check('site' in e, `${p}site`, 'is required');
  str(e.site, `${p}site`, 253, { min: 1 });
  check('name' in e, `${p}name`, 'is required');
  str(e.name, `${p}name`, 120, { min: 1 });
  // eslint-disable-next-line no-control-regex
  check(!/[\u0000-\u001f\u007f]/.test(e.name), `${p}name`, 'must not contain control characters');
  check('url' in e, `${p}url`, 'is required');
  httpUrl(e.url, `${p}url`);
  if (e.referrer !== undefined) str(e.referrer, `${p}referrer`, 2048);
  if (e.age_ms !== undefined) intIn(e.age_ms, `${p}age_ms`, 0, 1_800_000);
  if (e.props !== undefined) {
    const f = `${p}props`;
    check(isObj(e.props), f, 'must be an object');
    check(Object.keys(e.props).length <= 30, f, 'at most 30 entries');
    for (const [k, v] of Object.entries(e.props)) {
      check(bytes(k) >= 1 && bytes(k) <= 64, `${f}.${k}`, 'keys must be 1–64 bytes');
      if (typeof v === 'string') str(v, `${f}.${k}`, 256);
      else check((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean', `${f}.${k}`, 'must be a string, number or boolean');
    }
  }
  if (e.revenue !== undefined) {
    const f = `${p}revenue`;
    check(isObj(e.revenue), f, 'must be an object');
    onlyKeys(e.revenue, ['amount', 'currency'], f);
    check(isDecimal(e.revenue.amount), `${f}.amount`, 'must be a decimal (≤ 4 fractional digits, ± 1e9)');
    check(typeof e.revenue.currency === 'string' && CURRENCY.test(e.revenue.currency.trim()), `${f}.currency`, 'must be a three-letter ISO 4217 code');
  }
  // The currency of the item prices on events without revenue; with revenue too, the same one.
  if (e.currency !== undefined) {
    check(typeof e.currency === 'string' && CURRENCY.test(e.currency.trim()), `${p}currency`, 'must be a three-letter ISO 4217 code');
    check(
      e.revenue === undefined || e.currency.trim().toUpperCase() === e.revenue.currency.trim().toUpperCase(),
      `${p}currency`,
      'must match revenue.currency',
    );
  }
  if (e.order_id !== undefined) str(e.order_id, `${p}order_id`, 128);
  if (e.items !== undefined) {
    const f = `${p}items`;
    check(Array.isArray(e.items) && e.items.length <= 50, f, 'must be an array of at most 50 items');
    e.items.forEach((it, i) => {
      const g = `${f}[${i}]`;
      check(isObj(it), g, 'must be an object');
      onlyKeys(it, ITEM_KEYS, g);
      check('id' in it, `${g}.id`, 'missing field `id`');
      str(it.id, `${g}.id`, 128, { min: 1 });
      if (it.name !== undefined) str(it.name, `${g}.name`, 256);
      if (it.category !== undefined) str(it.category, `${g}.category`, 256);
      if (it.quantity !== undefined) intIn(it.quantity, `${g}.quantity`, 1, 10_000);
      if (it.price !== undefined) {
        // Unit prices are in the event's currency: `currency`, or `revenue.currency`.
        check(e.currency !== undefined || e.revenue !== undefined, `${g}.price`, 'needs a currency (revenue.currency or currency)');
        check(isDecimal(it.price), `${g}.price`, 'must be a decimal');
        check(!String(it.price).trim().startsWith('-'), `${g}.price`, 'must not be negative');
      }
    });
  }
  if (e.search !== undefined) {
    const f = `${p}search`;
    check(isObj(e.search), f, 'must be an object');
    onlyKeys(e.search, SEARCH_KEYS, f);
    if (e.search.query !== undefined) str(e.search.query, `${f}.query`, 500);
    if (e.search.results !== undefined && e.search.results !== null) intIn(e.search.results, `${f}.results`, 0, 4_294_967_295);
    if (e.search.position !== undefined) intIn(e.search.position, `${f}.position`, 1, 1000);
    if (e.search.product !== undefined) str(e.search.product, `${f}.product`, 128);
  }
  if (e.ux !== undefined) {
    const f = `${p}ux`;
    check(isObj(e.ux), f, 'must be an object');
    onlyKeys(e.ux, UX_KEYS, f);
    const u = e.ux;
    if (u.scroll_depth !== undefined) intIn(u.scroll_depth, `${f}.scroll_depth`, 0, 100);
    if (u.engaged_ms !== undefined) intIn(u.engaged_ms, `${f}.engaged_ms`, 0, 86_400_000);
    if (u.selector !== undefined) str(u.selector, `${f}.selector`, 256);
    if (u.vital !== undefined) {
      check(isObj(u.vital), `${f}.vital`, 'must be an object');
      onlyKeys(u.vital, ['name', 'value'], `${f}.vital`);
      check(typeof u.vital.name === 'string' && VITALS.includes(u.vital.name.toUpperCase()), `${f}.vital.name`, `must be one of ${VITALS.join(', ')}`);
      check(typeof u.vital.value === 'number' && Number.isFinite(u.vital.value) && u.vital.value >= 0, `${f}.vital.value`, 'must be a finite number ≥ 0');
    }
    if (u.error !== undefined) {
      check(isObj(u.error), `${f}.error`, 'must be an object');
      onlyKeys(u.error, ['message', 'source', 'line'], `${f}.error`);
      check('message' in u.error, `${f}.error.message`, 'missing field `message`');
      str(u.error.message, `${f}.error.message`, 500);
      if (u.error.source !== undefined) str(u.error.source, `${f}.error.source`, 2048);
      if (u.error.line !== undefined) intIn(u.error.line, `${f}.error.line`, 0, Number.MAX_SAFE_INTEGER);
    }
  }
  mustCarry(e, p);
}

// "Event names Larder understands": what each must carry.
function mustCarry(e, p) {
  const u = e.ux || {};
  switch (e.name) {
    case 'engagement':
      check(u.scroll_depth !== undefined || u.engaged_ms !== undefined, `${p}ux.scroll_depth`, 'engagement must carry ux.scroll_depth or ux.engaged_ms');
      break;
    case 'search':
      check(e.search && e.search.query !== undefined, `${p}search.query`, 'search must carry search.query');
      break;
    case 'search_click':
      check(e.search && e.search.position !== undefined, `${p}search.position`, 'search_click must carry search.position');
      break;
    case 'rage_click':
    case 'dead_click':
      check(u.selector !== undefined, `${p}ux.selector`, `${e.name} must carry ux.selector`);
      break;
    case 'web_vital':
      check(u.vital !== undefined, `${p}ux.vital`, 'web_vital must carry ux.vital');
      break;
    case 'js_error':
      check(u.error !== undefined, `${p}ux.error`, 'js_error must carry ux.error');
      break;
    case 'outbound_click':
    case 'file_download':
      check(e.props && typeof e.props.url === 'string', `${p}props.url`, `${e.name} must carry props.url`);
      break;
  }
}

const fail = (status, code, message, field) => ({ status, error: { code, message, ...(field ? { field } : {}) } });

/**
 * Validates one request as the collector would. `contentType` is the request header,
 * `body` the raw text. Returns { status: 202, accepted, events } or { status, error }.
 */
export function validateRequest(contentType, body, { maxBytes = 64 * 1024 } = {}) {
  const ct = String(contentType || '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/json' && ct !== 'text/plain') return fail(415, 'unsupported_media_type', `content type ${ct || '(none)'} is not application/json or text/plain`);
  if (bytes(body) > maxBytes) return fail(413, 'too_large', `body is over ${maxBytes} bytes`);
  let v;
  try {
    v = JSON.parse(body);
  } catch (e) {
    return fail(400, 'bad_json', `body is not JSON: ${e.message}`);
  }
  const batch = Array.isArray(v);
  if (batch && v.length === 0) return fail(400, 'empty_batch', 'empty array');
  if (!batch && !isObj(v)) return fail(400, 'bad_body', 'body must be an event object or an array of events');
  const events = batch ? v : [v];
  if (events.length > 100) return fail(413, 'too_many_events', 'more than 100 events');
  try {
    events.forEach((e, i) => validateEvent(e, batch ? `events[${i}].` : ''));
  } catch (e) {
    if (e instanceof Invalid) return fail(422, 'invalid_field', e.message, e.field);
    throw e;
  }
  return { status: 202, accepted: events.length, events };
}
