// larder.core.js: pageviews, SPA routes, the public API, e-commerce, site search, outbound
// links, downloads and 404 pages. No UX signals (data-ux is ignored).
import { start } from './core';

start();
