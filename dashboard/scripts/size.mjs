// Size budget of the first page: index.html and every asset it loads (read from the built
// index.html), each gzipped at level 9, must total at most 150 KB (153,600 bytes). Prints a
// Markdown table (pasted into README.md and dashboard/README.md).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const BUDGET = 150 * 1024;
const dist = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'dist');
let html;
try {
  html = readFileSync(path.join(dist, 'index.html'), 'utf8');
} catch {
  console.error('size: dist/index.html is missing; run `npm run build` first');
  process.exit(1);
}
const files = ['index.html', ...[...html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => `assets/${m[1]}`)];
let total = 0;
console.log('| file | bytes | gzip -9 bytes |');
console.log('| --- | ---: | ---: |');
for (const f of files) {
  const body = readFileSync(path.join(dist, f));
  const gz = gzipSync(body, { level: 9 }).length;
  total += gz;
  console.log(`| \`${f.replace(/-[A-Z0-9]{8}\./, '-<hash>.')}\` | ${body.length} | ${gz} |`);
}
console.log(`| **first page** | | **${total}** (budget ${BUDGET}: ${total <= BUDGET ? 'ok' : 'OVER'}) |`);
if (total > BUDGET) {
  console.error(`size: FAIL: the first page is ${total} bytes gzipped, over its budget of ${BUDGET} by ${total - BUDGET}`);
  process.exit(1);
}
