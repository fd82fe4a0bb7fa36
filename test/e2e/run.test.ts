// `pipeline run thumbnails DIR` as a user runs it: the built CLI as a child process, embedded
// server and workers, real sharp on the fixtures. Then the same pipeline as a background job
// driven by a pipeline worker that is killed mid-run and replaced.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import sharp from 'sharp';
import { runCli as cli } from '../helpers/cli.js';
import { CLI, ROOT, startCli, stopChild } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

const IMAGES = path.join(ROOT, 'fixtures/images');
const BAD = path.join(ROOT, 'fixtures/bad');
const SIZES = [
  { width: 320, format: 'webp', ext: 'webp' },
  { width: 640, format: 'webp', ext: 'webp' },
  { width: 1280, format: 'jpeg', ext: 'jpg' },
];

/** Every file under `dir`, relative, sorted (hidden state folders left out unless asked). */
async function tree(dir: string, hidden = false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (!hidden && e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

/** An input folder: good photos (one in a subfolder), a corrupt JPEG, and a text file. */
async function makeInput(root: string): Promise<{ input: string; good: string[] }> {
  const input = path.join(root, 'photos');
  await mkdir(path.join(input, 'trip'), { recursive: true });
  await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(input, 'landscape.jpg'));
  await copyFile(path.join(IMAGES, 'photo-portrait-exif6.jpg'), path.join(input, 'trip', 'portrait.jpg'));
  await copyFile(path.join(IMAGES, 'alpha.png'), path.join(input, 'trip', 'alpha.png'));
  await copyFile(path.join(BAD, 'corrupt.jpg'), path.join(input, 'corrupt.jpg'));
  await writeFile(path.join(input, 'notes.txt'), 'not an image');
  return { input, good: ['landscape', 'trip/portrait', 'trip/alpha'] };
}

function expectedOutputs(good: string[]): string[] {
  return good.flatMap((g) => SIZES.map((s) => `${g}-${s.width}w.${s.ext}`)).sort();
}

/** A temp folder for one describe block: made before its tests, removed after them. */
function tempRoot(prefix: string): () => string {
  let root = '';
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  return () => root;
}

describe('pipeline run thumbnails (embedded server and workers)', () => {
  const tmp = tempRoot('gt-run-e2e-');

  it("makes every good image's thumbnails, reports the corrupt one by name, exits 1; a second run does no work", async () => {
    const root = tmp();
    const { input, good } = await makeInput(root);
    const r = await cli(['run', 'thumbnails', 'photos', '--out', 'thumbs'], root);
    assert.equal(r.code, 1, `exit 1 when an item failed\n${r.stdout}\n${r.stderr}`);
    const out = path.join(root, 'thumbs');
    assert.deepEqual(await tree(out), expectedOutputs(good));
    for (const g of good) {
      const srcMeta = await sharp(path.join(input, `${g}${g.endsWith('alpha') ? '.png' : '.jpg'}`))
        .rotate()
        .toBuffer({ resolveWithObject: true });
      const aspect = srcMeta.info.width / srcMeta.info.height;
      for (const s of SIZES) {
        const m = await sharp(path.join(out, `${g}-${s.width}w.${s.ext}`)).metadata();
        assert.equal(m.format, s.format);
        const w = Math.min(s.width, srcMeta.info.width);
        assert.equal(m.width, w, `${g} ${s.width}w width`);
        assert.ok(Math.abs(m.height! - w / aspect) <= 1, `${g} ${s.width}w keeps the aspect ratio (${m.width}×${m.height})`);
      }
    }
    assert.match(r.stdout, /failed:\n\s+thumbnail\s+corrupt\.jpg\s+GT_MEDIA_INVALID: .*corrupt\.jpg/);
    assert.match(r.stdout, /skipped:\n\s+notes\.txt\s+not media this pipeline takes/);
    assert.match(r.stdout, /^thumbnail\s+thumbnail\s+partial\s+3\s+1\s+0/m);
    assert.match(r.stderr, /^FAIL {2}thumbnail {2}corrupt\.jpg {2}GT_MEDIA_INVALID/m, 'not a terminal: plain progress lines');

    const before = await Promise.all(expectedOutputs(good).map(async (f) => (await stat(path.join(out, f))).mtimeMs));
    const again = await cli(['run', 'thumbnails', 'photos', '--out', 'thumbs', '--json'], root);
    assert.equal(again.code, 1);
    const summary = JSON.parse(again.stdout) as { steps: { id: string; done: number; failed: number; reused: number }[]; failures: { item: string }[] };
    assert.deepEqual(summary.steps[0], { ...summary.steps[0], id: 'thumbnail', done: 3, failed: 1, reused: 3 });
    assert.deepEqual(
      summary.failures.map((f) => f.item),
      ['corrupt.jpg'],
    );
    const afterRun = await Promise.all(expectedOutputs(good).map(async (f) => (await stat(path.join(out, f))).mtimeMs));
    assert.deepEqual(afterRun, before, 'no output was written again');
    assert.equal(again.stderr, '', '--json prints no progress');

    // Nothing was written outside --out: the input folder holds what it held.
    assert.deepEqual(await tree(input, true), ['corrupt.jpg', 'landscape.jpg', 'notes.txt', 'trip/alpha.png', 'trip/portrait.jpg']);
    assert.deepEqual((await readdir(root)).sort(), ['photos', 'thumbs']);
  });

  it('Ctrl-C stops cleanly with exit 130; the same command resumes and skips what was done', async () => {
    const root = tmp();
    const dir = await mkdtemp(path.join(root, 'sigint-'));
    const input = path.join(dir, 'in');
    await mkdir(input);
    for (let i = 0; i < 16; i++) await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(input, `p${String(i).padStart(2, '0')}.jpg`));
    const child = spawn(process.execPath, [CLI, 'run', 'thumbnails', 'in', '--out', 'out'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const interrupted = new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if ((stderr.match(/^done /gm) ?? []).length >= 2 && !child.killed) {
          child.kill('SIGINT');
          resolve();
        }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    await interrupted;
    assert.equal(code, 130, `${stdout}\n${stderr}`);
    assert.match(stdout, /: cancelled,/);
    const again = await cli(['run', 'thumbnails', 'in', '--out', 'out', '--json'], dir);
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as { status: string; steps: { done: number; reused: number }[] };
    assert.equal(summary.status, 'done');
    assert.equal(summary.steps[0]!.done, 16);
    assert.ok(summary.steps[0]!.reused >= 2, `resumed: ${summary.steps[0]!.reused} reused`);
    assert.deepEqual((await tree(path.join(dir, 'out'))).length, 48);
  });

  it('bad input: a clear message each, nothing written', async () => {
    const root = tmp();
    const dir = await mkdtemp(path.join(root, 'bad-'));
    await mkdir(path.join(dir, 'empty'));
    await mkdir(path.join(dir, 'text'));
    await writeFile(path.join(dir, 'text', 'a.txt'), 'x');
    const missing = await cli(['run', 'thumbnails', 'nope'], dir);
    assert.equal(missing.code, 10);
    assert.equal(missing.stderr, 'pipeline: Input nope: no such folder (GT_INPUT_NOT_FOUND)\n');
    const empty = await cli(['run', 'thumbnails', 'empty'], dir);
    assert.equal(empty.code, 10);
    assert.match(empty.stderr, /^pipeline: Input empty: no files ending in \.jpg .* \(GT_INPUT_NOT_FOUND\)\n$/);
    const text = await cli(['run', 'thumbnails', 'text'], dir);
    assert.match(text.stderr, /Input text: no files ending in .*\(1 other files skipped\)/);
    const inside = await cli(['run', 'thumbnails', 'text', '--out', 'text/thumbs'], dir);
    assert.equal(inside.code, 10);
    assert.match(
      inside.stderr,
      /Output folder text\/thumbs is not allowed: it is inside the input folder text; choose an --out outside it \(GT_PATH_NOT_ALLOWED\)/,
    );
    const unknown = await cli(['run', 'thumbnailz', 'text'], dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No pipeline "thumbnailz" \(known: thumbnails, upload\)/);
    const badSet = await cli(['run', 'thumbnails', 'text', '--set', 'colour=red'], dir);
    assert.equal(badSet.code, 2);
    assert.match(badSet.stderr, /Expected one of sizes, fit, position, notify, notifyUrl for --set colour \(pipeline thumbnails\)/);
    assert.deepEqual((await readdir(dir)).sort(), ['empty', 'text'], 'no output folder was created');
  });

  it('pipeline list shows the built-ins and files in ./pipelines', async () => {
    const root = tmp();
    const dir = await mkdtemp(path.join(root, 'list-'));
    await mkdir(path.join(dir, 'pipelines'));
    await copyFile(path.join(ROOT, 'fixtures/pipelines/resize-and-report.yaml'), path.join(dir, 'pipelines', 'resize-and-report.yaml'));
    const r = await cli(['list', '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { name: string; source: string }[];
    assert.deepEqual(
      rows.map((x) => [x.name, x.source]),
      [
        ['thumbnails', 'built-in'],
        ['upload', 'built-in'],
        ['resize-and-report', 'pipelines/resize-and-report.yaml'],
      ],
    );
  });
});

describe('a pipeline run as a background job survives its pipeline worker', () => {
  const children: ChildProcess[] = [];
  let root: string;
  after(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    if (root) await rm(root, { recursive: true, force: true });
  });

  function worker(args: string[], cwd: string): ChildProcess {
    const child = spawn(process.execPath, [CLI, '--log-level', 'warn', 'worker', ...args], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    return child;
  }

  it('killing the pipeline worker mid-run and starting another finishes the run with no duplicate outputs', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'gt-run-bg-'));
    const input = path.join(root, 'many');
    await mkdir(input);
    // Enough images that the run is still going when its driver is killed.
    for (let i = 0; i < 24; i++)
      await copyFile(
        path.join(IMAGES, i % 2 ? 'photo-landscape.jpg' : 'alpha.png'),
        path.join(input, `img${String(i).padStart(2, '0')}${i % 2 ? '.jpg' : '.png'}`),
      );
    const server = await startCli();
    children.push(server.child);
    worker(['thumbnail=1', '--server', server.address], root);
    const driver1 = worker(['pipeline', '--server', server.address], root);
    const enq = await cli(['enqueue', 'thumbnails', 'many', '--out', 'out', '--server', server.address, '--json'], root);
    assert.equal(enq.code, 0, enq.stderr);
    const { runId } = JSON.parse(enq.stdout) as { runId: string };
    const recordFile = path.join(root, 'out', '.geartrain', 'runs', `${runId}.json`);
    const doneItems = async (): Promise<{ done: number; status: string }> => {
      try {
        const rec = JSON.parse(await readFile(recordFile, 'utf8')) as { status: string; steps: Record<string, { items: Record<string, { status: string }> }> };
        return { done: Object.values(rec.steps.thumbnail?.items ?? {}).filter((i) => i.status === 'done').length, status: rec.status };
      } catch {
        return { done: 0, status: 'none' };
      }
    };
    const mid = await until(
      '4 items done before the kill',
      async () => {
        const d = await doneItems();
        return d.done >= 4 ? d : undefined;
      },
      30_000,
    );
    assert.ok(mid.done >= 4 && mid.done < 24, `killed mid-run (${mid.done} of 24 done)`);
    driver1.kill('SIGKILL');
    worker(['pipeline', '--server', server.address], root);
    await until('the second pipeline worker to finish the run', async () => (await doneItems()).status === 'done', 120_000);
    const files = await tree(path.join(root, 'out'));
    const names = (await readdir(input)).map((f) => path.basename(f, path.extname(f))).sort();
    assert.deepEqual(files, names.flatMap((n) => SIZES.map((s) => `${n}-${s.width}w.${s.ext}`)).sort(), 'each output exactly once, no temp files');
    const hidden = (await tree(path.join(root, 'out'), true)).filter((f) => f.includes('.tmp'));
    assert.deepEqual(hidden, []);
  });
});

describe('pipeline run: inputs that share a name', () => {
  const tmp = tempRoot('gt-run-names-');

  it('cover.jpg and cover.png each get their own outputs, named with their extension', async () => {
    const root = tmp();
    const input = path.join(root, 'same-stem');
    await mkdir(path.join(input, 'sub'), { recursive: true });
    await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(input, 'cover.jpg'));
    await copyFile(path.join(IMAGES, 'alpha.png'), path.join(input, 'cover.png'));
    await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(input, 'sub', 'cover.jpg'));
    const r = await cli(['run', 'thumbnails', 'same-stem', '--out', 'same-out', '--json'], root);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const summary = JSON.parse(r.stdout) as { steps: { done: number; failed: number }[] };
    assert.deepEqual([summary.steps[0]!.done, summary.steps[0]!.failed], [3, 0]);
    const out = path.join(root, 'same-out');
    assert.deepEqual(
      await tree(out),
      [
        ...SIZES.map((s) => `cover.jpg-${s.width}w.${s.ext}`),
        ...SIZES.map((s) => `cover.png-${s.width}w.${s.ext}`),
        ...SIZES.map((s) => `sub/cover-${s.width}w.${s.ext}`),
      ].sort(),
      'a name shared in one folder keeps the extension; alone in its folder it does not',
    );
    const fromJpg = await sharp(path.join(out, 'cover.jpg-320w.webp')).metadata();
    const fromPng = await sharp(path.join(out, 'cover.png-320w.webp')).metadata();
    assert.equal(fromJpg.hasAlpha, false, "the JPEG's thumbnail is made from the JPEG");
    assert.equal(fromPng.hasAlpha, true, "the PNG's thumbnail is made from the PNG");
    const again = await cli(['run', 'thumbnails', 'same-stem', '--out', 'same-out', '--json'], root);
    assert.equal((JSON.parse(again.stdout) as { steps: { reused: number }[] }).steps[0]!.reused, 3, 'the second run finds all three done');
  });

  it('a pipeline file whose items would write one file fails those items before any job runs', async () => {
    const root = tmp();
    const input = path.join(root, 'clash');
    await mkdir(input, { recursive: true });
    await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(input, 'cover.jpg'));
    await copyFile(path.join(IMAGES, 'alpha.png'), path.join(input, 'cover.png'));
    await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(input, 'other.jpg'));
    // Names every output by the name without extension: cover.jpg and cover.png would write one file.
    await writeFile(
      path.join(root, 'stem-only.yaml'),
      'name: stem-only\ninput: folder\nextensions: [.jpg, .png]\nsteps:\n  - id: t\n    fn: thumbnail\n    forEach: ${{ input.files }}\n    payload: { ' +
        'input: "${{ item.path }}", outDir: "${{ run.out }}", name: "${{ item.name }}", sizes: [{ width: 100, format: webp }] }\n',
    );
    const r = await cli(['run', 'stem-only.yaml', 'clash', '--out', 'clash-out', '--json'], root);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const summary = JSON.parse(r.stdout) as { steps: { done: number; failed: number }[]; failures: { item: string; error: string }[] };
    assert.deepEqual([summary.steps[0]!.done, summary.steps[0]!.failed], [1, 2]);
    assert.deepEqual(
      summary.failures.map((f) => f.item),
      ['cover.jpg', 'cover.png'],
    );
    const out = path.join(root, 'clash-out');
    assert.equal(
      summary.failures[0]!.error,
      `GT_OUTPUT_CONFLICT: cover.jpg and cover.png would both write ${path.join(out, 'cover-100w.webp')}; give each its own name (item.outputBase)`,
    );
    assert.deepEqual(await tree(out), ['other-100w.webp'], 'neither of the two was written');
  });
});

