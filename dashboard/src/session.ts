// Who is logged in: the answer of GET /api/v1/me (or of the login), shared by every page.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me, Role } from './api';

export interface Session {
  me: Me;
  /** Reloads `me` (after a change of sites or roles). */
  refresh: () => Promise<void>;
  logout: () => Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('no session');
  return session;
}

/** The caller's role on `site`, if any. */
export function roleOn(me: Me, site: string): Role | undefined {
  return me.sites.find((s) => s.site === site)?.role;
}
