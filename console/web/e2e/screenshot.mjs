// Takes a screenshot of one console page in Debian's chromium (headless,
// through playwright-core): node e2e/screenshot.mjs <console URL> <path>
// <file.png> [width] [height] [light|dark]. The README's picture is taken
// this way from `make run` (docs/console.png).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, path, file, width = '1280', height = '800', scheme = 'light'] = process.argv.slice(2);
if (!base || !path || !file) {
  console.error('usage: node e2e/screenshot.mjs <console URL> <path> <file.png> [width] [height] [light|dark]');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'flowengine-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: Number(width), height: Number(height) },
  colorScheme: scheme === 'dark' ? 'dark' : 'light',
});
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(base + path);
  // Let the page poll twice (rates need two samples) and the charts draw.
  await page.waitForTimeout(Number(process.env.SCREENSHOT_WAIT_MS ?? 5000));
  await page.screenshot({ path: file });
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
