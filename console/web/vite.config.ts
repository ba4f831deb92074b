import { defineConfig } from 'vitest/config';
import { docs } from './build/docs.ts';
import { precompress } from './build/precompress.ts';

// The console's single-page application. `vite build` writes dist/app, which
// the Go package embeds (console/ui.go); dist/placeholder.html is what a Go
// build without the bundle serves.
export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  plugins: [docs(), precompress()],
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1200,
  },
  server: { proxy: { '/api': process.env.FLOWENGINE_CONSOLE ?? 'http://127.0.0.1:8080', '/healthz': process.env.FLOWENGINE_CONSOLE ?? 'http://127.0.0.1:8080' } },
  test: { environment: 'node', env: { TZ: 'UTC' }, include: ['src/**/*.test.ts'] },
});
