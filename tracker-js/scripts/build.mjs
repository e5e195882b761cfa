// Builds dist/larder.js (full) and dist/larder.core.js (core) as minified IIFEs.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const entries = { larder: 'src/larder.ts', 'larder.core': 'src/larder.core.ts' };

for (const [name, entry] of Object.entries(entries)) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: `dist/${name}.js`,
    bundle: true,
    format: 'iife',
    minify: true,
    target: 'es2020',
    legalComments: 'none',
    charset: 'utf8',
    metafile: true,
    logLevel: 'warning',
  });
  const out = Object.values(result.metafile.outputs)[0];
  const inputs = Object.keys(out.inputs);
  const foreign = inputs.filter((f) => !f.startsWith('src/'));
  if (foreign.length) throw new Error(`dist/${name}.js would include code from outside src/: ${foreign.join(', ')}`);
  console.log(`built dist/${name}.js (${out.bytes} bytes from ${inputs.join(', ')})`);
}
