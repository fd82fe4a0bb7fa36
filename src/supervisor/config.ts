// `pipeline up`'s configuration: the job server (or external servers), worker processes per
// type, the settings passed to them, and the restart/stop/reload policies. Read from JSON or
// YAML and checked once at load against one schema, ConfigFile, which is also the published
// schemas/config.json; every message names the key by its full path:
// `Expected positive integer for workers.thumbnail.processes but received -1 of type number`.
// What the schema cannot say (server or servers, exec types, size spellings) is checked after it.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Type, { type Static, type TObject, type TProperties } from 'typebox';
import { parseServer } from '../client/address.js';
import { GeartrainError, invalidArgument } from '../errors.js';
import { checker, withDefaults } from '../schema/check.js';
import { parseSize, SIZE_PATTERN, SIZE_WORDS } from '../shared/size.js';
import { DOMAIN_WORKER_NAMES, defaultConcurrency, isDomainWorkerName } from '../workers/index.js';
import { parseYaml } from '../yaml.js';

/** The files `pipeline up` looks for in the working directory when no -c is given, in order. */
export const CONFIG_FILES = ['geartrain.config.json', 'geartrain.config.yaml', 'geartrain.config.yml'] as const;

/** Worker types served by `pipeline worker` (the rest need `exec`). */
export const BUILTIN_TYPES: readonly string[] = [...DOMAIN_WORKER_NAMES, 'pipeline'];

// ---- the file as written: one schema ------------------------------------------------------

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Where the embedded job server listens when the config does not say. */
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 4730;
const DEFAULT_PROCESSES = 1;

const positiveInt = (description: string, more: object = {}) =>
  Type.Integer({ minimum: 1, maximum: MAX_SAFE, expected: 'positive integer', description, ...more });
const nonNegativeInt = (description: string, more: object = {}) =>
  Type.Integer({ minimum: 0, maximum: MAX_SAFE, expected: 'non-negative integer', description, ...more });
const port = (description: string, more: object = {}) => Type.Integer({ minimum: 0, maximum: 65535, description, ...more });
const text = (description: string, more: object = {}) => Type.String({ minLength: 1, description, ...more });
/** A list that means nothing empty (commands, servers, peers). */
const texts = (description: string) => Type.Array(Type.String({ minLength: 1 }), { minItems: 1, expected: 'non-empty array of strings', description });
/** A list where empty is a choice (no extra folders, no host limit). */
const optionalTexts = (description: string) => Type.Array(Type.String({ minLength: 1 }), { expected: 'array of strings', description });
/** Bytes, or a size string read by src/shared/size.ts after the check (which refuses 0k and sizes past 2^53). */
const size = (description: string, more: object = {}) =>
  Type.Union([Type.Integer({ minimum: 1, maximum: MAX_SAFE }), Type.String({ pattern: SIZE_PATTERN })], {
    expected: `positive integer or a ${SIZE_WORDS}`,
    description,
    ...more,
  });
const section = <P extends TProperties>(properties: P, description: string) => Type.Object(properties, { additionalProperties: false, description });

export const HttpFile = section(
  {
    host: Type.Optional(text('Address the HTTP API listens on; one that is not loopback needs a token.', { default: '127.0.0.1' })),
    port: port('Port of the HTTP API, the dashboard and /metrics; 0 picks a free one (shown in the log line `http listening`).'),
    token: Type.Optional(text('Bearer token the HTTP API asks for. Default: GEARTRAIN_HTTP_TOKEN from the environment, which keeps it out of the file.')),
    runs: Type.Optional(
      texts(
        'Output folders whose pipeline runs the API and the dashboard show (`pipeline server --runs`), relative to the folder `pipeline up` runs in. ' +
          'Default: none, and /api/v1/runs answers 501.',
      ),
    ),
  },
  'Serve the HTTP API, the dashboard and /metrics from the job server (`pipeline server --http-port`). Default: off.',
);