describe('pipeline run: options checked before any job', () => {
  const tmp = tempRoot('gt-run-set-');
  before(async () => {
    const root = tmp();
    await mkdir(path.join(root, 'in'));
    for (let i = 0; i < 4; i++) await copyFile(path.join(IMAGES, 'photo-landscape.jpg'), path.join(root, 'in', `p${i}.jpg`));
  });

  it('a bad --set value: exit 2 with one message naming the field, no job run, nothing written', async () => {
    const root = tmp();
    const r = await cli(['run', 'thumbnails', 'in', '--out', 'bad-out', '--set', 'sizes=[{"width":200,"format":"gif"}]'], root);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(
      r.stderr,
      'pipeline: Pipeline thumbnails: step thumbnail (checked on its first item, p0.jpg): Expected one of jpeg, webp, avif, png for ' +
        'thumbnail.sizes[0].format but received gif of type string (GT_PIPELINE_INVALID)\n',
    );
    assert.equal(r.stdout, '');
    assert.deepEqual((await readdir(root)).sort(), ['in'], 'no output folder');
  });

  it('jpg is jpeg', async () => {
    const root = tmp();
    const r = await cli(['run', 'thumbnails', 'in', '--out', 'jpg-out', '--json', '--set', 'sizes=[{"width":200,"format":"jpg"}]'], root);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await tree(path.join(root, 'jpg-out')), ['p0-200w.jpg', 'p1-200w.jpg', 'p2-200w.jpg', 'p3-200w.jpg']);
    assert.equal((await sharp(path.join(root, 'jpg-out', 'p0-200w.jpg')).metadata()).format, 'jpeg');
  });
});

