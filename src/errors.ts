// Every error geartrain raises on purpose, from one table: a stable code, a message template,
// the Gearman ERROR code it is sent as, the HTTP status, the CLI exit code, and what it means.
// The documented error table (docs/errors.md) is printed from it (src/errors-table.ts);
// test/unit/errors-doc.test.ts checks that the docs hold that table as printed.

interface ErrorDef {
  /** Message template; `%s` placeholders are filled in order. */
  readonly message: string;
  /** Code sent in a Gearman ERROR packet (gearmand's spelling where it has one). */
  readonly gearman: string;
  readonly http: number;
  readonly exit: number;
  /**
   * False when running the job again cannot help (a corrupt file, a bad payload): a background
   * job that fails with this code is dead at once instead of being retried. @defaultValue true
   */
  readonly retry?: boolean;
  /** What the code means, for the documented error table (`npm run errors-table` prints it). */
  readonly doc: string;
}

export const ERRORS = {
  GT_INVALID_ARGUMENT: {
    message: 'Expected %s for %s but received %s',
    gearman: 'INVALID_ARGUMENT',
    http: 400,
    exit: 2,
    doc: 'an option, flag or payload field has the wrong type or range',
  },
  GT_BAD_MAGIC: { message: '%s', gearman: 'INVALID_MAGIC', http: 400, exit: 3, doc: 'a packet did not start with `\\0REQ`/`\\0RES`; the connection is closed' },
  GT_UNKNOWN_COMMAND: { message: '%s', gearman: 'INVALID_COMMAND', http: 400, exit: 3, doc: 'a packet type gearmand does not define' },
  GT_COMMAND_NOT_EXPECTED: {
    message: 'Command not expected',
    gearman: 'INVALID_COMMAND',
    http: 400,
    exit: 3,
    doc: 'a response type, or a request the server does not serve',
  },
  GT_BAD_ARGUMENTS: { message: '%s', gearman: 'INVALID_PACKET', http: 400, exit: 3, doc: 'a packet has too few arguments or a malformed number' },
  GT_PACKET_TOO_LARGE: { message: '%s', gearman: 'ARGUMENT_TOO_LARGE', http: 413, exit: 3, doc: 'a packet body over the size limit; the connection is closed' },
  GT_TEXT_LINE_TOO_LONG: { message: '%s', gearman: 'ARGUMENT_TOO_LARGE', http: 413, exit: 3, doc: 'an admin line over 8 KiB; the connection is closed' },
  GT_UNIQUE_TOO_LONG: {
    message: 'Unique id of %s bytes exceeds the limit of 64 bytes',
    gearman: 'ARGUMENT_TOO_LARGE',
    http: 400,
    exit: 3,
    doc: 'a unique id over 64 bytes',
  },
  GT_TOO_MANY_FUNCTIONS: {
    message: 'Worker connection already registered %s functions, the limit (--max-functions-per-worker); %s is refused',
    gearman: 'TOO_MANY_FUNCTIONS',
    http: 400,
    exit: 3,
    doc: "a worker connection's `CAN_DO` beyond `--max-functions-per-worker` (default 1,000); the functions it has stay",
  },
  GT_BUFFER_FULL: {
    message:
      'Unfinished packets would hold more than %s bytes on this server (--max-buffered, each counted by its declared body size); this connection held ' +
      'the most, %s bytes, and is closed',
    gearman: 'BUFFER_FULL',
    http: 503,
    exit: 4,
    doc:
      'unfinished packets on all connections together, each counted by its declared body size from its header on, would hold more than `--max-buffered` ' +
      '(default 256 MiB); the connection holding the most is closed',
  },
  GT_PACKET_TIMEOUT: {
    message: 'An unfinished packet (%s bytes so far) received nothing for %s ms (--packet-timeout); the connection is closed',
    gearman: 'TIMEOUT',
    http: 408,
    exit: 8,
    doc: 'an unfinished packet received no byte for `--packet-timeout` (default 30 s); the connection is closed',
  },
  GT_ADMIN_NOT_ALLOWED: {
    message: 'Admin command %s is not allowed from %s: the server listens beyond loopback and only --admin-allow peers may change state or read payloads',
    gearman: 'PERMISSION_DENIED',
    http: 403,
    exit: 2,
    doc:
      'the server listens beyond loopback and a peer outside `--admin-allow` (default: loopback) sent an admin command that changes state or shows ' +
      'payloads (answered `ERR PERMISSION_DENIED …`)',
  },
  GT_FUNCTION_NAME_INVALID: {
    message: 'Function name %s',
    gearman: 'INVALID_FUNCTION_NAME',
    http: 400,
    exit: 3,
    doc: 'an empty function name, or one over 512 bytes',
  },
  GT_QUEUE_FULL: { message: 'Job queue is full', gearman: 'QUEUE_ERROR', http: 503, exit: 4, doc: "the function's `maxqueue` limit is reached" },
  GT_SHUTTING_DOWN: { message: 'Server is shutting down', gearman: 'SHUTDOWN', http: 503, exit: 4, doc: 'the server is shutting down and takes no new jobs' },
  GT_JOB_NOT_FOUND: { message: '%s', gearman: 'JOB_NOT_FOUND', http: 404, exit: 5, doc: '`WORK_*` for a job this worker does not hold' },
  GT_UNKNOWN_OPTION: {
    message: 'Server does not recognize given option',
    gearman: 'UNKNOWN_OPTION',
    http: 400,
    exit: 3,
    doc: '`OPTION_REQ` other than `exceptions`',
  },
  GT_CONNECTION_FAILED: { message: 'Could not connect to %s: %s', gearman: 'COULD_NOT_CONNECT', http: 502, exit: 6, doc: 'a server could not be reached' },
  GT_CONNECTION_LOST: {
    message: 'Connection to %s lost',
    gearman: 'LOST_CONNECTION',
    http: 502,
    exit: 6,
    doc: 'a server connection closed while a job waited on it',
  },
  GT_NO_SERVERS: {
    message: 'No job server reachable (tried %s)',
    gearman: 'NO_SERVERS',
    http: 502,
    exit: 6,
    doc: 'none of the configured servers is reachable',
  },
  GT_NO_WORKERS: {
    message: 'No worker serves %s on %s',
    gearman: 'NO_REGISTERED_FUNCTION',
    http: 503,
    exit: 11,
    doc: 'no server lists a worker for the function (`pipeline run --server`; `--wait-for-workers` waits for one)',
  },
  GT_SERVER_ERROR: { message: 'Job server answered %s: %s', gearman: 'SERVER_ERROR', http: 502, exit: 7, doc: 'the server answered with an `ERROR` packet' },
  GT_JOB_FAILED: { message: 'Job %s failed', gearman: 'WORK_FAIL', http: 500, exit: 1, doc: 'the worker sent `WORK_FAIL`' },
  GT_JOB_EXCEPTION: { message: 'Job %s raised: %s', gearman: 'WORK_EXCEPTION', http: 500, exit: 1, doc: 'the worker sent `WORK_EXCEPTION`' },
  GT_TIMEOUT: { message: '%s timed out after %s ms', gearman: 'TIMEOUT', http: 504, exit: 8, doc: 'a wait exceeded its timeout' },
  GT_STORE_URL_INVALID: {
    message: 'Expected a store URL (sqlite:PATH, memory:, mysql://…, postgres://…, redis://…) but received "%s"',
    gearman: 'INVALID_ARGUMENT',
    http: 400,
    exit: 2,
    doc: '`--store`/`GEARTRAIN_STORE` is not a store URL geartrain knows',
  },
  GT_STORE_UNAVAILABLE: {
    message: '%s',
    gearman: 'QUEUE_ERROR',
    http: 503,
    exit: 9,
    doc: 'the job store cannot be opened or written; submissions are refused until it is back',
  },
  GT_CLOSED: { message: '%s is closed', gearman: 'SHUTDOWN', http: 503, exit: 4, doc: 'the client, worker or server was already closed' },
  GT_PAYLOAD_INVALID: {
    message: 'Expected %s for %s but received %s',
    gearman: 'INVALID_ARGUMENT',
    http: 400,
    exit: 2,
    retry: false,
    doc: "a domain worker's JSON payload has a missing or wrong field (named in the message); not retried",
  },
  GT_INPUT_NOT_FOUND: {
    message: 'Input %s: %s',
    gearman: 'WORK_EXCEPTION',
    http: 404,
    exit: 10,
    retry: false,
    doc:
      'the input of a job or a run is missing or unreadable, a file where a folder is expected or the reverse, or a folder without media the pipeline ' +
      'takes; not retried',
  },
  GT_MEDIA_INVALID: {
    message: '%s is not a valid %s: %s',
    gearman: 'WORK_EXCEPTION',
    http: 422,
    exit: 10,
    retry: false,
    doc: 'the input is corrupt, truncated or not the kind of media expected; not retried',
  },
  GT_MEDIA_TOO_LARGE: {
    message: '%s is too large: %s exceeds the limit of %s',
    gearman: 'WORK_EXCEPTION',
    http: 413,
    exit: 10,
    retry: false,
    doc: 'the input is over the pixel or file size limit; not retried',
  },
  GT_PATH_NOT_ALLOWED: {
    message: '%s %s is not allowed: %s',
    gearman: 'WORK_EXCEPTION',
    http: 403,
    exit: 10,
    retry: false,
    doc: 'a path or output folder is outside what the job may touch, or an `--out` inside the input folder; not retried',
  },
  GT_FFMPEG_FAILED: {
    message: 'ffmpeg failed on %s: %s',
    gearman: 'WORK_EXCEPTION',
    http: 500,
    exit: 10,
    doc: 'ffmpeg or ffprobe exited with an error or was killed at the timeout; retried',
  },
  GT_FFMPEG_NOT_FOUND: {
    message: 'No %s found: install ffmpeg (apt-get install ffmpeg) or the optional npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe',
    gearman: 'WORK_EXCEPTION',
    http: 500,
    exit: 10,
    retry: false,
    doc: 'neither PATH nor the optional npm packages provide ffmpeg/ffprobe; not retried',
  },
  GT_EMAIL_INVALID: {
    message: '%s',
    gearman: 'WORK_EXCEPTION',
    http: 400,
    exit: 10,
    retry: false,
    doc: 'an address, template or attachment of an email job is invalid; not retried',
  },
  GT_EMAIL_FAILED: {
    message: 'Sending mail to %s failed: %s',
    gearman: 'WORK_EXCEPTION',
    http: 502,
    exit: 10,
    doc: 'the SMTP server refused or could not be reached; retried',
  },
  GT_PIPELINE_INVALID: {
    message: 'Pipeline %s: %s',
    gearman: 'INVALID_ARGUMENT',
    http: 400,
    exit: 2,
    retry: false,
    doc: 'a pipeline definition or its input is invalid: unknown step reference, cycle, bad field (named), input that is not the JSON the pipeline takes',
  },
  GT_PIPELINE_NOT_FOUND: {
    message: 'No pipeline %s (known: %s)',
    gearman: 'INVALID_ARGUMENT',
    http: 404,
    exit: 2,
    retry: false,
    doc: '`pipeline run NAME`: no built-in pipeline or file of that name',
  },
  GT_OUTPUT_CONFLICT: {
    message: '%s would both write %s; give each its own name (item.outputBase)',
    gearman: 'INVALID_ARGUMENT',
    http: 409,
    exit: 2,
    retry: false,
    doc: 'two items of a pipeline step would write the same output file (compared ignoring case); both fail before any job runs; not retried',
  },
  GT_RUN_FAILED: { message: 'Run %s: %s', gearman: 'WORK_FAIL', http: 500, exit: 1, doc: 'a pipeline run ended with failed items (listed in the summary)' },
  GT_URL_NOT_ALLOWED: {
    message: 'URL %s is not allowed: %s',
    gearman: 'WORK_EXCEPTION',
    http: 403,
    exit: 10,
    retry: false,
    doc: 'a cache-warm or webhook URL is not http(s) or its host is not in the allowed list; not retried',
  },
  GT_WEBHOOK_FAILED: {
    message: 'Webhook %s failed: %s',
    gearman: 'WORK_EXCEPTION',
    http: 502,
    exit: 10,
    doc: 'a webhook got 5xx answers, network errors or timeouts on every attempt; retried',
  },
  GT_WEBHOOK_REJECTED: {
    message: 'Webhook %s was refused: %s',
    gearman: 'WORK_EXCEPTION',
    http: 502,
    exit: 10,
    retry: false,
    doc: "a webhook's receiver answered 4xx, or 3xx (redirects are not followed: the message names the Location); not retried",
  },
  GT_WEBHOOK_NO_SECRET: {
    message: 'The webhook worker has no signing secret of at least %s characters: start it with --webhook-secret or GEARTRAIN_WEBHOOK_SECRET',
    gearman: 'WORK_EXCEPTION',
    http: 500,
    exit: 10,
    doc: 'the webhook worker has no signing secret of at least 16 characters (`--webhook-secret`, `GEARTRAIN_WEBHOOK_SECRET`); retried',
  },
  GT_HTTP_UNAUTHORIZED: {
    message: '%s bearer token: send the header Authorization: Bearer TOKEN',
    gearman: 'INVALID_ARGUMENT',
    http: 401,
    exit: 2,
    doc: 'HTTP API: the bearer token is missing or wrong (401)',
  },
  GT_HTTP_FORBIDDEN: {
    message: '%s',
    gearman: 'INVALID_ARGUMENT',
    http: 403,
    exit: 2,
    doc: 'HTTP API: a cross-origin write, or (without a token) a `Host` header that is not a loopback name (403)',
  },
  GT_HTTP_NOT_FOUND: { message: '%s', gearman: 'INVALID_COMMAND', http: 404, exit: 5, doc: 'HTTP API: no such route, or no such pipeline run (404)' },
  GT_HTTP_NOT_AVAILABLE: {
    message: '%s',
    gearman: 'INVALID_COMMAND',
    http: 501,
    exit: 3,
    doc: 'HTTP API: no runs or supervisor provider is plugged into this server (501)',
  },
  GT_BODY_TOO_LARGE: {
    message: 'Request body exceeds the limit of %s bytes',
    gearman: 'ARGUMENT_TOO_LARGE',
    http: 413,
    exit: 3,
    doc: 'HTTP API: the request body is over `bodyLimit` (default 1 MiB; 413)',
  },
  GT_BODY_INVALID: {
    message: 'Request body is not valid: %s',
    gearman: 'INVALID_ARGUMENT',
    http: 400,
    exit: 2,
    doc: 'HTTP API: the body is not JSON, not `Content-Type: application/json`, or nested deeper than 64 levels (400)',
  },
  GT_JOB_STATE_CONFLICT: {
    message: 'Job %s is %s: %s',
    gearman: 'INVALID_ARGUMENT',
    http: 409,
    exit: 5,
    doc: 'HTTP API: retry of a job that is queued or running, cancel of one that is done (409)',
  },
  GT_ALREADY_RUNNING: {
    message: 'pipeline up is already running in %s (%s)',
    gearman: 'UNKNOWN_ERROR',
    http: 409,
    exit: 12,
    doc: '`pipeline up`: another one runs in the same folder (its control socket answers); names the folder and its pid',
  },
  GT_INTERNAL: {
    message: 'Internal error: %s',
    gearman: 'UNKNOWN_ERROR',
    http: 500,
    exit: 1,
    doc: 'an unexpected error inside the server; logged with its stack (500)',
  },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

export class GeartrainError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GeartrainError';
    this.code = code;
  }
  get gearmanCode(): string {
    return ERRORS[this.code].gearman;
  }
  get httpStatus(): number {
    return ERRORS[this.code].http;
  }
  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