export const ServerFile = section(
  {
    host: Type.Optional(text('Address the job server listens on.', { default: DEFAULT_HOST })),
    port: Type.Optional(port('TCP port of the job server; 0 picks a free port (see `pipeline ps`).', { default: DEFAULT_PORT })),
    store: Type.Optional(text('Job store URL (docs/durability.md). Default: GEARTRAIN_STORE, else `sqlite:.geartrain/jobs.db`.')),
    maxAttempts: Type.Optional(positiveInt('Attempts per background job before it is dead.', { default: 3 })),
    retryDelayMs: Type.Optional(positiveInt('First retry delay, ms; doubles per attempt, with jitter.', { default: 1000 })),
    retentionDays: Type.Optional(nonNegativeInt('Prune done and cancelled jobs after this many days; 0 keeps them.', { default: 7 })),
    leaseMs: Type.Optional(positiveInt("How long a dead server's jobs wait before another server sharing the store runs them, ms.", { default: 30_000 })),
    serverId: Type.Optional(text('Name in the job log; a restart under the same name reclaims its jobs at once. Default: host:port.')),
    graceMs: Type.Optional(nonNegativeInt('Longest wait for running jobs when the server closes, ms.', { default: 30_000 })),
    maxPacketSize: Type.Optional(size('Largest packet body accepted, bytes; larger ones close the connection.', { default: 64 * 1024 * 1024 })),
    maxBuffered: Type.Optional(
      size('Bytes all unfinished packets may hold together (`--max-buffered`), at least maxPacketSize. Default: 256 MiB, or maxPacketSize when larger.'),
    ),
    packetTimeoutMs: Type.Optional(positiveInt('Close a connection whose unfinished packet got no byte for this long, ms.', { default: 30_000 })),
    maxFunctionsPerWorker: Type.Optional(positiveInt('Functions one worker connection may register.', { default: 1000 })),
    adminAllow: Type.Optional(texts('Peers (addresses, CIDRs) that may run state-changing admin commands beyond loopback. Default: loopback only.')),
    http: Type.Optional(HttpFile),
  },
  'The job server `pipeline up` runs in its own process (the flags of `pipeline server`). Leave it out and name `servers` to run workers only.',
);

export const WorkerTypeFile = section(
  {
    processes: Type.Optional(positiveInt('Processes of this type.', { default: DEFAULT_PROCESSES })),
    concurrency: Type.Optional(positiveInt('Jobs one process runs at once (`pipeline worker TYPE=N`). Default: 1; thumbnail: the cores + 1.')),
    env: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()], { expected: 'string, number or boolean' }), {
        expected: 'object of environment variables',
        description: "Extra environment for this type's processes; numbers and booleans are passed as their text.",
        default: {},
      }),
    ),
    exec: Type.Optional(
      texts(
        "A command run per job instead of a built-in worker (`pipeline exec -- CMD…`): the type's processes serve `functions` with it; the payload is " +
          'its stdin, its stdout the result.',
      ),
    ),
    functions: Type.Optional(texts("Exec types: the functions the command serves. Default: the type's name.")),
    timeoutMs: Type.Optional(positiveInt('Exec types: fail a job whose command runs longer, ms.')),
  },
  'Processes of one worker type. A type without `exec` is a built-in one.',
);

/** Worker type names, as keys of `workers`: they name processes (`worker:cache-warm#2`) and exec functions. */
const TYPE_NAME = '^[a-z][a-z0-9-]*$';

const ThumbnailFile = section(
  {
    maxPixels: Type.Optional(positiveInt('Most pixels a job decodes, width × height × frames (`--max-pixels`).', { default: 50_000_000 })),
    maxFileSize: Type.Optional(size('Largest input file, bytes (`--max-file-size`).', { default: 100 * 1024 * 1024 })),
  },
  'Limits of the thumbnail worker.',
);

