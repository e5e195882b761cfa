// larder.js: the core plus UX signals and Core Web Vitals (enabled by data-ux).
import { start } from './core';
import { ux } from './ux';

start(ux);
