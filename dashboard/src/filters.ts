// Filters as the API takes them (`filter=<dimension><op><value>[|<value>…]`, repeated for AND;
// see larder_core::query) and as the page shows them.
import { dimensionName, fmtValue } from './format';

export type Op = '==' | '!=' | '~=' | '!~';

export interface Filter {
  dimension: string;
  op: Op;
  values: string[];
}

const OPS: Op[] = ['!=', '!~', '==', '~='];
const OP_WORDS: Record<Op, string> = { '==': 'is', '!=': 'is not', '~=': 'contains', '!~': 'does not contain' };

/** Parses one `filter` value the way the API does (the earliest operator wins). */
export function parseFilter(raw: string): Filter | null {
  let best: { at: number; op: Op } | null = null;
  for (const op of OPS) {
    const at = raw.indexOf(op);
    if (at > 0 && (!best || at < best.at)) best = { at, op };
  }
  if (!best) return null;
  return { dimension: raw.slice(0, best.at), op: best.op, values: raw.slice(best.at + 2).split('|') };
}

export const formatFilter = (f: Filter): string => `${f.dimension}${f.op}${f.values.join('|')}`;

/** "Source is Google or DuckDuckGo". */
export function describeFilter(f: Filter): string {
  const values = f.values.map((v) => fmtValue(f.dimension, v));
  return `${dimensionName(f.dimension)} ${OP_WORDS[f.op]} ${values.join(' or ')}`;
}

/** The filters of a query string, parsed (unparseable ones dropped). */
export function filtersOf(query: URLSearchParams): Filter[] {
  return query.getAll('filter').map(parseFilter).filter((f): f is Filter => f !== null);
}

/** The filter strings with `dimension is value` replacing any filter on the same dimension. */
export function withFilter(query: URLSearchParams, dimension: string, value: string): string[] {
  const kept = filtersOf(query).filter((f) => f.dimension !== dimension);
  return [...kept.map(formatFilter), formatFilter({ dimension, op: '==', values: [value] })];
}
