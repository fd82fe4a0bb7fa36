// The built-in upload pipeline as a background job (`pipeline:upload`), with the real workers,
// a real SMTP server and a local HTTP "CDN": a failed upload ends as a failed job and tells the
// owner why; a good one mails the outputs as URLs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { Client } from '../../src/client/index.js';
import { upload } from '../../src/pipelines/builtin/upload.js';
import { pipelineWorker } from '../../src/pipelines/worker.js';
import { backoffPolicy } from '../../src/server/retry.js';
import { DOMAIN_WORKERS, type ServedWorkers, serveDomainWorkers } from '../../src/workers/index.js';
import { adminJobs } from '../helpers/joblog.js';
import { ROOT, type ServerUnderTest, startInProcess } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';

describe('upload pipeline: the owner hears what happened, and the job says it', () => {
  const mails: ParsedMail[] = [];
  let smtp: SMTPServer;
  let cdn: http.Server;
  let baseUrl: string;
  let dir: string;
  let srv: ServerUnderTest & { server: import('../../src/server/server.js').GearmanServer };
  let served: ServedWorkers;
  let client: Client;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gt-upload-flow-'));
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, _s, cb) =>
        void simpleParser(stream).then((m) => {
          mails.push(m);
          cb();
        }, cb),
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    cdn = http.createServer((_req, res) => res.end('cached'));
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/media/u1`;
    srv = await startInProcess({ retry: backoffPolicy({ maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 100 }) });
    const w = DOMAIN_WORKERS;
    served = await serveDomainWorkers({
      servers: [srv.address],
      types: [
        { factory: w.probe },
        { factory: w.thumbnail },
        { factory: w.transcode },
        { factory: w['cache-warm'] },
        { factory: w.email },
        { factory: pipelineWorker(upload) },
      ],
      settings: { email: { smtpUrl: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}` } },
    });
    client = new Client({ servers: [srv.address] });
  });

  after(async () => {
    await client.close();
    await served.close();
    await srv.stop();
    await new Promise<void>((r) => smtp.close(() => r()));
    cdn.closeAllConnections();
    await new Promise<void>((r) => cdn.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  async function enqueue(name: string, file: string, id: string, options: Record<string, unknown> = {}): Promise<string> {
    const input = path.join(dir, id, 'in', name);
    await mkdir(path.dirname(input), { recursive: true });
    await copyFile(file, input);
    const out = path.join(dir, id, 'out');
    const ref = await client.submitBackground('pipeline:upload', JSON.stringify({ input, out, options: { owner: `${id}@example.com`, baseUrl, ...options } }), {
      unique: `upload-${id}`,
    });
    return ref.handle;
  }

  const finished = (id: string) =>
    until(
      `the ${id} upload job to finish`,
      async () => {
        const jobs = await adminJobs(srv.port, 'jobs list function=pipeline:upload');
        const job = jobs.find((j) => j.unique === `upload-${id}`);
        return job && ['done', 'dead'].includes(String(job.state)) ? job : undefined;
      },
      60_000,
    );

  it('a text file named .jpg: the job is dead, the owner gets no "ready" mail but one naming the file and the reason', async () => {
    const text = path.join(dir, 'notes.txt');
    await writeFile(text, 'this is not a photo\n');
    await enqueue('holiday.jpg', text, 'liar');
    const job = await finished('liar');
    assert.equal(job.state, 'dead', `the job failed for good: ${JSON.stringify(job)}`);
    assert.equal(job.attempts, 1, 'not retried: a text file stays a text file');
    assert.match(String(job.result), /^WORK_EXCEPTION: GT_MEDIA_INVALID: Run upload-\w+: probe \(probe\): .*holiday\.jpg is not a valid/);
    const mine = await until(
      'the failure mail',
      () =>
        mails.filter((m) => (m.to as { text: string }).text === 'liar@example.com').length > 0 &&
        mails.filter((m) => (m.to as { text: string }).text === 'liar@example.com'),
    );
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.subject, 'Your upload holiday.jpg could not be processed');
    assert.match(mine[0]!.text!, /^Your upload holiday\.jpg could not be processed:\n\nholiday\.jpg is not a valid .+: .+$/m);
    assert.ok(!mails.some((m) => /is ready/.test(m.subject ?? '')), 'no "ready" mail for it');
    assert.doesNotMatch(mine[0]!.text!, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no server path in the mail');
  });

  it('a good image: the job is done and the mail lists the outputs as URLs', async () => {
    await enqueue('photo.jpg', path.join(ROOT, 'fixtures/images/photo-landscape.jpg'), 'good');
    const job = await finished('good');
    assert.equal(job.state, 'done', JSON.stringify(job));
    const mine = await until('the ready mail', () => mails.find((m) => (m.to as { text: string }).text === 'good@example.com'));
    assert.equal(mine.subject, 'Your image photo.jpg is ready');
    for (const n of ['photo-320w.webp', 'photo-640w.webp', 'photo-1280w.jpg'])
      assert.ok(mine.text!.includes(`${baseUrl}/${n}`), `${n} as a URL in:\n${mine.text}`);
    assert.doesNotMatch(mine.text!, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no server path in the mail');
  });

  it('a good image: the job result carries the srcset under baseUrl, the placeholder and the dominant colour', async () => {
    await enqueue('pic.jpg', path.join(ROOT, 'fixtures/images/photo-landscape.jpg'), 'srcset');
    const job = await finished('srcset');
    assert.equal(job.state, 'done', JSON.stringify(job));
    const { result } = JSON.parse(String(job.result));
    assert.equal(result.kind, 'image');
    assert.deepEqual(result.srcset, { webp: `${baseUrl}/pic-320w.webp 320w, ${baseUrl}/pic-640w.webp 640w`, jpeg: `${baseUrl}/pic-1280w.jpg 1280w` });
    assert.match(result.placeholder.thumbhash, /^[A-Za-z0-9+/]+=*$/);
    assert.match(result.placeholder.dominant, /^#[0-9a-f]{6}$/);
    assert.deepEqual(
      result.outputs,
      ['pic-320w.webp', 'pic-640w.webp', 'pic-1280w.jpg'].map((n) => `${baseUrl}/${n}`),
    );
  });

  it('a video with hls=true: the mail lists the master playlist beside the renditions; ffprobe opens it', async () => {
    await enqueue('clip.mp4', path.join(ROOT, 'fixtures/video/clip.mp4'), 'stream', { hls: true, profiles: ['mp4-240p'] });
    const job = await finished('stream');
    assert.equal(job.state, 'done', JSON.stringify(job));
    const mine = await until('the ready mail', () => mails.find((m) => (m.to as { text: string }).text === 'stream@example.com'));
    for (const n of ['clip-240p.mp4', 'clip-hls/master.m3u8']) assert.ok(mine.text!.includes(`${baseUrl}/${n}`), `${n} as a URL in:\n${mine.text}`);
    const master = path.join(dir, 'stream', 'out', 'clip-hls', 'master.m3u8');
    const streams = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,width,height', '-of', 'csv=p=0', master], { encoding: 'utf8' });
    assert.match(streams, /video,640,360/);
  });

  it('hls set to something else than true or hls options: the job is dead at once, the value named', async () => {
    await enqueue('clip.mp4', path.join(ROOT, 'fixtures/video/clip.mp4'), 'badhls', { hls: 'yes' });
    const job = await finished('badhls');
    assert.equal(job.state, 'dead');
    assert.match(String(job.result), /GT_PIPELINE_INVALID: .*transcode\.hls but received yes/);
  });

  it('a bad option: the job is dead at once with one message, before any step runs', async () => {
    await enqueue('photo.jpg', path.join(ROOT, 'fixtures/images/photo-landscape.jpg'), 'badopt', { sizes: [{ width: 200, format: 'gif' }] });
    const job = await finished('badopt');
    assert.equal(job.state, 'dead');
    assert.equal(job.attempts, 1);
    assert.equal(
      job.result,
      'WORK_EXCEPTION: GT_PIPELINE_INVALID: Pipeline upload: step thumbnails: Expected one of jpeg, webp, avif, png for thumbnail.sizes[0].format but ' +
        'received gif of type string',
    );
    assert.ok(!mails.some((m) => (m.to as { text: string }).text === 'badopt@example.com'), 'no mail');
  });
});
