// Settings of one site, by role: everyone sees the tracking tag and their API tokens; admins
// change the site's settings; analysts export with SQL; owners manage users and roles, read
// the audit log and may delete the site; instance administrators add sites.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, ROLES, api, atLeast, request, sitePath, type AuditEntry, type Goal, type Role, type Site, type Token } from '../api';
import { CopyButton, Empty, ErrorBox, Loading, Panel, snippet, useApi, useId } from '../components/ui';
import { fmtInt, fmtTimestamp } from '../format';
import { navigate } from '../router';
import { roleOn, useSession } from '../session';
import { goalTarget } from './overview';

export function SettingsPage({ site }: { site: string }) {
  const { me } = useSession();
  const role = roleOn(me, site);
  const info = useApi<Site>(sitePath(site));
  const sections: [string, string, boolean][] = [
    ['tracking', 'Tracking tag', true],
    ['site', 'Site settings', true],
    ['goals', 'Goals', true],
    ['users', 'Users and roles', atLeast(role, 'owner')],
    ['tokens', 'API tokens', true],
    ['sql', 'SQL export', atLeast(role, 'analyst')],
    ['audit', 'Audit log', atLeast(role, 'owner')],
    ['new-site', 'Add a site', me.is_admin],
    ['delete', 'Delete the site', atLeast(role, 'owner')],
  ];
  return (
    <div class="page settings">
      <h1 class="page-title">
        Settings <span class="muted">{site}</span>
      </h1>
      <p class="muted">
        Your role on {site}: <strong data-role>{role}</strong>.
      </p>
      <nav class="toc" aria-label="Settings sections">
        {sections
          .filter(([, , shown]) => shown)
          .map(([id, name]) => (
            <a key={id} href={`#${id}`}>
              {name}
            </a>
          ))}
      </nav>
      <Tracking site={site} info={info.data} />
      <Panel title="Site settings" loaded={info} id="site">
        {(data) => <SiteForm site={site} data={data} canEdit={atLeast(role, 'admin')} onSaved={info.reload} />}
      </Panel>
      <Goals site={site} canEdit={atLeast(role, 'admin')} />
      {atLeast(role, 'owner') && <Users site={site} />}
      <Tokens site={site} role={role!} />
      {atLeast(role, 'analyst') && <SqlExport site={site} />}
      {atLeast(role, 'owner') && <Audit site={site} />}
      {me.is_admin && (
        <section class="panel" id="new-site" aria-labelledby="new-site-title">
          <header class="panel-head">
            <h2 id="new-site-title">Add a site</h2>
          </header>
          <div class="panel-body">
            <AddSite />
          </div>
        </section>
      )}
      {atLeast(role, 'owner') && <DeleteSite site={site} />}
    </div>
  );
}

function Tracking({ site, info }: { site: string; info: Site | null }) {
  const [ux, setUx] = useState(false);
  const [search, setSearch] = useState(false);
  const searchParam = info?.search_params[0] ?? 'q';
  const tag = snippet(site, { ux, searchParam: search ? searchParam : '' });
  return (
    <section class="panel" id="tracking" aria-labelledby="tracking-title">
      <header class="panel-head">
        <h2 id="tracking-title">Tracking tag</h2>
      </header>
      <div class="panel-body">
        <p>
          Put this tag in the <code>&lt;head&gt;</code> of every page of {site}. Route <code>/larder.js</code> and <code>/api/event</code> on the
          shop's domain to Larder so that the script is first-party.
        </p>
        <div class="snippet">
          <pre>
            <code data-snippet>{tag}</code>
          </pre>
          <CopyButton text={tag} label="Copy the tag" />
        </div>
        <fieldset class="options">
          <legend>Options</legend>
          <label class="check">
            <input type="checkbox" checked={ux} onChange={(e) => setUx((e.target as HTMLInputElement).checked)} />
            <span>
              UX signals and Web Vitals (<code>data-ux</code>)
            </span>
          </label>
          <label class="check">
            <input type="checkbox" checked={search} onChange={(e) => setSearch((e.target as HTMLInputElement).checked)} />
            <span>
              Site search from the <code>{searchParam}</code> parameter (<code>data-search-param</code>)
            </span>
          </label>
        </fieldset>
        <p class="muted small">Every attribute and the JavaScript API (e-commerce events, goals) are described in tracker-js/README.md.</p>
      </div>
    </section>
  );
}

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function timeZones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf;
  try {
    return supported ? ['UTC', ...supported('timeZone')] : ['UTC'];
  } catch {
    return ['UTC'];
  }
}

