// Overview: headline numbers against the previous period, the time series (visitors, pageviews
// or revenue), and breakdown panels whose rows filter the whole page. Everything the view
// depends on is in the URL: period, filters, the chart's metric and each panel's tab.
import { useMemo, useState } from 'preact/hooks';
import { atLeast, sitePath, type BreakdownAnswer, type ConversionsAnswer, type Goal, type OverviewAnswer, type Revenue, type RevenueBreakdownAnswer, type SeriesAnswer } from '../api';
import { LineChart, type ChartSeries } from '../components/chart';
import { ReportBar, statsQuery } from '../components/controls';
import { Empty, InstallHint, Panel, ShareBar, Tabs, useApi } from '../components/ui';
import { filtersOf, withFilter } from '../filters';
import { fmtBucket, fmtChange, fmtDecimal, fmtDuration, fmtInt, fmtMetric, fmtMoney, fmtPercent, fmtRange, fmtValue, mainCurrency } from '../format';
import { href, navigate, useLocation, withParams } from '../router';
import { roleOn, useSession } from '../session';

type Metric = 'visitors' | 'pageviews' | 'revenue';
const METRICS: [Metric, string][] = [
  ['visitors', 'Visitors'],
  ['pageviews', 'Pageviews'],
  ['revenue', 'Revenue'],
];

const CARDS: { key: string; name: string; show: (v: number) => string; lowerIsBetter?: boolean }[] = [
  { key: 'visitors', name: 'Unique visitors', show: fmtInt },
  { key: 'visits', name: 'Visits', show: fmtInt },
  { key: 'pageviews', name: 'Pageviews', show: fmtInt },
  { key: 'views_per_visit', name: 'Views per visit', show: fmtDecimal },
  { key: 'bounce_rate', name: 'Bounce rate', show: fmtPercent, lowerIsBetter: true },
  { key: 'visit_duration', name: 'Visit duration', show: fmtDuration },
];

/** Whether the view covers a single day (its series is hourly). */
function isOneDay(query: URLSearchParams): boolean {
  const period = query.get('period') || '30d';
  return period === 'today' || period === 'yesterday' || (period === 'custom' && query.get('from') === query.get('to'));
}

/** Revenue of `currency` in a list, in currency units. */
const amountIn = (revenue: Revenue[] | undefined, currency: string | null) =>
  (revenue?.find((r) => r.currency === currency)?.amount_e4 ?? 0) / 10_000;

/** The headline numbers' request (also preloaded at start-up, see `main`). */
export const overviewPath = (site: string, query: URLSearchParams): string =>
  sitePath(site, `/overview?${statsQuery(query)}&compare=previous`);

export function OverviewPage({ site }: { site: string }) {
  const loc = useLocation();
  const q = statsQuery(loc.query);
  const metric = (METRICS.find(([m]) => m === loc.query.get('metric'))?.[0] ?? 'visitors') as Metric;
  const overview = useApi<OverviewAnswer>(overviewPath(site, loc.query));
  // The headline numbers first: the other panels ask once they are there (or failed), so that
  // on a large store they do not compete with them for the store's read connections.
  const ready = overview.data !== null || overview.error !== null;
  const seriesExtra = metric === 'revenue' ? `&include=revenue${isOneDay(loc.query) ? '&interval=day' : ''}` : '';
  const series = useApi<SeriesAnswer>(ready ? sitePath(site, `/timeseries?${q}&compare=previous${seriesExtra}`) : null);
  const filters = filtersOf(loc.query);
  const setMetric = (m: Metric) => navigate(href(loc.path, withParams(loc.query, { metric: m === 'visitors' ? null : m })), { replace: true });
  const empty = overview.data && overview.data.current.visitors === 0 && filters.length === 0;

  return (
    <div class="page">
      <h1 class="page-title">
        Overview <span class="muted">{site}</span>
      </h1>
      <ReportBar range={overview.data?.range} />
      <Panel title="Summary" loaded={overview} class="summary">
        {(data) => <Cards data={data} metric={metric} onMetric={setMetric} />}
      </Panel>
      {empty ? (
        <section class="panel">
          <InstallHint site={site} heading="No visits in this period" settingsHref={`/sites/${encodeURIComponent(site)}/settings`} />
        </section>
      ) : (
        <>
          <Panel
            title={`${METRICS.find(([m]) => m === metric)?.[1]} over time`}
            loaded={series}
            actions={<Tabs label="Chart metric" options={METRICS} value={metric} onChange={setMetric} />}
          >
            {(data) => <SeriesChart data={data} metric={metric} currency={mainCurrency(overview.data?.revenue)} />}
          </Panel>
          <GoalsPanel site={site} ready={ready} />
          <div class="grid">
            <BreakdownPanel
              ready={ready}
              site={site}
              title="Pages"
              param="pages"
              tabs={[
                ['page', 'Top pages'],
                ['entry_page', 'Entry pages'],
                ['exit_page', 'Exit pages'],
              ]}
            />
            <BreakdownPanel
              ready={ready}
              site={site}
              title="Sources"
              param="sources"
              tabs={[
                ['source', 'Sources'],
                ['medium', 'Medium'],
                ['referrer', 'Referrers'],
              ]}
            />
            <BreakdownPanel
              ready={ready}
              site={site}
              title="Campaigns (UTM)"
              param="utm"
              tabs={[
                ['utm_campaign', 'Campaign'],
                ['utm_source', 'Source'],
                ['utm_medium', 'Medium'],
                ['utm_term', 'Term'],
                ['utm_content', 'Content'],
              ]}
            />
            <BreakdownPanel
              ready={ready}
              site={site}
              title="Locations"
              param="locations"
              tabs={[
                ['country', 'Countries'],
                ['region', 'Regions'],
                ['city', 'Cities'],
              ]}
            />
            <BreakdownPanel
              ready={ready}
              site={site}
              title="Devices"
              param="devices"
              tabs={[
                ['device', 'Devices'],
                ['browser', 'Browsers'],
                ['os', 'Operating systems'],
              ]}
            />
            <RevenuePanel site={site} ready={ready} />
          </div>
        </>
      )}
    </div>
  );
}

