// The dashboard's entry point: who is logged in, which page the URL names, and the frame
// around every page (site picker, navigation, account).
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render, type ComponentChildren } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, api, get, preload, setCsrfToken, whenUnauthenticated, type Me } from './api';
import { href, navigate, useLocation, viewOf } from './router';
import { SessionContext, roleOn, useSession, type Session } from './session';
import { ErrorBox, Loading } from './components/ui';
import { LoginPage } from './pages/login';
import { OverviewPage, overviewPath } from './pages/overview';
import { FunnelsPage } from './pages/funnels';
import { SearchPage } from './pages/search';
import { UxPage } from './pages/ux';
import { RealtimePage } from './pages/realtime';
import { SettingsPage } from './pages/settings';
import { AccountPage, NoSitesPage } from './pages/account';

export const PAGES = [
  ['overview', 'Overview'],
  ['funnels', 'Funnels'],
  ['search', 'Site search'],
  ['ux', 'UX'],
  ['realtime', 'Realtime'],
  ['settings', 'Settings'],
] as const;
type PageKey = (typeof PAGES)[number][0];

function App() {
  const loc = useLocation();
  // undefined: not known yet; null: nobody is logged in.
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [bootError, setBootError] = useState<ApiError | null>(null);

  const adopt = useCallback((next: Me | null) => {
    setCsrfToken(next?.csrf_token ?? null);
    setMe(next);
  }, []);

  const loadMe = useCallback(async () => {
    try {
      adopt(await get<Me>('/api/v1/me', { quiet401: true }));
      setBootError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) adopt(null);
      else setBootError(e as ApiError);
    }
  }, [adopt]);

  useEffect(() => {
    loadMe();
    whenUnauthenticated(() => adopt(null));
  }, [loadMe, adopt]);

  // Logged out (or the session ended): the login page, which comes back here afterwards.
  useEffect(() => {
    if (me === null && loc.path !== '/login') {
      const next = loc.path + (loc.query.toString() ? `?${loc.query}` : '');
      navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true });
    }
  }, [me, loc.path]);

  const session = useMemo<Session | null>(
    () =>
      me
        ? {
            me,
            refresh: loadMe,
            logout: async () => {
              try {
                await api('POST', '/api/v1/logout');
              } finally {
                adopt(null);
              }
            },
          }
        : null,
    [me, loadMe, adopt],
  );

  if (bootError) {
    return (
      <main class="center-page">
        <ErrorBox error={bootError} retry={loadMe} />
      </main>
    );
  }
  if (loc.path === '/login') {
    return (
      <LoginPage
        onLoggedIn={(who) => {
          adopt(who);
          const next = loc.query.get('next');
          navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
        }}
      />
    );
  }
  if (me === undefined || session === null) {
    return (
      <main class="center-page">
        <Loading />
      </main>
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Routes />
    </SessionContext.Provider>
  );
}

function Routes() {
  const loc = useLocation();
  const session = useSession();
  const { me } = session;
  const parts = loc.path.split('/').filter(Boolean).map(decodeURIComponent);
  const first = me.sites[0]?.site;

  useEffect(() => {
    if ((loc.path === '/' || loc.path === '/sites') && first) navigate(`/sites/${encodeURIComponent(first)}/overview`, { replace: true });
    if (parts[0] === 'sites' && parts.length === 2) navigate(`/sites/${encodeURIComponent(parts[1])}/overview`, { replace: true });
  }, [loc.path, first]);

  if (loc.path === '/account') {
    return (
      <Shell title="Account">
        <AccountPage />
      </Shell>
    );
  }
  if (parts[0] !== 'sites' || parts.length < 3) {
    if (!first) {
      return (
        <Shell title="Welcome">
          <NoSitesPage />
        </Shell>
      );
    }
    return (
      <main class="center-page">
        <Loading />
      </main>
    );
  }
  const site = parts[1];
  const page = parts[2] as PageKey;
  const known = PAGES.find(([k]) => k === page);
  if (!roleOn(me, site)) {
    return (
      <Shell title="Not found">
        <div class="page">
          <h1 class="page-title">No such site</h1>
          <p>
            You have no role on <strong>{site}</strong>, or it does not exist. {first && <a href={`/sites/${encodeURIComponent(first)}/overview`}>Go to {first}</a>}
          </p>
        </div>
      </Shell>
    );
  }
  if (!known) {
    return (
      <Shell site={site} title="Not found">
        <div class="page">
          <h1 class="page-title">No such page</h1>
          <p>
            <a href={`/sites/${encodeURIComponent(site)}/overview`}>Go to the overview</a>
          </p>
        </div>
      </Shell>
    );
  }
  const body =
    page === 'overview' ? (
      <OverviewPage site={site} />
    ) : page === 'funnels' ? (
      <FunnelsPage site={site} />
    ) : page === 'search' ? (
      <SearchPage site={site} />
    ) : page === 'ux' ? (
      <UxPage site={site} />
    ) : page === 'realtime' ? (
      <RealtimePage site={site} />
    ) : (
      <SettingsPage site={site} />
    );
  return (
    <Shell site={site} page={page} title={known[1]}>
      {body}
    </Shell>
  );
}

/** The frame of every page after login. */
function Shell({ site, page, title, children }: { site?: string; page?: PageKey; title: string; children: ComponentChildren }) {
  const { me, logout } = useSession();
  const loc = useLocation();
  useEffect(() => {
    document.title = `${title}${site ? ` · ${site}` : ''} · Larder`;
  }, [title, site]);
  const view = viewOf(loc.query);
  const pageHref = (p: string, s = site) => href(`/sites/${encodeURIComponent(s || '')}/${p}`, p === 'settings' ? undefined : view);
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <div class="top-row">
          <a class="brand" href="/" aria-label="Larder, home">
            Larder
          </a>
          {me.sites.length > 0 && (
            <label class="site-picker">
              <span class="sr-only">Site</span>
              <select
                value={site || ''}
                onChange={(e) => navigate(pageHref(page || 'overview', (e.target as HTMLSelectElement).value))}
              >
                {!site && <option value="">Choose a site</option>}
                {me.sites.map((s) => (
                  <option key={s.site} value={s.site}>
                    {s.site}
                  </option>
                ))}
              </select>
            </label>
          )}
          <div class="account">
            <a href="/account" class="account-link" title="Your account">
              {me.email}
            </a>
            <button type="button" class="button small ghost" onClick={() => logout()}>
              Log out
            </button>
          </div>
        </div>
        {site && (
          <nav class="tabs-nav" aria-label="Reports">
            {PAGES.map(([k, name]) => (
              <a key={k} href={pageHref(k)} aria-current={k === page ? 'page' : undefined}>
                {name}
              </a>
            ))}
          </nav>
        )}
      </header>
      <main id="content" tabIndex={-1}>
        {children}
      </main>
      <footer class="foot">
        <p>
          Larder: first-party, cookieless analytics. Country data: ip-location-db, © NRO, CC BY 4.0.
        </p>
      </footer>
    </>
  );
}

// Opened on an overview: its headline numbers are asked for now, alongside the session check.
const opened = location.pathname.match(/^\/sites\/([^/]+)\/overview\/?$/);
if (opened) preload(overviewPath(decodeURIComponent(opened[1]), new URLSearchParams(location.search)));

render(<App />, document.getElementById('app')!);
