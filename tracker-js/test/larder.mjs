// The real Larder for the browser tests: `larder serve --demo` on a fresh data directory and a
// free loopback port, and `larder sql` to read what landed in ClickHouse (chDB) through it.
//
//   LARDER_BIN   the binary (default: ../target/debug/larder, i.e. `cargo build -p larder`)
//   LARDER_TEST_LOG  RUST_LOG for the spawned servers (default: warn)
//   LARDER_TEST_TIMING=1  print each test's setup/test/check times, each Larder's CPU time and log
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO = path.resolve(ROOT, '..');
export const SITE = 'demo.larder.test';
export const LARDER_BIN = path.resolve(ROOT, process.env.LARDER_BIN || path.join('..', 'target', 'debug', 'larder'));
/** A regular desktop Chrome: Larder drops "HeadlessChrome" (and other bots) without storing them. */
export const chromeUA = (major = 140, build = 0) =>
  `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.${build}.0 Safari/537.36`;

/** The environment of a spawned Larder: ours, minus the caller's own `LARDER_SECTION__KEY` overrides. */
function larderEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Keep the tests hermetic; where chDB lives may still be given.
    if (/^LARDER_[A-Z0-9_]+__/.test(k) && k !== 'LARDER_STORE__CHDB_LIBRARY') continue;
    env[k] = v;
  }
  return {
    ...env,
    RUST_LOG: process.env.LARDER_TEST_LOG || 'warn',
    LARDER_INGEST__RATE_LIMIT_PER_SECOND: '0', // the tests send fast, from one address
    LARDER_INGEST__FLUSH_INTERVAL_MS: '100', // events are in ClickHouse within ~0.2 s
    ...extra,
  };
}

/**
 * Starts `larder serve --demo` and resolves once it listens. `script` is the build it serves at
 * /larder.js (`larder.js` or `larder.core.js`, from dist/); `env` adds environment overrides;
 * `data` is the data directory (default: a fresh temporary one, removed by dispose()); `listen`
 * the address (default: a free loopback port); `echo` copies the server's log to our stderr.
 */
export async function startLarder({ script = 'larder.js', env = {}, data: dataDir, listen = '127.0.0.1:0', echo = false, timeout = 30_000 } = {}) {
  if (!existsSync(LARDER_BIN)) {
    throw new Error(
      `no Larder binary at ${LARDER_BIN}: build it with \`cargo build -p larder\` (in ${REPO}), or set LARDER_BIN=/path/to/larder`,
    );
  }
  const scriptFile = path.join(ROOT, 'dist', script);
  if (!existsSync(scriptFile)) throw new Error(`${scriptFile} is missing: run \`npm run build\` first`);
  const data = dataDir ? path.resolve(dataDir) : mkdtempSync(path.join(os.tmpdir(), 'larder-tracker-test-'));
  const childEnv = larderEnv({ LARDER_INGEST__TRACKER_SCRIPT: scriptFile, ...env });
  // From the repository root, so that the demo and the script are this tree's.
  const proc = spawn(LARDER_BIN, ['serve', '--demo', '--data', data, '--listen', listen], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = ''; // the tail of the server's log
  let logged = 0; // bytes of log so far
  proc.stderr.setEncoding('utf8').on('data', (c) => {
    if (echo) process.stderr.write(c);
    stderr += c;
    logged += c.length;
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
      const m = stdout.match(/Larder is running at (http:\/\/[^\s/]+)\/?/);
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
  const port = Number(new URL(origin).port);

  /** `larder sql` through this server: rows of JSON objects. */
  const sql = (query) =>
    new Promise((resolve, reject) => {
      execFile(
        LARDER_BIN,
        ['sql', '--data', data, '--site', SITE, '--format', 'jsonl', query],
        { cwd: REPO, env: childEnv, maxBuffer: 64 << 20 },
        (err, out, errOut) => {
          if (err) return reject(new Error(`larder sql failed: ${errOut || err.message}\nquery: ${query}`));
          resolve(out.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
        },
      );
    });

  let stopping;
  return {
    origin,
    port,
    data,
    sql,
    /** Where the server's log (stderr; RUST_LOG=warn: warnings and errors) is now, for logSince. */
    logMark: () => logged,
    /** What the server logged since `mark` (as much of it as is kept). */
    logSince: (mark) => stderr.slice(Math.max(0, stderr.length - (logged - mark))),
    /** SIGTERM (the server flushes its spool to the store), or SIGKILL with `kill`. */
    stop({ kill = false } = {}) {
      stopping ??= (async () => {
        if (process.env.LARDER_TEST_TIMING) {
          try {
            const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
            console.error(`larder cpu: ${(Number(f[11]) + Number(f[12])) / 100} s`);
          } catch {}
        }
        proc.kill(kill ? 'SIGKILL' : 'SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
        const how = await exited;
        clearTimeout(killer);
        return how;
      })();
      return stopping;
    },
    /** Stops, then removes the data directory (unless it was given). */
    async dispose({ kill = false } = {}) {
      await this.stop({ kill });
      if (!dataDir) rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` (async) until it returns a truthy value; throws `what()` after `timeout` ms. */
export async function poll(fn, { timeout = 10_000, every = 100, what = () => 'a condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${await what()}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
