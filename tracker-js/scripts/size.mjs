// Size budget: gzip (level 9) of each built file. Fails if the core is over 1536 bytes or the
// full script over 4096 bytes. Prints a Markdown table (pasted into README.md).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const dist = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'dist');
const budgets = [
  { file: 'larder.core.js', what: 'core', budget: 1536 },
  { file: 'larder.js', what: 'full (core + UX signals + vitals)', budget: 4096 },
];

const rows = [];
const failures = [];
for (const b of budgets) {
  let src;
  try {
    src = readFileSync(path.join(dist, b.file));
  } catch {
    console.error(`size: dist/${b.file} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
  const gz = gzipSync(src, { level: 9 }).length;
  rows.push(`| \`${b.file}\` | ${b.what} | ${src.length} | ${gz} | ${b.budget} | ${gz <= b.budget ? 'ok' : 'OVER'} |`);
  if (gz > b.budget) failures.push(`dist/${b.file} is ${gz} bytes gzipped, over its budget of ${b.budget} bytes by ${gz - b.budget}`);
}

console.log('| file | contents | minified bytes | gzip -9 bytes | budget | |');
console.log('| --- | --- | ---: | ---: | ---: | --- |');
for (const r of rows) console.log(r);
if (failures.length) {
  for (const f of failures) console.error(`size: FAIL: ${f}`);
  process.exit(1);
}