function SiteForm({ site, data, canEdit, onSaved }: { site: string; data: Site; canEdit: boolean; onSaved: () => void }) {
  const [timezone, setTimezone] = useState(data.timezone);
  const [retention, setRetention] = useState(String(data.retention_days));
  const [honour, setHonour] = useState(data.honour_privacy_signals);
  const [searchParams, setSearchParams] = useState(data.search_params.join(', '));
  const [allowed, setAllowed] = useState(data.allowed_query_params.join(', '));
  const [state, setState] = useState<{ busy: boolean; error: ApiError | null; saved: boolean }>({ busy: false, error: null, saved: false });
  const zones = useMemo(timeZones, []);
  const zonesId = useId('zones');
  const fieldError = (field: string) =>
    state.error?.field === field ? (
      <span class="field-error" role="alert">
        {state.error.message}
      </span>
    ) : null;
  const save = async (e: Event) => {
    e.preventDefault();
    setState({ busy: true, error: null, saved: false });
    try {
      await api<Site>('PATCH', sitePath(site), {
        timezone: timezone.trim(),
        retention_days: Number(retention),
        honour_privacy_signals: honour,
        search_params: list(searchParams),
        allowed_query_params: list(allowed),
      });
      setState({ busy: false, error: null, saved: true });
      onSaved();
    } catch (err) {
      setState({ busy: false, error: err as ApiError, saved: false });
    }
  };
  return (
    <form class="settings-form" onSubmit={save}>
      {!canEdit && <p class="note">Only the site's admins and owners can change these.</p>}
      <fieldset disabled={!canEdit || state.busy}>
        <label>
          Time zone <span class="muted small">(days and hours in reports)</span>
          <input type="text" name="timezone" list={zonesId} value={timezone} required onInput={(e) => setTimezone((e.target as HTMLInputElement).value)} />
          <datalist id={zonesId}>
            {zones.map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
          {fieldError('timezone')}
        </label>
        <label>
          Keep events for (days)
          <input type="number" name="retention_days" min={1} max={3650} value={retention} required onInput={(e) => setRetention((e.target as HTMLInputElement).value)} />
          {fieldError('retention_days')}
        </label>
        <label class="check">
          <input type="checkbox" name="honour_privacy_signals" checked={honour} onChange={(e) => setHonour((e.target as HTMLInputElement).checked)} />
          <span>
            Honour Global Privacy Control and Do Not Track (visitors who send <code>Sec-GPC: 1</code> or <code>DNT: 1</code> are not recorded)
          </span>
        </label>
        <label>
          Site-search parameters <span class="muted small">(comma-separated, e.g. q, s)</span>
          <input type="text" name="search_params" value={searchParams} onInput={(e) => setSearchParams((e.target as HTMLInputElement).value)} />
          {fieldError('search_params')}
        </label>
        <label>
          Other query parameters to keep <span class="muted small">(besides utm_*; comma-separated)</span>
          <input type="text" name="allowed_query_params" value={allowed} onInput={(e) => setAllowed((e.target as HTMLInputElement).value)} />
          {fieldError('allowed_query_params')}
        </label>
        {canEdit && (
          <div class="form-row">
            <button type="submit" class="button primary">
              {state.busy ? 'Saving…' : 'Save settings'}
            </button>
            <span role="status" class="status">
              {state.saved ? 'Saved.' : ''}
            </span>
          </div>
        )}
        {state.error && !state.error.field && <ErrorBox error={state.error} />}
      </fieldset>
    </form>
  );
}

/** The site's goals; admins and owners add and delete them, everyone else reads them. */
function Goals({ site, canEdit }: { site: string; canEdit: boolean }) {
  const goals = useApi<{ goals: Goal[] }>(sitePath(site, '/goals'));
  const [kind, setKind] = useState<'event' | 'page'>('event');
  const [name, setName] = useState('');
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [status, setStatus] = useState('');
  const [confirming, setConfirming] = useState<string | null>(null);
  const helpId = useId('goal-help');
  const confirmRef = useRef<HTMLButtonElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);
  const fieldError = (field: string) =>
    error?.field === field ? (
      <span class="field-error" role="alert">
        {error.message}
      </span>
    ) : null;
  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setStatus('');
    setBusy(true);
    try {
      const body = kind === 'event' ? { name: name.trim(), event_name: target.trim() } : { name: name.trim(), page_pattern: target.trim() };
      const created = await api<Goal>('POST', sitePath(site, '/goals'), body);
      setStatus(`Added the goal "${created.name}" (${goalTarget(created)}).`);
      setName('');
      setTarget('');
      goals.reload();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (goal: Goal) => {
    setError(null);
    setStatus('');
    try {
      await api('DELETE', sitePath(site, `/goals/${encodeURIComponent(goal.id)}`));
      setStatus(`Deleted the goal "${goal.name}".`);
      goals.reload();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setConfirming(null);
      headingRef.current?.focus();
    }
  };
  const cancel = () => {
    const id = confirming;
    setConfirming(null);
    // Back to the row's Delete button, which replaces the confirmation.
    requestAnimationFrame(() => document.querySelector<HTMLButtonElement>(`#goals tr[data-goal="${id}"] button`)?.focus());
  };
  const kindChange = (k: 'event' | 'page') => {
    setKind(k);
    setTarget('');
    setError(null);
  };
  return (
    <Panel title={<span ref={headingRef} tabIndex={-1}>Goals</span>} loaded={goals} id="goals">
      {(data) => (
        <>
          <p class="muted small">
            A goal counts the visitors who send an event or see a page; the overview shows each goal's converting visitors, conversions and
            conversion rate. A goal on the <code>purchase</code> event also shows revenue.
          </p>
          {!canEdit && <p class="note">Only the site's admins and owners can add or delete goals.</p>}
          {data.goals.length === 0 ? (
            <Empty>No goals yet.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="data" data-goals>
                <thead>
                  <tr>
                    <th scope="col">Goal</th>
                    <th scope="col">Counts visitors who</th>
                    {canEdit && (
                      <th scope="col">
                        <span class="sr-only">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {data.goals.map((g) => (
                    <tr key={g.id} data-goal={g.id}>
                      <th scope="row">{g.name}</th>
                      <td>
                        {g.event_name !== undefined ? (
                          <>
                            send the event <code>{g.event_name}</code>
                          </>
                        ) : (
                          <>
                            see a page matching <code>{g.page_pattern}</code>
                          </>
                        )}
                      </td>
                      {canEdit && (
                        <td>
                          {confirming === g.id ? (
                            <div
                              class="confirm-row"
                              role="group"
                              aria-label={`Confirm deleting ${g.name}`}
                              onKeyDown={(e) => e.key === 'Escape' && cancel()}
                            >
                              <span>Delete "{g.name}"?</span>
                              <button type="button" class="button small danger" ref={confirmRef} onClick={() => remove(g)}>
                                Yes, delete
                              </button>
                              <button type="button" class="button small ghost" onClick={cancel}>
                                Cancel
                              </button>
                            </div>
                          ) : (
                            <button type="button" class="button small ghost" aria-label={`Delete the goal ${g.name}`} onClick={() => setConfirming(g.id)}>
                              Delete
                            </button>
                          )}
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <p role="status" class="status">
            {status}
          </p>
          {error && !error.field && <ErrorBox error={error} />}
          {canEdit && (
            <form class="inline-form goal-form" onSubmit={add}>
              <h3>Add a goal</h3>
              <fieldset>
                <legend>It counts visitors who</legend>
                <label class="inline">
                  <input type="radio" name="goal-kind" value="event" checked={kind === 'event'} onChange={() => kindChange('event')} />
                  send an event
                </label>
                <label class="inline">
                  <input type="radio" name="goal-kind" value="page" checked={kind === 'page'} onChange={() => kindChange('page')} />
                  see a page
                </label>
              </fieldset>
              <label>
                Goal name
                <input type="text" name="goal-name" required maxLength={100} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
                {fieldError('name')}
              </label>
              {kind === 'event' ? (
                <label>
                  Event name
                  <input
                    type="text"
                    name="event_name"
                    required
                    placeholder="purchase"
                    aria-describedby={helpId}
                    value={target}
                    onInput={(e) => setTarget((e.target as HTMLInputElement).value)}
                  />
                  {fieldError('event_name')}
                </label>
              ) : (
                <label>
                  Page pattern
                  <input
                    type="text"
                    name="page_pattern"
                    required
                    placeholder="/thanks"
                    aria-describedby={helpId}
                    value={target}
                    onInput={(e) => setTarget((e.target as HTMLInputElement).value)}
                  />
                  {fieldError('page_pattern')}
                </label>
              )}
              <button type="submit" class="button" disabled={busy}>
                {busy ? 'Adding…' : 'Add goal'}
              </button>
              <p class="help muted small" id={helpId}>
                {kind === 'event' ? (
                  <>
                    The event's name as the tag sends it: <code>purchase</code>, <code>add_to_cart</code>, or your own from{' '}
                    <code>larder('event', 'newsletter_signup')</code>.
                  </>
                ) : (
                  <>
                    A path starting with <code>/</code>, without query string. <code>*</code> matches one path segment (<code>/p/*</code>:{' '}
                    <code>/p/sencha</code> but not <code>/p/sencha/reviews</code>); <code>**</code> matches anything, slashes included (
                    <code>/blog/**</code>: every page below <code>/blog/</code>).
                  </>
                )}
              </p>
            </form>
          )}
        </>
      )}
    </Panel>
  );
}

function Users({ site }: { site: string }) {
  const { me, refresh } = useSession();
  const users = useApi<{ email: string; role: Role }[]>(sitePath(site, '/users'));
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [result, setResult] = useState<{ text: string; password: string | null } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      users.reload();
      return true;
    } catch (e) {
      setError(e as ApiError);
      return false;
    }
  };
  const add = async (e: Event) => {
    e.preventDefault();
    setResult(null);
    let answer: { created: boolean; password: string | null; email: string; role: Role } | null = null;
    const ok = await act(async () => {
      answer = await api('POST', sitePath(site, '/users'), { email: email.trim(), role, password: password || undefined });
    });
    if (ok && answer) {
      const a = answer as { created: boolean; password: string | null; email: string; role: Role };
      setResult({
        text: a.created ? `Created ${a.email} as ${a.role}.` : `${a.email} already had an account; they are now ${a.role} of ${site}.`,
        password: a.password,
      });
      setEmail('');
      setPassword('');
    }
  };
  return (
    <Panel title="Users and roles" loaded={users} id="users">
      {(data) => (
        <>
          <p class="muted small">
            Viewers read reports; analysts also export raw events with SQL; admins also change settings, goals and funnels; owners also manage
            users and read the audit log.
          </p>
          <div class="table-wrap">
            <table class="data" data-users>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.map((u) => (
                  <tr key={u.email}>
                    <th scope="row">{u.email}</th>
                    <td>
                      <select
                        aria-label={`Role of ${u.email}`}
                        value={u.role}
                        onChange={(e) =>
                          act(async () => {
                            await api('PUT', sitePath(site, `/users/${encodeURIComponent(u.email)}`), { role: (e.target as HTMLSelectElement).value });
                            if (u.email === me.email) await refresh();
                          })
                        }
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <button
                        type="button"
                        class="button small ghost"
                        aria-label={`Remove ${u.email} from ${site}`}
                        onClick={() => confirm(`Take ${u.email}'s role on ${site} away?`) && act(() => api('DELETE', sitePath(site, `/users/${encodeURIComponent(u.email)}`)))}
                      >
                        Remove
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {error && <ErrorBox error={error} />}
          <form class="inline-form" onSubmit={add}>
            <h3>Add someone</h3>
            <label>
              Email <input type="email" name="email" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
            </label>
            <label>
              Role{' '}
              <select name="role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Password <span class="muted small">(new accounts; empty: generated)</span>
              <input type="password" name="password" autocomplete="new-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
            </label>
            <button type="submit" class="button">
              Add
            </button>
          </form>
          {result && (
            <div class="notice" role="status">
              <p>{result.text}</p>
              {result.password && (
                <p>
                  Their password, shown this once: <code data-generated-password>{result.password}</code> <CopyButton text={result.password} />
                </p>
              )}
            </div>
          )}
        </>
      )}
    </Panel>
  );
}

function Tokens({ site, role }: { site: string; role: Role }) {
  const tokens = useApi<Token[]>('/api/v1/tokens');
  const [description, setDescription] = useState('');
  const [tokenRole, setTokenRole] = useState<Role>('viewer');
  const [expires, setExpires] = useState('90');
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const created = await api<Token & { secret: string }>('POST', '/api/v1/tokens', {
        sites: [site],
        role: tokenRole,
        description: description.trim(),
        expires_days: expires ? Number(expires) : undefined,
      });
      setSecret(created.secret);
      setDescription('');
      tokens.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const revoke = async (t: Token) => {
    if (!confirm(`Revoke the token ${t.id}? Scripts using it stop working at once.`)) return;
    try {
      await api('DELETE', `/api/v1/tokens/${encodeURIComponent(t.id)}`);
      tokens.reload();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <Panel title="API tokens" loaded={tokens} id="tokens">
      {(data) => {
        const mine = data.filter((t) => t.sites.includes(site));
        return (
          <>
            <p class="muted small">
              For scripts: <code>Authorization: Bearer lrd_…</code>. A token acts for its user with at most its role, never more than the user has.
            </p>
            {mine.length === 0 ? (
              <Empty>No tokens for {site}.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="data" data-tokens>
                  <thead>
                    <tr>
                      <th scope="col">Token</th>
                      <th scope="col">User</th>
                      <th scope="col">Role</th>
                      <th scope="col">Expires</th>
                      <th scope="col">
                        <span class="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {mine.map((t) => (
                      <tr key={t.id}>
                        <th scope="row">
                          <code>{t.id}</code> {t.description && <span class="muted">{t.description}</span>}
                        </th>
                        <td>{t.email}</td>
                        <td>{t.role}</td>
                        <td>{t.expires_at ? `${fmtTimestamp(t.expires_at)}${t.expired ? ' (expired)' : ''}` : 'never'}</td>
                        <td>
                          <button type="button" class="button small ghost" onClick={() => revoke(t)} aria-label={`Revoke token ${t.id}`}>
                            Revoke
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <form class="inline-form" onSubmit={create}>
              <h3>New token for {site}</h3>
              <label>
                What it is for <input type="text" maxLength={200} value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
              </label>
              <label>
                Role{' '}
                <select value={tokenRole} onChange={(e) => setTokenRole((e.target as HTMLSelectElement).value as Role)}>
                  {ROLES.filter((r) => atLeast(role, r)).map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Expires{' '}
                <select value={expires} onChange={(e) => setExpires((e.target as HTMLSelectElement).value)}>
                  <option value="30">in 30 days</option>
                  <option value="90">in 90 days</option>
                  <option value="365">in a year</option>
                  <option value="">never</option>
                </select>
              </label>
              <button type="submit" class="button">
                Create token
              </button>
            </form>
            {error && <ErrorBox error={error} />}
            {secret && (
              <div class="notice" role="status">
                <p>
                  The token, shown this once: <code class="wrap" data-token-secret>{secret}</code> <CopyButton text={secret} />
                </p>
              </div>
            )}
          </>
        );
      }}
    </Panel>
  );
}

const EXAMPLE_QUERY = 'SELECT pathname, count() AS views\nFROM events\nWHERE name = \'pageview\'\nGROUP BY pathname\nORDER BY views DESC\nLIMIT 100';

function SqlExport({ site }: { site: string }) {
  const [query, setQuery] = useState(EXAMPLE_QUERY);
  const [format, setFormat] = useState('csv');
  const [state, setState] = useState<{ busy: boolean; error: ApiError | null; preview: string | null; url: string | null; rows: number | null }>({
    busy: false,
    error: null,
    preview: null,
    url: null,
    rows: null,
  });
  useEffect(() => () => void (state.url && URL.revokeObjectURL(state.url)), [state.url]);
  const run = async (e: Event) => {
    e.preventDefault();
    setState({ busy: true, error: null, preview: null, url: null, rows: null });
    try {
      const response = await request('POST', '/api/v1/sql', { sites: [site], query, format });
      const blob = await response.blob();
      let preview: string | null = null;
      let rows: number | null = null;
      if (format !== 'parquet') {
        const text = await blob.text();
        const lines = text.split('\n').filter(Boolean);
        rows = format === 'jsonl' ? lines.length : Math.max(0, lines.length - 1);
        preview = lines.slice(0, 21).join('\n');
      }
      setState({ busy: false, error: null, preview, url: URL.createObjectURL(blob), rows });
    } catch (err) {
      setState({ busy: false, error: err as ApiError, preview: null, url: null, rows: null });
    }
  };
  return (
    <section class="panel" id="sql" aria-labelledby="sql-title" data-section="sql-export">
      <header class="panel-head">
        <h2 id="sql-title">SQL export</h2>
      </header>
      <form class="panel-body" onSubmit={run}>
        <p class="muted small">
          One read-only <code>SELECT</code> over a table named <code>events</code> holding {site}'s events (columns: site, timestamp, name, visitor_id,
          session_id, pathname, referrer_source, country, browser, device, revenue…). Every export is written to the audit log.
        </p>
        <label>
          Query
          <textarea name="query" rows={7} spellcheck={false} value={query} onInput={(e) => setQuery((e.target as HTMLTextAreaElement).value)} />
        </label>
        <div class="form-row">
          <label>
            Format{' '}
            <select value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value)}>
              <option value="csv">CSV</option>
              <option value="tsv">TSV</option>
              <option value="jsonl">JSON lines</option>
              <option value="parquet">Parquet</option>
            </select>
          </label>
          <button type="submit" class="button primary" disabled={state.busy}>
            {state.busy ? 'Running…' : 'Run query'}
          </button>
          {state.url && (
            <a class="button" href={state.url} download={`larder-export.${format}`}>
              Download
            </a>
          )}
        </div>
        {state.busy && <Loading label="Running the query…" />}
        {state.error && <ErrorBox error={state.error} />}
        {state.rows !== null && (
          <p role="status">
            {fmtInt(state.rows)} row{state.rows === 1 ? '' : 's'}
            {state.rows > 20 ? ' (the first 20 below)' : ''}.
          </p>
        )}
        {state.preview !== null && (
          <pre class="preview" tabIndex={0} aria-label="Preview of the export">
            {state.preview}
          </pre>
        )}
      </form>
    </section>
  );
}

function Audit({ site }: { site: string }) {
  const [offset, setOffset] = useState(0);
  const page = useApi<{ entries: AuditEntry[]; next_offset: number | null }>(sitePath(site, `/audit?limit=50&offset=${offset}`));
  return (
    <Panel title="Audit log" loaded={page} id="audit">
      {(data) => (
        <>
          {data.entries.length === 0 ? (
            <Empty>Nothing recorded yet.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="data" data-audit>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">What</th>
                    <th scope="col">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {data.entries.map((e, i) => (
                    <tr key={`${e.at}-${i}`}>
                      <td class="nowrap">{fmtTimestamp(e.at)}</td>
                      <td>{e.actor}</td>
                      <td>{e.action.replace(/_/g, ' ')}</td>
                      <td>
                        <code class="wrap">{e.detail}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <div class="form-row">
            {offset > 0 && (
              <button type="button" class="button small ghost" onClick={() => setOffset(Math.max(0, offset - 50))}>
                Newer
              </button>
            )}
            {data.next_offset !== null && (
              <button type="button" class="button small ghost" onClick={() => setOffset(data.next_offset!)}>
                Older
              </button>
            )}
          </div>
        </>
      )}
    </Panel>
  );
}

/** Instance administrators register a site (and become its owner). */
export function AddSite() {
  const { refresh } = useSession();
  const [domain, setDomain] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const created = await api<Site>('POST', '/api/v1/sites', { site: domain.trim() });
      await refresh();
      navigate(`/sites/${encodeURIComponent(created.site)}/settings`);
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <form class="inline-form" onSubmit={add}>
      <label>
        Shop domain <input type="text" required placeholder="shop.example" value={domain} onInput={(e) => setDomain((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" class="button">
        Add site
      </button>
      {error && (
        <p class="field-error" role="alert">
          {error.message}
        </p>
      )}
    </form>
  );
}

function DeleteSite({ site }: { site: string }) {
  const { refresh } = useSession();
  const [typed, setTyped] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const remove = async (e: Event) => {
    e.preventDefault();
    try {
      await api('DELETE', sitePath(site));
      await refresh();
      navigate('/');
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <section class="panel danger-zone" id="delete" aria-labelledby="delete-title">
      <header class="panel-head">
        <h2 id="delete-title">Delete the site</h2>
      </header>
      <form class="panel-body" onSubmit={remove}>
        <p>Everyone's roles on {site} end; its events stay until retention removes them. Type the domain to confirm.</p>
        <div class="form-row">
          <label>
            <span class="sr-only">Type {site} to confirm</span>
            <input type="text" value={typed} placeholder={site} onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
          </label>
          <button type="submit" class="button danger" disabled={typed !== site}>
            Delete {site}
          </button>
        </div>
        {error && <ErrorBox error={error} />}
      </form>
    </section>
  );
}
