// Site search: the headline numbers (click-through, no-result, refinement and exit rates), top,
// trending and no-result queries, search-to-purchase conversion and the revenue no-result
// queries may cost. A no-result query (`?query=`) shows the pages its searches came from, each
// linking to the overview filtered to that page.
import { sitePath, type SearchAnswer, type VisitGroup } from '../api';
import { ReportBar, statsQuery } from '../components/controls';
import { Empty, Panel, ShareBar, useApi } from '../components/ui';
import { fmtDecimal, fmtInt, fmtMoney, fmtPercent } from '../format';
import { href, useLocation, viewOf, withParams } from '../router';

export function SearchPage({ site }: { site: string }) {
  const loc = useLocation();
  const report = useApi<SearchAnswer>(sitePath(site, `/search?${statsQuery(loc.query, { limit: '20' })}`));
  const selected = loc.query.get('query');
  const overviewOf = (page: string) =>
    href(`/sites/${encodeURIComponent(site)}/overview`, withParams(viewOf(loc.query), { filter: [...viewOf(loc.query).getAll('filter'), `page==${page}`] }));
  const noSearches = report.data?.summary?.searches === 0;

  return (
    <div class="page">
      <h1 class="page-title">
        Site search <span class="muted">{site}</span>
      </h1>
      <ReportBar range={report.data?.range} />
      <Panel title="Summary" loaded={report}>
        {(data) => (noSearches ? <SearchHint site={site} /> : data.summary && <Summary s={data.summary} />)}
      </Panel>
      {!noSearches && (
        <div class="grid">
          <Panel title="No-result queries" loaded={report} id="no-results">
            {(data) =>
              !data.no_result_queries?.length ? (
                <Empty>Every search found something.</Empty>
              ) : (
                <>
                  <table class="rows">
                    <thead>
                      <tr>
                        <th scope="col">Query</th>
                        <th scope="col" class="num">
                          Searches
                        </th>
                        <th scope="col" class="num">
                          Share
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.no_result_queries.map((q) => (
                        <tr key={q.query} class={q.query === selected ? 'selected' : ''}>
                          <td class="bar-cell">
                            <ShareBar share={q.searches / (data.no_result_queries![0].searches || 1)} />
                            <a href={href(loc.path, withParams(loc.query, { query: q.query }))} class="row-link" data-query={q.query} aria-current={q.query === selected ? 'true' : undefined}>
                              {q.query}
                            </a>
                          </td>
                          <td class="num">{fmtInt(q.searches)}</td>
                          <td class="num">{fmtPercent(q.share_of_searches)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  <p class="muted small">Pick a query to see the pages its searches came from.</p>
                </>
              )
            }
          </Panel>
          {selected && (
            <Panel title={<>Where “{selected}” was searched from</>} loaded={report} class="from-pages">
              {(data) => {
                const q = data.no_result_queries?.find((r) => r.query === selected);
                if (!q) return <Empty>“{selected}” has no no-result searches in this period.</Empty>;
                return (
                  <>
                    <p>
                      {fmtInt(q.searches)} search{q.searches === 1 ? '' : 'es'} by {fmtInt(q.searchers)} visitor{q.searchers === 1 ? '' : 's'} found
                      nothing. They searched from:
                    </p>
                    <ul class="link-list" data-from-pages>
                      {q.from_pages.map((p) => (
                        <li key={p.page}>
                          {p.page ? <a href={overviewOf(p.page)}>{p.page}</a> : <span>(the results page itself: the visit began there)</span>}{' '}
                          <span class="muted small">
                            {fmtInt(p.searches)} search{p.searches === 1 ? '' : 'es'}
                          </span>
                          {p.page && (
                            <>
                              {' '}
                              <a class="small" href={`https://${site}${p.page}`} target="_blank" rel="noopener noreferrer" data-external>
                                open on the shop ↗
                              </a>
                            </>
                          )}
                        </li>
                      ))}
                    </ul>
                    <p>
                      <a class="button small ghost" href={href(loc.path, withParams(loc.query, { query: null }))}>
                        Close
                      </a>
                    </p>
                  </>
                );
              }}
            </Panel>
          )}
          <Panel title="Top queries" loaded={report}>
            {(data) =>
              !data.top_queries?.length ? (
                <Empty>No searches in this period.</Empty>
              ) : (
                <div class="table-wrap">
                  <table class="data">
                    <thead>
                      <tr>
                        <th scope="col">Query</th>
                        <th scope="col" class="num">
                          Searches
                        </th>
                        <th scope="col" class="num">
                          Click-through
                        </th>
                        <th scope="col" class="num">
                          No results
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.top_queries.map((q) => (
                        <tr key={q.query}>
                          <th scope="row">{q.query}</th>
                          <td class="num">{fmtInt(q.searches)}</td>
                          <td class="num">{fmtPercent(q.click_through_rate)}</td>
                          <td class="num">{fmtPercent(q.no_result_rate)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )
            }
          </Panel>
          <Panel title="Trending" loaded={report}>
            {(data) =>
              !data.trending?.length ? (
                <Empty>No query is rising against the previous period (a query needs at least 3 searchers to trend).</Empty>
              ) : (
                <table class="data">
                  <thead>
                    <tr>
                      <th scope="col">Query</th>
                      <th scope="col" class="num">
                        Searchers
                      </th>
                      <th scope="col" class="num">
                        Before
                      </th>
                      <th scope="col" class="num">
                        Change
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.trending.map((q) => (
                      <tr key={q.query}>
                        <th scope="row">{q.query}</th>
                        <td class="num">{fmtInt(q.searchers)}</td>
                        <td class="num">{fmtInt(q.previous_searchers)}</td>
                        <td class="num">{q.change_percent == null ? 'new' : `+${fmtDecimal(q.change_percent)}%`}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )
            }
          </Panel>
          <Panel title="Search and purchases" loaded={report}>
            {(data) =>
              data.conversion && (
                <div class="compare">
                  <Group name="Visits with a search" g={data.conversion.with_search} />
                  <Group name="Visits without" g={data.conversion.without_search} />
                </div>
              )
            }
          </Panel>
          <Panel title="Revenue no-result queries may cost" loaded={report}>
            {(data) => {
              const lost = data.lost_revenue;
              if (!lost || lost.queries.length === 0) return <Empty>No no-result queries in this period.</Empty>;
              const currency = lost.basis.currency;
              return (
                <>
                  <p class="muted small">
                    Estimate: searchers of the query × the purchase rate of visits whose search found results ({fmtPercent(lost.basis.purchase_rate)}) × their
                    average order ({currency ? fmtMoney(lost.basis.average_order_e4, currency) : '—'}).
                  </p>
                  <table class="data">
                    <thead>
                      <tr>
                        <th scope="col">Query</th>
                        <th scope="col" class="num">
                          Searchers
                        </th>
                        <th scope="col" class="num">
                          Estimated loss
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {lost.queries.map((q) => (
                        <tr key={q.query}>
                          <th scope="row">{q.query}</th>
                          <td class="num">{fmtInt(q.searchers)}</td>
                          <td class="num">{currency ? fmtMoney(q.estimated_lost_e4, currency) : '—'}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              );
            }}
          </Panel>
        </div>
      )}
    </div>
  );
}

function Summary({ s }: { s: NonNullable<SearchAnswer['summary']> }) {
  const items: [string, string, string][] = [
    ['searches', 'Searches', fmtInt(s.searches)],
    ['searchers', 'Searchers', fmtInt(s.searchers)],
    ['click_through_rate', 'Click-through rate', fmtPercent(s.click_through_rate)],
    ['no_result_rate', 'No-result rate', fmtPercent(s.no_result_rate)],
    ['average_clicked_position', 'Average clicked position', s.average_clicked_position == null ? '—' : fmtDecimal(s.average_clicked_position)],
    ['refinement_rate', 'Refined', fmtPercent(s.refinement_rate)],
    ['exit_rate', 'Left after searching', fmtPercent(s.exit_rate)],
  ];
  return (
    <div class="cards">
      {items.map(([key, name, value]) => (
        <div class="card" key={key} data-metric={key}>
          <span class="card-name">{name}</span>
          <span class="card-value">{value}</span>
        </div>
      ))}
    </div>
  );
}

function Group({ name, g }: { name: string; g: VisitGroup }) {
  return (
    <div class="group">
      <h3>{name}</h3>
      <dl>
        <div>
          <dt>Visits</dt>
          <dd>{fmtInt(g.visits)}</dd>
        </div>
        <div>
          <dt>Purchased</dt>
          <dd>
            {fmtInt(g.purchasing_visits)} ({fmtPercent(g.purchase_rate)})
          </dd>
        </div>
        <div>
          <dt>Revenue</dt>
          <dd>{g.revenue.length ? g.revenue.map((r) => fmtMoney(r.amount_e4, r.currency)).join(' + ') : '—'}</dd>
        </div>
      </dl>
    </div>
  );
}

function SearchHint({ site }: { site: string }) {
  return (
    <Empty>
      <p>No site searches recorded in this period.</p>
      <p class="muted">
        Searches are tracked when the tag names your search parameter, e.g.{' '}
        <code>{`<script defer src="https://${site}/larder.js" data-site="${site}" data-search-param="q"></script>`}</code>, or when the shop sends{' '}
        <code>search</code> events itself.
      </p>
    </Empty>
  );
}
