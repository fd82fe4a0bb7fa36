// The upload flow: one file → probe → an image gets thumbnails; a video gets a transcode (low
// priority) and a poster (high priority) in parallel; an audio file gets a waveform → the
// outputs' URLs are warmed and the owner gets an email. Usually enqueued by an upload service (`pipeline enqueue upload FILE`).

import path from 'node:path';
import { pipeline } from '../define.js';
import type { StepScope } from '../types.js';
import { DEFAULT_SIZES } from './thumbnails.js';
import { NOTIFY_URL_OPTION, notifyUrlStep, outputFile } from './notify-url.js';

interface Output {
  path: string;
}

const MEDIA_STEPS = ['thumbnails', 'transcode', 'poster', 'waveform'];

/** Every output file the media steps made. */
function outputPaths(s: StepScope): string[] {
  const files: string[] = [];
  for (const id of MEDIA_STEPS) {
    const r = s.steps[id]?.result as { outputs?: Output[]; poster?: Output } | undefined;
    for (const o of r?.outputs ?? []) files.push(o.path);
    if (r?.poster) files.push(r.poster.path);
  }
  return files;
}

/** Every output file the media steps made, as URLs under options.baseUrl. */
function outputUrls(s: StepScope): string[] {
  const base = String(s.options.baseUrl).replace(/\/+$/, '');
  return outputPaths(s).map((f) => `${base}/${path.relative(s.run.out, f).split(path.sep).map(encodeURIComponent).join('/')}`);
}

const isKind = (kind: string) => (s: StepScope): boolean => s.steps.probe?.result?.kind === kind;

export const upload = pipeline('upload', {
  description: 'one file → probe → image: thumbnails | video: transcode + poster in parallel | audio: waveform → cache-warm → email the owner, POST --notify-url',
  input: 'file',
  options: {
    sizes: { description: 'thumbnail sizes for an image', default: DEFAULT_SIZES },
    profiles: { description: 'transcode profiles for a video', default: ['mp4-720p', 'mp4-480p'] },
    baseUrl: { description: 'URL the output folder is served at; set to warm the outputs in the cache' },
    owner: { description: 'email address told when the outputs are ready' },
    notifyUrl: NOTIFY_URL_OPTION,
  },
})
  .step('probe', { fn: 'probe', priority: 'high', payload: (s) => ({ input: s.input.path }) })
  .step('thumbnails', {
    fn: 'thumbnail',
    needs: ['probe'],
    when: isKind('image'),
    priority: 'high',
    payload: (s) => ({ input: s.input.path, outDir: s.run.out, sizes: s.options.sizes }),
  })
  .step('transcode', {
    fn: 'transcode',
    needs: ['probe'],
    when: isKind('video'),
    priority: 'low',
    payload: (s) => ({ input: s.input.path, outDir: s.run.out, profiles: s.options.profiles }),
  })
  .step('poster', {
    fn: 'transcode',
    needs: ['probe'],
    when: isKind('video'),
    priority: 'high',
    payload: (s) => ({ input: s.input.path, outDir: s.run.out, profiles: [], poster: true }),
  })
  .step('waveform', {
    fn: 'waveform',
    needs: ['probe'],
    when: isKind('audio'),
    priority: 'high',
    payload: (s) => ({ input: s.input.path, outDir: s.run.out }),
  })
  .step('warm', {
    fn: 'cache-warm',
    needs: MEDIA_STEPS,
    when: (s) => typeof s.options.baseUrl === 'string' && outputUrls(s).length > 0,
    payload: (s) => ({ urls: outputUrls(s) }),
  })
  .step('notify', {
    fn: 'email',
    // Beside the warm step, not after it: a CDN that is down must not keep the owner uninformed.
    needs: MEDIA_STEPS,
    when: (s) => typeof s.options.owner === 'string',
    payload: (s) => ({
      to: s.options.owner,
      template: 'upload-ready',
      vars: { file: s.input.name + s.input.ext, kind: s.steps.probe?.result?.kind ?? 'file', outputs: outputUrls0(s).length, outDir: s.run.out, runId: s.run.id },
    }),
  })
  .step(
    'webhook',
    notifyUrlStep('upload', MEDIA_STEPS, (s) => {
      const files = outputPaths(s);
      const urls = typeof s.options.baseUrl === 'string' ? outputUrls(s) : undefined;
      return {
        file: s.input.name + s.input.ext,
        kind: s.steps.probe?.result?.kind ?? 'file',
        outputs: files.map((f, i) => ({ file: outputFile(s, f), ...(urls ? { url: urls[i] } : {}) })),
      };
    }),
  )
  .build();

function outputUrls0(s: StepScope): unknown[] {
  return s.options.baseUrl ? outputUrls(s) : MEDIA_STEPS.flatMap((id) => (s.steps[id]?.result as { outputs?: unknown[] } | undefined)?.outputs ?? []);
}