export const SettingsFile = section(
  {
    allowPaths: Type.Optional(
      optionalTexts('Folders the workers may read and write under, links resolved (`--allow-path`). Default: any path the process can reach.'),
    ),
    thumbnail: Type.Optional(ThumbnailFile),
    transcode: Type.Optional(
      section(
        { timeoutMs: Type.Optional(positiveInt('Kill ffmpeg after this long, ms (`--ffmpeg-timeout`; transcode and waveform).', { default: 3_600_000 })) },
        'Limits of the ffmpeg workers.',
      ),
    ),
    email: Type.Optional(
      section(
        {
          smtpUrl: Type.Optional(
            text(
              '`smtp://user:pass@host:port` or `smtps://…`, passed as GEARTRAIN_SMTP_URL so `ps` does not show it. Default: none, and mail goes to the outbox.',
            ),
          ),
          from: Type.Optional(text('Default From address (`--mail-from`). Default: GEARTRAIN_MAIL_FROM, else geartrain@localhost.')),
          templates: Type.Optional(text("Folder of NAME.html / NAME.txt (and NAME.subject) templates (`--templates`). Default: the package's fixtures/email.")),
          outbox: Type.Optional(text('Folder for .eml files when no SMTP URL is set (`--outbox`).', { default: '.geartrain/outbox' })),
        },
        'Settings of the email worker.',
      ),
    ),
    cacheWarm: Type.Optional(
      section(
        {
          allowedHosts: Type.Optional(
            optionalTexts('Hosts (`example.com`, `localhost:8080`) cache-warm and webhook URLs may point at (`--allowed-hosts`). Default: any host.'),
          ),
        },
        'Settings of the cache-warm and webhook workers.',
      ),
    ),
    waveform: Type.Optional(
      section(
        {
          maxDurationSeconds: Type.Optional(
            positiveInt('Longest audio, seconds, by its header and by the samples decoded (`--max-duration`).', { default: 10_800 }),
          ),
        },
        'Limits of the waveform worker.',
      ),
    ),
    webhook: Type.Optional(
      section(
        {
          secret: Type.Optional(
            text(
              'Key of the HMAC-SHA256 signature, passed as GEARTRAIN_WEBHOOK_SECRET so `ps` does not show it. Default: GEARTRAIN_WEBHOOK_SECRET of ' +
                '`pipeline up`.',
            ),
          ),
        },
        'Settings of the webhook worker.',
      ),
    ),
  },
  "Passed to every worker process as `pipeline worker` flags (secrets as environment). Default: the workers' own defaults.",
);

export const RestartFile = section(
  {
    initialDelayMs: Type.Optional(positiveInt('First delay before restarting a crashed process, ms; doubles per crash within windowMs.', { default: 500 })),
    maxDelayMs: Type.Optional(positiveInt('Longest delay between restarts, ms; at least initialDelayMs.', { default: 30_000 })),
    maxCrashes: Type.Optional(
      nonNegativeInt('A type whose processes crash at start more than this often within windowMs is given up, until `pipeline reload` or `pipeline scale`.', {
        default: 5,
      }),
    ),
    windowMs: Type.Optional(positiveInt('The window crashes are counted in (for backoff and giving up), ms.', { default: 60_000 })),
    startupMs: Type.Optional(
      nonNegativeInt('A process that exits before it is ready or within this long of starting crashed "at start", ms.', { default: 5_000 }),
    ),
  },
  'How crashed worker processes are restarted.',
);

export const StopFile = section(
  { graceMs: Type.Optional(nonNegativeInt('How long a worker may take to finish its running jobs after SIGTERM before SIGKILL, ms.', { default: 35_000 })) },
  'How worker processes stop (SIGTERM to `pipeline up`, scale-down, reload).',
);

export const ReloadFile = section(
  {
    readyTimeoutMs: Type.Optional(
      positiveInt('How long a replacement may take to register with the servers before the reload of its type fails, ms.', { default: 30_000 }),
    ),
  },
  'How `pipeline reload` replaces processes.',
);

