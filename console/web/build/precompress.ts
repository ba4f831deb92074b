// Writes a .gz beside every text asset of the bundle, which the Go server
// sends to browsers that accept gzip.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

export function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'flowengine-precompress',
    apply: 'build',
    configResolved(c) {
      outDir = resolve(c.root, c.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const p = join(dir, name);
          if (statSync(p).isDirectory()) walk(p);
          else if (/\.(js|css|html|svg|json)$/.test(name)) {
            const data = readFileSync(p);
            if (data.length > 1024) writeFileSync(p + '.gz', gzipSync(data, { level: 9 }));
          }
        }
      };
      walk(outDir);
    },
  };
}
