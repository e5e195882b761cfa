// Funnels: saved funnels and a builder (pages or events, each with property filters), the
// result as bars with conversion, drop-off and time between steps, and a breakdown by a
// visit-level dimension. `?funnel=<id>` shows a saved one; admins save and delete.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, atLeast, sitePath, type FunnelAnswer, type FunnelInput, type SavedFunnel, type StepResult } from '../api';
import { ReportBar, statsQuery } from '../components/controls';
import { Empty, ErrorBox, Loading, Panel, useApi } from '../components/ui';
import { dimensionName, fmtDuration, fmtInt, fmtPercent, fmtValue } from '../format';
import { href, navigate, useLocation, withParams } from '../router';
import { roleOn, useSession } from '../session';

interface StepDraft {
  kind: 'page' | 'event';
  value: string;
  props: { key: string; value: string }[];
}

const WINDOWS: [number, string][] = [
  [1800, '30 minutes'],
  [3600, '1 hour'],
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
  [30 * 86_400, '30 days'],
];

const BREAKDOWNS = ['source', 'medium', 'referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'country', 'device', 'browser', 'os', 'entry_page'];

const SHOP_FUNNEL: StepDraft[] = [
  { kind: 'page', value: '/', props: [] },
  { kind: 'event', value: 'add_to_cart', props: [] },
  { kind: 'event', value: 'purchase', props: [] },
];

/** Whether an error names one step's field (shown beside that step). */
const isStepField = (e: ApiError) => /^steps\[\d+\]/.test(e.field ?? '');

/** "1 day", "30 minutes"; other windows as a duration. */
const fmtWindow = (secs: number) => WINDOWS.find(([s]) => s === secs)?.[1] ?? fmtDuration(secs);

function toInput(steps: StepDraft[], windowSeconds: number, order: 'strict' | 'any'): FunnelInput {
  return {
    steps: steps.map((s) => {
      const props = Object.fromEntries(s.props.filter((p) => p.key.trim()).map((p) => [p.key.trim(), p.value]));
      const step: FunnelInput['steps'][number] = s.kind === 'page' ? { page: s.value.trim() } : { event: s.value.trim() };
      if (Object.keys(props).length) step.props = props;
      return step;
    }),
    window_seconds: windowSeconds,
    order,
  };
}

function fromInput(input: FunnelInput): StepDraft[] {
  return input.steps.map((s) => ({
    kind: s.page !== undefined ? 'page' : 'event',
    value: s.page ?? s.event ?? '',
    props: Object.entries(s.props ?? {}).map(([key, value]) => ({ key, value })),
  }));
}

export function FunnelsPage({ site }: { site: string }) {
  const loc = useLocation();
  const { me } = useSession();
  const canSave = atLeast(roleOn(me, site), 'admin');
  const saved = useApi<{ funnels: SavedFunnel[] }>(sitePath(site, '/funnels'));
  const funnelId = loc.query.get('funnel');
  const breakdown = loc.query.get('breakdown') || '';
  const extra: Record<string, string> = breakdown ? { breakdown } : {};
  const savedResult = useApi<FunnelAnswer>(funnelId ? sitePath(site, `/funnels/${encodeURIComponent(funnelId)}/result?${statsQuery(loc.query, extra)}`) : null);

  // The builder's draft, and the ad-hoc result of "Show funnel".
  const [steps, setSteps] = useState<StepDraft[]>(SHOP_FUNNEL);
  const [windowSeconds, setWindowSeconds] = useState(86_400);
  const [order, setOrder] = useState<'strict' | 'any'>('strict');
  const [name, setName] = useState('');
  const [adHoc, setAdHoc] = useState<{ answer: FunnelAnswer | null; error: ApiError | null; loading: boolean; input: FunnelInput | null }>({
    answer: null,
    error: null,
    loading: false,
    input: null,
  });
  const [saveState, setSaveState] = useState<{ error: ApiError | null; busy: boolean }>({ error: null, busy: false });

  const evaluate = async (input: FunnelInput) => {
    setAdHoc({ answer: null, error: null, loading: true, input });
    try {
      const answer = await api<FunnelAnswer>('POST', sitePath(site, `/funnels/evaluate?${statsQuery(loc.query, extra)}`), input);
      setAdHoc({ answer, error: null, loading: false, input });
    } catch (e) {
      setAdHoc({ answer: null, error: e as ApiError, loading: false, input });
    }
  };
  // Re-evaluate the shown ad-hoc funnel when the period, filters or breakdown change.
  const viewKey = statsQuery(loc.query, extra);
  useEffect(() => {
    if (adHoc.input && !funnelId) evaluate(adHoc.input);
  }, [viewKey]);

  const save = async () => {
    setSaveState({ error: null, busy: true });
    try {
      const created = await api<SavedFunnel>('POST', sitePath(site, '/funnels'), { ...toInput(steps, windowSeconds, order), name: name.trim() });
      setSaveState({ error: null, busy: false });
      saved.reload();
      navigate(href(loc.path, withParams(loc.query, { funnel: created.id })));
    } catch (e) {
      setSaveState({ error: e as ApiError, busy: false });
    }
  };

  const remove = async (funnel: SavedFunnel) => {
    if (!confirm(`Delete the funnel “${funnel.name}”?`)) return;
    try {
      await api('DELETE', sitePath(site, `/funnels/${encodeURIComponent(funnel.id)}`));
      saved.reload();
      navigate(href(loc.path, withParams(loc.query, { funnel: null })));
    } catch (e) {
      alert((e as ApiError).message);
    }
  };

  const editAsNew = (f: SavedFunnel) => {
    setSteps(fromInput(f.definition));
    setWindowSeconds(f.definition.window_seconds ?? 86_400);
    setOrder(f.definition.order ?? 'strict');
    setName(`${f.name} (copy)`);
    navigate(href(loc.path, withParams(loc.query, { funnel: null })));
  };

  const current = funnelId ? savedResult : null;
  const fieldError = (path: string) => (saveState.error?.field === path ? saveState.error : adHoc.error?.field === path ? adHoc.error : null);

  return (
    <div class="page">
      <h1 class="page-title">
        Funnels <span class="muted">{site}</span>
      </h1>
      <ReportBar range={(current?.data ?? adHoc.answer)?.range}>
        <label class="inline">
          Break down by{' '}
          <select
            value={breakdown}
            onChange={(e) => navigate(href(loc.path, withParams(loc.query, { breakdown: (e.target as HTMLSelectElement).value || null })), { replace: true })}
          >
            <option value="">nothing</option>
            {BREAKDOWNS.map((d) => (
              <option key={d} value={d}>
                {dimensionName(d)}
              </option>
            ))}
          </select>
        </label>
      </ReportBar>
      <div class="funnels-layout">
        <Panel title="Saved funnels" loaded={saved} class="saved-funnels">
          {(data) => (
            <>
              {data.funnels.length === 0 ? (
                <Empty>No saved funnels yet.{canSave ? ' Build one and save it.' : ''}</Empty>
              ) : (
                <ul class="link-list">
                  {data.funnels.map((f) => (
                    <li key={f.id}>
                      <a href={href(loc.path, withParams(loc.query, { funnel: f.id }))} aria-current={f.id === funnelId ? 'true' : undefined}>
                        {f.name}
                      </a>
                      <span class="muted small"> {f.definition.steps.length} steps</span>
                    </li>
                  ))}
                </ul>
              )}
              {funnelId && (
                <a class="button small ghost" href={href(loc.path, withParams(loc.query, { funnel: null }))}>
                  New funnel
                </a>
              )}
            </>
          )}
        </Panel>
        {funnelId ? (
          <Panel
            title={current?.data?.funnel?.name ?? 'Funnel'}
            loaded={savedResult}
            actions={
              current?.data?.funnel && (
                <div class="actions">
                  <button type="button" class="button small ghost" onClick={() => editAsNew(current.data!.funnel!)}>
                    Edit as new
                  </button>
                  {canSave && (
                    <button type="button" class="button small danger" onClick={() => remove(current.data!.funnel!)}>
                      Delete
                    </button>
                  )}
                </div>
              )
            }
          >
            {(data) => <FunnelResult answer={data} />}
          </Panel>
        ) : (
          <section class="panel builder" aria-labelledby="builder-title">
            <header class="panel-head">
              <h2 id="builder-title">Build a funnel</h2>
            </header>
            <form
              class="panel-body"
              onSubmit={(e) => {
                e.preventDefault();
                evaluate(toInput(steps, windowSeconds, order));
              }}
            >
              <ol class="steps">
                {steps.map((step, i) => (
                  <StepEditor
                    key={i}
                    index={i}
                    step={step}
                    error={fieldError(`steps[${i}].page`) || fieldError(`steps[${i}].event`) || fieldError(`steps[${i}].props`)}
                    onChange={(s) => setSteps(steps.map((old, j) => (j === i ? s : old)))}
                    onRemove={steps.length > 2 ? () => setSteps(steps.filter((_, j) => j !== i)) : undefined}
                  />
                ))}
              </ol>
              {steps.length < 8 && (
                <button type="button" class="button small ghost" onClick={() => setSteps([...steps, { kind: 'page', value: '', props: [] }])}>
                  Add a step
                </button>
              )}
              <div class="form-row">
                <label>
                  Within{' '}
                  <select value={windowSeconds} onChange={(e) => setWindowSeconds(Number((e.target as HTMLSelectElement).value))}>
                    {WINDOWS.map(([s, n]) => (
                      <option key={s} value={s}>
                        {n}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Order{' '}
                  <select value={order} onChange={(e) => setOrder((e.target as HTMLSelectElement).value as 'strict' | 'any')}>
                    <option value="strict">steps in this order</option>
                    <option value="any">steps in any order</option>
                  </select>
                </label>
                <button type="submit" class="button primary">
                  Show funnel
                </button>
              </div>
              <p class="muted small">
                A page step matches a path (<code>*</code> matches any characters: <code>/p/*</code>); an event step matches an event name
                (<code>add_to_cart</code>, <code>purchase</code>, your own). Property filters need the exact value.
              </p>
              {canSave && (
                <div class="form-row save-row">
                  <label>
                    Name <input type="text" value={name} maxLength={100} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="Checkout funnel" />
                  </label>
                  <button type="button" class="button" disabled={saveState.busy || !name.trim()} onClick={save}>
                    Save funnel
                  </button>
                </div>
              )}
              {saveState.error && !isStepField(saveState.error) && (
                <p class="field-error" role="alert">
                  Not saved: {saveState.error.message}
                </p>
              )}
            </form>
            <div class="panel-body result" aria-live="polite" aria-busy={adHoc.loading ? 'true' : 'false'}>
              {adHoc.loading && <Loading label="Counting…" />}
              {adHoc.error && !isStepField(adHoc.error) && <ErrorBox error={adHoc.error} retry={() => adHoc.input && evaluate(adHoc.input)} />}
              {adHoc.answer && <FunnelResult answer={adHoc.answer} />}
            </div>
          </section>
        )}
      </div>
    </div>
  );
}

function StepEditor({
  index,
  step,
  error,
  onChange,
  onRemove,
}: {
  index: number;
  step: StepDraft;
  error: ApiError | null;
  onChange: (s: StepDraft) => void;
  onRemove?: () => void;
}) {
  const n = index + 1;
  return (
    <li class="step" data-step={n}>
      <fieldset>
        <legend>Step {n}</legend>
        <div class="form-row">
          <label>
            <span class="sr-only">Step {n} kind</span>
            <select value={step.kind} onChange={(e) => onChange({ ...step, kind: (e.target as HTMLSelectElement).value as 'page' | 'event' })}>
              <option value="page">Page</option>
              <option value="event">Event</option>
            </select>
          </label>
          <label class="grow">
            <span class="sr-only">Step {n} {step.kind === 'page' ? 'page path' : 'event name'}</span>
            <input
              type="text"
              required
              value={step.value}
              placeholder={step.kind === 'page' ? '/p/*' : 'add_to_cart'}
              aria-invalid={error ? 'true' : undefined}
              onInput={(e) => onChange({ ...step, value: (e.target as HTMLInputElement).value })}
            />
          </label>
          <button type="button" class="button small ghost" onClick={() => onChange({ ...step, props: [...step.props, { key: '', value: '' }] })}>
            Add property filter
          </button>
          {onRemove && (
            <button type="button" class="button small ghost" onClick={onRemove} aria-label={`Remove step ${n}`}>
              Remove
            </button>
          )}
        </div>
        {step.props.map((p, j) => (
          <div class="form-row prop" key={j}>
            <label>
              Property <input type="text" value={p.key} onInput={(e) => onChange({ ...step, props: step.props.map((q, k) => (k === j ? { ...q, key: (e.target as HTMLInputElement).value } : q)) })} />
            </label>
            <label>
              is <input type="text" value={p.value} onInput={(e) => onChange({ ...step, props: step.props.map((q, k) => (k === j ? { ...q, value: (e.target as HTMLInputElement).value } : q)) })} />
            </label>
            <button type="button" class="button small ghost" aria-label={`Remove property filter ${j + 1} of step ${n}`} onClick={() => onChange({ ...step, props: step.props.filter((_, k) => k !== j) })}>
              ×
            </button>
          </div>
        ))}
        {error && (
          <p class="field-error" role="alert">
            {error.message}
          </p>
        )}
      </fieldset>
    </li>
  );
}

/** Bars per step (width: share of the visitors who entered), with conversion and drop-off. */
export function FunnelResult({ answer }: { answer: FunnelAnswer }) {
  const steps = answer.result.steps;
  const entered = steps[0]?.visitors ?? 0;
  if (entered === 0) {
    return <Empty>Nobody entered this funnel in this period (no visitor matched step 1).</Empty>;
  }
  const last = steps[steps.length - 1];
  return (
    <div class="funnel">
      <p class="funnel-summary">
        <strong>{fmtPercent(last.overall_conversion_rate)}</strong> of {fmtInt(entered)} visitors completed all {steps.length} steps (within{' '}
        {fmtWindow(answer.result.window_seconds)}, {answer.result.order === 'strict' ? 'in order' : 'in any order'}).
      </p>
      <ol class="funnel-bars">
        {steps.map((s) => (
          <FunnelStep key={s.step} step={s} entered={entered} />
        ))}
      </ol>
      {answer.result.breakdown && <FunnelBreakdown breakdown={answer.result.breakdown} />}
    </div>
  );
}

function FunnelStep({ step, entered }: { step: StepResult; entered: number }) {
  const width = `${(step.visitors / entered) * 100}%`;
  return (
    <li class="funnel-step" data-step={step.step}>
      <div class="funnel-label">
        <span class="step-no">{step.step}</span> {step.label}
      </div>
      <div class="funnel-track" aria-hidden="true">
        <span class="funnel-fill" style={{ width }} />
      </div>
      <dl class="funnel-numbers">
        <div>
          <dt>Visitors</dt>
          <dd data-field="visitors">{fmtInt(step.visitors)}</dd>
        </div>
        <div>
          <dt>{step.step === 1 ? 'Entered' : 'Converted'}</dt>
          <dd data-field="conversion">{step.step === 1 ? '100%' : fmtPercent(step.conversion_rate)}</dd>
        </div>
        {step.step > 1 && (
          <>
            <div>
              <dt>Dropped off</dt>
              <dd data-field="dropped">
                {fmtInt(step.dropped_off)} ({fmtPercent(step.drop_off_rate)})
              </dd>
            </div>
            <div>
              <dt>Median time from previous step</dt>
              <dd data-field="median">{fmtDuration(step.median_seconds_from_previous)}</dd>
            </div>
          </>
        )}
      </dl>
    </li>
  );
}

function FunnelBreakdown({ breakdown }: { breakdown: NonNullable<FunnelAnswer['result']['breakdown']> }) {
  if (breakdown.rows.length === 0) return null;
  const steps = breakdown.rows[0].steps;
  return (
    <div class="table-wrap">
      <table class="data" data-breakdown={breakdown.dimension}>
        <caption>By {dimensionName(breakdown.dimension).toLowerCase()}: visitors reaching each step (overall conversion)</caption>
        <thead>
          <tr>
            <th scope="col">{dimensionName(breakdown.dimension)}</th>
            {steps.map((s) => (
              <th scope="col" class="num" key={s.step}>
                Step {s.step}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {breakdown.rows.map((row) => (
            <tr key={row.value}>
              <th scope="row">{fmtValue(breakdown.dimension, row.value)}</th>
              {row.steps.map((s) => (
                <td class="num" key={s.step}>
                  {fmtInt(s.visitors)} <span class="muted">({fmtPercent(s.overall_conversion_rate)})</span>
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
