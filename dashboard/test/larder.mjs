// The real Larder for the dashboard's browser tests: `larder serve --demo` on a fresh data
// directory and a free loopback port, serving this package's dist/, and the CLI (`larder users
// add`, `larder sites add` …) through it. Modelled on tracker-js/test/larder.mjs (whose helpers
// it reuses).
//
//   LARDER_BIN       the binary (default: ../target/debug/larder, i.e. `cargo build -p larder`)
//   LARDER_TEST_LOG  RUST_LOG for the server (default: warn)
//   CHROMIUM         the browser (default: /usr/bin/chromium)
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { chromeUA, poll } from '../../tracker-js/test/larder.mjs';

export { chromeUA, poll };
export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO = path.resolve(ROOT, '..');
export const DIST = path.join(ROOT, 'dist');
export const ARTIFACTS = path.join(REPO, 'test-artifacts', 'dashboard');
export const LARDER_BIN = path.resolve(ROOT, process.env.LARDER_BIN || path.join('..', 'target', 'debug', 'larder'));

/** The environment of a spawned Larder: ours, minus the caller's own `LARDER_SECTION__KEY` overrides. */
function larderEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^LARDER_[A-Z0-9_]+__/.test(k) && k !== 'LARDER_STORE__CHDB_LIBRARY') continue;
    env[k] = v;
  }
  return { ...env, RUST_LOG: process.env.LARDER_TEST_LOG || 'warn', ...extra };
}

/** Runs the larder CLI; resolves its standard output. */
export function cli(args, { input, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(LARDER_BIN, args, { cwd: REPO, env, timeout: 60_000 }, (err, out, errOut) => {
      if (err) reject(new Error(`larder ${args.join(' ')} failed: ${errOut || err.message}`));
      else resolve(out);
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/**
 * Starts `larder serve --demo` on a fresh data directory; `before(dataDir, env)` runs first (to
 * load demo data while no server holds the directory). Resolves once it listens, with what it
 * printed at start.
 */
export async function startLarder({ env = {}, before, timeout = 30_000 } = {}) {
  if (!existsSync(LARDER_BIN)) {
    throw new Error(`no Larder binary at ${LARDER_BIN}: build it with \`cargo build -p larder\` (in ${REPO}), or set LARDER_BIN`);
  }
  if (!existsSync(path.join(DIST, 'index.html'))) throw new Error(`${DIST}/index.html is missing: run \`npm run build\` first`);
  const data = mkdtempSync(path.join(os.tmpdir(), 'larder-dashboard-test-'));
  const childEnv = larderEnv({
    LARDER_HTTP__DASHBOARD_DIR: DIST,
    LARDER_INGEST__RATE_LIMIT_PER_SECOND: '0', // the fixture is sent fast, from one address
    LARDER_INGEST__FLUSH_INTERVAL_MS: '100', // events are in ClickHouse within ~0.2 s
    ...env,
  });
  if (before) await before(data, childEnv);
  const proc = spawn(LARDER_BIN, ['serve', '--demo', '--data', data, '--listen', '127.0.0.1:0'], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c) => {
    stderr += c;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`larder serve did not start within ${timeout} ms\n${stderr}`));
    }, timeout);
    proc.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c;
      // The lines printed at start end with the demo storefront's.
      const m = stdout.match(/Larder is running at (http:\/\/[^\s/]+)\/?[\s\S]*Demo storefront:/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`larder serve exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });
  let stopping;
  return {
    origin,
    data,
    /** What the server printed on standard output at start. */
    stdout: () => stdout,
    /** The server's log (warnings and errors). */
    log: () => stderr,
    /** The CLI pointed at this server's data directory (it goes through the running server). */
    cli: (args, options = {}) => cli([...args, '--data', data], { env: childEnv, ...options }),
    async dispose() {
      stopping ??= (async () => {
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(killer);
        rmSync(data, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** Launches the system Chromium (never downloads one). */
export async function launch() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (Debian), or set CHROMIUM=/path/to/chromium`);
  }
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Nothing but loopback resolves: the dashboard must not reach anywhere else.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
    ],
  });
}

/** A client of the JSON API with its own session (cookie and CSRF token), for checking answers. */
export async function apiSession(origin, email, password) {
  const login = await fetch(`${origin}/api/v1/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (login.status !== 200) throw new Error(`API login of ${email}: ${login.status} ${await login.text()}`);
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await login.json();
  const call = async (method, p, body) => {
    const res = await fetch(`${origin}${p}`, {
      method,
      headers: { Cookie: cookie, 'X-CSRF-Token': csrf, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  };
  return {
    cookie,
    call,
    /** GET `p`; throws unless 200. */
    async get(p) {
      const { status, body } = await call('GET', p);
      if (status !== 200) throw new Error(`GET ${p}: ${status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
