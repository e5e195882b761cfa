// Building blocks every page uses: data loading with its loading and error states, panels,
// tabs, the copy button and the "install the tag" empty state.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get } from '../api';

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/**
 * GETs `path` (nothing when null) and re-fetches when it changes; a newer request aborts the
 * older one. With `every` (ms), polls; the data stays on screen while a refresh runs.
 */
export function useApi<T>(path: string | null, { every }: { every?: number } = {}): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean; path: string | null }>({
    data: null,
    error: null,
    loading: path !== null,
    path,
  });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    if (path === null) {
      setState({ data: null, error: null, loading: false, path });
      return;
    }
    const controller = new AbortController();
    // Keep showing the data of the same path while refreshing it; another path starts afresh.
    setState((s) => (s.path === path ? { ...s, loading: true } : { data: null, error: null, loading: true, path }));
    get<T>(path, { signal: controller.signal }).then(
      (data) => setState({ data, error: null, loading: false, path }),
      (e: unknown) => {
        if ((e as Error).name === 'AbortError') return;
        const error = e instanceof ApiError ? e : new ApiError(0, 'client', String((e as Error).message || e));
        setState((s) => ({ data: s.path === path ? s.data : null, error, loading: false, path }));
      },
    );
    return () => controller.abort();
  }, [path, tick]);
  useEffect(() => {
    if (!every || path === null) return;
    const timer = setInterval(reload, every);
    return () => clearInterval(timer);
  }, [every, path, reload]);
  return { ...state, reload };
}

/** A spinner line for a panel that is loading. */
export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

/** An error in a panel, with its message and a retry button. */
export function ErrorBox({ error, retry }: { error: ApiError | Error; retry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <p>
        <strong>Could not load this.</strong> {error.message}
      </p>
      {retry && (
        <button type="button" class="button small" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/**
 * A titled section whose body is `children(data)` once loaded; the loading and error states are
 * the panel's own, so one failing report does not blank the page.
 */
export function Panel<T>({
  title,
  loaded,
  actions,
  children,
  class: cls = '',
  id,
}: {
  title: ComponentChildren;
  loaded?: Loaded<T>;
  actions?: ComponentChildren;
  children: (data: T) => ComponentChildren;
  class?: string;
  id?: string;
}) {
  const headingId = useId('panel');
  const body = !loaded ? (
    children(null as T)
  ) : loaded.error ? (
    <ErrorBox error={loaded.error} retry={loaded.reload} />
  ) : loaded.data === null ? (
    <Loading />
  ) : (
    children(loaded.data)
  );
  return (
    <section class={`panel ${cls}`} aria-labelledby={headingId} aria-busy={loaded?.loading ? 'true' : 'false'} id={id}>
      <header class="panel-head">
        <h2 id={headingId}>{title}</h2>
        {actions}
      </header>
      <div class="panel-body">{body}</div>
    </section>
  );
}

let ids = 0;
/** A stable id for labelling. */
export function useId(prefix: string): string {
  const ref = useRef('');
  if (!ref.current) ref.current = `${prefix}-${++ids}`;
  return ref.current;
}

/** Buttons that switch between views of a panel (aria-pressed marks the current one). */
export function Tabs<K extends string>({
  options,
  value,
  onChange,
  label,
}: {
  options: [K, string][];
  value: K;
  onChange: (k: K) => void;
  label: string;
}) {
  return (
    <div class="tabs" role="group" aria-label={label}>
      {options.map(([k, name]) => (
        <button type="button" key={k} class="tab" aria-pressed={k === value ? 'true' : 'false'} onClick={() => onChange(k)}>
          {name}
        </button>
      ))}
    </div>
  );
}

/** Copies `text` to the clipboard and says so. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 2500);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <button type="button" class="button small" onClick={copy}>
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy by hand' : label}
      <span class="sr-only" aria-live="polite">
        {state === 'copied' ? 'Copied to the clipboard' : ''}
      </span>
    </button>
  );
}

/** The tag a shop puts on every page. */
export function snippet(site: string, { ux = false, searchParam = '' }: { ux?: boolean; searchParam?: string } = {}): string {
  const extra = `${ux ? ' data-ux' : ''}${searchParam ? ` data-search-param="${searchParam}"` : ''}`;
  return `<script defer src="https://${site}/larder.js" data-site="${site}"${extra}></script>`;
}

/** The empty state of a site without data: how to install the tag. */
export function InstallHint({ site, settingsHref, heading = 'No visits recorded yet' }: { site: string; settingsHref?: string; heading?: string }) {
  const tag = snippet(site);
  return (
    <div class="install" data-empty="install">
      <h3>{heading}</h3>
      <p>
        To start collecting, put this tag on every page of <strong>{site}</strong>, in the <code>&lt;head&gt;</code> of your
        shop's template:
      </p>
      <div class="snippet">
        <pre>
          <code>{tag}</code>
        </pre>
        <CopyButton text={tag} label="Copy the tag" />
      </div>
      <p class="muted">
        Route <code>/larder.js</code> and <code>/api/event</code> on your shop's domain to Larder (a reverse-proxy rule), so that
        the script is first-party. Visits show up here a second after they happen.
        {settingsHref && (
          <>
            {' '}
            Options (UX signals, site search) are in <a href={settingsHref}>Settings</a>.
          </>
        )}
      </p>
    </div>
  );
}

/** A horizontal share bar behind a row (width = share of the largest). */
export function ShareBar({ share }: { share: number }) {
  const width = `${Math.max(0, Math.min(1, share)) * 100}%`;
  return <span class="share-bar" aria-hidden="true" style={{ width }} />;
}