/** `pipeline up`'s config file (geartrain.config.json or .yaml), as written. */
export const ConfigFile = section(
  {
    $schema: Type.Optional(Type.String({ description: 'The JSON Schema this file follows, for editors (schemas/config.json); not read by `pipeline up`.' })),
    server: Type.Optional(ServerFile),
    servers: Type.Optional(texts('External job servers (host:port) to run workers against, instead of `server`.')),
    workers: Type.Optional(
      Type.Record(Type.String(), Type.Union([WorkerTypeFile, Type.Null()]), {
        propertyNames: { pattern: TYPE_NAME, expected: 'a worker type name of lower-case letters, digits and -' },
        expected: 'object of worker types',
        description:
          `Processes per worker type: ${DOMAIN_WORKER_NAMES.join(', ')}, pipeline, or any name with \`exec\`. A type with no value runs one process with ` +
          `the defaults. Default: one process of every built-in type.`,
      }),
    ),
    settings: Type.Optional(SettingsFile),
    restart: Type.Optional(RestartFile),
    stop: Type.Optional(StopFile),
    reload: Type.Optional(ReloadFile),
  },
  "`pipeline up`'s config: the job server (or external servers), worker processes per type, the settings passed to them, and the restart, stop and " +
    'reload policies.',
);

// ---- the config as used: the file's types with the defaults filled -------------------------

type File = Static<typeof ConfigFile>;
type Settings = Static<typeof SettingsFile>;
/** T with the keys K always set. */
type Filled<T, K extends keyof T> = Omit<T, K> & Required<Pick<T, K>>;
/** T with its size keys K in bytes. */
type Sized<T, K extends keyof T> = Omit<T, K> & { [P in K]?: number };

export type HttpConfig = Static<typeof HttpFile>;
export type ServerConfig = Sized<Filled<Static<typeof ServerFile>, 'host' | 'port'>, 'maxPacketSize' | 'maxBuffered'>;
export type WorkerTypeConfig = Filled<Omit<Static<typeof WorkerTypeFile>, 'env'>, 'processes' | 'concurrency'> & { env: Record<string, string> };
export type SettingsConfig = Omit<Settings, 'thumbnail'> & { thumbnail?: Sized<NonNullable<Settings['thumbnail']>, 'maxFileSize'> };
export type RestartPolicy = Required<Static<typeof RestartFile>>;
export type StopPolicy = Required<Static<typeof StopFile>>;
export type ReloadPolicy = Required<Static<typeof ReloadFile>>;

/** What each key of the file becomes once checked. */
interface Checked {
  /** The embedded server; null when `servers` names external ones. */
  server: ServerConfig | null;
  /** External job servers (host:port); null when the embedded server runs. */
  servers: NonNullable<File['servers']> | null;
  workers: Record<string, WorkerTypeConfig>;
  settings: SettingsConfig;
  restart: RestartPolicy;
  stop: StopPolicy;
  reload: ReloadPolicy;
}

/** The config `pipeline up` runs: every setting of the file, each present, defaults filled (`$schema` is for editors). */
export type SupervisorConfig = { [K in Exclude<keyof File, '$schema'>]-?: Checked[K] };

export interface LoadedConfig {
  config: SupervisorConfig;
  /** The file read, or null for the defaults. */
  file: string | null;
}

export const DEFAULT_RESTART = withDefaults(RestartFile, {}) as RestartPolicy;
export const DEFAULT_STOP = withDefaults(StopFile, {}) as StopPolicy;
export const DEFAULT_RELOAD = withDefaults(ReloadFile, {}) as ReloadPolicy;

