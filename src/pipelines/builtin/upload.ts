// The upload flow: one file → probe → an image gets thumbnails; a video gets a transcode (low
// priority) and a poster (high priority) in parallel; an audio file gets a waveform → the
// outputs' URLs are warmed, the owner gets an email listing them and `notifyUrl` a signed POST;
// when a step fails, both are told the file and the reason instead. Usually enqueued by an upload service (`pipeline enqueue upload FILE`).

import path from 'node:path';
import { pipeline } from '../define.js';
import type { StepScope } from '../types.js';
import { NOTIFY_URL_OPTION, notifyUrlStep } from './notify-url.js';
import { DEFAULT_SIZES } from './thumbnails.js';

interface Output {
  path: string;
}

const MEDIA_STEPS = ['thumbnails', 'transcode', 'poster', 'waveform'] as const;

/** Every output file the media steps made, as paths relative to the output folder, `/`-separated. */
function outputFiles(s: StepScope): string[] {
  const files: string[] = [];
  for (const id of MEDIA_STEPS) {
    const r = s.steps[id]?.result as { outputs?: Output[]; poster?: Output } | undefined;
    for (const o of r?.outputs ?? []) files.push(o.path);
    if (r?.poster) files.push(r.poster.path);
  }
  return files.map((f) => path.relative(s.run.out, f).split(path.sep).join('/'));
}

/** The outputs as URLs under options.baseUrl. */
function outputUrls(s: StepScope): string[] {
  const base = String(s.options.baseUrl).replace(/\/+$/, '');
  return outputFiles(s).map((f) => `${base}/${f.split('/').map(encodeURIComponent).join('/')}`);
}

/** What the owner is shown of the outputs: URLs under baseUrl when it is set, else file names; never server paths. */
const shownOutputs = (s: StepScope): string[] => (typeof s.options.baseUrl === 'string' ? outputUrls(s) : outputFiles(s));

const fileName = (s: StepScope): string => s.input.name + s.input.ext;

/** The first failure behind the run, told with the file's name instead of its path on the server, without the error code. */
function failureReason(s: StepScope): string {
  for (const id of ['probe', ...MEDIA_STEPS]) {
    const f = s.steps[id]?.failures?.[0];
    if (f) return f.error.replace(/^GT_[A-Z_]+: /, '').split(String(s.input.path)).join(fileName(s));
  }
  return 'a processing step failed';
}

/**
 * The transcode profiles with `hls` added when asked: `true`, or an object of hls options.
 * Any other value goes to the worker's check, which names it.
 */
function withHls(profiles: unknown, hls: unknown): { profiles: unknown; hls?: unknown } {
  if (hls === false || hls === undefined) return { profiles };
  if (!Array.isArray(profiles)) return { profiles, hls };
  return { profiles: [...profiles.filter((p) => p !== 'hls'), 'hls'], ...(hls === true ? {} : { hls }) };
}

const isKind = (kind: string) => (s: StepScope): boolean => s.steps.probe?.result?.kind === kind;

export const upload = pipeline('upload', {
  description: 'one file → probe → image: thumbnails | video: transcode + poster in parallel | audio: waveform → cache-warm → email the owner, POST notifyUrl',
  input: 'file',
  result: uploadResult,
  options: {
    sizes: { description: 'thumbnail sizes for an image', default: DEFAULT_SIZES },
    profiles: { description: 'transcode profiles for a video', default: ['mp4-720p', 'mp4-480p'] },
    hls: { description: 'also adaptive streaming (HLS) for a video: true, or the hls options of transcode', default: false },
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
    // With baseUrl, the result's srcset is ready URLs under it.
    payload: (s) => ({ input: s.input.path, outDir: s.run.out, sizes: s.options.sizes, ...(typeof s.options.baseUrl === 'string' ? { urlPrefix: s.options.baseUrl } : {}) }),
  })
  .step('transcode', {
    fn: 'transcode',
    needs: ['probe'],
    when: isKind('video'),
    priority: 'low',
    payload: (s) => ({ input: s.input.path, outDir: s.run.out, ...withHls(s.options.profiles, s.options.hls) }),
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
    needs: [...MEDIA_STEPS],
    when: (s) => typeof s.options.baseUrl === 'string' && outputUrls(s).length > 0,
    payload: (s) => ({ urls: outputUrls(s) }),
  })
  .step('notify', {
    fn: 'email',
    // Beside the warm step, not after it: a CDN that is down must not keep the owner uninformed.
    // A failed media step skips it (and everything after that step).
    needs: [...MEDIA_STEPS],
    when: (s) => typeof s.options.owner === 'string',
    payload: (s) => {
      const outputs = shownOutputs(s);
      return { to: s.options.owner, template: 'upload-ready', vars: { file: fileName(s), kind: s.steps.probe?.result?.kind ?? 'file', count: outputs.length, outputs: outputs.join('\n'), runId: s.run.id } };
    },
  })
  .step('notify-failed', {
    fn: 'email',
    needs: [...MEDIA_STEPS],
    onFailure: true,
    when: (s) => typeof s.options.owner === 'string',
    payload: (s) => ({ to: s.options.owner, template: 'upload-failed', vars: { file: fileName(s), reason: failureReason(s), runId: s.run.id } }),
  })
  .step(
    'webhook',
    notifyUrlStep('upload', MEDIA_STEPS, (s) => {
      const files = outputFiles(s);
      const urls = typeof s.options.baseUrl === 'string' ? outputUrls(s) : undefined;
      return { file: fileName(s), kind: s.steps.probe?.result?.kind ?? 'file', outputs: files.map((file, i) => ({ file, ...(urls ? { url: urls[i] } : {}) })) };
    }),
  )
  .step('webhook-failed', notifyUrlStep('upload', MEDIA_STEPS, (s) => ({ file: fileName(s), reason: failureReason(s) }), { failed: true }))
  .build();

/** The run's `result`: the outputs as shown to the owner; an image's srcset per format, placeholder and dominant colour. */
function uploadResult(s: StepScope): unknown {
  const thumbs = s.steps.thumbnails?.result as { srcset?: unknown; placeholder?: unknown } | undefined;
  return { kind: s.steps.probe?.result?.kind ?? 'file', outputs: shownOutputs(s), ...(thumbs ? { srcset: thumbs.srcset, ...(thumbs.placeholder ? { placeholder: thumbs.placeholder } : {}) } : {}) };
}
