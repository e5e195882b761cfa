// The user's own account (password, sites and roles), and the page of a user without any site.
import { useState } from 'preact/hooks';
import { ApiError, api, setCsrfToken } from '../api';
import { useSession } from '../session';
import { AddSite } from './settings';

export function AccountPage() {
  const { me } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [state, setState] = useState<{ error: string | null; done: boolean }>({ error: null, done: false });
  const change = async (e: Event) => {
    e.preventDefault();
    if (next !== repeat) {
      setState({ error: 'The new passwords differ.', done: false });
      return;
    }
    try {
      const answer = await api<{ csrf_token: string }>('PUT', '/api/v1/me/password', { current_password: current, new_password: next });
      setCsrfToken(answer.csrf_token);
      setState({ error: null, done: true });
      setCurrent('');
      setNext('');
      setRepeat('');
    } catch (err) {
      setState({ error: (err as ApiError).message, done: false });
    }
  };
  return (
    <div class="page">
      <h1 class="page-title">Your account</h1>
      <section class="panel" aria-labelledby="you">
        <header class="panel-head">
          <h2 id="you">{me.email}</h2>
        </header>
        <div class="panel-body">
          {me.sites.length === 0 ? (
            <p>You have no role on any site.</p>
          ) : (
            <ul class="link-list">
              {me.sites.map((s) => (
                <li key={s.site}>
                  <a href={`/sites/${encodeURIComponent(s.site)}/overview`}>{s.site}</a> <span class="muted">{s.role}</span>
                </li>
              ))}
            </ul>
          )}
          {me.is_admin && <p class="muted">You are an instance administrator: you may add sites.</p>}
        </div>
      </section>
      <section class="panel" aria-labelledby="pw">
        <header class="panel-head">
          <h2 id="pw">Change your password</h2>
        </header>
        <form class="panel-body settings-form" onSubmit={change}>
          <label>
            Current password
            <input type="password" autocomplete="current-password" required value={current} onInput={(e) => setCurrent((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            New password <span class="muted small">(at least 12 characters)</span>
            <input type="password" autocomplete="new-password" minLength={12} required value={next} onInput={(e) => setNext((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            New password again
            <input type="password" autocomplete="new-password" minLength={12} required value={repeat} onInput={(e) => setRepeat((e.target as HTMLInputElement).value)} />
          </label>
          <div class="form-row">
            <button type="submit" class="button primary">
              Change password
            </button>
            <span role="status">{state.done ? 'Changed. Your other sessions have ended.' : ''}</span>
          </div>
          {state.error && (
            <p class="field-error" role="alert">
              {state.error}
            </p>
          )}
        </form>
      </section>
    </div>
  );
}

export function NoSitesPage() {
  const { me } = useSession();
  return (
    <div class="page">
      <h1 class="page-title">Welcome to Larder</h1>
      <section class="panel">
        <div class="panel-body">
          {me.is_admin ? (
            <>
              <p>Add your shop to start. You will be its owner, and the next page shows the tag to put on it.</p>
              <AddSite />
            </>
          ) : (
            <>
              <p>You have no role on any site yet. Ask a site's owner to add you (Settings, Users and roles).</p>
              <p class="muted">
                Whoever runs Larder can also do it: <code>larder users grant {me.email} --site SHOP --role viewer</code>
              </p>
            </>
          )}
        </div>
      </section>
    </div>
  );
}
