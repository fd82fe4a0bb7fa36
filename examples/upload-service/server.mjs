// A small upload service, the way a web application hands slow work to geartrain:
//
//   POST /uploads?name=photo.jpg[&owner=me@example.com][&callbackUrl=https://app.example/hooks/media][&hls=true]
//     body = the file's bytes
//     → the file is stored under UPLOAD_DIR, the `upload` pipeline is enqueued as a background
//       job (any pipeline worker drives it), and the answer is 202 {runId, status}. When the
//       outputs are ready, callbackUrl gets them as a signed POST (the webhook worker: start it
//       with GEARTRAIN_WEBHOOK_SECRET, and --allowed-hosts naming the hosts callbacks may go to).
//       hls=true also makes a video an adaptive-streaming ladder; its master playlist is served
//       under /media like every output.
//   GET /uploads/RUN_ID   → the run's progress, per step, and its outputs as URLs.
//   GET /media/…          → the outputs themselves (what cache-warm requests).
//
// Environment: PORT (8080), GEARTRAIN_SERVERS (127.0.0.1:4730), DATA_DIR (where uploads and
// outputs go; default geartrain-upload-service in the system temp folder, never inside this
// package), PUBLIC_URL (http://127.0.0.1:PORT, where /media is reachable: cache-warm requests
// it), MAX_UPLOAD_BYTES (200 MiB). The pipeline workers must be able to read and write DATA_DIR.
//
//   pipeline server &
//   GEARTRAIN_WEBHOOK_SECRET=… pipeline worker thumbnail transcode waveform email cache-warm probe webhook pipeline --allowed-hosts … &
//   node examples/upload-service/server.mjs
//   curl --data-binary @photo.jpg 'http://127.0.0.1:8080/uploads?name=photo.jpg&owner=me@example.com'

import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pipeline as pump } from 'node:stream/promises';
import { Client, findPipeline, pipelineFunction, runIdFor, runStoreFor } from '../../dist/index.js';

const port = Number(process.env.PORT ?? 8080);
const servers = (process.env.GEARTRAIN_SERVERS ?? '127.0.0.1:4730').split(',');
const dataDir = path.resolve(process.env.DATA_DIR || path.join(os.tmpdir(), 'geartrain-upload-service'));
const maxBytes = Number(process.env.MAX_UPLOAD_BYTES ?? 200 * 1024 * 1024);
const upload = await findPipeline('upload');
const client = new Client({ servers });

/** @type {Record<string, string>} */
const TYPES = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.m4a': 'audio/mp4',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.json': 'application/json',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.vtt': 'text/vtt',
};

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 */
function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** The run id is the directory name under media/: one upload, one run. */
const mediaDir = (/** @type {string} */ uploadId) => path.join(dataDir, 'media', uploadId);

/** Longest file name most file systems take, in UTF-8 bytes. */
const NAME_MAX_BYTES = 255;

/**
 * Whether `name` can be stored as given: one path segment (no / or \), no control characters,
 * no spaces at either end, not hidden (a leading dot also keeps clear of . and .. and of the
 * service's .NAME.part files), and short enough for the file system. Spaces inside, brackets
 * and any letters are fine.
 * @param {string} name
 */
function safeName(name) {
  return (
    name !== '' &&
    !name.startsWith('.') &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
    !/[/\\\x00-\x1f\x7f]/.test(name) &&
    name.trim() === name &&
    Buffer.byteLength(name) + '.part'.length + 1 <= NAME_MAX_BYTES
  );
}

const shown = (/** @type {string} */ v) => JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);

/**
 * @param {http.IncomingMessage} req
 * @param {http.ServerResponse} res
 * @param {URL} url
 * @param {string} publicUrl
 */