function Cards({ data, metric, onMetric }: { data: OverviewAnswer; metric: Metric; onMetric: (m: Metric) => void }) {
  const previous = data.previous;
  const currency = mainCurrency(data.revenue) ?? mainCurrency(previous?.revenue);
  const revenueNow = amountIn(data.revenue, currency);
  const revenueBefore = amountIn(previous?.revenue, currency);
  const revenueChange = revenueBefore ? Math.round(((revenueNow - revenueBefore) / revenueBefore) * 1000) / 10 : null;
  const orders = data.revenue.reduce((n, r) => n + r.orders, 0);
  const card = (
    key: string,
    name: string,
    value: string,
    change: number | null,
    [hadBefore, hasNow]: [boolean, boolean],
    lowerIsBetter = false,
    sub?: string,
  ) => {
    const selectable = key === 'visitors' || key === 'pageviews' || key === 'revenue';
    const tone = change == null || change === 0 ? '' : change > 0 !== lowerIsBetter ? 'up' : 'down';
    const inner = (
      <>
        <span class="card-name">{name}</span>
        <span class="card-value" data-value>
          {value}
        </span>
        <span class={`card-change ${tone}`} title={previous ? `Against ${fmtRange(previous.range)}` : undefined}>
          {fmtChange(change, hadBefore, hasNow)}
          <span class="sr-only"> against the previous period</span>
        </span>
        {sub && <span class="card-sub">{sub}</span>}
      </>
    );
    return selectable ? (
      <button type="button" class="card" key={key} data-metric={key} aria-pressed={metric === key ? 'true' : 'false'} onClick={() => onMetric(key as Metric)}>
        {inner}
      </button>
    ) : (
      <div class="card" key={key} data-metric={key}>
        {inner}
      </div>
    );
  };
  return (
    <div class="cards">
      {CARDS.map((c) => {
        const now = (data.current as unknown as Record<string, number>)[c.key];
        const before = previous ? (previous.values as unknown as Record<string, number>)[c.key] : 0;
        return card(c.key, c.name, c.show(now), previous?.change[c.key] ?? null, [before !== 0, now !== 0], c.lowerIsBetter);
      })}
      {card(
        'revenue',
        'Revenue',
        currency ? data.revenue.map((r) => fmtMoney(r.amount_e4, r.currency)).join(' + ') || fmtMoney(0, currency) : '—',
        revenueChange,
        [revenueBefore !== 0, revenueNow !== 0],
        false,
        `${fmtInt(orders)} order${orders === 1 ? '' : 's'}`,
      )}
    </div>
  );
}

