// Every error geartrain raises on purpose, from one table: a stable code, a message template,
// the Gearman ERROR code it is sent as, the HTTP status, and the CLI exit code.
// test/unit/errors.test.ts checks that each code is documented in the README.

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
}

export const ERRORS = {
  GT_INVALID_ARGUMENT: { message: 'Expected %s for %s but received %s', gearman: 'INVALID_ARGUMENT', http: 400, exit: 2 },
  GT_BAD_MAGIC: { message: '%s', gearman: 'INVALID_MAGIC', http: 400, exit: 3 },
  GT_UNKNOWN_COMMAND: { message: '%s', gearman: 'INVALID_COMMAND', http: 400, exit: 3 },
  GT_COMMAND_NOT_EXPECTED: { message: 'Command not expected', gearman: 'INVALID_COMMAND', http: 400, exit: 3 },
  GT_BAD_ARGUMENTS: { message: '%s', gearman: 'INVALID_PACKET', http: 400, exit: 3 },
  GT_PACKET_TOO_LARGE: { message: '%s', gearman: 'ARGUMENT_TOO_LARGE', http: 413, exit: 3 },
  GT_TEXT_LINE_TOO_LONG: { message: '%s', gearman: 'ARGUMENT_TOO_LARGE', http: 413, exit: 3 },
  GT_UNIQUE_TOO_LONG: { message: 'Unique id of %s bytes exceeds the limit of 64 bytes', gearman: 'ARGUMENT_TOO_LARGE', http: 400, exit: 3 },
  GT_TOO_MANY_FUNCTIONS: { message: 'Worker connection already registered %s functions, the limit (--max-functions-per-worker); %s is refused', gearman: 'TOO_MANY_FUNCTIONS', http: 400, exit: 3 },
  GT_BUFFER_FULL: { message: 'Unfinished packets hold more than %s bytes on this server (--max-buffered); this connection held the most, %s bytes, and is closed', gearman: 'BUFFER_FULL', http: 503, exit: 4 },
  GT_PACKET_TIMEOUT: { message: 'An unfinished packet (%s bytes so far) received nothing for %s ms (--packet-timeout); the connection is closed', gearman: 'TIMEOUT', http: 408, exit: 8 },
  GT_ADMIN_NOT_ALLOWED: { message: 'Admin command %s is not allowed from %s: the server listens beyond loopback and only --admin-allow peers may change state or read payloads', gearman: 'PERMISSION_DENIED', http: 403, exit: 2 },
  GT_FUNCTION_NAME_INVALID: { message: 'Function name %s', gearman: 'INVALID_FUNCTION_NAME', http: 400, exit: 3 },
  GT_QUEUE_FULL: { message: 'Job queue is full', gearman: 'QUEUE_ERROR', http: 503, exit: 4 },
  GT_SHUTTING_DOWN: { message: 'Server is shutting down', gearman: 'SHUTDOWN', http: 503, exit: 4 },
  GT_JOB_NOT_FOUND: { message: '%s', gearman: 'JOB_NOT_FOUND', http: 404, exit: 5 },
  GT_UNKNOWN_OPTION: { message: 'Server does not recognize given option', gearman: 'UNKNOWN_OPTION', http: 400, exit: 3 },
  GT_CONNECTION_FAILED: { message: 'Could not connect to %s: %s', gearman: 'COULD_NOT_CONNECT', http: 502, exit: 6 },
  GT_CONNECTION_LOST: { message: 'Connection to %s lost', gearman: 'LOST_CONNECTION', http: 502, exit: 6 },
  GT_NO_SERVERS: { message: 'No job server reachable (tried %s)', gearman: 'NO_SERVERS', http: 502, exit: 6 },
  GT_SERVER_ERROR: { message: 'Job server answered %s: %s', gearman: 'SERVER_ERROR', http: 502, exit: 7 },
  GT_JOB_FAILED: { message: 'Job %s failed', gearman: 'WORK_FAIL', http: 500, exit: 1 },
  GT_JOB_EXCEPTION: { message: 'Job %s raised: %s', gearman: 'WORK_EXCEPTION', http: 500, exit: 1 },
  GT_TIMEOUT: { message: '%s timed out after %s ms', gearman: 'TIMEOUT', http: 504, exit: 8 },
  GT_STORE_URL_INVALID: { message: 'Expected a store URL (sqlite:PATH, memory:, mysql://…, postgres://…, redis://…) but received "%s"', gearman: 'INVALID_ARGUMENT', http: 400, exit: 2 },
  GT_STORE_UNAVAILABLE: { message: '%s', gearman: 'QUEUE_ERROR', http: 503, exit: 9 },
  GT_CLOSED: { message: '%s is closed', gearman: 'SHUTDOWN', http: 503, exit: 4 },
  GT_PAYLOAD_INVALID: { message: 'Expected %s for %s but received %s', gearman: 'INVALID_ARGUMENT', http: 400, exit: 2, retry: false },
  GT_INPUT_NOT_FOUND: { message: 'Input %s: %s', gearman: 'WORK_EXCEPTION', http: 404, exit: 10, retry: false },
  GT_MEDIA_INVALID: { message: '%s is not a valid %s: %s', gearman: 'WORK_EXCEPTION', http: 422, exit: 10, retry: false },
  GT_MEDIA_TOO_LARGE: { message: '%s is too large: %s exceeds the limit of %s', gearman: 'WORK_EXCEPTION', http: 413, exit: 10, retry: false },
  GT_PATH_NOT_ALLOWED: { message: '%s %s is not allowed: %s', gearman: 'WORK_EXCEPTION', http: 403, exit: 10, retry: false },
  GT_FFMPEG_FAILED: { message: 'ffmpeg failed on %s: %s', gearman: 'WORK_EXCEPTION', http: 500, exit: 10 },
  GT_FFMPEG_NOT_FOUND: { message: 'No %s found: install ffmpeg (apt-get install ffmpeg) or the optional npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe', gearman: 'WORK_EXCEPTION', http: 500, exit: 10, retry: false },
  GT_EMAIL_INVALID: { message: '%s', gearman: 'WORK_EXCEPTION', http: 400, exit: 10, retry: false },
  GT_EMAIL_FAILED: { message: 'Sending mail to %s failed: %s', gearman: 'WORK_EXCEPTION', http: 502, exit: 10 },
  GT_PIPELINE_INVALID: { message: 'Pipeline %s: %s', gearman: 'INVALID_ARGUMENT', http: 400, exit: 2, retry: false },
  GT_PIPELINE_NOT_FOUND: { message: 'No pipeline %s (known: %s)', gearman: 'INVALID_ARGUMENT', http: 404, exit: 2, retry: false },
  GT_RUN_FAILED: { message: 'Run %s: %s', gearman: 'WORK_FAIL', http: 500, exit: 1 },
  GT_URL_NOT_ALLOWED: { message: 'URL %s is not allowed: %s', gearman: 'WORK_EXCEPTION', http: 403, exit: 10, retry: false },
  GT_HTTP_UNAUTHORIZED: { message: '%s bearer token: send the header Authorization: Bearer TOKEN', gearman: 'INVALID_ARGUMENT', http: 401, exit: 2 },
  GT_HTTP_FORBIDDEN: { message: '%s', gearman: 'INVALID_ARGUMENT', http: 403, exit: 2 },
  GT_HTTP_NOT_FOUND: { message: '%s', gearman: 'INVALID_COMMAND', http: 404, exit: 5 },
  GT_HTTP_NOT_AVAILABLE: { message: '%s', gearman: 'INVALID_COMMAND', http: 501, exit: 3 },
  GT_BODY_TOO_LARGE: { message: 'Request body exceeds the limit of %s bytes', gearman: 'ARGUMENT_TOO_LARGE', http: 413, exit: 3 },
  GT_BODY_INVALID: { message: 'Request body is not valid: %s', gearman: 'INVALID_ARGUMENT', http: 400, exit: 2 },
  GT_JOB_STATE_CONFLICT: { message: 'Job %s is %s: %s', gearman: 'INVALID_ARGUMENT', http: 409, exit: 5 },
  GT_INTERNAL: { message: 'Internal error: %s', gearman: 'UNKNOWN_ERROR', http: 500, exit: 1 },
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
