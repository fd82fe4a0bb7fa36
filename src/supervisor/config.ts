// `pipeline up`'s configuration: the job server (or external servers), worker processes per
// type, the settings passed to them, and the restart/stop/reload policies. Read from JSON or
// YAML and checked once at load; every message names the key by its full path:
// `Expected positive integer for workers.thumbnail.processes but received -1 of type number`.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseServer } from '../client/address.js';
import { GeartrainError, invalidArgument } from '../errors.js';
import { DOMAIN_WORKER_NAMES, defaultConcurrency, isDomainWorkerName } from '../workers/index.js';
import { parseYaml } from '../yaml.js';

/** The files `pipeline up` looks for in the working directory when no -c is given, in order. */
export const CONFIG_FILES = ['geartrain.config.json', 'geartrain.config.yaml', 'geartrain.config.yml'] as const;

/** Worker types served by `pipeline worker` (the rest need `exec`). */
export const BUILTIN_TYPES: readonly string[] = [...DOMAIN_WORKER_NAMES, 'pipeline'];

export interface HttpConfig {
  /** @defaultValue the server's host */
  host?: string;
  port: number;
  /** Bearer token the HTTP API asks for. */
  token?: string;
  /** Output folders whose pipeline runs the API and the dashboard show (`pipeline server --runs`). */
  runs?: string[];
}

/** The job server `pipeline up` runs in its own process (the flags of `pipeline server`). */
export interface ServerConfig {
  /** @defaultValue '127.0.0.1' */
  host: string;
  /** 0 picks a free port (see `pipeline ps`). @defaultValue 4730 */
  port: number;
  /** @defaultValue GEARTRAIN_STORE or `sqlite:.geartrain/jobs.db` */
  store?: string;
  maxAttempts?: number;
  retryDelayMs?: number;
  retentionDays?: number;
  leaseMs?: number;
  serverId?: string;
  /** Longest wait for running jobs when the server closes, ms. @defaultValue 30000 */
  graceMs?: number;
  maxPacketSize?: number;
  /** Bytes all unfinished packets may hold together (`--max-buffered`). @defaultValue 256 MiB */
  maxBuffered?: number;
  /** Close a connection whose unfinished packet got no byte for this long, ms. @defaultValue 30000 */
  packetTimeoutMs?: number;
  /** Functions one worker connection may register. @defaultValue 1000 */
  maxFunctionsPerWorker?: number;
  /** Peers (addresses, CIDRs) that may run state-changing admin commands beyond loopback. @defaultValue loopback */
  adminAllow?: string[];
  http?: HttpConfig;
}

export interface WorkerTypeConfig {
  /** Processes of this type. @defaultValue 1 */
  processes: number;
  /** Jobs one process runs at once (`pipeline worker TYPE=N`). @defaultValue 1 (thumbnail: 2) */
  concurrency: number;
  /** Extra environment for this type's processes. @defaultValue {} */
  env: Record<string, string>;
  /**
   * A command run per job instead of a built-in worker (`pipeline exec -- CMD…`): the type's
   * processes serve `functions` with it.
   */
  exec?: string[];
  /** Functions an exec type serves. @defaultValue [the type's name] */
  functions?: string[];
  /** exec types: fail a job whose command runs longer, ms. */
  timeoutMs?: number;
}

/** Passed to every worker process as `pipeline worker` flags (secrets as environment). */
export interface SettingsConfig {
  allowPaths?: string[];
  thumbnail?: { maxPixels?: number; maxFileSize?: number };
  transcode?: { timeoutMs?: number };
  email?: { smtpUrl?: string; from?: string; templates?: string; outbox?: string };
  cacheWarm?: { allowedHosts?: string[] };
  waveform?: { maxDurationSeconds?: number };
  webhook?: { secret?: string };
}

export interface RestartPolicy {
  /** First delay before restarting a crashed process, ms; doubles per crash. @defaultValue 500 */
  initialDelayMs: number;
  /** Longest delay between restarts, ms. @defaultValue 30000 */
  maxDelayMs: number;
  /** A type whose processes crash at start more than this often within windowMs is given up. @defaultValue 5 */
  maxCrashes: number;
  /** The window crashes are counted in (for backoff and giving up), ms. @defaultValue 60000 */
  windowMs: number;
  /** A process that exits before it is ready or within this long of starting crashed "at start", ms. @defaultValue 5000 */
  startupMs: number;
}