/** Whether running a job again could help after it failed with this error code. */
export function isRetryable(code: string): boolean {
  const def: ErrorDef | undefined = (ERRORS as Record<string, ErrorDef>)[code];
  return def?.retry !== false;
}

/**
 * The WORK_EXCEPTION text for an error: `CODE: message` for geartrain's own errors, so the
 * server can tell a permanent failure from one worth retrying and clients can show the code.
 */
export function exceptionText(err: unknown): string {
  if (err instanceof GeartrainError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** The error code at the start of a WORK_EXCEPTION text, if it carries one. */
export function exceptionCode(text: string): ErrorCode | undefined {
  const m = /^(GT_[A-Z_]+): /.exec(text);
  return m && m[1]! in ERRORS ? (m[1] as ErrorCode) : undefined;
}

/** Build an error from its code and the template's values. */
export function gtError(code: ErrorCode, ...values: (string | number)[]): GeartrainError {
  let i = 0;
  const message = ERRORS[code].message.replace(/%s/g, () => String(values[i++] ?? ''));
  return new GeartrainError(code, message);
}

/** Describe a received value for a validation message: `spoons of type string`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  const shown = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const short = shown.length > 40 ? `${shown.slice(0, 37)}...` : shown;
  return `${short} of type ${Array.isArray(v) ? 'array' : typeof v}`;
}

/** `Expected positive integer for timeout but received -1 of type number` */
/** `Expected positive integer for thumbnail.sizes[0].width but received 0 of type number` */
export function invalidPayload(expected: string, field: string, received: unknown): GeartrainError {
  return gtError('GT_PAYLOAD_INVALID', expected, field, describeValue(received));
}

export function invalidArgument(expected: string, name: string, received: unknown): GeartrainError {
  return gtError('GT_INVALID_ARGUMENT', expected, name, describeValue(received));
}
