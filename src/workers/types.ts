// What every domain worker is: a Gearman function name, a payload check, and a plain async
// function from the checked payload to a JSON result. runtime.ts serves them through a Worker.

import type { Logger } from '../log.js';

/** Settings shared by the domain workers: from CLI flags, environment and config file. */
export interface WorkerSettings {
  /** The job servers this process serves (set by serveDomainWorkers): pipeline workers submit their steps there. */
  servers?: string[];
  /**
   * Folders a job may read inputs from and write outputs to, compared by real path (links
   * resolved): a path that is or leads outside all of them fails with GT_PATH_NOT_ALLOWED
   * (paths.ts). @defaultValue [] (any path the process can reach)
   */
  allowPaths?: string[];
  thumbnail?: {
    /**
     * Largest input in pixels decoded: width × height × the frames a job decodes (every frame of
     * an animation that becomes an animated output, else the first). Checked from the header,
     * before decoding. @defaultValue 50_000_000 (imgproxy's default)
     */
    maxPixels?: number;
    /** Largest input file in bytes. @defaultValue 100 MiB */
    maxFileBytes?: number;
  };
  transcode?: {
    /** Kill ffmpeg after this many ms. @defaultValue 3_600_000 */
    timeoutMs?: number;
    /** @defaultValue `ffmpeg` on PATH, else @ffmpeg-installer/ffmpeg */
    ffmpegPath?: string;
    /** @defaultValue `ffprobe` on PATH, else @ffprobe-installer/ffprobe */
    ffprobePath?: string;
  };
  email?: {
    /** `smtp://user:pass@host:port` or `smtps://…`; @defaultValue GEARTRAIN_SMTP_URL; unset → outbox */
    smtpUrl?: string;
    /** @defaultValue GEARTRAIN_MAIL_FROM or `geartrain@localhost` */
    from?: string;
    /** Folder of `NAME.html` / `NAME.txt` (and optional `NAME.subject`) templates. @defaultValue fixtures/email */
    templatesDir?: string;
    /** Where messages go as .eml files when no SMTP URL is set. @defaultValue .geartrain/outbox */
    outboxDir?: string;
  };
  cacheWarm?: {
    /** Hosts (`example.com`, `localhost:8080`) URLs may point at, for cache-warm and webhook. @defaultValue [] (any host) */
    allowedHosts?: string[];
  };
  waveform?: {
    /** Longest audio, in seconds, by the header and by the samples decoded. @defaultValue 10800 (3 hours) */
    maxDurationSeconds?: number;
    /** Largest input file in bytes. @defaultValue 1 GiB */
    maxFileBytes?: number;
  };
  webhook?: {
    /** Key of the HMAC-SHA256 signature, at least 16 characters. @defaultValue GEARTRAIN_WEBHOOK_SECRET; unset → webhook jobs fail with GT_WEBHOOK_NO_SECRET */
    secret?: string;
  };
}

/** What a running job gives its domain function besides the payload. */
export interface JobContext {
  /** WORK_STATUS: `done` of `total`. Cheap; call it as often as progress changes. */
  progress(done: number, total: number): void;
  /** Aborted when the job times out, its connection is lost or the worker stops. */
  readonly signal: AbortSignal;
  /**
   * When the job times out, on performance.now()'s clock; absent when it has no timeout. Work
   * that cannot watch the signal (a libvips decode) is given this as its own limit.
   */
  readonly deadline?: number;
  /** A child logger carrying the function name and job handle. */
  readonly log: Logger;
}

export interface DomainWorker<P = unknown, R = unknown> {
  /** The Gearman function name (`thumbnail`, `transcode`, `email`, `cache-warm`). */
  readonly name: string;
  /** Longest run in ms before the job is aborted and fails. */
  readonly timeoutMs: number;
  /** Check a decoded JSON payload; throws GT_PAYLOAD_INVALID naming the field. */
  parse(raw: unknown): P;
  /** Do the work. Throws a GeartrainError (its code says whether a retry can help). */
  run(payload: P, ctx: JobContext): Promise<R>;
  /** Release what the worker holds (SMTP pool, …). */
  close?(): Promise<void>;
}

/** Builds a domain worker once per process from the shared settings. */
// biome-ignore lint/suspicious/noExplicitAny: each worker's own payload and result; runtime.ts passes parse()'s value to its run()
export type DomainWorkerFactory = (settings: WorkerSettings, log: Logger) => DomainWorker<any, any>;
