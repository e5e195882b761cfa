// Builds dist/: the app bundled and minified by esbuild into dist/assets/ under names that carry
// a hash of their content (app-<hash>.js, app-<hash>.css; cached for a year by Larder), and
// dist/index.html naming them (never cached). Only this package's src/ and its pinned npm
// dependencies (preact, uplot) may end up in the bundle.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.join(root, 'dist');
const allowed = [/^src\//, /^node_modules\/preact\//, /^node_modules\/uplot\//];

rmSync(dist, { recursive: true, force: true });
mkdirSync(path.join(dist, 'assets'), { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.tsx' },
  outdir: 'dist/assets',
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'iife',
  minify: true,
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  charset: 'utf8',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const names = {};
for (const [file, out] of Object.entries(result.metafile.outputs)) {
  const foreign = Object.keys(out.inputs).filter((f) => !allowed.some((re) => re.test(f)));
  if (foreign.length) throw new Error(`${file} would include code from elsewhere: ${foreign.join(', ')}`);
  const ext = path.extname(file).slice(1);
  names[ext] = path.basename(file);
  console.log(`built ${path.relative('.', path.join(root, file))} (${out.bytes} bytes)`);
}
if (!names.js || !names.css) throw new Error(`expected one .js and one .css output, got ${JSON.stringify(names)}`);
const html = readFileSync(path.join(root, 'src', 'index.html'), 'utf8').replace('{{js}}', names.js).replace('{{css}}', names.css);
writeFileSync(path.join(dist, 'index.html'), html);
console.log(`built dist/index.html (${names.js}, ${names.css})`);
