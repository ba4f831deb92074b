// Drives the web console in Debian's chromium (headless, through
// playwright-core) against a running flowengine: node e2e/console.mjs
// <console URL> <screenshot dir>. Prints one line per check; exits 1 at the
// first failure. e2e/console_test.go runs it against `flowengine run`.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error('usage: node e2e/console.mjs <console URL> <screenshot dir>');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'flowengine-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
  colorScheme: 'light',
});
const errors = [];
const page = ctx.pages()[0] ?? (await ctx.newPage());
const watch = (p) => p.on('pageerror', (e) => errors.push(e.message));
watch(page);
page.setDefaultTimeout(15_000);

let step = '';
const t0 = Date.now();
function ok(msg) {
  console.log(`ok   ${step}: ${msg}`);
}
async function shot(name, p = page) {
  await p.screenshot({ path: join(out, name + '.png') });
}
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function graphReady(p, kind) {
  await p.waitForSelector(`[data-testid=graph][data-state=ready][data-kind=${kind}]`);
  return Number(await p.getAttribute('[data-testid=graph]', 'data-series'));
}

try {
  step = 'home';
  const resp = await page.goto(base + '/');
  check(resp.status() === 200, `GET / answered ${resp.status()}`);
  await page.waitForSelector('[data-testid=flow-rate]');
  const shown = await page.evaluate(() => Math.round(performance.now()));
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=flow-rate]')?.dataset.value) > 0);
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { dcl: Math.round(n.domContentLoadedEventEnd), load: Math.round(n.loadEventEnd) };
  });
  const rate = Number(await page.getAttribute('[data-testid=flow-rate]', 'data-value'));
  check(rate > 0, `the flow rate is ${rate}`);
  console.log(`metric first-load domcontentloaded=${nav.dcl}ms load=${nav.load}ms flow-rate-shown=${shown}ms`);
  // The first load stays small: the home page needs neither ECharts nor
  // CodeMirror, which are fetched once it shows (and the user reads it).
  const assets = await page.evaluate((load) =>
    performance
      .getEntriesByType('resource')
      .filter((r) => /\/assets\//.test(r.name) && r.startTime <= load)
      .map((r) => ({ name: r.name.replace(/.*\/assets\//, ''), bytes: r.encodedBodySize })),
    nav.load,
  );
  const heavy = assets.filter((a) => /^(echarts|cm)-/.test(a.name));
  check(heavy.length === 0, `the home page's first load has ${heavy.map((a) => a.name).join(', ')}`);
  const firstLoad = assets.reduce((n, a) => n + a.bytes, 0);
  console.log(`metric first-load-assets=${firstLoad}B (${assets.map((a) => `${a.name} ${a.bytes}B`).join(', ')})`);
  check(firstLoad < 40_000, `the home page's assets weigh ${firstLoad} bytes, over the 40 kB budget`);
  await page.waitForSelector('.card.rate .sparkline svg');
  ok(`${rate} flows/s`);
  await shot('home-first-minute');

  step = 'visualize stacked';
  await page.goto(base + '/visualize?range=last+2+minutes&dims=ExporterAddress,Proto');
  let n = await graphReady(page, 'line');
  check(n > 0, `${n} series`);
  await page.waitForSelector('.main-chart canvas');
  const rows = await page.locator('[data-testid=stats-table] tbody tr').count();
  check(rows === n, `${rows} table rows for ${n} series`);
  await page.waitForTimeout(400);
  ok(`${n} series, ${rows} rows`);
  await shot('visualize');

  step = 'zoom';
  const box = await page.locator('.main-chart').boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.55, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, y, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.9, y, { steps: 8 });
  await page.mouse.up();
  await page.waitForURL(/range=\d{4}-\d\d-\d\d/);
  const zoomed = new URL(page.url()).searchParams.get('range');
  await graphReady(page, 'line');
  await page.goBack();
  await page.waitForURL((u) => u.searchParams.get('range') === 'last 2 minutes');
  await graphReady(page, 'line');
  ok(`zoomed to ${zoomed}, Back returns to the last 2 minutes`);

  step = 'visualize sankey';
  await page.click('button:has-text("Sankey")');
  n = await graphReady(page, 'sankey');
  check(n > 0, `${n} links`);
  check(page.url().includes('graph=sankey'), `URL ${page.url()} lacks the graph type`);
  await page.waitForTimeout(400);
  ok(`${n} links`);
  await shot('sankey');

  step = 'sankey of one dimension';
  await page.goto(base + '/visualize?range=last+2+minutes&dims=Proto&graph=sankey');
  const blocked = page.locator('[data-testid=graph][data-state=blocked] [data-testid=graph-blocked]');
  await blocked.waitFor();
  const says = await blocked.innerText();
  check(/two dimensions/.test(says), `the graph says ${JSON.stringify(says)}`);
  ok(JSON.stringify(says));

  step = 'dimension picker';
  await page.click('input[aria-label="Add a dimension"]');
  await page.keyboard.type('address the flow', { delay: 5 });
  const option = page.locator('[data-testid=dimension-list] [role=option]').first();
  check((await option.getAttribute('data-name')) === 'ExporterAddress', `the picker offers ${await option.getAttribute('data-name')} first`);
  const desc = await option.locator('.desc').innerText();
  await page.keyboard.press('Enter');
  await page.click('input[aria-label="Add a dimension"]');
  await page.keyboard.type('bgp', { delay: 5 });
  const bgp = await page.$$eval('[data-testid=dimension-list] [role=option]', (els) => els.map((e) => e.dataset.name));
  for (const c of ['DstASPath', 'DstCommunities', 'DstLargeCommunities', 'DstFirstAS', 'DstLastAS']) check(bgp.includes(c), `"bgp" does not find ${c} (found ${bgp.join(', ')})`);
  await page.keyboard.press('Escape');
  await page.waitForURL(/dims=Proto%2CExporterAddress/);
  n = await graphReady(page, 'sankey');
  check(n > 0, `${n} links once a second dimension is added`);
  ok(`found ExporterAddress by its description (${JSON.stringify(desc)}); the sankey draws ${n} links`);

  step = 'filter typo';
  await page.goto(base + '/visualize?range=last+2+minutes&dims=Proto');
  await graphReady(page, 'line');
  const editor = page.locator('[data-testid=filter] .cm-content');
  await editor.click();
  await page.keyboard.type('Proto = tcp AND SrcAdr = 1', { delay: 5 });
  await page.keyboard.press('Escape');
  const err = page.locator('[data-testid=filter-errors]');
  await err.waitFor();
  const msg = await err.innerText();
  check(/SrcAdr/.test(msg), `the error says ${JSON.stringify(msg)}`);
  const marked = page.locator('.cm-lintRange-error');
  await marked.first().waitFor();
  const under = await marked.first().innerText();
  check(under === 'SrcAdr', `the underline is under ${JSON.stringify(under)}, not SrcAdr`);
  ok(`${JSON.stringify(msg)} under ${JSON.stringify(under)}`);
  await shot('filter-error');

  step = 'valid filter';
  await editor.click();
  await page.keyboard.press('Control+a');
  await page.keyboard.type('Proto = udp', { delay: 5 });
  await page.keyboard.press('Escape');
  await page.keyboard.press('Enter');
  await page.waitForURL(/filter=Proto/);
  await page.waitForFunction(() => {
    const g = document.querySelector('[data-testid=graph]');
    const cells = [...document.querySelectorAll('[data-testid=stats-table] tbody tr td:first-child')].map((td) => td.textContent.trim());
    return g?.dataset.state === 'ready' && cells.length > 0 && cells.every((c) => c === 'UDP');
  });
  ok('the table holds UDP only');
  await shot('filter-valid');

  step = 'saved filters';
  await page.click('button:has-text("Saved")');
  await page.fill('input[aria-label="Name of the saved filter"]', 'udp only');
  await page.click('button:has-text("Save current")');
  const item = page.locator('.saved .menu .item', { hasText: 'udp only' });
  await item.waitFor();
  await item.locator('button[aria-label="Delete udp only"]').click();
  await item.waitFor({ state: 'detached' });
  await page.keyboard.press('Escape');
  await page.mouse.click(5, 300);
  ok('saved, listed and deleted');

  step = 'other graphs';
  for (const [graph, param, sel] of [
    ['Grid', 'grid', '[data-kind=line] .smalls .small canvas'],
    ['100% stacked', 'stacked100', '[data-kind=line] .main-chart canvas'],
    ['Table', 'table', '[data-kind=table] [data-testid=stats-table] tbody tr'],
  ]) {
    await page.click(`.seg button:has-text("${graph}")`);
    await page.waitForURL(new RegExp(`graph=${param}`));
    await page.waitForSelector(`[data-testid=graph][data-state=ready]${sel}`);
  }
  ok('grid, 100% stacked and table draw');

  step = 'copied URL';
  await page.click('button:has-text("Lines")');
  await page.selectOption('#metric', 'pps');
  await graphReady(page, 'line');
  await page.waitForURL(/metric=pps/);
  const url = page.url();
  const state = async (p) =>
    p.evaluate(() => ({
      graph: document.querySelector('.seg button.on')?.textContent,
      metric: document.querySelector('#metric')?.value,
      dims: [...document.querySelectorAll('[data-testid=dimensions] .dname')].map((e) => e.textContent),
      filter: document.querySelector('[data-testid=filter] .cm-content')?.textContent,
      range: document.querySelector('#range')?.value,
    }));
  const want = await state(page);
  const other = await ctx.newPage();
  watch(other);
  await other.goto(url);
  await graphReady(other, 'line');
  await other.waitForSelector('[data-testid=filter] .cm-content');
  const got = await state(other);
  check(JSON.stringify(got) === JSON.stringify(want), `the copied URL shows ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
  ok(JSON.stringify(got));
  await other.close();

  step = 'pipeline';
  const stats = await (await fetch(base + '/api/v0/pipeline')).json();
  await page.goto(base + '/pipeline');
  await page.waitForSelector('[data-testid=stage]');
  const ids = await page.$$eval('[data-testid=stage]', (els) => els.map((e) => e.dataset.id));
  for (const s of stats.stages) check(ids.includes(s.id), `stage ${s.id} is not drawn (drawn: ${ids.join(', ')})`);
  const src = stats.stages.find((s) => s.kind === 'source');
  const sel = `[data-id="${src.id}"] [data-testid=out-total]`;
  const before = Number(await page.getAttribute(sel, 'data-value'));
  await page.waitForFunction(([sel, before]) => Number(document.querySelector(sel)?.dataset.value) > before, [sel, before]);
  await page.waitForFunction(() => !document.body.innerText.includes('…'));
  ok(`${ids.length} stages; ${src.id} counts up from ${before}`);
  // Every exporter the sources know is listed, with its counters moving.
  const known = stats.stages.flatMap((s) => (s.exporters ?? []).map((e) => e.address));
  check(known.length > 0, 'the API lists no exporter');
  await page.waitForSelector('[data-testid=exporter]');
  const listed = await page.$$eval('[data-testid=exporter]', (els) => els.map((e) => e.dataset.address));
  for (const a of known) check(listed.includes(a), `exporter ${a} is not listed (listed: ${listed.join(', ')})`);
  const row = `[data-testid=exporter][data-address="${known[0]}"]`;
  const flows = Number(await page.getAttribute(row, 'data-flows'));
  await page.waitForFunction(([row, flows]) => Number(document.querySelector(row)?.dataset.flows) > flows, [row, flows]);
  const cells = await page.$eval(row, (tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText));
  check(cells.some((c) => /\/s$/.test(c) && !c.startsWith('0')), `no flow rate on ${known[0]}: ${cells.join(' | ')}`);
  ok(`${listed.length} exporters listed (${cells.join(' | ')})`);
  // The sources know addresses; the names come from the store.
  const named = page.locator('[data-testid=exporter][data-address="127.0.0.1"] td').first();
  await named.filter({ hasText: 'edge-1' }).waitFor();
  ok(`127.0.0.1 is named: ${await named.innerText()}`);
  await shot('pipeline');

  step = 'docs';
  await page.goto(base + '/docs');
  await page.waitForSelector('#stages table');
  ok('README sections and the stage reference');
  await shot('docs');

  step = 'not found';
  const nf = await page.goto(base + '/no/such/page');
  check(nf.status() === 404, `status ${nf.status()}`);
  await page.waitForSelector('text=Page not found');
  ok('404 with the console page');
  await shot('not-found');

  step = 'dark theme';
  await page.goto(base + '/');
  await page.click('button[aria-label="Switch theme"]');
  check((await page.getAttribute('html', 'data-theme')) === 'dark', 'the theme did not switch');
  await page.waitForSelector('.card.rate .sparkline svg');
  await page.waitForTimeout(600);
  await shot('home-dark');
  await page.goto(base + '/visualize?range=last+2+minutes&dims=ExporterAddress&bidir=1&previous=1');
  await graphReady(page, 'line');
  await page.waitForTimeout(400);
  await shot('visualize-dark');
  ok('dark theme kept across pages');

  step = 'home after the first minute';
  // The widgets read the one-minute rollup, which fills as minutes end: with
  // HOME_WAIT_UNTIL_MS=60000 the test waits for it (until that many ms since
  // its start) for a screenshot with the widgets; it never fails on it.
  await page.click('button[aria-label="Switch theme"]');
  await page.goto(base + '/');
  const left = Math.max(1000, Number(process.env.HOME_WAIT_UNTIL_MS ?? 0) - (Date.now() - t0));
  const full = await page.waitForSelector('table.top tr', { timeout: left }).then(() => true, () => false);
  await page.waitForTimeout(300);
  await shot('home');
  ok(full ? 'the widgets show the first stored minute' : 'the first minute is not stored yet (screenshot without the widgets)');

  step = 'BGP cards';
  // With routes (the exporters speak BMP: BGP=1), the home page lists the
  // AS paths and the first AS of the flows that have one, once their minute
  // is stored (up to BGP_WAIT_UNTIL_MS since the start), and a path opens
  // Visualize filtered on it.
  if (process.env.BGP === '1') {
    const until = Math.max(5000, Number(process.env.BGP_WAIT_UNTIL_MS ?? 90_000) - (Date.now() - t0));
    const path = page.locator('[data-testid=top-DstASPath] table.top a').first();
    await path.waitFor({ timeout: until });
    const text = (await path.innerText()).trim();
    check(/^\d+( \d+)*$/.test(text), `the AS path card shows ${JSON.stringify(text)}`);
    const first = (await page.locator('[data-testid=top-DstFirstAS] table.top a').first().innerText()).trim();
    check(/^AS\d+$/.test(first), `the first AS card shows ${JSON.stringify(first)}`);
    const paths = await page.$$eval('[data-testid=top-DstASPath] table.top a', (as) => as.map((a) => a.textContent.trim()));
    check(paths.some((p) => p.split(' ')[0] === first.slice(2)), `no path of ${paths.join(', ')} starts with ${first}`);
    const whyEmpty = page.locator('[data-testid=top-DstCountry] [data-testid=why-empty]');
    const why = (await whyEmpty.count()) ? await whyEmpty.innerText() : '';
    await shot('home-bgp');
    await path.click();
    await page.waitForURL(/\/visualize\?/);
    const filter = new URL(page.url()).searchParams.get('filter');
    check(filter === `DstASPath = '${text}'`, `the path opens Visualize filtered on ${JSON.stringify(filter)}`);
    const series = await graphReady(page, 'line');
    check(series > 0, `Visualize filtered on the path draws ${series} series`);
    ok(`path ${text}, first ${first}; Visualize on it draws ${series} series${why ? '; countries: ' + JSON.stringify(why.slice(0, 40) + '…') : ''}`);
  } else {
    ok('skipped (no BMP routes: BGP=1 asks for them)');
  }

  step = 'page errors';
  check(errors.length === 0, errors.join('\n'));
  ok('none');
  console.log(`done in ${Date.now() - t0} ms`);
} catch (e) {
  console.log(`FAIL ${step}: ${e.message.split('\n')[0]}`);
  await shot('failure').catch(() => {});
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(1);
}
await ctx.close();
rmSync(profile, { recursive: true, force: true });
