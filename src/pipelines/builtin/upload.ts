// The upload flow: one file → probe → an image gets thumbnails; a video gets a transcode (low
// priority) and a poster (high priority) in parallel; an audio file gets a waveform → the
// outputs' URLs are warmed, the owner gets an email listing them and `notifyUrl` a signed POST;
// when a step fails, both are told the file and the reason instead. Usually enqueued by an upload service (`pipeline enqueue upload FILE`).

import path from 'node:path';
import type { BuiltinFunctions } from '../../schema/workers.js';
import { pipeline } from '../builder.js';
import type { InputFile } from '../input.js';
import type { SingleStep } from '../types.js';
import { NOTIFY_URL_OPTION, notifyUrlPayload, notifyUrlSet } from './notify-url.js';
import { ADDRESS, HLS, PROFILES, SIZES, URL_TEXT } from './options.js';
import { DEFAULT_SIZES } from './thumbnails.js';

type Result<F extends keyof BuiltinFunctions> = BuiltinFunctions[F]['result'];
type Transcode = BuiltinFunctions['transcode']['payload'];

const MEDIA_STEPS = ['thumbnails', 'transcode', 'poster', 'waveform'] as const;

/** What the helpers below read of a step's scope: the probe, the media steps, the run and baseUrl. */
interface UploadScope {
  options: { readonly baseUrl: string | undefined };
  run: { id: string; out: string };
  steps: {
    readonly probe: SingleStep<Result<'probe'>>;
    readonly thumbnails: SingleStep<Result<'thumbnail'>>;
    readonly transcode: SingleStep<Result<'transcode'>>;
    readonly poster: SingleStep<Result<'transcode'>>;
    readonly waveform: SingleStep<Result<'waveform'>>;
  };
}

/** Every output file the media steps made, as paths relative to the output folder, `/`-separated. */
function outputFiles(s: UploadScope): string[] {
  const files: string[] = [];
  const { thumbnails, transcode, poster, waveform } = s.steps;
  for (const r of [thumbnails.result, transcode.result, poster.result, waveform.result]) for (const o of r?.outputs ?? []) files.push(o.path);
  for (const r of [transcode.result, poster.result]) if (r?.poster) files.push(r.poster.path);
  return files.map((f) => path.relative(s.run.out, f).split(path.sep).join('/'));
}

/** The outputs as URLs under options.baseUrl. */
function outputUrls(s: UploadScope): string[] {
  const base = String(s.options.baseUrl).replace(/\/+$/, '');
  return outputFiles(s).map((f) => `${base}/${f.split('/').map(encodeURIComponent).join('/')}`);
}

/** What the owner is shown of the outputs: URLs under baseUrl when it is set, else file names; never server paths. */
const shownOutputs = (s: UploadScope): string[] => (s.options.baseUrl !== undefined ? outputUrls(s) : outputFiles(s));

const fileName = (s: { input: InputFile }): string => s.input.name + s.input.ext;

/** The first failure behind the run, told with the file's name instead of its path on the server, without the error code. */
function failureReason(s: UploadScope & { input: InputFile }): string {
  for (const id of ['probe', ...MEDIA_STEPS] as const) {
    const f = s.steps[id].failures[0];
    if (f)
      return f.error
        .replace(/^GT_[A-Z_]+: /, '')
        .split(s.input.path)
        .join(fileName(s));
  }
  return 'a processing step failed';
}

/**
 * The transcode profiles with `hls` added when asked: `true`, or an object of hls options.
 * Any other value goes to the worker's check, which names it.
 */
function withHls(profiles: Transcode['profiles'], hls: boolean | NonNullable<Transcode['hls']>): Pick<Transcode, 'profiles' | 'hls'> {
  if (hls === false) return { profiles };
  if (!Array.isArray(profiles)) return hls === true ? { profiles } : { profiles, hls };
  return { profiles: [...profiles.filter((p) => p !== 'hls'), 'hls'], ...(hls === true ? {} : { hls }) };
}

const isKind =
  (kind: Result<'probe'>['kind']) =>
  (s: { steps: { readonly probe: SingleStep<Result<'probe'>> } }): boolean =>
    s.steps.probe.result?.kind === kind;

export const upload = pipeline('upload', {
  description: 'one file → probe → image: thumbnails | video: transcode + poster in parallel | audio: waveform → cache-warm → email the owner, POST notifyUrl',
  input: 'file',
  options: {
    sizes: { description: 'thumbnail sizes for an image', default: DEFAULT_SIZES, schema: SIZES },
    profiles: { description: 'transcode profiles for a video', default: ['mp4-720p', 'mp4-480p'], schema: PROFILES },
    hls: { description: 'also adaptive streaming (HLS) for a video: true, or the hls options of transcode', default: false, schema: HLS },
    baseUrl: { description: 'URL the output folder is served at; set to warm the outputs in the cache', schema: URL_TEXT },
    owner: { description: 'email address told when the outputs are ready', schema: ADDRESS },
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
    payload: (s) => ({
      input: s.input.path,
      outDir: s.run.out,
      sizes: s.options.sizes,
      ...(s.options.baseUrl !== undefined ? { urlPrefix: s.options.baseUrl } : {}),
    }),
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
    needs: MEDIA_STEPS,
    when: (s) => s.options.baseUrl !== undefined && outputUrls(s).length > 0,
    payload: (s) => ({ urls: outputUrls(s) }),
  })
  .step('notify', {
    fn: 'email',
    // Beside the warm step, not after it: a CDN that is down must not keep the owner uninformed.
    // A failed media step skips it (and everything after that step).
    needs: MEDIA_STEPS,
    when: (s) => s.options.owner !== undefined,
    payload: (s) => {
      const outputs = shownOutputs(s);
      return {
        to: s.options.owner ?? '',
        template: 'upload-ready',
        vars: { file: fileName(s), kind: s.steps.probe.result?.kind ?? 'file', count: outputs.length, outputs: outputs.join('\n'), runId: s.run.id },
      };
    },
  })
  .step('notify-failed', {
    fn: 'email',
    needs: MEDIA_STEPS,
    onFailure: true,
    when: (s) => s.options.owner !== undefined,
    payload: (s) => ({ to: s.options.owner ?? '', template: 'upload-failed', vars: { file: fileName(s), reason: failureReason(s), runId: s.run.id } }),
  })
  .step('webhook', {
    fn: 'webhook',
    needs: MEDIA_STEPS,
    when: notifyUrlSet,
    payload: (s) => {
      const files = outputFiles(s);
      const urls = s.options.baseUrl !== undefined ? outputUrls(s) : undefined;
      return notifyUrlPayload('upload', s, 'done', {
        file: fileName(s),
        kind: s.steps.probe.result?.kind ?? 'file',
        outputs: files.map((file, i) => ({ file, ...(urls ? { url: urls[i] } : {}) })),
      });
    },
  })
  .step('webhook-failed', {
    fn: 'webhook',
    needs: MEDIA_STEPS,
    onFailure: true,
    when: notifyUrlSet,
    payload: (s) => notifyUrlPayload('upload', s, 'failed', { file: fileName(s), reason: failureReason(s) }),
  })
  // The run's `result`: the outputs as shown to the owner; an image's srcset per format, placeholder and dominant colour.
  .result((s) => {
    const thumbs = s.steps.thumbnails.result;
    return {
      kind: s.steps.probe.result?.kind ?? 'file',
      outputs: shownOutputs(s),
      ...(thumbs ? { srcset: thumbs.srcset, ...(thumbs.placeholder ? { placeholder: thumbs.placeholder } : {}) } : {}),
    };
  })
  .build();