export interface StopPolicy {
  /** How long a worker may take to finish its running jobs after SIGTERM before SIGKILL, ms. @defaultValue 35000 */
  graceMs: number;
}

export interface ReloadPolicy {
  /** How long a replacement may take to register with the servers before the reload of its type fails, ms. @defaultValue 30000 */
  readyTimeoutMs: number;
}

export interface SupervisorConfig {
  /** The embedded server; null when `servers` names external ones. */
  server: ServerConfig | null;
  /** External job servers (host:port); null when the embedded server runs. */
  servers: string[] | null;
  workers: Record<string, WorkerTypeConfig>;
  settings: SettingsConfig;
  restart: RestartPolicy;
  stop: StopPolicy;
  reload: ReloadPolicy;
}

export interface LoadedConfig {
  config: SupervisorConfig;
  /** The file read, or null for the defaults. */
  file: string | null;
}

export const DEFAULT_RESTART: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 60_000, startupMs: 5_000 };
export const DEFAULT_STOP: StopPolicy = { graceMs: 35_000 };
export const DEFAULT_RELOAD: ReloadPolicy = { readyTimeoutMs: 30_000 };

/** No file: the embedded server on 127.0.0.1:4730 and one process of every built-in type. */
export function defaultConfig(): SupervisorConfig {
  const workers: Record<string, WorkerTypeConfig> = {};
  for (const type of BUILTIN_TYPES) workers[type] = { processes: 1, concurrency: defaultConcurrency(type), env: {} };
  return {
    server: { host: '127.0.0.1', port: 4730 },
    servers: null,
    workers,
    settings: {},
    restart: { ...DEFAULT_RESTART },
    stop: { ...DEFAULT_STOP },
    reload: { ...DEFAULT_RELOAD },
  };
}

/** The spec of a built-in type that the config does not name (`pipeline scale probe=1`). */
export function defaultTypeConfig(type: string): WorkerTypeConfig {
  return { processes: 1, concurrency: defaultConcurrency(type), env: {} };
}

// ---- reading ------------------------------------------------------------------------------

/** `-c FILE`, else the first of CONFIG_FILES in `cwd`, else the defaults. */
export async function loadConfig(file: string | undefined, cwd = process.cwd()): Promise<LoadedConfig> {
  if (file !== undefined) return { config: await readConfigFile(file), file };
  for (const name of CONFIG_FILES) {
    const candidate = path.join(cwd, name);
    const text = await readFile(candidate, 'utf8').catch(() => null);
    if (text !== null) return { config: parseConfig(text, name), file: name };
  }
  return { config: defaultConfig(), file: null };
}

