// Builds the dashboard into the Python package, where the server serves it under /ui/.
// The output is committed: keep it deterministic (content-hashed names, no timestamps, no source maps).
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';

const outDir = process.env.LEADVIBE_WEB_OUT
  || fileURLToPath(new URL('../leadvibe/static/dashboard', import.meta.url));

export default defineConfig({
  base: '/ui/',
  plugins: [svelte()],
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // The page's CSP allows scripts from 'self' only; the polyfill would be dead weight in the browsers we target.
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: false,
    // Which files each screen needs: scripts/web_size.py sums the first screen's from it.
    manifest: true,
  },
  server: {
    // `npm run dev` against a local server: API calls go to it, the app is served by Vite.
    proxy: Object.fromEntries(
      ['/auth', '/me', '/org-units', '/members', '/secrets', '/ingest', '/import', '/event-types', '/events',
        '/channels', '/leads', '/orders', '/stream', '/analytics', '/usage', '/surge', '/surge-triggers',
        '/surge-events', '/rulesets', '/rules', '/decays', '/filters', '/levels', '/settings', '/profile',
        '/segments', '/triggers', '/deliveries', '/accounts', '/admin', '/schema', '/metrics', '/healthz']
        .map((p) => [p, 'http://127.0.0.1:8080']),
    ),
  },
});
