// Login. The API answers a wrong password, an unknown account and a locked-out one alike (so
// that neither accounts nor lock-outs can be probed); the page states the lock-out policy it
// reads from GET /api/v1/login, and after as many failures as the policy allows says plainly
// that sign-in is now locked for a while, even with the right password.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, get, type LoginPolicy, type Me } from '../api';
import { fmtDuration } from '../format';

let failures = 0;

const minutes = (secs: number) => (secs % 60 === 0 ? `${secs / 60} minute${secs === 60 ? '' : 's'}` : fmtDuration(secs));

export function LoginPage({ onLoggedIn }: { onLoggedIn: (me: Me) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ text: string; locked: boolean } | null>(null);
  const [policy, setPolicy] = useState<LoginPolicy | null>(null);

  useEffect(() => {
    document.title = 'Log in · Larder';
    get<LoginPolicy>('/api/v1/login', { quiet401: true }).then(setPolicy, () => setPolicy(null));
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await api<Me>('POST', '/api/v1/login', { email, password }, { quiet401: true });
      failures = 0;
      onLoggedIn(me);
    } catch (err) {
      const apiError = err as ApiError;
      if (apiError.code === 'invalid_credentials') {
        failures += 1;
        const max = policy?.max_failed_logins ?? 5;
        const lockout = minutes(policy?.lockout_secs ?? 900);
        if (failures >= max) {
          setError({
            locked: true,
            text: `Too many failed attempts: sign-in is locked for ${lockout}, even with the right password. Wait, then try again — or ask whoever runs Larder to reset your password (larder users reset-password).`,
          });
        } else {
          const window = minutes(policy?.failed_login_window_secs ?? 900);
          setError({
            locked: false,
            text: `Wrong email or password. After ${max} failed attempts within ${window}, sign-in is locked for ${lockout}.`,
          });
        }
        setPassword('');
      } else {
        setError({ locked: false, text: apiError.message });
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login-page">
      <form class="login" onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
        <h1>
          <span class="brand">Larder</span> Log in
        </h1>
        <label>
          Email
          <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        {error && (
          <p id="login-error" class={`login-error ${error.locked ? 'locked' : ''}`} role="alert" data-locked={error.locked ? 'true' : 'false'}>
            {error.text}
          </p>
        )}
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="muted small">
          No account? Whoever runs Larder creates one with <code>larder users add</code>; a site's owner can add you in its
          settings.
        </p>
      </form>
    </main>
  );
}
