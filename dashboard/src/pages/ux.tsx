// UX: rage and dead clicks by page and element, engaged time and scroll depth per page, Core
// Web Vitals (p75 with good / poor shares) per page, and JavaScript errors grouped.
import { sitePath, type ClickRow, type UxAnswer, type Vital } from '../api';
import { ReportBar, statsQuery } from '../components/controls';
import { Empty, Panel, useApi } from '../components/ui';
import { fmtDecimal, fmtDuration, fmtInt, fmtPercent } from '../format';
import { useLocation } from '../router';

const VITALS = ['LCP', 'INP', 'CLS', 'TTFB', 'FCP'];
const VITAL_NAMES: Record<string, string> = {
  LCP: 'Largest Contentful Paint',
  INP: 'Interaction to Next Paint',
  CLS: 'Cumulative Layout Shift',
  TTFB: 'Time to First Byte',
  FCP: 'First Contentful Paint',
};
const RATING: Record<Vital['rating'], string> = { good: 'Good', needs_improvement: 'Needs improvement', poor: 'Poor' };

const fmtVital = (v: Vital) => (v.metric === 'CLS' ? fmtDecimal(Math.round(v.p75 * 1000) / 1000) : `${fmtInt(v.p75)} ms`);

export function UxPage({ site }: { site: string }) {
  const loc = useLocation();
  const report = useApi<UxAnswer>(sitePath(site, `/ux?${statsQuery(loc.query, { limit: '20' })}`));
  const nothing =
    report.data &&
    !report.data.frustrated_clicks?.rage.length &&
    !report.data.frustrated_clicks?.dead.length &&
    !report.data.pages?.length &&
    !report.data.web_vitals?.length &&
    !report.data.errors?.length;
  return (
    <div class="page">
      <h1 class="page-title">
        UX <span class="muted">{site}</span>
      </h1>
      <ReportBar range={report.data?.range} />
      {nothing ? (
        <section class="panel">
          <Empty>
            <p>No UX signals in this period.</p>
            <p class="muted">
              Rage and dead clicks, scroll depth, engaged time, Web Vitals and JavaScript errors come from the full tracker with{' '}
              <code>data-ux</code> on the tag: <code>{`<script defer src="https://${site}/larder.js" data-site="${site}" data-ux></script>`}</code>
            </p>
          </Empty>
        </section>
      ) : (
        <div class="grid">
          <Panel title="Rage clicks" loaded={report}>
            {(data) => <Clicks rows={data.frustrated_clicks?.rage ?? []} kind="rage" />}
          </Panel>
          <Panel title="Dead clicks" loaded={report}>
            {(data) => <Clicks rows={data.frustrated_clicks?.dead ?? []} kind="dead" />}
          </Panel>
          <Panel title="Web Vitals (75th percentile)" loaded={report} class="wide">
            {(data) =>
              !data.web_vitals?.length ? (
                <Empty>No Web Vitals in this period.</Empty>
              ) : (
                <div class="table-wrap">
                  <table class="data vitals">
                    <thead>
                      <tr>
                        <th scope="col">Page</th>
                        {VITALS.map((m) => (
                          <th scope="col" key={m}>
                            <abbr title={VITAL_NAMES[m]}>{m}</abbr>
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {data.web_vitals.map((row) => (
                        <tr key={row.page}>
                          <th scope="row">{row.page}</th>
                          {VITALS.map((m) => {
                            const v = row.metrics.find((x) => x.metric === m);
                            return <td key={m}>{v ? <VitalCell v={v} /> : <span class="muted">—</span>}</td>;
                          })}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )
            }
          </Panel>
          <Panel title="Engagement by page" loaded={report} class="wide">
            {(data) =>
              !data.pages?.length ? (
                <Empty>No page views in this period.</Empty>
              ) : (
                <div class="table-wrap">
                  <table class="data">
                    <thead>
                      <tr>
                        <th scope="col">Page</th>
                        <th scope="col" class="num">
                          Pageviews
                        </th>
                        <th scope="col" class="num">
                          Engaged time per view
                        </th>
                        <th scope="col">Scroll depth (0–25–50–75–100%)</th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.pages.map((p) => (
                        <tr key={p.page}>
                          <th scope="row">{p.page}</th>
                          <td class="num">{fmtInt(p.pageviews)}</td>
                          <td class="num">{fmtDuration(p.engaged_seconds_per_view)}</td>
                          <td>
                            {p.scroll_depth ? (
                              <span class="depth">
                                <span class="stack" aria-hidden="true">
                                  {p.scroll_depth.shares.map((s, i) => (
                                    <span key={i} class={`seg d${i}`} style={{ width: `${s * 100}%` }} />
                                  ))}
                                </span>
                                <span>
                                  mean {fmtDecimal(p.scroll_depth.mean)}%
                                  <span class="sr-only">
                                    ; {p.scroll_depth.shares.map((s, i) => `${fmtPercent(s)} reached ${['under 25', '25–50', '50–75', '75–100'][i]}%`).join(', ')}
                                  </span>
                                </span>
                              </span>
                            ) : (
                              <span class="muted">—</span>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )
            }
          </Panel>
          <Panel title="JavaScript errors" loaded={report} class="wide">
            {(data) =>
              !data.errors?.length ? (
                <Empty>No JavaScript errors in this period.</Empty>
              ) : (
                <div class="table-wrap">
                  <table class="data">
                    <thead>
                      <tr>
                        <th scope="col">Error</th>
                        <th scope="col" class="num">
                          Errors
                        </th>
                        <th scope="col" class="num">
                          Visitors
                        </th>
                        <th scope="col">Pages</th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.errors.map((e) => (
                        <tr key={`${e.message}\n${e.source}`}>
                          <th scope="row">
                            <code class="wrap">{e.message}</code>
                            {e.source && <div class="muted small wrap">{e.source}</div>}
                          </th>
                          <td class="num">{fmtInt(e.errors)}</td>
                          <td class="num">{fmtInt(e.visitors)}</td>
                          <td>
                            {e.pages.map((p) => `${p.page} (${fmtInt(p.errors)})`).join(', ')}
                            {e.page_count > e.pages.length && <span class="muted"> and {fmtInt(e.page_count - e.pages.length)} more</span>}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )
            }
          </Panel>
        </div>
      )}
    </div>
  );
}

function Clicks({ rows, kind }: { rows: ClickRow[]; kind: 'rage' | 'dead' }) {
  if (rows.length === 0) return <Empty>No {kind} clicks in this period.</Empty>;
  return (
    <div class="table-wrap">
      <table class="data" data-clicks={kind}>
        <thead>
          <tr>
            <th scope="col">Page and element</th>
            <th scope="col" class="num">
              Clicks
            </th>
            <th scope="col" class="num">
              Visitors
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.page} ${r.selector}`}>
              <th scope="row">
                {r.page}
                <div>
                  <code class="wrap">{r.selector || '(no selector)'}</code>
                </div>
              </th>
              <td class="num">{fmtInt(r.clicks)}</td>
              <td class="num">{fmtInt(r.visitors)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function VitalCell({ v }: { v: Vital }) {
  return (
    <span class="vital" data-metric={v.metric}>
      <span class={`badge ${v.rating}`}>
        {fmtVital(v)} <span class="sr-only">({RATING[v.rating]})</span>
      </span>
      <span class="stack small" aria-hidden="true">
        <span class="seg good" style={{ width: `${v.good * 100}%` }} />
        <span class="seg needs_improvement" style={{ width: `${v.needs_improvement * 100}%` }} />
        <span class="seg poor" style={{ width: `${v.poor * 100}%` }} />
      </span>
      <span class="muted small">
        {fmtPercent(v.good)} good · {fmtPercent(v.poor)} poor · {fmtInt(v.samples)} samples
      </span>
    </span>
  );
}
