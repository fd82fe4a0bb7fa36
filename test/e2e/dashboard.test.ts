// The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): it loads with the token from the URL, shows a queued job's function and a
// worker, its Retry button re-queues a dead job (checked through the job log API), its scale
// buttons call the supervisor provider over HTTP, and runs show per-step progress.
// Screenshots go to test-artifacts/. Without Chromium the suite is skipped, unless CI=true.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { ProcessesView, RunView, SupervisorProvider } from '../../src/server/http/providers.js';
import { backoffPolicy } from '../../src/server/retry.js';
import { type HttpUnderTest, startHttp, TOKEN } from '../helpers/http.js';
import { ROOT } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

function chromiumMissing(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const msg = `needs ${CHROMIUM} (Debian: apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`CI is missing required tools: ${msg}`);
  return msg;
}

const skip = chromiumMissing();

async function launch(t: { after(f: () => Promise<void>): void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(() => browser.close());
  return browser;
}

async function openDashboard(browser: Browser, h: HttpUnderTest, withToken = true): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(`${h.base}/${withToken ? `#token=${encodeURIComponent(TOKEN)}` : ''}`);
  return { page, errors };
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
}

const text = async (page: Page, selector: string): Promise<string> => ((await page.locator(selector).first().textContent()) ?? '').trim();

/** Records what the dashboard asks for; a real Supervisor plugs in the same way (setSupervisorProvider). */
function recordingSupervisor(): SupervisorProvider & { scaled: Record<string, number>[] } {
  const counts: Record<string, number> = { thumbnail: 2, email: 1 };
  const sup = {
    scaled: [] as Record<string, number>[],
    async ps(): Promise<ProcessesView> {
      const types = Object.entries(counts).map(([type, n]) => ({ type, processes: n, running: n, state: 'ok' }));
      const processes = types.flatMap((tp) =>
        Array.from({ length: tp.processes }, (_, i) => ({
          type: tp.type,
          name: `worker:${tp.type}#${i + 1}`,
          pid: 4000 + i,
          state: 'running',
          uptimeMs: 65_000,
          restarts: 0,
          jobsDone: 12,
          jobsFailed: 0,
        })),
      );
      return { types, processes };
    },
    async scale(c: Record<string, number>) {
      sup.scaled.push({ ...c });
      Object.assign(counts, c);
      return { scaled: Object.entries(c).map(([type, to]) => ({ type, to })) };
    },
  };
  return sup;
}

const RUN: RunView = {
  id: 'run-dash-1',
  pipeline: 'thumbnails',
  status: 'running',
  createdAt: new Date().toISOString(),
  steps: {
    thumbnail: {
      status: 'running',
      total: 4,
      items: { a: { status: 'done' }, b: { status: 'done' }, c: { status: 'failed', error: 'GT_MEDIA_INVALID: c.jpg' } },
    },
    notify: { status: 'pending', total: 1 },
  },
};