export async function readConfigFile(file: string): Promise<SupervisorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new GeartrainError('GT_INVALID_ARGUMENT', `Could not read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, file);
}

/** Parse JSON (for `.json`) or YAML, then check; errors name the file and the key. */
export function parseConfig(text: string, file: string): SupervisorConfig {
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const kind = file.endsWith('.json') ? 'JSON' : 'YAML';
    throw new GeartrainError('GT_INVALID_ARGUMENT', `${file}: not valid ${kind}: ${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}`, { cause: err });
  }
  try {
    return checkConfig(raw ?? {});
  } catch (err) {
    if (err instanceof GeartrainError) throw new GeartrainError(err.code, `${file}: ${err.message}`);
    throw err;
  }
}

// ---- checking -----------------------------------------------------------------------------

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One object of the config: typed reads by key, each named by its full path. */
class Section {
  private constructor(
    private readonly obj: Json,
    private readonly path: string,
    known: readonly string[],
  ) {
    for (const k of Object.keys(obj)) {
      if (!known.includes(k)) throw invalidArgument(`one of ${known.join(', ')}`, this.name(k), obj[k]);
    }
  }

  static of(raw: unknown, path: string, known: readonly string[]): Section {
    if (!isObject(raw)) throw invalidArgument('object', path || 'the config', raw);
    return new Section(raw, path, known);
  }

  name(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    return this.obj[key];
  }

  section(key: string, known: readonly string[]): Section | undefined {
    return this.has(key) ? Section.of(this.obj[key], this.name(key), known) : undefined;
  }

  int(key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const what = max !== Number.MAX_SAFE_INTEGER ? `integer between ${min} and ${max}` : min === 1 ? 'positive integer' : min === 0 ? 'non-negative integer' : `integer of at least ${min}`;
      throw invalidArgument(what, this.name(key), v);
    }
    return v;
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (typeof v !== 'string' || v === '') throw invalidArgument('non-empty string', this.name(key), v);
    return v;
  }

  strings(key: string, opts: { nonEmpty?: boolean } = {}): string[] | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    if (!Array.isArray(v) || (opts.nonEmpty && v.length === 0)) throw invalidArgument(opts.nonEmpty ? 'non-empty array of strings' : 'array of strings', this.name(key), v);
    v.forEach((item, i) => {
      if (typeof item !== 'string' || item === '') throw invalidArgument('non-empty string', `${this.name(key)}[${i}]`, item);
    });
    return v as string[];
  }

  /** Bytes: an integer or a size such as 512k, 64m. */
  size(key: string): number | undefined {
    if (!this.has(key)) return undefined;
    const v = this.obj[key];
    const m = typeof v === 'string' ? /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(v.trim()) : null;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    if (!m || Number(m[1]) <= 0) throw invalidArgument('positive integer or a size such as 512k or 64m', this.name(key), v);
    const unit = (m[2] ?? 'b').toLowerCase()[0];
    return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
  }
}

/** Check a parsed config and fill in the defaults. */
export function checkConfig(raw: unknown): SupervisorConfig {
  const top = Section.of(raw, '', ['server', 'servers', 'workers', 'settings', 'restart', 'stop', 'reload']);
  if (top.has('server') && top.has('servers')) {
    throw invalidArgument('either server (run the job server here) or servers (use running ones), not both', 'servers', top.raw('servers'));
  }
  const config = defaultConfig();
  const servers = top.strings('servers', { nonEmpty: true });
  if (servers) {
    servers.forEach((s, i) => {
      try {
        parseServer(s);
      } catch {
        throw invalidArgument('host:port', `servers[${i}]`, s);
      }
    });
    config.servers = servers;
    config.server = null;
  } else {
    config.server = checkServer(top);
  }

  if (top.has('workers')) {
    const workers = top.raw('workers');
    if (!isObject(workers)) throw invalidArgument('object of worker types', 'workers', workers);
    config.workers = {};
    for (const [type, spec] of Object.entries(workers)) config.workers[type] = checkWorkerType(type, spec);
  }
  config.settings = checkSettings(top);

  const r = top.section('restart', ['initialDelayMs', 'maxDelayMs', 'maxCrashes', 'windowMs', 'startupMs']);
  if (r) {
    const restart: RestartPolicy = {
      initialDelayMs: r.int('initialDelayMs', 1) ?? DEFAULT_RESTART.initialDelayMs,
      maxDelayMs: r.int('maxDelayMs', 1) ?? DEFAULT_RESTART.maxDelayMs,
      maxCrashes: r.int('maxCrashes', 0) ?? DEFAULT_RESTART.maxCrashes,
      windowMs: r.int('windowMs', 1) ?? DEFAULT_RESTART.windowMs,
      startupMs: r.int('startupMs', 0) ?? DEFAULT_RESTART.startupMs,
    };
    if (restart.maxDelayMs < restart.initialDelayMs) {
      throw invalidArgument(`integer of at least restart.initialDelayMs (${restart.initialDelayMs})`, 'restart.maxDelayMs', restart.maxDelayMs);
    }
    config.restart = restart;
  }
  const s = top.section('stop', ['graceMs']);
  if (s) config.stop = { graceMs: s.int('graceMs', 0) ?? DEFAULT_STOP.graceMs };
  const rl = top.section('reload', ['readyTimeoutMs']);
  if (rl) config.reload = { readyTimeoutMs: rl.int('readyTimeoutMs', 1) ?? DEFAULT_RELOAD.readyTimeoutMs };
  return config;
}

function checkServer(top: Section): ServerConfig {
  const s = top.section('server', ['host', 'port', 'store', 'maxAttempts', 'retryDelayMs', 'retentionDays', 'leaseMs', 'serverId', 'graceMs', 'maxPacketSize', 'maxBuffered', 'packetTimeoutMs', 'maxFunctionsPerWorker', 'adminAllow', 'http']);
  if (!s) return { host: '127.0.0.1', port: 4730 };
  const server: ServerConfig = { host: s.string('host') ?? '127.0.0.1', port: s.int('port', 0, 65535) ?? 4730 };
  const optional = {
    store: s.string('store'),
    maxAttempts: s.int('maxAttempts', 1),
    retryDelayMs: s.int('retryDelayMs', 1),
    retentionDays: s.int('retentionDays', 0),
    leaseMs: s.int('leaseMs', 1),
    serverId: s.string('serverId'),
    graceMs: s.int('graceMs', 0),
    maxPacketSize: s.size('maxPacketSize'),
    maxBuffered: s.size('maxBuffered'),
    packetTimeoutMs: s.int('packetTimeoutMs', 1),
    maxFunctionsPerWorker: s.int('maxFunctionsPerWorker', 1),
    adminAllow: s.strings('adminAllow', { nonEmpty: true }),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (server as unknown as Json)[k] = v;
  const h = s.section('http', ['host', 'port', 'token', 'runs']);
  if (h) {
    const port = h.int('port', 0, 65535);
    if (port === undefined) throw invalidArgument('integer between 0 and 65535', 'server.http.port', undefined);
    server.http = { port };
    const host = h.string('host');
    const token = h.string('token');
    if (host !== undefined) server.http.host = host;
    if (token !== undefined) server.http.token = token;
    const runs = h.strings('runs', { nonEmpty: true });
    if (runs !== undefined) server.http.runs = runs;
  }
  return server;
}

function checkWorkerType(type: string, raw: unknown): WorkerTypeConfig {
  const name = `workers.${type}`;
  if (!/^[a-z][a-z0-9-]*$/.test(type)) throw invalidArgument('a worker type name of lower-case letters, digits and -', name, type);
  const w = Section.of(raw ?? {}, name, ['processes', 'concurrency', 'env', 'exec', 'functions', 'timeoutMs']);
  const exec = w.strings('exec', { nonEmpty: true });
  if (!exec && !isDomainWorkerName(type) && type !== 'pipeline') {
    throw invalidArgument(`one of ${BUILTIN_TYPES.join(', ')}, or a type with exec: [command, …]`, name, raw ?? {});
  }
  const spec: WorkerTypeConfig = {
    processes: w.int('processes', 1) ?? 1,
    concurrency: w.int('concurrency', 1) ?? defaultConcurrency(type),
    env: {},
  };
  if (w.has('env')) {
    const env = w.raw('env');
    if (!isObject(env)) throw invalidArgument('object of environment variables', `${name}.env`, env);
    for (const [k, v] of Object.entries(env)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw invalidArgument('string', `${name}.env.${k}`, v);
      spec.env[k] = String(v);
    }
  }
  if (exec) {
    spec.exec = exec;
    spec.functions = w.strings('functions', { nonEmpty: true }) ?? [type];
    const timeoutMs = w.int('timeoutMs', 1);
    if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
  } else {
    for (const k of ['functions', 'timeoutMs']) {
      if (w.has(k)) throw invalidArgument(`no ${k} (only exec types take it)`, `${name}.${k}`, w.raw(k));
    }
  }
  return spec;
}

function checkSettings(top: Section): SettingsConfig {
  const s = top.section('settings', ['allowPaths', 'thumbnail', 'transcode', 'email', 'cacheWarm', 'waveform', 'webhook']);
  if (!s) return {};
  const out: SettingsConfig = {};
  const allowPaths = s.strings('allowPaths');
  if (allowPaths) out.allowPaths = allowPaths;
  const t = s.section('thumbnail', ['maxPixels', 'maxFileSize']);
  if (t) out.thumbnail = drop({ maxPixels: t.int('maxPixels', 1), maxFileSize: t.size('maxFileSize') });
  const v = s.section('transcode', ['timeoutMs']);
  if (v) out.transcode = drop({ timeoutMs: v.int('timeoutMs', 1) });
  const e = s.section('email', ['smtpUrl', 'from', 'templates', 'outbox']);
  if (e) out.email = drop({ smtpUrl: e.string('smtpUrl'), from: e.string('from'), templates: e.string('templates'), outbox: e.string('outbox') });
  const c = s.section('cacheWarm', ['allowedHosts']);
  if (c) out.cacheWarm = drop({ allowedHosts: c.strings('allowedHosts') });
  const w = s.section('waveform', ['maxDurationSeconds']);
  if (w) out.waveform = drop({ maxDurationSeconds: w.int('maxDurationSeconds', 1) });
  const h = s.section('webhook', ['secret']);
  if (h) out.webhook = drop({ secret: h.string('secret') });
  return out;
}

/** The object without its undefined values (so JSON and equality checks see only what was set). */
function drop<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