async function receive(req, res, url, publicUrl) {
  const name = url.searchParams.get('name') ?? '';
  if (!safeName(name)) {
    return send(res, 400, {
      error: {
        code: 'GT_INVALID_ARGUMENT',
        message:
          `Expected a file name (one path segment, not starting with a dot, no control characters or spaces at either end, at most ` +
          `${NAME_MAX_BYTES - 6} bytes) for name but received ${shown(name)}`,
      },
    });
  }
  const callbackUrl = url.searchParams.get('callbackUrl');
  if (callbackUrl !== null && !/^https?:\/\/[^\s]{1,2000}$/.test(callbackUrl)) {
    return send(res, 400, { error: { code: 'GT_INVALID_ARGUMENT', message: `Expected an http(s) URL for callbackUrl but received ${shown(callbackUrl)}` } });
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return send(res, 413, { error: { code: 'GT_BODY_TOO_LARGE', message: `Upload of ${declared} bytes exceeds ${maxBytes}` } });
  const uploadId = randomUUID();
  const dir = path.join(dataDir, 'uploads', uploadId);
  await mkdir(dir, { recursive: true });
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.part`);
  let bytes = 0;
  req.on('data', (/** @type {Buffer} */ c) => {
    bytes += c.length;
    if (bytes > maxBytes) req.destroy(new Error('too large'));
  });
  try {
    await pump(req, createWriteStream(tmp));
    await rename(tmp, final); // a file is either whole at its final path or absent
  } catch {
    await rm(dir, { recursive: true, force: true });
    return send(res, bytes > maxBytes ? 413 : 400, { error: { code: 'GT_BODY_TOO_LARGE', message: 'Upload failed or too large' } });
  }
  const out = mediaDir(uploadId);
  const owner = url.searchParams.get('owner');
  const hls = url.searchParams.get('hls') === 'true';
  const options = {
    baseUrl: `${publicUrl}/media/${uploadId}`,
    ...(owner ? { owner } : {}),
    ...(callbackUrl ? { notifyUrl: callbackUrl } : {}),
    ...(hls ? { hls: true } : {}),
  };
  const runId = runIdFor(upload, final, out);
  await client.submitBackground(pipelineFunction(upload), JSON.stringify({ input: final, out, options, runId }), { unique: runId });
  send(res, 202, { runId, uploadId, status: `/uploads/${uploadId}` });
}

/**
 * The part of a media step's result this service reads: the files it wrote.
 * @typedef {{ outputs?: { path: string }[], poster?: { path: string } }} MediaResult
 */

/**
 * @param {http.ServerResponse} res
 * @param {string} uploadId
 */
async function status(res, uploadId) {
  if (!/^[0-9a-f-]{36}$/.test(uploadId)) return send(res, 404, { error: { code: 'GT_JOB_NOT_FOUND', message: `No upload ${uploadId}` } });
  const [record] = await runStoreFor(mediaDir(uploadId)).list(1);
  if (!record) return send(res, 200, { uploadId, status: 'queued', steps: {} });
  const steps = Object.fromEntries(
    Object.entries(record.steps).map(([id, s]) => [
      id,
      { status: s.status, ...(s.reason ? { reason: s.reason } : {}), done: Object.values(s.items).filter((i) => i.status === 'done').length, total: s.total },
    ]),
  );
  const outputs = [];
  for (const id of ['thumbnails', 'transcode', 'poster', 'waveform']) {
    // The run store keeps results as the workers sent them (unknown to its types); the
    // thumbnail, transcode and waveform workers answer with outputs, the poster step with poster.
    const r = /** @type {MediaResult | undefined} */ (record.steps[id]?.items['-']?.result);
    for (const o of [...(r?.outputs ?? []), ...(r?.poster ? [r.poster] : [])]) {
      // Encoded as the upload pipeline's cache-warm URLs are: names may hold spaces and more.
      const rel = path.relative(mediaDir(uploadId), o.path).split(path.sep).map(encodeURIComponent).join('/');
      outputs.push(`/media/${uploadId}/${rel}`);
    }
  }
  const errors = Object.values(record.steps).flatMap((s) =>
    Object.values(s.items)
      .filter((i) => i.status === 'failed')
      .map((i) => i.error),
  );
  send(res, 200, { uploadId, runId: record.id, status: record.status, steps, outputs, errors });
}

/**
 * @param {http.ServerResponse} res
 * @param {string} rel
 */
async function media(res, rel) {
  const file = path.join(dataDir, 'media', rel);
  if (!file.startsWith(path.join(dataDir, 'media') + path.sep) || rel.split('/').some((p) => p.startsWith('.')))
    return send(res, 404, { error: { code: 'GT_JOB_NOT_FOUND', message: 'No such file' } });
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a file');
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': st.size });
    createReadStream(file).pipe(res);
  } catch {
    send(res, 404, { error: { code: 'GT_JOB_NOT_FOUND', message: 'No such file' } });
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const publicUrl = process.env.PUBLIC_URL ?? `http://127.0.0.1:${listeningPort()}`;
  const handle = async () => {
    if (req.method === 'POST' && url.pathname === '/uploads') return receive(req, res, url, publicUrl);
    const m = /^\/uploads\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m?.[1]) return status(res, m[1]);
    if ((req.method === 'GET' || req.method === 'HEAD') && url.pathname.startsWith('/media/')) return media(res, decodeURIComponent(url.pathname.slice(7)));
    send(res, 404, { error: { code: 'GT_NOT_FOUND', message: `No route ${req.method} ${url.pathname}` } });
  };
  handle().catch((err) => send(res, 500, { error: { code: 'GT_INTERNAL', message: err.message } }));
});

/** The port the server listens on (PORT=0 picks a free one). */
function listeningPort() {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

server.listen(port, '127.0.0.1', () => {
  process.stderr.write(`upload service on http://127.0.0.1:${listeningPort()} (job servers ${servers.join(',')}), files in ${dataDir}\n`);
});

const stop = () => server.close(() => client.close().then(() => process.exit(0)));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
