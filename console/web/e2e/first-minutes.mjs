// Opens the console a new user just started and waits until its home page
// shows flows: node e2e/first-minutes.mjs <console URL>. Used by
// scripts/first-minutes.sh.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.argv[2].replace(/\/$/, '');
const profile = mkdtempSync(join(tmpdir(), 'flowengine-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
});
let code = 0;
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const t0 = Date.now();
  await page.goto(base + '/');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=flow-rate]')?.dataset.value) > 0, null, { timeout: 60_000 });
  const rate = await page.getAttribute('[data-testid=flow-rate]', 'data-value');
  console.log(`first minutes: the console shows ${Math.round(Number(rate))} flows/s, ${Date.now() - t0} ms after it was opened`);
} catch (e) {
  console.log(`first minutes: the console shows no flows: ${e.message.split('\n')[0]}`);
  code = 1;
}
if (code === 0) {
  // The synthetic exporters send their routes over BMP: flows leaving the
  // network carry AS paths the console groups by.
  const path = await topASPath(base, 30_000);
  if (path) {
    console.log(`first minutes: the console groups flows by AS path (top: ${path})`);
  } else {
    console.log('first minutes: no flow with an AS path in the console (BMP routes)');
    code = 1;
  }
}
await ctx.close();
rmSync(profile, { recursive: true, force: true });
process.exit(code);

// topASPath asks the console's API for the traffic by DstASPath of flows
// that have one, until a row comes or timeout ms pass.
async function topASPath(base, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const now = Date.now();
    const res = await fetch(base + '/api/v0/console/table', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        start: new Date(now - 3600_000).toISOString(), end: new Date(now + 60_000).toISOString(),
        metric: 'flows', dimensions: ['DstASPath'], limit: 5, filter: "DstASPath != ''",
      }),
    }).catch(() => null);
    const rows = res?.ok ? (await res.json()).rows ?? [] : [];
    const row = rows.find((r) => r.dimensions[0] !== 'Other' && r.dimensions[0] !== '');
    if (row) return row.dimensions[0];
    await new Promise((r) => setTimeout(r, 1000));
  }
  return null;
}
