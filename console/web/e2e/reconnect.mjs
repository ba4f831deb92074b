// The console losing its server and finding it again, driven by
// e2e/console_test.go through stdin/stdout: node e2e/reconnect.mjs <URL>
// prints "open" once the pipeline page shows; on "stopped" (the server is
// down) it waits for the console to say so and prints "offline"; on
// "started" it waits for the console to reconnect by itself and prints
// "back". Any failure prints "FAIL <why>" and exits 1.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const [base, out] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function expect(word) {
  const { value, done } = await lines.next();
  if (done || value.trim() !== word) throw new Error(`expected ${word} on stdin, got ${done ? 'EOF' : value}`);
}

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
  page.setDefaultTimeout(20_000);
  await page.goto(base + '/pipeline');
  await page.waitForSelector('[data-testid=stage]');
  console.log('open');
  await expect('stopped');
  await page.waitForSelector('.offline');
  if (out) await page.screenshot({ path: join(out, 'offline.png') });
  console.log('offline');
  await expect('started');
  await page.waitForSelector('.offline', { state: 'detached' });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=stage]').length > 0 && !document.querySelector('.pipeline-head .err'));
  console.log('back');
} catch (e) {
  console.log(`FAIL ${e.message.split('\n')[0]}`);
  code = 1;
}
await ctx.close();
rmSync(profile, { recursive: true, force: true });
process.exit(code);
