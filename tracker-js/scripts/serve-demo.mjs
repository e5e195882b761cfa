// The demo storefront on the real Larder: `larder serve --demo` (the binary from LARDER_BIN, by
// default ../target/debug/larder — `cargo build -p larder`), serving the demo at /demo/ and this
// tree's dist/larder.js at /larder.js, on 127.0.0.1:8099 with a throwaway data directory:
//   npm run build && npm run demo            # http://127.0.0.1:8099/demo/
//   PORT=9000 DATA=./data npm run demo       # another port; keep the data
// Watch what lands with `larder sql --data DIR --site demo.larder.test "SELECT ..."` (DIR is printed).
import { startLarder } from '../test/larder.mjs';

const larder = await startLarder({
  listen: `127.0.0.1:${Number(process.env.PORT || 8099)}`,
  data: process.env.DATA || undefined,
  env: { RUST_LOG: process.env.RUST_LOG || 'info' },
  echo: true,
});
console.log(`demo storefront: ${larder.origin}/demo/  (data: ${larder.data}; Ctrl-C stops)`);
const log = setInterval(() => {}, 1 << 30);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    clearInterval(log);
    await larder.dispose();
    process.exit(0);
  });
}