test('dashboard: queues, workers, retry of a dead job, throughput', { skip, timeout: 60_000 }, async (t) => {
  const h = await startHttp(t, { retry: backoffPolicy({ maxAttempts: 1 }), http: { port: 0, eventsIntervalMs: 250 } });
  let attempts = 0;
  await h.worker(
    {
      dash_flaky: () => {
        attempts++;
        if (attempts === 1) throw new Error('first attempt breaks');
        return 'fixed';
      },
      dash_ok: () => 'ok',
    },
    { clientId: 'dash-worker-1' },
  );
  const queued = await h.api('POST', '/api/v1/jobs', { function: 'dash_queued', payload: { file: 'a.jpg' }, priority: 'high' });
  assert.equal(queued.status, 202);
  const dead = await h.api('POST', '/api/v1/jobs', { function: 'dash_flaky', payload: 'x' });
  await until('the job to die', async () => (await h.api('GET', `/api/v1/jobs/${dead.body.id}`)).body.job.state === 'dead', 5000);

  const browser = await launch(t);
  const { page, errors } = await openDashboard(browser, h);

  // The token moved from the URL to sessionStorage.
  assert.equal(new URL(page.url()).hash, '');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('geartrain.token')), TOKEN);

  // A queued job's function, with its high-priority count; a worker with its client id.
  const qrow = page.locator('#queues tr[data-function="dash_queued"]');
  await qrow.waitFor({ timeout: 10_000 });
  const cells = await qrow.locator('td').allTextContents();
  assert.deepEqual(cells.slice(0, 4), ['dash_queued', '1', '0', '0']);
  const wrow = page.locator('#workers tbody tr', { hasText: 'dash-worker-1' });
  await wrow.waitFor({ timeout: 10_000 });
  assert.match((await wrow.textContent()) ?? '', /dash_flaky, dash_ok|dash_ok, dash_flaky/);
  await page.locator('#live.on').waitFor({ timeout: 10_000 });
  assert.match(await text(page, '#server-info'), /gearman 127\.0\.0\.1:\d+ · store memory/);

  // The dead job in the log, with its error and a Retry button.
  const jrow = page.locator(`#jobs tr[data-id="${dead.body.id}"]`);
  await jrow.waitFor({ timeout: 10_000 });
  assert.equal(await jrow.getAttribute('data-state'), 'dead');
  assert.match((await jrow.textContent()) ?? '', /WORK_EXCEPTION: first attempt breaks/);
  await screenshot(page, 'before-retry');

  await jrow.locator('button.retry').click();
  // Through the job log: the job ran again and is done.
  await until('the retried job to finish', async () => (await h.api('GET', `/api/v1/jobs/${dead.body.id}`)).body.job.state === 'done', 10_000);
  const entry = (await h.api('GET', `/api/v1/jobs/${dead.body.id}`)).body.job;
  assert.equal(entry.result, 'fixed');
  assert.equal(attempts, 2);
  await page.locator(`#jobs tr[data-id="${dead.body.id}"][data-state="done"]`).waitFor({ timeout: 10_000 });
  await page.locator('#toast', { hasText: `Re-queued dash_flaky ${dead.body.id}` }).waitFor({ timeout: 5000 });

  // Filters: state=done shows it, state=dead no longer does.
  await page.selectOption('#job-filter select[name=state]', 'dead');
  await page.locator('#jobs-section .empty:not([hidden])').waitFor({ timeout: 5000 });
  await page.selectOption('#job-filter select[name=state]', 'done');
  await page.fill('#job-filter input[name=function]', 'dash_flaky');
  await page.locator(`#jobs tr[data-id="${dead.body.id}"]`).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('#jobs tbody tr').count(), 1);

  // Cancel from the log: the queued job leaves the queue.
  await page.selectOption('#job-filter select[name=state]', 'queued');
  await page.fill('#job-filter input[name=function]', '');
  const qjob = page.locator(`#jobs tr[data-id="${queued.body.id}"]`);
  await qjob.waitFor({ timeout: 5000 });
  await qjob.locator('button.cancel').click();
  await until('the cancel', async () => (await h.api('GET', `/api/v1/jobs/${queued.body.id}`)).body.job.state === 'cancelled', 5000);
  assert.equal(h.server.registry.functions.get('dash_queued')!.queued, 0);

  // Throughput: completed jobs/s from the event stream's totals.
  for (let i = 0; i < 50; i++) await h.api('POST', '/api/v1/jobs', { function: 'dash_ok', payload: String(i) });
  await page.waitForFunction(() => /^[1-9][\d.]* completed\/s/.test(document.querySelector('#throughput-now')?.textContent ?? ''), undefined, {
    timeout: 10_000,
  });
  await screenshot(page, 'after-retry');

  // No supervisor, no runs: those sections stay hidden.
  assert.equal(await page.locator('#processes-section').isHidden(), true);
  assert.equal(await page.locator('#runs-section').isHidden(), true);
  assert.deepEqual(errors, []);
});

