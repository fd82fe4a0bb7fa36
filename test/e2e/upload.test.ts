// The upload flow end to end, as deployed: `pipeline server`, `pipeline worker … pipeline` and
// examples/upload-service as separate processes. POST a video and an image → thumbnails,
// transcode and poster on disk, cache-warm requests seen by a local HTTP "CDN", an email per
// upload received by a real SMTP server, and a signed callback for an upload that asks for one.

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { CLI, ROOT, startCli, stopChild } from '../helpers/servers.js';
import { until } from '../helpers/wait.js';
import { documentedVerify, SECRET, type Verify, webhookReceiver } from '../helpers/webhook.js';

describe('upload service → upload pipeline → media, cache-warm, email, callback', () => {
  const children: ChildProcess[] = [];
  const mails: ParsedMail[] = [];
  const cdnHits: string[] = [];
  let smtp: SMTPServer;
  let cdn: http.Server;
  let dir: string;
  let service: string;
  let verify: Verify;
  let serverAddress: string;

  before(async () => {
    verify = await documentedVerify();
    dir = await mkdtemp(path.join(os.tmpdir(), 'gt-upload-'));
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
    cdn = http.createServer((req, res) => {
      cdnHits.push(req.url!);
      res.end('cached');
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const server = await startCli();
    children.push(server.child);
    serverAddress = server.address;
    const smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
    const worker = spawn(
      process.execPath,
      [
        CLI,
        '--log-level',
        'warn',
        'worker',
        'thumbnail',
        'transcode',
        'waveform',
        'email',
        'cache-warm',
        'probe',
        'webhook',
        'pipeline',
        '--server',
        server.address,
        '--smtp',
        smtpUrl,
        '--allowed-hosts',
        '127.0.0.1',
      ],
      {
        cwd: dir,
        env: { ...process.env, GEARTRAIN_WEBHOOK_SECRET: SECRET },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    children.push(worker);
    const svc = spawn(process.execPath, [path.join(ROOT, 'examples/upload-service/server.mjs')], {
      cwd: dir,
      env: {
        ...process.env,
        PORT: '0',
        GEARTRAIN_SERVERS: server.address,
        DATA_DIR: path.join(dir, 'data'),
        PUBLIC_URL: `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(svc);
    service = await new Promise<string>((resolve, reject) => {
      let buf = '';
      svc.stderr!.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /upload service on (http:\/\/[\d.:]+)/.exec(buf);
        if (m) resolve(m[1]!);
      });
      svc.once('exit', (code) => reject(new Error(`upload service exited ${code}: ${buf}`)));
    });
  });

  after(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await new Promise<void>((r) => smtp.close(() => r()));
    cdn.closeAllConnections();
    await new Promise<void>((r) => cdn.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  async function uploadAndWait(
    file: string,
    name: string,
    callbackUrl?: string,
    extra = '',
  ): Promise<{ status: string; outputs: string[]; steps: Record<string, { status: string }>; uploadId: string }> {
    const callback = callbackUrl === undefined ? '' : `&callbackUrl=${encodeURIComponent(callbackUrl)}`;
    const res = await fetch(`${service}/uploads?name=${name}&owner=owner@example.com${callback}${extra}`, { method: 'POST', body: await readFile(file) });
    assert.equal(res.status, 202);
    const { uploadId, status } = (await res.json()) as { uploadId: string; status: string };
    return until(
      `upload ${name} to finish`,
      async () => {
        const s = (await (await fetch(`${service}${status}`)).json()) as { status: string; outputs: string[]; steps: Record<string, { status: string }> };
        return s.status === 'done' || s.status === 'failed' ? { ...s, uploadId } : undefined;
      },
      120_000,
    );
  }

  it('an image gets thumbnails; a video gets a transcode and a poster; outputs are warmed; the owner is told', async () => {
    const image = await uploadAndWait(path.join(ROOT, 'fixtures/images/photo-landscape.jpg'), 'photo.jpg');
    assert.equal(image.status, 'done', JSON.stringify(image));
    assert.deepEqual(image.outputs.map((o) => path.basename(o)).sort(), ['photo-1280w.jpg', 'photo-320w.webp', 'photo-640w.webp']);
    assert.equal(image.steps.transcode!.status, 'skipped');

    const video = await uploadAndWait(path.join(ROOT, 'fixtures/video/clip.mp4'), 'clip.mp4');
    assert.equal(video.status, 'done', JSON.stringify(video));
    assert.equal(video.steps.thumbnails!.status, 'skipped');
    const names = video.outputs.map((o) => path.basename(o)).sort();
    assert.ok(names.includes('clip-poster.jpg'), names.join());
    assert.ok(
      names.some((n) => n.endsWith('.mp4')),
      names.join(),
    );

    for (const o of [...image.outputs, ...video.outputs]) {
      const st = await stat(path.join(dir, 'data', o.replace(/^\/media\//, 'media/')));
      assert.ok(st.size > 0, `${o} on disk`);
      assert.ok(cdnHits.includes(o), `${o} was warmed (CDN saw ${cdnHits.join(', ')})`);
    }
    assert.equal(mails.length, 2);
    assert.deepEqual(mails.map((m) => m.subject).sort(), ['Your image photo.jpg is ready', 'Your video clip.mp4 is ready']);
    assert.equal((mails[0]!.to as { text: string }).text, 'owner@example.com');
  });

  it('a video uploaded with hls=true: the status lists a master playlist that ffprobe opens over HTTP from the service', async () => {
    const video = await uploadAndWait(path.join(ROOT, 'fixtures/video/clip.mp4'), 'stream.mp4', undefined, '&hls=true');
    assert.equal(video.status, 'done', JSON.stringify(video));
    const master = video.outputs.find((o) => o.endsWith('/stream-hls/master.m3u8'));
    assert.ok(master, `a master playlist among ${video.outputs.join(', ')}`);
    const playlist = await fetch(`${service}${master}`);
    assert.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    const streams = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,width,height', '-of', 'csv=p=0', `${service}${master}`], {
      encoding: 'utf8',
    });
    assert.match(streams, /^video,\d+,\d+$/m, streams);
  });

  it('an audio file gets a waveform: peaks JSON and a PNG, warmed and in the callback', async (t) => {
    const r = await webhookReceiver(t, verify);
    const audio = path.join(dir, 'tone.m4a');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=3', audio]);
    const up = await uploadAndWait(audio, 'tone.m4a', `${r.base}/hooks/upload`);
    assert.equal(up.status, 'done', JSON.stringify(up));
    assert.deepEqual([up.steps.waveform!.status, up.steps.thumbnails!.status, up.steps.transcode!.status], ['done', 'skipped', 'skipped']);
    assert.deepEqual(up.outputs.map((o) => path.basename(o)).sort(), ['tone-waveform.json', 'tone-waveform.png']);
    for (const o of up.outputs) assert.ok(cdnHits.includes(o), `${o} was warmed`);
    const peaks = JSON.parse(await readFile(path.join(dir, 'data', up.outputs.find((o) => o.endsWith('.json'))!.replace(/^\/media\//, 'media/')), 'utf8')) as {
      points: number;
      peaks: unknown[];
    };
    assert.deepEqual([peaks.points, peaks.peaks.length], [1000, 1000]);
    const body = JSON.parse(r.received[0]!.body) as { kind: string; outputs: { file: string }[] };
    assert.equal(body.kind, 'audio');
    assert.deepEqual(body.outputs.map((o) => o.file).sort(), ['tone-waveform.json', 'tone-waveform.png']);
  });

  it('an upload with a callbackUrl: the receiver gets its outputs as one signed POST', async (t) => {
    const r = await webhookReceiver(t, verify);
    const image = await uploadAndWait(path.join(ROOT, 'fixtures/images/photo-landscape.jpg'), 'photo.jpg', `${r.base}/hooks/upload`);
    assert.equal(image.status, 'done', JSON.stringify(image));
    assert.equal(image.steps.webhook!.status, 'done');
    assert.equal(r.received.length, 1);
    assert.equal(r.received[0]!.verified, true);
    const body = JSON.parse(r.received[0]!.body) as { pipeline: string; file: string; kind: string; outputs: { file: string; url: string }[] };
    assert.deepEqual([body.pipeline, body.file, body.kind], ['upload', 'photo.jpg', 'image']);
    assert.deepEqual(body.outputs.map((o) => o.file).sort(), ['photo-1280w.jpg', 'photo-320w.webp', 'photo-640w.webp']);
    assert.deepEqual(body.outputs.map((o) => new URL(o.url).pathname).sort(), [...image.outputs].sort());

    const bad = await fetch(`${service}/uploads?name=x.jpg&callbackUrl=${encodeURIComponent('file:///etc/passwd')}`, { method: 'POST', body: 'x' });
    assert.equal(bad.status, 400);
    assert.equal(
      ((await bad.json()) as { error: { message: string } }).error.message,
      'Expected an http(s) URL for callbackUrl but received "file:///etc/passwd"',
    );

    // A file that is not media: the run fails, and the receiver is told why.
    const text = path.join(dir, 'notes.jpg');
    await writeFile(text, 'not an image at all\n'.repeat(50));
    const failed = await uploadAndWait(text, 'notes.jpg', `${r.base}/hooks/upload`);
    assert.equal(failed.status, 'failed');
    assert.equal(r.received.length, 2);
    assert.equal(r.received[1]!.verified, true);
    assert.equal(r.received[1]!.headers['geartrain-event'], 'upload.failed');
    const why = JSON.parse(r.received[1]!.body) as { status: string; file: string; reason: string };
    assert.deepEqual([why.status, why.file], ['failed', 'notes.jpg']);
    assert.match(why.reason, /^notes\.jpg is not a valid /);
  });

  it('rejects an unsafe upload name with a JSON error naming it', async () => {
    for (const name of ['../../etc/passwd', 'a/b.jpg', 'a\\b.jpg', '.hidden.jpg', '..', '', 'line\nbreak.jpg', 'nul\0.jpg', `${'x'.repeat(252)}.jpg`]) {
      const res = await fetch(`${service}/uploads?name=${encodeURIComponent(name)}`, { method: 'POST', body: 'x' });
      assert.equal(res.status, 400, JSON.stringify(name));
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'GT_INVALID_ARGUMENT', JSON.stringify(name));
      assert.match(error.message, /^Expected a file name .* for name but received /);
    }
  });

  it('accepts any safe name: spaces, brackets, accents; outputs are served and warmed under encoded URLs', async () => {
    const image = await uploadAndWait(path.join(ROOT, 'fixtures/images/alpha.png'), encodeURIComponent('my holiday (été) #1.png'));
    assert.equal(image.status, 'done', JSON.stringify(image));
    assert.deepEqual(image.outputs.map((o) => decodeURIComponent(path.basename(o))).sort(), [
      'my holiday (été) #1-1280w.jpg',
      'my holiday (été) #1-320w.webp',
      'my holiday (été) #1-640w.webp',
    ]);
    for (const o of image.outputs) {
      const res = await fetch(`${service}${o}`);
      assert.equal(res.status, 200, o);
      assert.ok(cdnHits.includes(o), `${o} was warmed (CDN saw ${cdnHits.join(', ')})`);
    }
  });

  it('without DATA_DIR it keeps its files outside the package, in the system temp folder', async () => {
    const tmp = path.join(dir, 'tmp');
    await mkdir(tmp);
    const svc = spawn(process.execPath, [path.join(ROOT, 'examples/upload-service/server.mjs')], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', GEARTRAIN_SERVERS: serverAddress, TMPDIR: tmp, DATA_DIR: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(svc);
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      svc.stderr!.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf);
      });
      svc.once('exit', (code) => reject(new Error(`upload service exited ${code}: ${buf}`)));
    });
    const url = /upload service on (http:\/\/[\d.:]+)/.exec(line)![1]!;
    const data = path.join(tmp, 'geartrain-upload-service');
    assert.match(line, new RegExp(`files in ${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const res = await fetch(`${url}/uploads?name=a.png`, { method: 'POST', body: await readFile(path.join(ROOT, 'fixtures/images/alpha.png')) });
    assert.equal(res.status, 202);
    const { uploadId } = (await res.json()) as { uploadId: string };
    assert.ok((await stat(path.join(data, 'uploads', uploadId, 'a.png'))).isFile());
    assert.equal(existsSync(path.join(ROOT, 'upload-data')), false, 'nothing written inside the package');
  });
});
