// The event shape of docs/wire-format.md (what POST /api/event accepts). Type-level only.

export type Amount = string | number;

export interface Item {
  id: string;
  name?: string;
  category?: string;
  quantity?: number;
  price?: Amount;
}

export interface Revenue {
  amount: Amount;
  currency: string;
}

export interface Search {
  query?: string;
  results?: number | null;
  position?: number;
  product?: string;
}

export interface Ux {
  scroll_depth?: number;
  engaged_ms?: number;
  selector?: string;
  vital?: { name: 'LCP' | 'CLS' | 'INP' | 'TTFB' | 'FCP'; value: number };
  error?: { message: string; source?: string; line?: number };
}

export interface Ev {
  site: string;
  name: string;
  url: string;
  referrer?: string;
  age_ms?: number;
  props?: Record<string, string | number | boolean>;
  revenue?: Revenue;
  /** ISO 4217 code of the item prices, on events without revenue (view_item, add_to_cart…). */
  currency?: string;
  order_id?: string;
  items?: Item[];
  search?: Search;
  ux?: Ux;
}

/** What a page passes to `larder('event', name, opts)` and the helpers. Unknown keys are ignored. */
export interface Opts {
  props?: Record<string, string | number | boolean>;
  revenue?: { amount: Amount; currency: string };
  /** The currency of the item prices when there is no revenue (only `purchase` is money taken). */
  currency?: string;
  order_id?: string | number;
  items?: Array<{ id: string | number; name?: string; category?: string; quantity?: number; price?: Amount }>;
  query?: string;
  results?: number | null;
  position?: number;
  product?: string | number;
}

/** The UX module: set up after the first pageview; returns what to run when an SPA route is left. */
export type Plugin = () => () => void;

export interface LarderFn {
  (cmd: string, a?: unknown, b?: unknown): void;
  q?: IArguments[] | unknown[][];
  v?: 1;
}

declare global {
  interface Window {
    larder?: LarderFn;
  }
  interface Navigator {
    globalPrivacyControl?: boolean;
  }
}