/** No file: the embedded server on 127.0.0.1:4730 and one process of every built-in type. */
export function defaultConfig(): SupervisorConfig {
  const workers: Record<string, WorkerTypeConfig> = {};
  for (const type of BUILTIN_TYPES) workers[type] = defaultTypeConfig(type);
  return {
    server: { host: DEFAULT_HOST, port: DEFAULT_PORT },
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
  return workerType(type, {});
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

/** The schema checks every key; paths start at the file's top level (`workers.thumbnail.processes`). */
const configFile = checker(ConfigFile, '', 'GT_INVALID_ARGUMENT');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check a parsed config and fill in the defaults; then the rules a schema does not say, each naming its key. */
export function checkConfig(raw: unknown): SupervisorConfig {
  if (!isObject(raw))
    throw invalidArgument(
      `an object with the keys ${Object.keys(ConfigFile.properties)
        .filter((k) => !k.startsWith('$'))
        .join(', ')}`,
      'the config file',
      raw,
    );
  const file = configFile.parse(raw);
  if (file.server !== undefined && file.servers !== undefined) {
    throw invalidArgument('either server (run the job server here) or servers (use running ones), not both', 'servers', file.servers);
  }
  const config = defaultConfig();
  if (file.servers !== undefined) {
    file.servers.forEach((s, i) => {
      try {
        parseServer(s);
      } catch {
        throw invalidArgument('host:port', `servers[${i}]`, s);
      }
    });
    config.servers = file.servers;
    config.server = null;
  } else {
    config.server = serverConfig(file.server ?? {});
  }
  if (file.workers !== undefined) {
    config.workers = {};
    for (const [type, spec] of Object.entries(file.workers)) config.workers[type] = workerType(type, spec ?? {}, true);
  }
  if (file.settings !== undefined) config.settings = settingsConfig(file.settings);
  config.restart = withDefaults(RestartFile, file.restart ?? {}) as RestartPolicy;
  if (config.restart.maxDelayMs < config.restart.initialDelayMs) {
    throw invalidArgument(`integer of at least restart.initialDelayMs (${config.restart.initialDelayMs})`, 'restart.maxDelayMs', config.restart.maxDelayMs);
  }
  config.stop = withDefaults(StopFile, file.stop ?? {}) as StopPolicy;
  config.reload = withDefaults(ReloadFile, file.reload ?? {}) as ReloadPolicy;
  return config;
}

/** Bytes of a size key, checked by the schema as a positive integer or a size's spelling. */
function bytes(value: number | string | undefined, key: string): number | undefined {
  if (typeof value !== 'string') return value;
  const n = parseSize(value);
  if (n === undefined) throw invalidArgument(`positive integer or a ${SIZE_WORDS}`, key, value);
  return n;
}

/**
 * The object's defined keys in the order its schema lists them, so two configs with the same
 * values compare equal as JSON (reload compares the server's) whatever order the file wrote them in.
 */
function ordered<T extends object>(schema: TObject, value: T): T {
  const v = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(schema.properties).flatMap((k) => (v[k] === undefined ? [] : [[k, v[k]]]))) as T;
}

function serverConfig(s: Static<typeof ServerFile>): ServerConfig {
  return ordered(ServerFile, {
    ...s,
    host: s.host ?? DEFAULT_HOST,
    port: s.port ?? DEFAULT_PORT,
    maxPacketSize: bytes(s.maxPacketSize, 'server.maxPacketSize'),
    maxBuffered: bytes(s.maxBuffered, 'server.maxBuffered'),
    http: s.http && ordered(HttpFile, s.http),
  });
}

/** A type's spec with its defaults; `named` when the config names the type (then a type that is not built in needs exec). */
function workerType(type: string, w: Static<typeof WorkerTypeFile>, named = false): WorkerTypeConfig {
  const name = `workers.${type}`;
  if (named && w.exec === undefined && !isDomainWorkerName(type) && type !== 'pipeline') {
    throw invalidArgument(`one of ${BUILTIN_TYPES.join(', ')}, or a type with exec: [command, …]`, name, w);
  }
  if (w.exec === undefined) {
    for (const k of ['functions', 'timeoutMs'] as const) {
      if (w[k] !== undefined) throw invalidArgument(`no ${k} (only exec types take it)`, `${name}.${k}`, w[k]);
    }
  }
  const env = Object.fromEntries(Object.entries(w.env ?? {}).map(([k, v]) => [k, String(v)]));
  const spec: WorkerTypeConfig = { processes: w.processes ?? DEFAULT_PROCESSES, concurrency: w.concurrency ?? defaultConcurrency(type), env };
  if (w.exec !== undefined) {
    spec.exec = w.exec;
    spec.functions = w.functions ?? [type];
    if (w.timeoutMs !== undefined) spec.timeoutMs = w.timeoutMs;
  }
  return spec;
}

function settingsConfig(s: Settings): SettingsConfig {
  const { thumbnail, ...rest } = s;
  if (thumbnail === undefined) return rest;
  return { ...rest, thumbnail: ordered(ThumbnailFile, { ...thumbnail, maxFileSize: bytes(thumbnail.maxFileSize, 'settings.thumbnail.maxFileSize') }) };
}