test('dashboard: the throughput chart shows the last minutes as the page opens; job-log results are one line, in full on click', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const h = await startHttp(t, { http: { port: 0, eventsIntervalMs: 250 } });
  const made = {
    input: 'photos/a.jpg',
    outputs: [
      { path: 'a-320w.webp', width: 320, height: 213, format: 'webp' },
      { path: 'a-640w.webp', width: 640, height: 427, format: 'webp' },
      { path: 'a-1280w.jpg', width: 1280, height: 853, format: 'jpeg' },
    ],
    skipped: [],
    note: 'x'.repeat(200),
  };
  await h.worker({ dash_hist: () => JSON.stringify(made) });
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push((await h.api('POST', '/api/v1/jobs', { function: 'dash_hist', payload: String(i) })).body.id);
  await until(
    'the jobs to finish',
    async () => (await h.api('GET', '/api/v1/queues')).body.queues.find((q: { function: string }) => q.function === 'dash_hist')?.completed === 30,
    10_000,
  );
  // A few samples of the server's history after the jobs, before any page is open.
  await new Promise((r) => setTimeout(r, 1000));

  const browser = await launch(t);
  const { page, errors } = await openDashboard(browser, h);
  await page.locator('#live.on').waitFor({ timeout: 10_000 });
  // Drawn from the first snapshot's history: the 30 jobs show as a peak, though they finished before the page opened.
  const chart = await page.evaluate(() => {
    const c = document.querySelector('#throughput') as HTMLCanvasElement;
    return { points: Number(c.dataset.points), peak: Number(c.dataset.peak) };
  });
  assert.ok(chart.points >= 3, `chart points: ${chart.points}`);
  assert.ok(chart.peak > 0, `peak completed/s: ${chart.peak}`);

  const row = page.locator(`#jobs tr[data-id="${ids[0]}"]`);
  await row.waitFor({ timeout: 10_000 });
  const cell = row.locator('td.result');
  const summary = ((await cell.textContent()) ?? '').trim();
  assert.equal(summary, `input: photos/a.jpg, outputs: [3 items], skipped: [], note: ${'x'.repeat(39)}…`);
  const lines = await cell.evaluate((n) => {
    const cs = getComputedStyle(n);
    return (n.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom)) / parseFloat(cs.lineHeight);
  });
  assert.ok(lines < 1.5, `the result cell is one line (${lines.toFixed(2)} lines)`);
  await cell.click();
  const detail = page.locator(`#jobs tr.detail[data-detail-for="${ids[0]}"] pre`);
  await detail.waitFor({ timeout: 5000 });
  assert.equal(await detail.textContent(), JSON.stringify(made, null, 2));
  // The page polls the log every 2 s: the open detail stays open.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await detail.isVisible(), true);
  await screenshot(page, 'job-detail');
  await page.locator(`#jobs tr[data-id="${ids[0]}"] td.result`).click();
  await detail.waitFor({ state: 'detached', timeout: 5000 });
  assert.deepEqual(errors, []);
});

test('dashboard: without a token in the URL it asks for one', { skip, timeout: 60_000 }, async (t) => {
  const h = await startHttp(t);
  await h.api('POST', '/api/v1/jobs', { function: 'dash_prompted' });
  const browser = await launch(t);
  const page = await browser.newPage();
  const prompts: string[] = [];
  page.on('dialog', (d) => {
    prompts.push(d.message());
    void d.accept(TOKEN);
  });
  await page.goto(`${h.base}/`);
  await page.locator('#queues tr[data-function="dash_prompted"]').waitFor({ timeout: 10_000 });
  assert.deepEqual(prompts, ['geartrain HTTP API token']);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('geartrain.token')), TOKEN);
});

