// Realtime: visitors in the last five minutes, where they are, and visitors per minute over
// the last half hour; refreshed every ten seconds while the page is visible (pausable).
import { useEffect, useState } from 'preact/hooks';
import { sitePath, type Realtime } from '../api';
import { Empty, InstallHint, Panel, ShareBar, useApi } from '../components/ui';
import { fmtInt } from '../format';

export const REFRESH_MS = 10_000;

function useVisible(): boolean {
  const [visible, setVisible] = useState(!document.hidden);
  useEffect(() => {
    const update = () => setVisible(!document.hidden);
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}

export function RealtimePage({ site }: { site: string }) {
  const [paused, setPaused] = useState(false);
  const visible = useVisible();
  const live = useApi<Realtime>(sitePath(site, '/realtime'), { every: paused || !visible ? undefined : REFRESH_MS });
  const [updated, setUpdated] = useState<Date | null>(null);
  useEffect(() => {
    if (live.data && !live.loading) setUpdated(new Date());
  }, [live.data, live.loading]);
  const data = live.data;
  return (
    <div class="page">
      <h1 class="page-title">
        Realtime <span class="muted">{site}</span>
      </h1>
      <div class="report-bar">
        <span class="live-status" role="status">
          {paused ? 'Paused' : `Refreshes every ${REFRESH_MS / 1000} s`}
          {updated && ` · updated ${updated.toLocaleTimeString('en-GB')}`}
        </span>
        <button type="button" class="button small ghost" aria-pressed={paused ? 'true' : 'false'} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" class="button small ghost" onClick={live.reload}>
          Refresh now
        </button>
      </div>
      <Panel title="Visitors now" loaded={live}>
        {(d) => (
          <div class="now">
            <p class="big-number" aria-live="polite">
              <span data-realtime-visitors>{fmtInt(d.visitors)}</span>
              <span class="muted"> visitor{d.visitors === 1 ? '' : 's'} in the last 5 minutes</span>
            </p>
            <Minutes perMinute={d.per_minute} />
          </div>
        )}
      </Panel>
      {data && data.visitors === 0 && data.per_minute.every((n) => n === 0) ? (
        <section class="panel">
          <Empty>Nobody is on {site} right now. This page updates by itself when someone arrives.</Empty>
          <details class="panel-body">
            <summary>Is the tag installed?</summary>
            <InstallHint site={site} />
          </details>
        </section>
      ) : (
        <Panel title="Current pages" loaded={live}>
          {(d) =>
            d.pages.length === 0 ? (
              <Empty>Nobody on a page in the last 5 minutes.</Empty>
            ) : (
              <table class="rows" data-realtime-pages>
                <thead>
                  <tr>
                    <th scope="col">Page</th>
                    <th scope="col" class="num">
                      Visitors
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.pages.map((p) => (
                    <tr key={p.page}>
                      <td class="bar-cell">
                        <ShareBar share={p.visitors / (d.pages[0].visitors || 1)} />
                        <span class="row-text">{p.page}</span>
                      </td>
                      <td class="num">{fmtInt(p.visitors)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Panel>
      )}
    </div>
  );
}

/** Visitors per minute over the last 30 minutes, oldest first, as bars. */
function Minutes({ perMinute }: { perMinute: number[] }) {
  const top = Math.max(1, ...perMinute);
  const total = perMinute.length;
  return (
    <figure class="minutes">
      <div class="minute-bars" aria-hidden="true">
        {perMinute.map((n, i) => (
          <span key={i} class="minute" title={`${total - i} min ago: ${n}`} style={{ height: `${(n / top) * 100}%` }} />
        ))}
      </div>
      <figcaption class="muted small">
        Visitors per minute, last {total} minutes (most recent on the right; peak {fmtInt(Math.max(0, ...perMinute))}).
      </figcaption>
    </figure>
  );
}