function SeriesChart({ data, metric, currency }: { data: SeriesAnswer; metric: Metric; currency: string | null }) {
  const { labels, series, total } = useMemo(() => {
    const value = (p: SeriesAnswer['points'][number]) => (metric === 'revenue' ? amountIn(p.revenue, currency) : p[metric]);
    const now = data.points.map(value);
    const before = (data.previous ?? []).map(value);
    const series: ChartSeries[] = [
      { label: 'This period', values: now, color: '#2446c7', fill: 'rgba(36, 70, 199, 0.08)' },
    ];
    if (data.previous) series.push({ label: 'Previous period', values: before, color: '#8a93a3', dash: [5, 5] });
    return { labels: data.points.map((p) => fmtBucket(p.bucket, data.interval)), series, total: now.reduce((a, b) => a + b, 0) };
  }, [data, metric, currency]);
  if (metric === 'revenue' && !currency) {
    return <Empty>No purchases with revenue in this period. Revenue comes from <code>purchase</code> events that carry an amount.</Empty>;
  }
  const show = (v: number) => fmtMetric(metric, v, currency);
  const per = data.interval === 'hour' ? 'hour' : data.interval;
  return (
    <LineChart
      labels={labels}
      series={series}
      format={show}
      caption={`${metric} per ${per}, ${fmtRange(data.range)}: ${metric === 'visitors' ? 'sum of each ' + per + "'s visitors" : 'total'} ${show(total)}.`}
    />
  );
}

