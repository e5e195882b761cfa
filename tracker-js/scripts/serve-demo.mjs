// Serves the demo storefront, the built scripts and the test stand-in collector (POST
// /api/event: validates each body as docs/wire-format.md says, logs it, answers like the
// collector) on 127.0.0.1, for clicking around before Larder itself serves them:
//   npm run build && npm run demo            # http://127.0.0.1:8099/demo/
//   PORT=9000 npm run demo
// With LARDER_URL set, pages post to that collector instead (as in the tests).
import { startServer } from '../test/helpers.mjs';

const server = await startServer({ port: Number(process.env.PORT || 8099) });
console.log(`demo storefront: ${server.origin}/demo/  (events: ${process.env.LARDER_URL ? process.env.LARDER_URL + '/api/event' : server.origin + '/api/event'})`);
let seen = 0;
setInterval(() => {
  for (; seen < server.received.length; seen++) {
    const r = server.received[seen];
    console.log(`${r.status} ${r.body}${r.error ? `  <- ${JSON.stringify(r.error)}` : ''}`);
  }
}, 200);