describe('pipeline run --notify', () => {
  const tmp = tempRoot('gt-run-notify-');

  it('without SMTP the summary says where the message was written; the message lists each failed file and why', async () => {
    const root = tmp();
    await makeInput(root);
    const r = await cli(['run', 'thumbnails', 'photos', '--out', 'thumbs', '--notify', 'me@example.com'], root, { GEARTRAIN_SMTP_URL: '' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const m = /^notify: written to (thumbs\/\.geartrain\/outbox\/\S+\.eml) \(no SMTP configured: set GEARTRAIN_SMTP_URL or --smtp to send it\)$/m.exec(
      r.stdout,
    );
    assert.ok(m, `the summary names the outbox file:\n${r.stdout}`);
    const mail = await simpleParser(await readFile(path.join(root, m[1]!)));
    assert.equal((mail.to as { text: string }).text, 'me@example.com');
    assert.match(mail.text!, /Images failed:\s+1/);
    assert.match(mail.text!, /^ {2}corrupt\.jpg: GT_MEDIA_INVALID: \S*corrupt\.jpg is not a valid image: /m);
  });

  it('pipeline run --help documents the SMTP settings', async () => {
    const root = tmp();
    const r = await cli(['run', '--help'], root);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /GEARTRAIN_SMTP_URL/);
    assert.match(r.stdout, /--smtp <url>/);
  });
});

describe('pipeline run: worker limits', () => {
  const tmp = tempRoot('gt-run-limits-');
  before(async () => {
    const root = tmp();
    await mkdir(path.join(root, 'big'));
    // 8000×7000 = 56 MP, over the default limit of 50 MP (a stitched panorama's size).
    await copyFile(path.join(BAD, 'over-limit.png'), path.join(root, 'big', 'panorama.png'));
  });

  it('an image over the pixel limit fails naming the flag; --max-pixels raises the limit', async () => {
    const root = tmp();
    const r = await cli(['run', 'thumbnails', 'big', '--out', 'small-limit', '--json'], root);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const failures = (JSON.parse(r.stdout) as { failures: { error: string }[] }).failures;
    assert.match(
      failures[0]!.error,
      /^GT_MEDIA_TOO_LARGE: .*panorama\.png is too large: 8000×7000 = 56000000 pixels exceeds the limit of 50000000 pixels \(raise it with --max-pixels\)$/,
    );
    const raised = await cli(
      ['run', 'thumbnails', 'big', '--out', 'raised', '--json', '--max-pixels', '60000000', '--set', 'sizes=[{"width":320,"format":"webp"}]'],
      root,
    );
    assert.equal(raised.code, 0, raised.stdout + raised.stderr);
    const m = await sharp(path.join(root, 'raised', 'panorama-320w.webp')).metadata();
    assert.deepEqual([m.width, m.height], [320, 280]);
  });

  it('--max-file-size lowers the file limit and the error names the flag', async () => {
    const root = tmp();
    const r = await cli(['run', 'thumbnails', 'big', '--out', 'tiny', '--json', '--max-file-size', '1k'], root);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const failures = (JSON.parse(r.stdout) as { failures: { error: string }[] }).failures;
    assert.match(
      failures[0]!.error,
      /^GT_MEDIA_TOO_LARGE: .*panorama\.png is too large: \d+ bytes exceeds the limit of 1024 bytes \(raise it with --max-file-size\)$/,
    );
  });

  it("with --server the embedded workers' flags are refused, not ignored", async () => {
    const root = tmp();
    const r = await cli(['run', 'thumbnails', 'big', '--server', '127.0.0.1:1', '--max-pixels', '60000000'], root);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'pipeline: Expected no embedded-worker flag with --server (set it on `pipeline worker`) for --max-pixels but received 60000000 of type number ' +
        '(GT_INVALID_ARGUMENT)\n',
    );
  });
});