/** A breakdown: rows of a dimension's values by visitors; a click filters the page by one. */
function BreakdownPanel({
  site,
  title,
  param,
  tabs,
  ready,
}: {
  site: string;
  title: string;
  param: string;
  tabs: [string, string][];
  ready: boolean;
}) {
  const loc = useLocation();
  const dimension = tabs.find(([d]) => d === loc.query.get(param))?.[0] ?? tabs[0][0];
  const [limit, setLimit] = useState(10);
  const loaded = useApi<BreakdownAnswer>(ready ? sitePath(site, `/breakdown/${dimension}?${statsQuery(loc.query, { limit: String(limit) })}`) : null);
  const setTab = (d: string) => {
    setLimit(10);
    navigate(href(loc.path, withParams(loc.query, { [param]: d === tabs[0][0] ? null : d })), { replace: true });
  };
  const isPage = dimension === 'page';
  const name = tabs.find(([d]) => d === dimension)?.[1] ?? dimension;
  return (
    <Panel title={title} loaded={loaded} actions={tabs.length > 1 ? <Tabs label={`${title}: show`} options={tabs} value={dimension} onChange={setTab} /> : undefined}>
      {(data) =>
        data.rows.length === 0 ? (
          <Empty>Nothing in this period.</Empty>
        ) : (
          <>
            <table class="rows" data-dimension={dimension}>
              <thead>
                <tr>
                  <th scope="col">{name}</th>
                  <th scope="col" class="num">
                    Visitors
                  </th>
                  {isPage && (
                    <th scope="col" class="num">
                      Pageviews
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {data.rows.map((row) => {
                  const label = fmtValue(dimension, row.value);
                  const top = data.rows[0].visitors || 1;
                  return (
                    <tr key={row.value}>
                      <td class="bar-cell">
                        <ShareBar share={row.visitors / top} />
                        <button
                          type="button"
                          class="row-filter"
                          data-value={row.value}
                          title={`Filter by ${name.toLowerCase()}: ${label}`}
                          onClick={() => navigate(href(loc.path, withParams(loc.query, { filter: withFilter(loc.query, dimension, row.value) })))}
                        >
                          {label}
                        </button>
                      </td>
                      <td class="num">{fmtInt(row.visitors)}</td>
                      {isPage && <td class="num">{fmtInt(row.pageviews)}</td>}
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {data.has_more && (
              <button type="button" class="button small ghost more" onClick={() => setLimit(limit + 40)}>
                Show more
              </button>
            )}
          </>
        )
      }
    </Panel>
  );
}

/** Purchase revenue by where visits came from. */
function RevenuePanel({ site, ready }: { site: string; ready: boolean }) {
  const loc = useLocation();
  const tabs: [string, string][] = [
    ['source', 'Source'],
    ['utm_campaign', 'Campaign'],
    ['country', 'Country'],
    ['device', 'Device'],
  ];
  const by = tabs.find(([d]) => d === loc.query.get('revenue_by'))?.[0] ?? 'source';
  const loaded = useApi<RevenueBreakdownAnswer>(ready ? sitePath(site, `/revenue?${statsQuery(loc.query, { by })}`) : null);
  return (
    <Panel
      title="Revenue"
      loaded={loaded}
      actions={
        <Tabs
          label="Revenue by"
          options={tabs}
          value={by}
          onChange={(d) => navigate(href(loc.path, withParams(loc.query, { revenue_by: d === 'source' ? null : d })), { replace: true })}
        />
      }
    >
      {(data) =>
        data.rows.length === 0 ? (
          <Empty>No purchases in this period.</Empty>
        ) : (
          <table class="rows" data-revenue-by={by}>
            <thead>
              <tr>
                <th scope="col">{tabs.find(([d]) => d === by)?.[1]}</th>
                <th scope="col" class="num">
                  Orders
                </th>
                <th scope="col" class="num">
                  Revenue
                </th>
                <th scope="col" class="num">
                  <abbr title="Average order value">Avg. order</abbr>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.rows.map((row) => (
                <tr key={`${row.value}/${row.currency}`}>
                  <td class="bar-cell">
                    <ShareBar share={row.amount_e4 / (data.rows[0].amount_e4 || 1)} />
                    <button
                      type="button"
                      class="row-filter"
                      onClick={() => navigate(href(loc.path, withParams(loc.query, { filter: withFilter(loc.query, by, row.value) })))}
                    >
                      {fmtValue(by, row.value)}
                    </button>
                  </td>
                  <td class="num">{fmtInt(row.orders)}</td>
                  <td class="num">{fmtMoney(row.amount_e4, row.currency)}</td>
                  <td class="num">{fmtMoney(row.average_order_e4, row.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      }
    </Panel>
  );
}

/** What converts for a goal, in words: "event purchase", "page /p/*". */
export const goalTarget = (goal: Goal): string => (goal.event_name !== undefined ? `event ${goal.event_name}` : `page ${goal.page_pattern}`);

/** Each goal's converting visitors, conversions and conversion rate, against the previous period. */
function GoalsPanel({ site, ready }: { site: string; ready: boolean }) {
  const loc = useLocation();
  const { me } = useSession();
  const canEdit = atLeast(roleOn(me, site), 'admin');
  const loaded = useApi<ConversionsAnswer>(ready ? sitePath(site, `/goals/conversions?${statsQuery(loc.query)}&compare=previous`) : null);
  const settings = `/sites/${encodeURIComponent(site)}/settings#goals`;
  return (
    <Panel title="Goals" loaded={loaded} id="goals" class="goals">
      {(data) =>
        data.goals.length === 0 ? (
          <Empty>
            {canEdit ? (
              <p data-empty="goals">
                No goals yet. A goal counts the visitors who send an event (such as <code>purchase</code> or <code>signup</code>) or who see a
                page (such as <code>/thanks</code> or <code>/p/*</code>): <a href={settings}>add one in Settings</a>.
              </p>
            ) : (
              <p data-empty="goals">No goals have been set up for this site yet.</p>
            )}
          </Empty>
        ) : (
          <div class="table-wrap">
            <table class="rows" data-goals>
              <caption class="sr-only">
                Goals, {fmtRange(data.range)}: converting visitors out of {fmtInt(data.visitors)}
                {data.previous ? `, change against ${fmtRange(data.previous.range)}` : ''}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Goal</th>
                  <th scope="col" class="num">
                    Visitors
                  </th>
                  <th scope="col" class="num">
                    Conversions
                  </th>
                  <th scope="col" class="num">
                    <abbr title="Converting visitors out of all visitors">Conv. rate</abbr>
                  </th>
                  <th scope="col" class="num">
                    Change
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.goals.map((goal) => {
                  const before = data.previous?.goals.find((g) => g.id === goal.id)?.visitors ?? 0;
                  const change = before ? Math.round(((goal.visitors - before) / before) * 1000) / 10 : null;
                  const tone = change == null || change === 0 ? '' : change > 0 ? 'up' : 'down';
                  const top = Math.max(...data.goals.map((g) => g.visitors), 1);
                  return (
                    <tr key={goal.id} data-goal={goal.id}>
                      <th scope="row" class="bar-cell">
                        <ShareBar share={goal.visitors / top} />
                        <span class="row-text goal-name">{goal.name}</span>
                        <span class="row-text goal-target muted small">
                          {goalTarget(goal)}
                          {goal.revenue && goal.revenue.length > 0 && <> · {goal.revenue.map((r) => fmtMoney(r.amount_e4, r.currency)).join(' + ')} revenue</>}
                        </span>
                      </th>
                      <td class="num" data-field="visitors">
                        {fmtInt(goal.visitors)}
                      </td>
                      <td class="num" data-field="conversions">
                        {fmtInt(goal.conversions)}
                      </td>
                      <td class="num" data-field="conversion_rate">
                        {fmtPercent(goal.conversion_rate)}
                      </td>
                      <td class={`num card-change ${tone}`} data-field="change">
                        {data.previous ? fmtChange(change, before !== 0, goal.visitors !== 0) : '—'}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )
      }
    </Panel>
  );
}