test('dashboard: scale buttons call the supervisor provider; runs show per-step progress', { skip, timeout: 60_000 }, async (t) => {
  const sup = recordingSupervisor();
  const h = await startHttp(t, { supervisor: sup, runs: { list: async () => [RUN], get: async (id) => (id === RUN.id ? RUN : undefined) } });
  const browser = await launch(t);
  const { page, errors } = await openDashboard(browser, h);

  const trow = page.locator('#process-types tr[data-type="thumbnail"]');
  await trow.waitFor({ timeout: 10_000 });
  assert.deepEqual((await trow.locator('td').allTextContents()).slice(0, 3), ['thumbnail', '2', '2']);
  assert.equal(await page.locator('#processes tbody tr').count(), 3);

  await trow.locator('button.scale-up').click();
  await until('the scale-up request', () => sup.scaled.length === 1, 5000);
  assert.deepEqual(sup.scaled[0], { thumbnail: 3 });
  await page.locator('#process-types tr[data-type="thumbnail"] td:nth-child(2)', { hasText: '3' }).waitFor({ timeout: 5000 });
  await page.locator('#process-types tr[data-type="email"] button.scale-down').click();
  await until('the scale-down request', () => sup.scaled.length === 2, 5000);
  assert.deepEqual(sup.scaled[1], { email: 0 });
  await page.locator('#process-types tr[data-type="email"] button.scale-down[disabled]').waitFor({ timeout: 5000 });

  const run = page.locator(`#runs .run[data-run="${RUN.id}"]`);
  await run.waitFor({ timeout: 10_000 });
  const step = run.locator('.step[data-step="thumbnail"]');
  assert.match((await step.textContent()) ?? '', /running · 3\/4 \(1 failed\)/);
  assert.equal(await step.locator('progress').getAttribute('value'), '3');
  assert.equal(await step.locator('progress').getAttribute('max'), '4');
  await screenshot(page, 'processes-runs');
  assert.deepEqual(errors, []);
});

test('dashboard under `pipeline up`: the scale button changes the number of worker processes; server.http.runs shows the runs', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const { spawn, execFile, spawnSync } = await import('node:child_process');
  const { copyFile, mkdir, mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const os = await import('node:os');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gt-dash-up-'));
  const cli = path.join(ROOT, 'dist/cli/index.js');
  // A run where `pipeline run thumbnails photos` writes it: ./thumbnails.
  await mkdir(path.join(dir, 'photos'));
  await copyFile(path.join(ROOT, 'fixtures/images/alpha.png'), path.join(dir, 'photos/alpha.png'));
  const made = spawnSync(process.execPath, [cli, '--log-level', 'silent', 'run', 'thumbnails', 'photos', '--json'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(made.status, 0, made.stderr);
  const runId = (JSON.parse(made.stdout) as { id: string }).id;
  await writeFile(
    path.join(dir, 'geartrain.config.json'),
    JSON.stringify({
      server: { port: 0, store: 'memory:', http: { port: 0, token: TOKEN, runs: ['thumbnails'] } },
      workers: { 'cache-warm': { processes: 1 } },
    }),
  );
  const up = spawn(process.execPath, [cli, 'up', '-c', 'geartrain.config.json'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  up.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  t.after(async () => {
    if (up.exitCode === null) {
      up.kill('SIGTERM');
      await new Promise((r) => up.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  });
  const running = (): Promise<number> =>
    new Promise((resolve) =>
      execFile(process.execPath, [cli, 'ps', '--json'], { cwd: dir }, (err, stdout) => {
        if (err) return resolve(-1);
        resolve((JSON.parse(stdout) as { processes: { state: string }[] }).processes.filter((p) => p.state === 'running').length);
      }),
    );
  let http = '';
  await until(
    `pipeline up to serve HTTP (log: ${log})`,
    () => {
      http = /"msg":"http listening"[^\n]*"http":"([^"]+)"|"http":"([^"]+)"[^\n]*"msg":"http listening"/.exec(log)?.slice(1).find(Boolean) ?? '';
      return http !== '';
    },
    20_000,
  );
  await until('one cache-warm process', async () => (await running()) === 1, 20_000);
  const browser = await launch(t);
  const { page, errors } = await openDashboard(browser, { base: `http://${http}` } as HttpUnderTest);
  const row = page.locator('#process-types tr[data-type="cache-warm"]');
  await row.waitFor({ timeout: 10_000 });
  await row.locator('button.scale-up').click();
  await until('a second cache-warm process, started by the dashboard', async () => (await running()) === 2, 30_000);
  await page.locator('#processes tbody tr').nth(1).waitFor({ timeout: 10_000 });
  const run = page.locator(`#runs .run[data-run="${runId}"]`);
  await run.waitFor({ timeout: 10_000 });
  assert.match((await run.locator('.step[data-step="thumbnail"]').textContent()) ?? '', /done · 1\/1/);
  await screenshot(page, 'pipeline-up-scaled');
  assert.deepEqual(errors, []);
});
